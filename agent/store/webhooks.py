"""Webhooks: receivers, the events they are told about, deliveries and their attempts.

An event is recorded once per fact (its ``key`` is unique) and, in the same transaction,
one delivery is added for every live webhook that takes its type and was registered before
the fact happened. Deliveries are claimed for a while by the process that sends them
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite writes one at a time), so two processes
never send the same one at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.records import (
    ClaimedDelivery,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
)
from labelloop.core.types import ItemRecord, Review
from labelloop.store.base import aware, item_from_row, review_from_row, suggestion_from_row
from labelloop.store.tables import (
    ItemRow,
    ReviewRow,
    RouteRow,
    SuggestionRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEventRow,
    WebhookRow,
)
from labelloop.store.users import state_upsert

T_HOOKS = WebhookRow.__table__
T_EVENTS = WebhookEventRow.__table__
T_DELIVERIES = WebhookDeliveryRow.__table__
T_ATTEMPTS = WebhookAttemptRow.__table__
T_REVIEWS = ReviewRow.__table__
T_ROUTES = RouteRow.__table__
T_SUGG = SuggestionRow.__table__
T_ITEMS = ItemRow.__table__
#: review actions by which a person decides an item (``item.decided``)
DECIDING = ("accept", "fix", "reject")
#: reviews that are copies or files, not a person deciding now
NOT_DECIDING_SOURCES = ("import", "mapping")
#: an event's row, as the key of a review's ``item.decided`` event names it
REVIEW_KEY = "review:"
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"

#: (type, key, data, occurred_at): a fact to record
Fact = tuple[str, str, dict, datetime]


class WebhooksMixin:
    # --- webhooks -------------------------------------------------------------------------

    def add_webhook(
        self,
        url: str,
        events: Sequence[str],
        secret_env: str,
        fingerprint: str | None,
        by: str | None,
        now: datetime,
    ) -> int:
        values = dict(
            url=url,
            events=list(events),
            secret_env=secret_env,
            secret_fingerprint=fingerprint,
            created_by=by,
            created_at=now,
        )
        with self.engine.begin() as c:
            return c.execute(
                sa.insert(T_HOOKS).values(**values).returning(T_HOOKS.c.id)
            ).scalar_one()

    def list_webhooks(self, removed: bool = False) -> list[Webhook]:
        """The webhooks (disabled ones included), oldest first; with ``removed``, those too."""
        q = sa.select(T_HOOKS).order_by(T_HOOKS.c.id)
        if not removed:
            q = q.where(T_HOOKS.c.removed_at.is_(None))
        with self.engine.connect() as c:
            return [_webhook(r) for r in c.execute(q).all()]

    def get_webhook(self, webhook_id: int) -> Webhook | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(T_HOOKS).where(T_HOOKS.c.id == webhook_id)).first()
        return _webhook(row) if row is not None else None

    def remove_webhook(self, webhook_id: int, now: datetime) -> bool:
        """Remove a webhook (its row and log stay) and cancel what it still had to get;
        False when there is no such webhook, or it was removed already."""
        with self.engine.begin() as c:
            done = c.execute(
                sa.update(T_HOOKS)
                .where(T_HOOKS.c.id == webhook_id, T_HOOKS.c.removed_at.is_(None))
                .values(removed_at=now)
            ).rowcount
            if done:
                _cancel_pending(c, webhook_id, "the webhook was removed", now)
        return bool(done)

    def live_webhooks_since(self, kind: str) -> datetime | None:
        """When the oldest live webhook taking ``kind`` was registered; None: none takes it."""
        return min(
            (h.created_at for h in self.list_webhooks() if h.live and kind in h.events),
            default=None,
        )

    # --- events ---------------------------------------------------------------------------

    def record_events(
        self, facts: Iterable[Fact], now: datetime, state: tuple[str, dict] | None = None
    ) -> int:
        """Record each fact not recorded yet (by its key) with a delivery to every live
        webhook that takes its type and was registered when it happened; and ``state``
        (key, value) in the same transaction. How many facts were new."""
        new = 0
        with self.engine.begin() as c:
            if state is not None:
                c.execute(state_upsert(self.dialect, *state, now))
            hooks = [_webhook(r) for r in c.execute(_live_hooks()).all()]
            for kind, key, data, occurred_at in facts:
                event_id = c.execute(
                    self._insert_new(T_EVENTS, ["key"])
                    .values(
                        uid="evt_" + uuid.uuid4().hex,
                        kind=kind,
                        key=key,
                        data=data,
                        occurred_at=occurred_at,
                        created_at=now,
                    )
                    .returning(T_EVENTS.c.id)
                ).scalar_one_or_none()
                if event_id is None:  # recorded before (by this or another process)
                    continue
                new += 1
                told = [h for h in hooks if kind in h.events and h.created_at <= occurred_at]
                if told:
                    rows = [_delivery(h.id, event_id, now) for h in told]
                    c.execute(sa.insert(T_DELIVERIES), rows)
        return new

    def _insert_new(self, table: sa.Table, unique: list[str]):
        ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(table)
        return ins.on_conflict_do_nothing(index_elements=unique)

    def webhook_events(self, kind: str | None = None) -> list[WebhookEvent]:
        q = sa.select(T_EVENTS).order_by(T_EVENTS.c.id)
        if kind is not None:
            q = q.where(T_EVENTS.c.kind == kind)
        with self.engine.connect() as c:
            return [_event(r) for r in c.execute(q).all()]

    # --- the reviews that make item.decided events ----------------------------------------

    def undecided_reviews(
        self, since: datetime, after_id: int, recent: datetime, limit: int
    ) -> tuple[list[Review], int]:
        """Reviews by which a person decided an item (accept, fix, reject; not from a file,
        not on a gold item) or took such a decision back (undo), made at ``since`` or later
        and with no event yet: those with an id above ``after_id``, and those made at
        ``recent`` or later whatever their id. Oldest first, at most ``limit``; and the
        newest review id when the scan began.

        Two reads, each on an index (the id range; ``created_at``), rather than one whose
        ``OR`` would read the whole table."""
        r = T_REVIEWS
        key = sa.literal(REVIEW_KEY, sa.String) + sa.cast(r.c.id, sa.String)
        base = (
            sa.select(r)
            .where(
                r.c.created_at >= since,
                _decisive_or_undo(r),
                ~sa.exists(sa.select(T_EVENTS.c.id).where(T_EVENTS.c.key == key)),
            )
            .order_by(r.c.id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            top = c.execute(sa.select(sa.func.coalesce(sa.func.max(r.c.id), 0))).scalar_one()
            rows = c.execute(base.where(r.c.id > after_id, r.c.id <= top)).all()
            rows += c.execute(base.where(r.c.created_at >= recent, r.c.id <= after_id)).all()
        rows = sorted(rows, key=lambda x: x.id)[:limit]
        return [review_from_row(x) for x in rows], top

    def decision_records(self, item_ids: Sequence[str]) -> dict[str, ItemRecord]:
        """Per item: the item, its route, the suggestion its route names, and every review
        row (undone ones and undo rows included, oldest first): what an ``item.decided``
        event is made from."""
        ids = list(dict.fromkeys(item_ids))
        reviews: dict[str, list[Review]] = {i: [] for i in ids}
        with self.engine.connect() as c:
            q = sa.select(T_REVIEWS).where(T_REVIEWS.c.item_id.in_(ids)).order_by(T_REVIEWS.c.id)
            for row in c.execute(q).all():
                reviews[row.item_id].append(review_from_row(row))
            routes = {r.item_id: r for r in c.execute(_routes_of(ids)).all()}
            sids = [r.suggestion_id for r in routes.values() if r.suggestion_id is not None]
            q = sa.select(T_SUGG).where(T_SUGG.c.id.in_(sids))
            suggestions = {s.id: suggestion_from_row(s) for s in c.execute(q).all()}
            items = {r.id: item_from_row(r) for r in c.execute(_items_of(ids)).all()}
        out = {}
        for item_id in ids:
            route = routes.get(item_id)
            if item_id not in items:
                continue
            out[item_id] = ItemRecord(
                item=items[item_id],
                suggestion=suggestions.get(route.suggestion_id) if route else None,
                route=route.route if route else "unlabeled",
                route_reason=route.reason if route else "",
                reviews=tuple(reviews[item_id]),
                accepted=frozenset(route.accepted or ()) if route else frozenset(),
            )
        return out

    # --- deliveries -----------------------------------------------------------------------

    def claim_deliveries(
        self, holder: str, now: datetime, until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Take up to ``limit`` deliveries that are due, unclaimed (or whose claim lapsed) and
        for a live webhook, until ``until``; each one's attempts counted up by one."""
        d = T_DELIVERIES
        due = (
            sa.select(d.c.id)
            .join(T_HOOKS, T_HOOKS.c.id == d.c.webhook_id)
            .where(
                d.c.status == PENDING,
                d.c.next_attempt_at <= now,
                sa.or_(d.c.claimed_until.is_(None), d.c.claimed_until < now),
                T_HOOKS.c.removed_at.is_(None),
                T_HOOKS.c.disabled_at.is_(None),
            )
            .order_by(d.c.next_attempt_at, d.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(of=d, skip_locked=True)
        with self.engine.begin() as c:
            ids = list(
                c.execute(
                    sa.update(d)
                    .where(d.c.id.in_(due.scalar_subquery()))
                    .values(claimed_by=holder, claimed_until=until, attempts=d.c.attempts + 1)
                    .returning(d.c.id)
                ).scalars()
            )
            if not ids:
                return []
            q = (
                sa.select(
                    d.c.id.label("d_id"),
                    d.c.uid.label("d_uid"),
                    d.c.attempts.label("d_attempts"),
                    *T_HOOKS.c,
                    *(col.label(f"e_{col.name}") for col in T_EVENTS.c),
                )
                .join(T_HOOKS, T_HOOKS.c.id == d.c.webhook_id)
                .join(T_EVENTS, T_EVENTS.c.id == d.c.event_id)
                .where(d.c.id.in_(ids))
                .order_by(d.c.next_attempt_at, d.c.id)
            )
            rows = c.execute(q).all()
        return [
            ClaimedDelivery(
                id=r.d_id,
                uid=r.d_uid,
                attempt=r.d_attempts,
                until=until,
                webhook=_webhook(r),
                event=_event(r, "e_"),
            )
            for r in rows
        ]

    def finish_attempt(
        self,
        claim: ClaimedDelivery,
        attempt: WebhookAttempt,
        status: str,
        next_at: datetime | None = None,
        disable: str | None = None,
    ) -> None:
        """Log an attempt and settle its delivery: ``status`` (``pending`` again, to be tried
        at ``next_at``; or delivered, failed); with ``disable``, the webhook is disabled for
        that reason and what it still had to get is cancelled. A delivery whose claim was
        taken over meanwhile keeps the other process's outcome (the attempt is logged)."""
        d = T_DELIVERIES
        at = attempt.at
        settle = dict(
            status=status,
            claimed_by=None,
            claimed_until=None,
            last_status=attempt.status_code,
            last_error=attempt.error,
            finished_at=None if status == PENDING else at,
        )
        if next_at is not None:
            settle["next_attempt_at"] = next_at
        with self.engine.begin() as c:
            c.execute(
                sa.insert(T_ATTEMPTS).values(
                    delivery_id=attempt.delivery_id,
                    attempt=attempt.attempt,
                    at=at,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    holder=attempt.holder,
                )
            )
            c.execute(
                sa.update(d)
                .where(d.c.id == claim.id, d.c.claimed_by == attempt.holder, d.c.status == PENDING)
                .values(**settle)
            )
            if disable is not None:
                c.execute(
                    sa.update(T_HOOKS)
                    .where(T_HOOKS.c.id == claim.webhook.id, T_HOOKS.c.disabled_at.is_(None))
                    .values(disabled_at=at, disabled_reason=disable)
                )
                _cancel_pending(c, claim.webhook.id, disable, at)

    def next_delivery_at(self) -> datetime | None:
        """When the next pending delivery to a live webhook is due (None: nothing pending)."""
        d = T_DELIVERIES
        q = (
            sa.select(sa.func.min(d.c.next_attempt_at))
            .join(T_HOOKS, T_HOOKS.c.id == d.c.webhook_id)
            .where(
                d.c.status == PENDING,
                T_HOOKS.c.removed_at.is_(None),
                T_HOOKS.c.disabled_at.is_(None),
            )
        )
        with self.engine.connect() as c:
            return aware(c.execute(q).scalar_one())

    def webhook_deliveries(
        self, webhook_id: int | None = None, limit: int = 50
    ) -> list[WebhookDelivery]:
        """The delivery log: the newest deliveries (of one webhook), each with its attempts."""
        d = T_DELIVERIES
        q = (
            sa.select(d, T_EVENTS.c.uid.label("event_uid"), T_EVENTS.c.kind)
            .join(T_EVENTS, T_EVENTS.c.id == d.c.event_id)
            .order_by(d.c.id.desc())
            .limit(limit)
        )
        if webhook_id is not None:
            q = q.where(d.c.webhook_id == webhook_id)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
            logs: dict[int, list[WebhookAttempt]] = {r.id: [] for r in rows}
            q = sa.select(T_ATTEMPTS).where(T_ATTEMPTS.c.delivery_id.in_(list(logs)))
            for a in c.execute(q.order_by(T_ATTEMPTS.c.id)).all():
                logs[a.delivery_id].append(_attempt(a))
        return [
            WebhookDelivery(
                id=r.id,
                uid=r.uid,
                webhook_id=r.webhook_id,
                event_uid=r.event_uid,
                kind=r.kind,
                status=r.status,
                attempts=r.attempts,
                next_attempt_at=aware(r.next_attempt_at),
                last_status=r.last_status,
                last_error=r.last_error,
                created_at=aware(r.created_at),
                finished_at=aware(r.finished_at),
                log=tuple(logs[r.id]),
            )
            for r in rows
        ]


def _decisive_or_undo(r: sa.Table):
    """A review by which a person decides an item, or an undo of one."""
    taken_back = r.alias("taken_back")
    return sa.or_(
        _deciding(r),
        sa.and_(
            r.c.action == "undo",
            sa.exists(
                sa.select(taken_back.c.id).where(
                    taken_back.c.id == r.c.supersedes, _deciding(taken_back)
                )
            ),
        ),
    )


def _deciding(r: sa.Table):
    return sa.and_(
        r.c.action.in_(DECIDING),
        r.c.source.not_in(NOT_DECIDING_SOURCES),
        sa.or_(r.c.queue.is_(None), r.c.queue != "gold"),
    )


def _routes_of(ids: list[str]) -> sa.Select:
    return sa.select(
        T_ROUTES.c.item_id,
        T_ROUTES.c.route,
        T_ROUTES.c.reason,
        T_ROUTES.c.suggestion_id,
        T_ROUTES.c.accepted,
    ).where(T_ROUTES.c.item_id.in_(ids))


def _items_of(ids: list[str]) -> sa.Select:
    return sa.select(T_ITEMS).where(T_ITEMS.c.id.in_(ids))


def _live_hooks() -> sa.Select:
    return sa.select(T_HOOKS).where(T_HOOKS.c.removed_at.is_(None), T_HOOKS.c.disabled_at.is_(None))


def _delivery(webhook_id: int, event_id: int, now: datetime) -> dict:
    return dict(
        uid="dlv_" + uuid.uuid4().hex,
        webhook_id=webhook_id,
        event_id=event_id,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def _cancel_pending(c, webhook_id: int, why: str, now: datetime) -> None:
    d = T_DELIVERIES
    c.execute(
        sa.update(d)
        .where(d.c.webhook_id == webhook_id, d.c.status == PENDING)
        .values(status=CANCELLED, last_error=why, finished_at=now, claimed_by=None)
    )


def _webhook(r) -> Webhook:
    return Webhook(
        id=r.id,
        url=r.url,
        events=tuple(r.events or ()),
        secret_env=r.secret_env,
        secret_fingerprint=r.secret_fingerprint,
        created_by=r.created_by,
        created_at=aware(r.created_at),
        disabled_at=aware(r.disabled_at),
        disabled_reason=r.disabled_reason,
        removed_at=aware(r.removed_at),
    )


def _event(r, prefix: str = "") -> WebhookEvent:
    def get(name: str):
        return getattr(r, prefix + name)

    return WebhookEvent(
        id=get("id"),
        uid=get("uid"),
        kind=get("kind"),
        key=get("key"),
        data=get("data") or {},
        occurred_at=aware(get("occurred_at")),
        created_at=aware(get("created_at")),
    )


def _attempt(a) -> WebhookAttempt:
    return WebhookAttempt(
        delivery_id=a.delivery_id,
        attempt=a.attempt,
        at=aware(a.at),
        duration_ms=a.duration_ms,
        status_code=a.status_code,
        error=a.error,
        holder=a.holder,
    )
