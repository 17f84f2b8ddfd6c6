"""Items and guideline versions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import sqlalchemy as sa

from agent.store.base import item_from_row
from agent.store.routes import live_reviews
from agent.store.tables import GuidelineRow, ItemRow, ReviewRow
from agent.types import REOPEN, Guideline, Item

T_ITEMS = ItemRow.__table__
#: import order, NULL-safe; the expressions of the ``ix_items_import_order`` index
ORDER = (
    sa.func.coalesce(T_ITEMS.c.import_id, -1),
    sa.func.coalesce(T_ITEMS.c.line, -1),
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
        from agent.store.tables import RouteRow

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
        time, each page starting after the last row of the one before."""
        key = ORDER
        q = q.add_columns(*key).order_by(*key)
        after = None
        while True:
            page = q if after is None else q.where(sa.tuple_(*key) > sa.tuple_(*after))
            with self.engine.connect() as c:
                rows = c.execute(page.limit(batch)).all()
            if not rows:
                return
            yield rows
            after = tuple(rows[-1][-len(key) :])

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
                live_reviews(),
                sa.or_(reopened.c.after.is_(None), t.c.id > reopened.c.after),
            )
            .distinct()
        )
        with self.engine.connect() as c:
            return set(c.execute(q).scalars())


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _frozen_items_query():
    from agent.store.tables import EvalSetItemRow, EvalSetRow

    t_items, t_sets = EvalSetItemRow.__table__, EvalSetRow.__table__
    return (
        sa.select(t_items.c.item_id)
        .join(t_sets, t_sets.c.id == t_items.c.eval_set_id)
        .where(t_sets.c.frozen.is_(True))
        .distinct()
    )
