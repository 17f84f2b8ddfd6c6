"""Reviews (append-only); the review stream's leases are in review_queue."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from labelloop.core.consensus import Consensus
from labelloop.core.standing import standing_review
from labelloop.core.types import DECISIVE, REOPEN, Review, Route
from labelloop.store.base import review_from_row, review_to_values
from labelloop.store.routes import live_reviews, writes_routes
from labelloop.store.tables import LeaseRow, ReviewRow, RouteRow

T_REVIEWS = ReviewRow.__table__
T_LEASES = LeaseRow.__table__
T_ROUTES = RouteRow.__table__


class ReviewsMixin:
    @writes_routes
    def add_review(self, review: Review) -> int:
        """Record a decision: the review row, the lease released, the item's route updated."""
        with self.engine.begin() as c:
            rid = c.execute(
                sa.insert(T_REVIEWS).returning(T_REVIEWS.c.id), [review_to_values(review)]
            ).scalar_one()
            c.execute(
                sa.delete(T_LEASES).where(
                    T_LEASES.c.item_id == review.item_id, T_LEASES.c.reviewer == review.reviewer
                )
            )
            if review.action != "skip":
                c.execute(
                    sa.update(T_ROUTES)
                    .where(T_ROUTES.c.item_id == review.item_id)
                    .values(
                        route=Route.REVIEWED.value,
                        reason=f"{review.action} by {review.reviewer}",
                        updated_at=datetime.now(UTC),
                    )
                )
        return rid

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

    def final_reviews(self, consensus: Consensus | None = None) -> dict[str, Review]:
        """Per item, the review whose label stands (``labelloop.core.standing``, the rule
        exports use): none while the item waits in a review queue; an adjudication, else the
        latest decisive review since the item was last reopened; reviewers' answers on gold
        items never."""
        by_item: dict[str, list[Review]] = {}
        for r in self.iter_reviews():
            by_item.setdefault(r.item_id, []).append(r)
        q = sa.select(T_ROUTES.c.item_id, T_ROUTES.c.route).where(
            T_ROUTES.c.item_id.in_(sa.select(T_REVIEWS.c.item_id).distinct())
        )
        with self.engine.connect() as c:
            routes = dict(c.execute(q).all())
        out = {}
        for item_id, reviews in by_item.items():
            stands = standing_review(reviews, routes.get(item_id), consensus)
            if stands is not None:
                out[item_id] = stands
        return out

    def human_decisions(self) -> dict[str, Review]:
        """Per item people decided or are deciding, their latest decisive review since it
        was last reopened (an adjudication over any other; a gold answer only when nothing
        else): who has looked at an item, which calibration needs; not which label stands."""
        out: dict[str, Review] = {}
        for r in self.iter_reviews():
            if r.action == REOPEN:
                out.pop(r.item_id, None)
                continue
            if r.action not in DECISIVE or r.value is None:
                continue
            if r.queue == "gold" and r.item_id in out:
                continue
            held = out.get(r.item_id)
            if held is None or held.queue != "adjudication" or r.queue == "adjudication":
                out[r.item_id] = r
        return out

    def reopened_items(self) -> dict[str, int]:
        """item id -> id of its last ``reopen`` review: earlier decisions no longer hold."""
        q = (
            sa.select(T_REVIEWS.c.item_id, sa.func.max(T_REVIEWS.c.id))
            .where(T_REVIEWS.c.action == REOPEN)
            .group_by(T_REVIEWS.c.item_id)
        )
        with self.engine.connect() as c:
            return dict(c.execute(q).all())

    def count_reviews(self) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(T_REVIEWS)).scalar_one()
