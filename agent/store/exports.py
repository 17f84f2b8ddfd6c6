"""Reading items with everything known about them, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from labelloop.core.consensus import Consensus
from labelloop.core.types import ItemRecord, Review, Route
from labelloop.store.base import (
    item_from_row,
    json_or_null,
    review_from_row,
    suggestion_from_row,
    value_text,
)
from labelloop.store.browse import matching_ids
from labelloop.store.routes import live_reviews
from labelloop.store.tables import ItemRow, ReviewRow, RouteRow, SuggestionRow

T_ITEMS = ItemRow.__table__
T_ROUTES = RouteRow.__table__
T_SUGG = SuggestionRow.__table__
T_REVIEWS = ReviewRow.__table__
#: what an Item is made of: the other item columns (a timestamp to parse) go unread
ITEM_FIELDS = [
    T_ITEMS.c.id,
    T_ITEMS.c.text,
    json_or_null(T_ITEMS.c.messages),
    T_ITEMS.c.target_turn,
    json_or_null(T_ITEMS.c.replies),
    json_or_null(T_ITEMS.c.meta),
]


class ExportsMixin:
    def item_ids(self) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(T_ITEMS.c.id)).scalars())

    def iter_records(
        self,
        model: str | None,
        queue: str | None = None,
        page: int = 2000,
        stages: Sequence[str] = (),
        consensus: Consensus | None = None,
    ) -> Iterator[ItemRecord]:
        """Every item (or those waiting in ``queue``) with its suggestion, route and reviews.

        The suggestion is the one an auto-accepted (or audited) item was routed on, else
        ``model``'s latest; in a cascade (``stages``), the one the item was routed on, else
        the latest of the last stage that labeled it.

        Three queries a page: the items with their route and the id of the suggestion to
        show, those suggestions, and the items' reviews. ``consensus``: a judging task's
        rule for several people's answers, carried by each record to ``final_label``.
        """
        q = records_query(model, stages)
        if queue is None:
            pages = self.item_pages(q, page)
        else:
            ids = self.queue_item_ids(queue)
            pages = (self._in_order(q, ids[i : i + page]) for i in range(0, len(ids), page))
        for rows in pages:
            yield from self._records(rows, consensus)

    def record_page(
        self,
        filters,
        kind: str,
        after: str | None,
        limit: int,
        model: str | None,
        stages: Sequence[str] = (),
        consensus: Consensus | None = None,
    ) -> list[ItemRecord]:
        """Up to ``limit`` records of items matching ``filters`` (the item browser's) whose
        id comes after ``after``, in id order: a page read by its last id, so the millionth
        item costs what the first does."""
        with self.engine.connect() as c:
            ids = list(c.execute(matching_ids(self.dialect, filters, kind, after, limit)).scalars())
        return list(self._records(self._in_order(records_query(model, stages), ids), consensus))

    def _in_order(self, q: sa.Select, ids: list[str]) -> list[sa.Row]:
        with self.engine.connect() as c:
            rows = {r.id: r for r in c.execute(q.where(T_ITEMS.c.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    def _records(
        self, rows: list[sa.Row], consensus: Consensus | None = None
    ) -> Iterator[ItemRecord]:
        ids = [r.id for r in rows]
        sids = [r.suggestion_id for r in rows if r.suggestion_id is not None]
        reviews: dict[str, list[Review]] = {i: [] for i in ids}
        with self.engine.connect() as c:
            q = sa.select(*_with_value_text(T_SUGG)).where(T_SUGG.c.id.in_(sids))
            suggestions = {r.id: suggestion_from_row(r) for r in c.execute(q).all()}
            q = sa.select(*_with_value_text(T_REVIEWS))
            q = q.where(T_REVIEWS.c.item_id.in_(ids), live_reviews())
            for r in c.execute(q.order_by(T_REVIEWS.c.id)).all():  # fetchall, not row by row
                reviews[r.item_id].append(review_from_row(r))
        for row in rows:
            yield ItemRecord(
                item=item_from_row(row),
                suggestion=suggestions.get(row.suggestion_id),
                route=row.route if row.route is not None else "unlabeled",
                route_reason=row.reason if row.route is not None else "",
                reviews=tuple(reviews[row.id]),
                consensus=consensus,
                accepted=frozenset(row.accepted or ()),
                questions=getattr(consensus, "guideline", None),
            )


def records_query(model: str | None, stages: Sequence[str]) -> sa.Select:
    """Items with their route and ``suggestion_id``: the suggestion an export shows."""
    if stages:
        shown = sa.func.coalesce(_routed_id(), *(_latest_id(stage) for stage in reversed(stages)))
    else:  # an auto-accepted label is the one its threshold was tested on (an earlier
        # version's while a retrained model waits for a look that certifies its labels);
        # so are the answers to questions auto-accepted on an item people answer the rest of
        accepted = sa.or_(
            T_ROUTES.c.route.in_((Route.AUTO_ACCEPTED.value, Route.AUDIT.value)),
            T_ROUTES.c.accepted.is_not(None),
        )
        shown = sa.func.coalesce(_routed_id(accepted, model=model), _latest_id(model))
    return sa.select(
        *ITEM_FIELDS,
        T_ROUTES.c.route,
        T_ROUTES.c.reason,
        T_ROUTES.c.accepted,
        shown.label("suggestion_id"),
    ).select_from(T_ITEMS.outerjoin(T_ROUTES, T_ROUTES.c.item_id == T_ITEMS.c.id))


def _routed_id(*where, model: str | None = None):
    """The id of the suggestion the item's route row names (by ``model`` when given, and
    where ``where`` holds), per item row."""
    s = T_SUGG.alias("routed")
    q = sa.select(s.c.id).where(
        s.c.id == T_ROUTES.c.suggestion_id, s.c.item_id == T_ITEMS.c.id, *where
    )
    if model is not None:
        q = q.where(s.c.model == model)
    return q.scalar_subquery()


def _latest_id(model: str | None):
    """The id of the item's newest suggestion (by ``model`` when given), per item row."""
    s = T_SUGG.alias("latest")
    q = sa.select(sa.func.max(s.c.id)).where(s.c.item_id == T_ITEMS.c.id)
    if model is not None:
        q = q.where(s.c.model == model)
    return q.scalar_subquery()


def _with_value_text(table: sa.Table) -> list:
    return [value_text(c) if c.name == "value" else c for c in table.c]
