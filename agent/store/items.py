"""Items and guideline versions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from labelloop.core.types import REOPEN, Guideline, Item
from labelloop.store.base import item_from_row
from labelloop.store.routes import live_reviews
from labelloop.store.tables import GuidelineRow, ItemRow, ReviewRow

T_ITEMS = ItemRow.__table__
#: import order, NULL-safe; the expressions of the ``ix_items_import_order`` index, with
#: -1 written into the SQL: as a bound parameter SQLite no longer matches them to the index
#: and sorts the whole table for every page
NO_NUMBER = sa.literal_column("-1")
ORDER = (
    sa.func.coalesce(T_ITEMS.c.import_id, NO_NUMBER),
    sa.func.coalesce(T_ITEMS.c.line, NO_NUMBER),
    T_ITEMS.c.id,
)


class ItemsMixin:
    def save_guideline(self, g: Guideline) -> None:
        """Keep every guideline version's text, so old labels stay explainable."""
        with self.session() as s:
            if s.get(GuidelineRow, g.version) is None:
                s.add(GuidelineRow(version=g.version, task=g.task, path=g.path, text=g.text))
                s.commit()

    def guideline_text(self, version: str) -> str | None:
        with self.session() as s:
            row = s.get(GuidelineRow, version)
            return row.text if row else None

    def count_items(self) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(T_ITEMS)).scalar_one()

    def import_item_ids(self, import_id: int) -> list[str]:
        """The items an import added (from the ``ix_items_import_order`` index)."""
        q = sa.select(T_ITEMS.c.id).where(ORDER[0] == import_id)
        with self.engine.connect() as c:
            return list(c.execute(q).scalars())

    def get_item(self, item_id: str) -> Item | None:
        with self.session() as s:
            row = s.get(ItemRow, item_id)
            return item_from_row(row) if row else None

    def get_items(self, ids: Iterable[str]) -> dict[str, Item]:
        ids = list(ids)
        out: dict[str, Item] = {}
        with self.engine.connect() as c:
            for chunk in _chunks(ids, 900):
                rows = c.execute(sa.select(T_ITEMS).where(T_ITEMS.c.id.in_(chunk)))
                out.update((r.id, item_from_row(r)) for r in rows)
        return out

    def iter_items(self, batch: int = 2000, route: str | None = None) -> Iterator[Item]:
        """Every item (or those on one route) in import order, fetched in pages.

        Each page starts after the last row of the one before (keyset paging on the
        ``ix_items_import_order`` index), so a page costs the same at the end of a million
        items as at the start, and memory holds one page.
        """
        from labelloop.store.tables import RouteRow

        t_routes = RouteRow.__table__
        q = sa.select(T_ITEMS)
        if route is not None:
            q = q.join(t_routes, t_routes.c.item_id == T_ITEMS.c.id).where(
                t_routes.c.route == route
            )
        for rows in self.item_pages(q, batch):
            yield from (item_from_row(r) for r in rows)

    def item_pages(self, q: sa.Select, batch: int = 2000) -> Iterator[list[sa.Row]]:
        """The rows of ``q`` (a select from the items table) in import order, a page at a
        time: each page's ids are the next ``batch`` keys after the last one (``next_keys``),
        so a page costs the same at the end of a million items as at the start."""
        after = None
        while True:
            with self.engine.connect() as c:
                keys = c.execute(next_keys(after, batch)).all()
                if not keys:
                    return
                at = {k.id: i for i, k in enumerate(keys)}
                rows = c.execute(q.where(T_ITEMS.c.id.in_(list(at)))).all()
            if rows:
                yield sorted(rows, key=lambda r: at[r.id])
            after = tuple(keys[-1])

    def eval_set_item_ids(self) -> set[str]:
        """Items in frozen eval sets: never few-shot examples."""
        with self.engine.connect() as c:
            return set(c.execute(_frozen_items_query()).scalars())

    def reviewed_item_ids(self) -> set[str]:
        """Items a person decided since their last ``reopen`` (a split label sends it back)."""
        t = ReviewRow.__table__
        reopened = (
            sa.select(t.c.item_id, sa.func.max(t.c.id).label("after"))
            .where(t.c.action == REOPEN)
            .group_by(t.c.item_id)
            .subquery()
        )
        q = (
            sa.select(t.c.item_id)
            .outerjoin(reopened, reopened.c.item_id == t.c.item_id)
            .where(
                t.c.action.not_in(("skip", REOPEN)),
                t.c.queue.is_distinct_from("gold"),  # a gold answer checks the reviewer
                live_reviews(),
                sa.or_(reopened.c.after.is_(None), t.c.id > reopened.c.after),
            )
            .distinct()
        )
        with self.engine.connect() as c:
            return set(c.execute(q).scalars())


def next_keys(after: tuple | None, n: int) -> sa.Select:
    """The import-order keys of the ``n`` items after ``after`` (``None``: the first).

    ``key > after`` as one row-value comparison is not a range SQLite can seek on an
    expression index (it scans from the first entry, so each page cost more than the one
    before); split by the key's leading equal parts, every branch is an index seek and
    reads at most ``n`` entries.
    """
    cols = [expr.label(name) for expr, name in zip(ORDER, ("imp", "line", "id"), strict=True)]
    if after is None:
        return sa.select(*cols).order_by(*ORDER).limit(n)
    imp, line, item_id = ORDER
    # each branch sorts by the key parts it does not fix: SQLite reads those in index order
    # (naming a fixed part too makes it sort every entry in the range)
    branches = [
        (sa.and_(imp == after[0], line == after[1], item_id > after[2]), ORDER[2:]),
        (sa.and_(imp == after[0], line > after[1]), ORDER[1:]),
        (imp > after[0], ORDER),
    ]
    pages = [
        sa.select(*cols).where(cond).order_by(*by).limit(n).subquery().select()
        for cond, by in branches
    ]
    u = sa.union_all(*pages).subquery()
    return sa.select(u.c.imp, u.c.line, u.c.id).order_by(u.c.imp, u.c.line, u.c.id).limit(n)


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _frozen_items_query():
    from labelloop.store.tables import EvalSetItemRow, EvalSetRow

    t_items, t_sets = EvalSetItemRow.__table__, EvalSetRow.__table__
    return (
        sa.select(t_items.c.item_id)
        .join(t_sets, t_sets.c.id == t_items.c.eval_set_id)
        .where(t_sets.c.frozen.is_(True))
        .distinct()
    )
