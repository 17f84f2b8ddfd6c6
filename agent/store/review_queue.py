"""The review stream's SQL: leases with one holder per item, decisions, undo, gold answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from agent.errors import ReviewConflict
from agent.store.base import (
    aware,
    item_from_row,
    review_from_row,
    review_to_values,
    suggestion_from_row,
    value_from_json,
)
from agent.store.routes import browse_label, live_reviews
from agent.store.tables import GoldRow, ItemRow, LeaseRow, ReviewRow, RouteRow, SuggestionRow
from agent.types import QUEUE_ROUTES, Item, LabelValue, Review, Suggestion

T_LEASES = LeaseRow.__table__
T_ROUTES = RouteRow.__table__
T_REVIEWS = ReviewRow.__table__
T_ITEMS = ItemRow.__table__
T_SUGG = SuggestionRow.__table__
T_GOLD = GoldRow.__table__
GOLD = "gold"
#: attempts when another reviewer takes the same item at the same moment
RETRIES = 8


@dataclass(frozen=True)
class Lease:
    item_id: str
    queue: str
    expires_at: datetime


@dataclass(frozen=True)
class LeaseContext:
    """What a view of a leased item is built from, read in one go."""

    item: Item
    route: str | None
    suggestion: Suggestion | None
    gold: LabelValue | None


@dataclass(frozen=True)
class RouteChange:
    """Where a decision moves the item (None: it stays where it is) and its browser label."""

    route: str | None
    reason: str = ""
    label: str | None = None


class ReviewQueueMixin:
    def leases_of(self, reviewer: str, now: datetime) -> list[Lease]:
        """The unexpired leases a reviewer holds, oldest first."""
        q = (
            sa.select(T_LEASES.c.item_id, T_LEASES.c.queue, T_LEASES.c.expires_at)
            .where(T_LEASES.c.reviewer == reviewer, T_LEASES.c.expires_at > now)
            .order_by(T_LEASES.c.leased_at, T_LEASES.c.item_id)
        )
        with self.engine.connect() as c:
            return [Lease(i, q_, aware(e)) for i, q_, e in c.execute(q)]

    def lease_next(
        self,
        reviewer: str,
        queues: Sequence[str],
        lease_seconds: int,
        now: datetime,
        gold_first: bool = False,
    ) -> tuple[Lease, LeaseContext] | None:
        """Lease the next free item: a gold one first when asked, else from the first
        non-empty queue in order; with what its view needs. None when nothing waits."""
        order = ([GOLD] if gold_first else []) + list(queues)

        def attempt(c) -> tuple[Lease, LeaseContext] | None:
            c.execute(sa.delete(T_LEASES).where(T_LEASES.c.expires_at <= now))
            for queue in order:
                item_id = _first_free(c, queue, reviewer, now)
                if item_id is not None:
                    lease = _insert_lease(c, item_id, reviewer, queue, now, lease_seconds)
                    return lease, _context(c, item_id)
            return None

        return self._retry(attempt)

    def lease_item(
        self, reviewer: str, item_id: str, queue: str, lease_seconds: int, now: datetime
    ) -> Lease:
        """Lease one given item to the reviewer (undo); ``ReviewConflict`` if another holds it."""

        def attempt(c) -> Lease:
            c.execute(sa.delete(T_LEASES).where(T_LEASES.c.expires_at <= now))
            _check_free(c, item_id, reviewer, queue)
            c.execute(
                sa.delete(T_LEASES).where(
                    T_LEASES.c.item_id == item_id, T_LEASES.c.reviewer == reviewer
                )
            )
            return _insert_lease(c, item_id, reviewer, queue, now, lease_seconds)

        return self._retry(attempt)

    def extend_lease(self, reviewer: str, item_id: str, until: datetime) -> bool:
        """Push a held lease's expiry to ``until``; False when the reviewer no longer holds it."""
        with self.engine.begin() as c:
            n = c.execute(
                sa.update(T_LEASES)
                .where(T_LEASES.c.item_id == item_id, T_LEASES.c.reviewer == reviewer)
                .values(expires_at=until)
            ).rowcount
        return n > 0

    def release_lease(self, reviewer: str, item_id: str | None = None) -> None:
        """Give back one lease of the reviewer's, or all of them."""
        q = sa.delete(T_LEASES).where(T_LEASES.c.reviewer == reviewer)
        if item_id is not None:
            q = q.where(T_LEASES.c.item_id == item_id)
        with self.engine.begin() as c:
            c.execute(q)

    def lease_context(self, item_id: str) -> LeaseContext | None:
        """The item, its route, its routing suggestion and gold answer, in one connection."""
        with self.engine.connect() as c:
            return _context(c, item_id)

    def answers(self, item_id: str) -> list[Review]:
        """The decisions that stand on an item (accept, fix, reject; no skips), oldest first."""
        q = (
            sa.select(ReviewRow)
            .where(
                ReviewRow.item_id == item_id,
                ReviewRow.action.in_(("accept", "fix", "reject")),
                live_reviews(),
            )
            .order_by(ReviewRow.id)
        )
        with self.session() as s:
            return [review_from_row(r) for r in s.exec(q).scalars()]

    def record_decision(
        self,
        review: Review,
        change: RouteChange,
        needs_lease: bool = True,
        extend: tuple[str, datetime] | None = None,
    ) -> tuple[int, bool]:
        """Append the review, release its lease and move the item, in one transaction;
        returns the review's id and whether the lease in ``extend`` was renewed.

        ``needs_lease``: refuse (``ReviewConflict``) when the reviewer no longer holds the
        item's lease. ``extend``: (item id, until) of the reviewer's next lease to renew.
        """
        extended = False
        with self.engine.begin() as c:
            released = c.execute(
                sa.delete(T_LEASES).where(
                    T_LEASES.c.item_id == review.item_id, T_LEASES.c.reviewer == review.reviewer
                )
            ).rowcount
            if needs_lease and not released:
                raise ReviewConflict(
                    f"Item {review.item_id!r} is no longer leased to {review.reviewer!r} (the "
                    "lease expired or another tab decided it); loading the next item"
                )
            rid = c.execute(
                sa.insert(T_REVIEWS).returning(T_REVIEWS.c.id), [review_to_values(review)]
            ).scalar_one()
            _move(c, review.item_id, change, review.created_at)
            if extend is not None:
                extended = (
                    c.execute(
                        sa.update(T_LEASES)
                        .where(
                            T_LEASES.c.item_id == extend[0],
                            T_LEASES.c.reviewer == review.reviewer,
                            T_LEASES.c.expires_at > review.created_at,
                        )
                        .values(expires_at=extend[1])
                    ).rowcount
                    > 0
                )
        return rid, extended

    def waiting_on_answers(self) -> set[str]:
        """Items a decision kept in a queue: overlap items awaiting more reviewers, and
        items awaiting adjudication. Re-routing leaves them where they are."""
        waiting = sa.select(T_ROUTES.c.item_id).where(
            T_ROUTES.c.route.in_(("calibration", "audit", "active", "failed", "adjudication")),
            sa.exists(
                sa.select(T_REVIEWS.c.id).where(
                    T_REVIEWS.c.item_id == T_ROUTES.c.item_id,
                    T_REVIEWS.c.action.in_(("accept", "fix", "reject")),
                    T_REVIEWS.c.source == "console",
                    live_reviews(),
                )
            ),
        )
        with self.engine.connect() as c:
            return set(c.execute(waiting).scalars())

    def last_decision(self, reviewer: str, queues: Sequence[str]) -> Review | None:
        """The reviewer's latest review in these queues that still stands."""
        q = (
            sa.select(ReviewRow)
            .where(
                ReviewRow.reviewer == reviewer,
                ReviewRow.queue.in_(list(queues)),
                ReviewRow.source == "console",
                live_reviews(),
            )
            .order_by(ReviewRow.id.desc())
            .limit(1)
        )
        with self.session() as s:
            row = s.exec(q).scalars().first()
            return review_from_row(row) if row else None

    def record_undo(
        self, undo: Review, change: RouteChange, lease_seconds: int, now: datetime
    ) -> int:
        """Append the undo row, move the item back and lease it to the reviewer, together."""

        def attempt(c) -> int:
            _check_free(c, undo.item_id, undo.reviewer, undo.queue or "")
            rid = c.execute(
                sa.insert(T_REVIEWS).returning(T_REVIEWS.c.id), [review_to_values(undo)]
            ).scalar_one()
            _move(c, undo.item_id, change, now)
            c.execute(
                sa.delete(T_LEASES).where(
                    T_LEASES.c.item_id == undo.item_id, T_LEASES.c.reviewer == undo.reviewer
                )
            )
            _insert_lease(c, undo.item_id, undo.reviewer, undo.queue or "", now, lease_seconds)
            return rid

        return self._retry(attempt)

    # --- gold ------------------------------------------------------------------------

    def add_gold(self, answers: dict[str, LabelValue], source: str, by: str | None) -> int:
        """Store known answers (replacing earlier ones for the same items); how many."""
        ids = list(answers)
        rows = [
            {"item_id": i, "value": v.as_dict(), "source": source, "created_by": by}
            for i, v in answers.items()
        ]
        with self.engine.begin() as c:
            known = set()
            for i in range(0, len(ids), 900):
                known |= set(
                    c.execute(
                        sa.select(T_ITEMS.c.id).where(T_ITEMS.c.id.in_(ids[i : i + 900]))
                    ).scalars()
                )
            missing = [i for i in ids if i not in known]
            if missing:
                raise KeyError(missing[0])
            for i in range(0, len(ids), 900):
                c.execute(sa.delete(T_GOLD).where(T_GOLD.c.item_id.in_(ids[i : i + 900])))
            if rows:
                now = datetime.now(UTC)
                c.execute(sa.insert(T_GOLD), [{**r, "created_at": now} for r in rows])
        return len(rows)

    def import_answers(self, import_id: int | None) -> dict[str, LabelValue]:
        """Item -> label from an import's reviews (default: every import marked as a sample)."""
        from agent.store.tables import ImportRow

        t_imp = ImportRow.__table__
        q = sa.select(T_REVIEWS.c.item_id, T_REVIEWS.c.value).where(
            T_REVIEWS.c.action == "import", T_REVIEWS.c.value.is_not(None)
        )
        if import_id is None:
            q = q.join(t_imp, t_imp.c.id == T_REVIEWS.c.import_id).where(t_imp.c.sample.is_(True))
        else:
            q = q.where(T_REVIEWS.c.import_id == import_id)
        with self.engine.connect() as c:
            return {i: value_from_json(v) for i, v in c.execute(q.order_by(T_REVIEWS.c.id))}

    def gold_answers(self) -> Iterator[tuple[Review, LabelValue]]:
        """(review, gold answer) for every standing review made on a gold item in the console."""
        q = (
            sa.select(ReviewRow, GoldRow.value)
            .join(GoldRow, GoldRow.item_id == ReviewRow.item_id)
            .where(ReviewRow.queue == GOLD, live_reviews())
            .order_by(ReviewRow.id)
        )
        with self.session() as s:
            for row, value in s.exec(q).all():
                yield review_from_row(row), value_from_json(value)

    def _retry(self, attempt: Callable):
        """Run ``attempt(conn)`` in a transaction, again when a concurrent writer got there
        first (the one-holder index refused the lease, or SQLite was busy)."""
        for n in range(RETRIES):
            try:
                with self.engine.begin() as c:
                    return attempt(c)
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                if n == RETRIES - 1 or not _transient(exc):
                    raise
        raise AssertionError("unreachable")


def _context(c, item_id: str) -> LeaseContext | None:
    row = c.execute(sa.select(T_ITEMS).where(T_ITEMS.c.id == item_id)).first()
    if row is None:
        return None
    q = (
        sa.select(T_ROUTES.c.route, T_SUGG, T_GOLD.c.value.label("gold"))
        .select_from(T_ITEMS)
        .outerjoin(T_ROUTES, T_ROUTES.c.item_id == T_ITEMS.c.id)
        .outerjoin(T_SUGG, T_SUGG.c.id == T_ROUTES.c.suggestion_id)
        .outerjoin(T_GOLD, T_GOLD.c.item_id == T_ITEMS.c.id)
        .where(T_ITEMS.c.id == item_id)
    )
    extra = c.execute(q).one()
    return LeaseContext(
        item=item_from_row(row),
        route=extra.route,
        suggestion=suggestion_from_row(extra) if extra.id is not None else None,
        gold=value_from_json(extra.gold),
    )


def _transient(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, sa.exc.IntegrityError) or "locked" in text or "busy" in text


def _first_free(c, queue: str, reviewer: str, now: datetime) -> str | None:
    """The first item of the queue nobody holds and this reviewer has not answered."""
    if queue == GOLD:
        return c.execute(_free_gold(reviewer, now)).scalar()
    best = None
    for route in QUEUE_ROUTES.get(queue, (queue,)):
        row = c.execute(_free_in_route(route, reviewer, now)).first()
        if row is not None and (best is None or (row.priority, row.item_id) < best):
            best = (row.priority, row.item_id)
    return best[1] if best else None


def _unseen(item_col, reviewer: str):
    return ~sa.exists(
        sa.select(T_REVIEWS.c.id).where(
            T_REVIEWS.c.item_id == item_col, T_REVIEWS.c.reviewer == reviewer, live_reviews()
        )
    )


def _free_in_route(route: str, reviewer: str, now: datetime):
    held = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_ROUTES.c.item_id, T_LEASES.c.expires_at > now
    )
    return (
        sa.select(T_ROUTES.c.item_id, T_ROUTES.c.priority)
        .where(T_ROUTES.c.route == route, ~sa.exists(held), _unseen(T_ROUTES.c.item_id, reviewer))
        .order_by(T_ROUTES.c.priority, T_ROUTES.c.item_id)
        .limit(1)
    )


def _free_gold(reviewer: str, now: datetime):
    mine = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_GOLD.c.item_id, T_LEASES.c.reviewer == reviewer
    )
    return (
        sa.select(T_GOLD.c.item_id)
        .where(~sa.exists(mine), _unseen(T_GOLD.c.item_id, reviewer))
        .order_by(T_GOLD.c.item_id)
        .limit(1)
    )


def _check_free(c, item_id: str, reviewer: str, queue: str) -> None:
    if queue == GOLD:
        return
    other = c.execute(
        sa.select(T_LEASES.c.reviewer).where(
            T_LEASES.c.item_id == item_id,
            T_LEASES.c.reviewer != reviewer,
            T_LEASES.c.queue != GOLD,
        )
    ).scalar()
    if other is not None:
        raise ReviewConflict(
            f"Item {item_id!r} is with another reviewer now; it cannot be taken back"
        )


def _insert_lease(c, item_id, reviewer, queue, now, lease_seconds) -> Lease:
    until = now + timedelta(seconds=lease_seconds)
    c.execute(
        sa.insert(T_LEASES).values(
            item_id=item_id, reviewer=reviewer, queue=queue, leased_at=now, expires_at=until
        )
    )
    return Lease(item_id, queue, until)


def _move(c, item_id: str, change: RouteChange, now: datetime) -> None:
    if change.route is None:
        return
    values = {"route": change.route, "reason": change.reason, "updated_at": now}
    if change.label is not None:
        values["label"] = change.label
    c.execute(sa.update(T_ROUTES).where(T_ROUTES.c.item_id == item_id).values(**values))


__all__ = ["Lease", "LeaseContext", "ReviewQueueMixin", "RouteChange", "browse_label"]
