"""The review stream's SQL: leases with one holder per item, decisions, undo, gold answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa

from labelloop.core.errors import ReviewConflict
from labelloop.core.types import Item, LabelValue, Review, Suggestion
from labelloop.store import review_sql as sql
from labelloop.store.base import (
    aware,
    item_from_row,
    review_from_row,
    review_to_values,
    suggestion_from_row,
    value_from_json,
)
from labelloop.store.review_sql import GOLD, T_GOLD, T_ITEMS, T_LEASES, T_REVIEWS, T_ROUTES
from labelloop.store.routes import (
    QUEUED_ROUTES,
    browse_label,
    live_answers,
    live_reviews,
    lock_routes,
    writes_routes,
)
from labelloop.store.tables import GoldRow, ReviewRow

#: attempts when another reviewer takes the same item at the same moment
RETRIES = 8
#: how often expired leases are swept away (a new lease takes an expired one over anyway)
SWEEP_EVERY = timedelta(minutes=1)


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
    #: a guideline with questions: those the route auto-accepted (none asked of people)
    accepted: tuple[str, ...] = ()


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
        non-empty queue in order; with what its view needs. None when nothing waits.

        Each try is one statement that picks the item and takes its lease (taking over an
        expired one); on PostgreSQL it also reads the item's view, in autocommit: one round
        trip. A lost race (another reviewer leased the same item first) is tried again."""
        self._sweep_leases(now)
        until = now + timedelta(seconds=lease_seconds)
        order = tuple(q for q in queues if q != GOLD)
        params = {"reviewer": reviewer, "now": now, "until": until}
        picks = [None] if gold_first else []
        picks += [order] if order else []
        for pick in picks:
            got = self._claim(pick, params)
            if got is not None:
                return got
        return None

    def _claim(self, queues: tuple[str, ...] | None, params: dict):
        """Lease the item picked from ``queues`` (gold when None), with its context; None
        when there is none."""
        postgres = self.dialect == "postgresql"

        def attempt(c):
            if postgres:
                row = c.execute(sql.claim_with_context(queues), params).first()
                if row is None:
                    pick = sql.free_gold() if queues is None else sql.free_in_queues(queues)
                    if c.execute(pick, params).first() is not None:
                        raise _LostRace
                    return None
                return _lease_of(row), _context_of(row)
            row = c.execute(sql.claim(self.dialect, queues), params).first()
            return None if row is None else (_lease_of(row), _context(c, row.item_id))

        return self._retry(attempt, autocommit=postgres)

    def _sweep_leases(self, now: datetime) -> None:
        """Drop expired leases now and then: a new lease takes over an expired one, so the
        sweep only keeps the table small and needs no round trip per item."""
        if now - getattr(self, "_swept_at", datetime.min.replace(tzinfo=UTC)) < SWEEP_EVERY:
            return
        self._swept_at = now
        with self.engine.begin() as c:
            c.execute(sa.delete(T_LEASES).where(T_LEASES.c.expires_at <= now))

    def lease_item(
        self, reviewer: str, item_id: str, queue: str, lease_seconds: int, now: datetime
    ) -> Lease:
        """Lease one given item to the reviewer (undo); ``ReviewConflict`` if another holds it."""

        def attempt(c) -> Lease:
            return _take_lease(c, item_id, reviewer, queue, now, lease_seconds)

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

    def lease_holder(self, item_id: str, now: datetime) -> str | None:
        """The reviewer holding the item (an unexpired lease outside the gold queue)."""
        q = sa.select(T_LEASES.c.reviewer).where(
            T_LEASES.c.item_id == item_id, T_LEASES.c.expires_at > now, T_LEASES.c.queue != GOLD
        )
        with self.engine.connect() as c:
            return c.execute(q).scalar()

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
            sa.select(T_REVIEWS)
            .where(
                T_REVIEWS.c.item_id == item_id,
                T_REVIEWS.c.action.in_(("accept", "fix", "reject")),
                live_reviews(),
            )
            .order_by(T_REVIEWS.c.id)
        )
        with self.engine.connect() as c:  # one read: autocommit spares BEGIN and ROLLBACK
            c = c.execution_options(isolation_level="AUTOCOMMIT")
            return [review_from_row(r) for r in c.execute(q)]

    @writes_routes
    def record_decision(
        self,
        review: Review,
        change: RouteChange,
        needs_lease: bool = True,
        extend: tuple[str, datetime] | None = None,
        expect_route: str | None = None,
    ) -> tuple[Review, bool]:
        """Append the review, release its lease and move the item, in one transaction;
        returns the review as stored (with its id) and whether the lease in ``extend`` was
        renewed.

        ``needs_lease``: refuse (``ReviewConflict``) when the reviewer no longer holds the
        item's lease. ``extend``: (item id, until) of the reviewer's next lease to renew.
        ``expect_route``: the route the item was leased on; when it has changed since, the
        review is kept with ``route_changed`` (it never becomes a calibration pair).
        """
        if self.dialect == "postgresql":
            return self._record_decision_at_once(review, change, needs_lease, extend, expect_route)
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
            rid, moved = c.execute(_insert_review(review, expect_route)).one()
            review = review.model_copy(update={"route_changed": bool(moved)})
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
        return review.model_copy(update={"id": rid}), extended

    def _record_decision_at_once(self, review, change, needs_lease, extend, expect_route):
        """``record_decision`` as one statement in autocommit: one round trip."""
        if extend is not None and extend[0] == review.item_id:
            extend = None
        (columns, move, renew), params = _decision_params(review, change, extend)
        check = expect_route is not None
        q = sql.decision(columns, needs_lease, move, renew, check)
        if check:
            params["expect_route"] = expect_route
        with self.engine.connect() as c:
            row = c.execution_options(isolation_level="AUTOCOMMIT").execute(q, params).one()
        if row.rid is None:
            raise ReviewConflict(
                f"Item {review.item_id!r} is no longer leased to {review.reviewer!r} (the "
                "lease expired or another tab decided it); loading the next item"
            )
        stored = review.model_copy(update={"id": row.rid, "route_changed": bool(row.changed)})
        return stored, bool(extend and row.extended)

    def waiting_on_answers(self) -> set[str]:
        """Items a decision kept in a queue: overlap items awaiting more reviewers, and
        items awaiting adjudication. Re-routing leaves them where they are."""
        with self.engine.connect() as c:
            return set(c.execute(_queued_answered(T_REVIEWS.c.source == "console")).scalars())

    def import_answers_queued(self, import_id: int) -> list[str]:
        """Items an import answered that still wait in a queue: a reviewer holds them, or
        they wait for answers given in the console (overlap, adjudication). In id order."""
        q = _queued_answered(T_REVIEWS.c.import_id == import_id).order_by(T_ROUTES.c.item_id)
        with self.engine.connect() as c:
            return list(c.execute(q).scalars())

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

    @writes_routes
    def record_undo(
        self,
        undo: Review,
        change: RouteChange,
        lease_seconds: int,
        now: datetime,
        waiting_in: Sequence[str] | None = None,
    ) -> int:
        """Lease the item back to the reviewer, append the undo row and move the item back,
        together. ``waiting_in``: the routes the item must still be on (a skip's queue): a
        skipped item decided or re-routed since is not taken back (``ReviewConflict``);
        nor is a decision someone else has decided over since.

        The item's route row is locked first, as every writer that takes or drops a lease
        does (the other order deadlocks)."""

        def attempt(c) -> int:
            lock_routes(c, [undo.item_id])
            _take_lease(c, undo.item_id, undo.reviewer, undo.queue or "", now, lease_seconds)
            if waiting_in is not None:
                _check_waiting(c, undo.item_id, undo.queue or "", waiting_in)
            _check_not_decided_since(c, undo)
            rid = c.execute(
                sa.insert(T_REVIEWS).returning(T_REVIEWS.c.id), [review_to_values(undo)]
            ).scalar_one()
            _move(c, undo.item_id, change, now)
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
        from labelloop.store.tables import ImportRow

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

    def gold_item_ids(self, item_ids: list[str]) -> set[str]:
        """Which of ``item_ids`` are gold items."""
        q = sa.select(GoldRow.item_id).where(GoldRow.item_id.in_(item_ids))
        with self.engine.connect() as c:
            return set(c.execute(q).scalars())

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

    def _retry(self, attempt: Callable, autocommit: bool = False):
        """Run ``attempt(conn)`` in a transaction (or in autocommit, for one statement),
        again when a concurrent writer got there first (the one-holder index refused the
        lease, another reviewer claimed the item, or SQLite was busy)."""
        for n in range(RETRIES):
            try:
                if not autocommit:
                    with self.engine.begin() as c:
                        return attempt(c)
                with self.engine.connect() as c:
                    return attempt(c.execution_options(isolation_level="AUTOCOMMIT"))
            except _LostRace:
                if n == RETRIES - 1:
                    return None
            except (sa.exc.IntegrityError, sa.exc.OperationalError) as exc:
                if n == RETRIES - 1 or not _transient(exc):
                    raise
        raise AssertionError("unreachable")


class _LostRace(Exception):
    """Another reviewer leased the item a statement picked before it could."""


def _context(c, item_id: str) -> LeaseContext | None:
    row = c.execute(sql.context(), {"item_id": item_id}).first()
    return _context_of(row) if row is not None else None


def _context_of(row) -> LeaseContext:
    item = SimpleNamespace(
        id=row.i_id,
        text=row.i_text,
        messages=row.i_messages,
        target_turn=row.i_target_turn,
        replies=row.i_replies,
        meta=row.i_meta,
    )
    return LeaseContext(
        item=item_from_row(item),
        route=row.route,
        suggestion=suggestion_from_row(row) if row.id is not None else None,
        gold=value_from_json(row.gold),
        accepted=tuple(row.accepted or ()),
    )


def _transient(exc: Exception) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return isinstance(exc, sa.exc.IntegrityError) or "locked" in text or "busy" in text


def _lease_of(row) -> Lease:
    if hasattr(row, "lease_item"):
        return Lease(row.lease_item, row.lease_queue, aware(row.lease_until))
    return Lease(row.item_id, row.queue, aware(row.expires_at))


def _take_lease(c, item_id, reviewer, queue, now, lease_seconds) -> Lease:
    """Lease one given item (taking over an expired lease); ``ReviewConflict`` when
    another reviewer holds it."""
    until = now + timedelta(seconds=lease_seconds)
    params = {"item_id": item_id, "reviewer": reviewer, "queue": queue, "now": now, "until": until}
    if c.execute(sql.take(c.dialect.name, queue == GOLD), params).first() is None:
        raise ReviewConflict(
            f"Item {item_id!r} is with another reviewer now; it cannot be taken back"
        )
    return Lease(item_id, queue, until)


def _check_waiting(c, item_id: str, queue: str, routes: Sequence[str]) -> None:
    """``ReviewConflict`` unless the item is on one of ``routes`` (its row locked)."""
    route = c.execute(sa.select(T_ROUTES.c.route).where(T_ROUTES.c.item_id == item_id)).scalar()
    if route not in routes:
        raise ReviewConflict(
            f"Item {item_id!r} has left the {queue} queue since you skipped it (now: "
            f"{route or 'unlabeled'}); there is nothing to take back"
        )


def _check_not_decided_since(c, undo: Review) -> None:
    """``ReviewConflict`` when someone else decided the item after the review ``undo``
    takes back (its row locked): undoing would not bring back what the reviewer saw."""
    q = (
        sa.select(T_REVIEWS.c.reviewer)
        .where(
            T_REVIEWS.c.item_id == undo.item_id,
            T_REVIEWS.c.id > undo.supersedes,
            T_REVIEWS.c.reviewer != undo.reviewer,
            T_REVIEWS.c.action != "skip",
        )
        .order_by(T_REVIEWS.c.id.desc())
        .limit(1)
    )
    who = c.execute(q).scalar()
    if who is not None:
        raise ReviewConflict(
            f"Item {undo.item_id!r} was decided again since ({who}): undo would not bring back "
            "what you saw; change it in the item browser instead"
        )


def _insert_review(review: Review, expect_route: str | None) -> sa.Insert:
    """Append ``review``; with ``expect_route``, its ``route_changed`` says whether the
    item's route is no longer that (read in the same statement)."""
    values = review_to_values(review)
    row = [
        sql.route_moved(sa.literal(review.item_id), sa.literal(expect_route))
        if k == "route_changed" and expect_route is not None
        else sa.literal(v, type_=T_REVIEWS.c[k].type)
        for k, v in values.items()
    ]
    ins = sa.insert(T_REVIEWS).from_select(list(values), sa.select(*row))
    return ins.returning(T_REVIEWS.c.id, T_REVIEWS.c.route_changed)


def _move_values(change: RouteChange, now: datetime) -> dict:
    values = {"route": change.route, "reason": change.reason, "updated_at": now}
    if change.label is not None:
        values["label"] = change.label
    return values


def _move(c, item_id: str, change: RouteChange, now: datetime) -> None:
    if change.route is None:
        return
    values = _move_values(change, now)
    c.execute(sa.update(T_ROUTES).where(T_ROUTES.c.item_id == item_id).values(**values))


def _decision_params(review: Review, change: RouteChange, extend) -> tuple[tuple, dict]:
    """(statement, parameters) of a decision at once (PostgreSQL)."""
    values = review_to_values(review)
    move = _move_values(change, review.created_at) if change.route is not None else {}
    params = {f"v_{k}": v for k, v in values.items()} | {f"m_{k}": v for k, v in move.items()}
    if extend is not None:
        params |= {"next_item": extend[0], "until": extend[1]}
    return (tuple(values), tuple(move), extend is not None), params


__all__ = ["Lease", "LeaseContext", "ReviewQueueMixin", "RouteChange", "browse_label"]


def _queued_answered(which) -> sa.Select:
    """Items waiting in a review queue that a standing answer (``live_answers``) of the
    kind ``which`` selects has answered."""
    return sa.select(T_ROUTES.c.item_id).where(
        T_ROUTES.c.route.in_(QUEUED_ROUTES),
        sa.exists(
            sa.select(T_REVIEWS.c.id).where(
                T_REVIEWS.c.item_id == T_ROUTES.c.item_id, live_answers(), which
            )
        ),
    )
