"""Reviews (append-only); the review stream's leases and decisions are in review_queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa

from agent.store.base import review_from_row
from agent.store.routes import live_reviews
from agent.store.tables import ReviewRow
from agent.types import Review

T_REVIEWS = ReviewRow.__table__


class ReviewsMixin:
    def reviews_for(self, item_id: str) -> list[Review]:
        with self.session() as s:
            rows = s.exec(
                sa.select(ReviewRow).where(ReviewRow.item_id == item_id).order_by(ReviewRow.id)
            ).scalars()
            return [review_from_row(r) for r in rows]

    def iter_reviews(
        self, item_ids: Sequence[str] | None = None, undone: bool = False
    ) -> Iterator[Review]:
        """All reviews that stand, in the order they were made (with ``undone``, every row)."""
        q = sa.select(ReviewRow).order_by(ReviewRow.id)
        if item_ids is not None:
            q = q.where(ReviewRow.item_id.in_(list(item_ids)))
        if not undone:
            q = q.where(live_reviews())
        with self.session() as s:
            for r in s.exec(q).scalars():
                yield review_from_row(r)

    def final_reviews(self) -> dict[str, Review]:
        """Per item, the review whose label stands: an adjudication, else the latest decisive
        one (accept, fix or import); reviewers' answers on gold items never replace it."""
        out: dict[str, Review] = {}
        for r in self.iter_reviews():
            if r.action not in ("accept", "fix", "import") or r.value is None:
                continue
            if r.queue == "gold" and r.item_id in out:
                continue
            held = out.get(r.item_id)
            if held is None or held.queue != "adjudication" or r.queue == "adjudication":
                out[r.item_id] = r
        return out

    def count_reviews(self) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(T_REVIEWS)).scalar_one()
