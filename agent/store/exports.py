"""Reading items with everything known about them, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from agent.store.tables import ItemRow
from agent.types import Frozen, Item, Review, Suggestion


class ItemRecord(Frozen):
    """An item with its routing suggestion, route and reviews."""

    item: Item
    suggestion: Suggestion | None = None
    route: str = "unlabeled"
    route_reason: str = ""
    reviews: tuple[Review, ...] = ()


class ExportsMixin:
    def item_ids(self) -> list[str]:
        t = ItemRow.__table__
        with self.engine.connect() as c:
            return list(c.execute(sa.select(t.c.id)).scalars())

    def iter_records(
        self,
        model: str | None,
        queue: str | None = None,
        page: int = 2000,
        stages: Sequence[str] = (),
    ) -> Iterator[ItemRecord]:
        """Every item (or those waiting in ``queue``) with its suggestion, route and reviews.

        The suggestion is ``model``'s latest or, in a cascade (``stages``), the one the item
        was routed on, else the latest of the last stage that labeled it.
        """
        if queue is not None:
            ids = self.queue_item_ids(queue)
            batches = (self._in_order(ids[i : i + page]) for i in range(0, len(ids), page))
        else:
            batches = _batched(self.iter_items(batch=page), page)
        for items in batches:
            yield from self._records(items, model, stages)

    def _in_order(self, ids: list[str]) -> list[Item]:
        items = self.get_items(ids)
        return [items[i] for i in ids if i in items]

    def _records(
        self, items: list[Item], model: str | None, stages: Sequence[str]
    ) -> Iterator[ItemRecord]:
        ids = [i.id for i in items]
        routes = self.routes_for(ids)
        if stages:
            suggestions = {}
            for stage in stages:
                suggestions.update(self.latest_suggestions(model=stage, item_ids=ids))
            routed = [r.suggestion_id for r in routes.values() if r.suggestion_id is not None]
            suggestions.update((s.item_id, s) for s in self.suggestions_by_id(routed))
        else:
            suggestions = self.latest_suggestions(model=model, item_ids=ids)
        reviews: dict[str, list[Review]] = {}
        for r in self.iter_reviews(ids):
            reviews.setdefault(r.item_id, []).append(r)
        for item in items:
            route = routes.get(item.id)
            yield ItemRecord(
                item=item,
                suggestion=suggestions.get(item.id),
                route=route.route if route else "unlabeled",
                route_reason=route.reason if route else "",
                reviews=tuple(reviews.get(item.id, ())),
            )


def _batched(it: Iterator[Item], n: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
