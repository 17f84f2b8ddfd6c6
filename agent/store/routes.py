"""Routes: where each item stands now."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.records import ItemRoute
from labelloop.core.types import DECISIVE, QUEUE_ROUTES, REOPEN, LabelValue, Route, RouteDecision
from labelloop.store.base import to_record, value_from_json
from labelloop.store.tables import ItemRow, LeaseRow, ReviewRow, RouteRow, SuggestionRow

log = logging.getLogger(__name__)
T_ROUTES = RouteRow.__table__
T_ITEMS = ItemRow.__table__
T_SUGG = SuggestionRow.__table__
T_REVIEWS = ReviewRow.__table__
T_LEASES = LeaseRow.__table__
#: the columns routing writes and compares with what is stored
ROUTE_COLUMNS = (
    "route",
    "reason",
    "suggestion_id",
    "priority",
    "label",
    "confidence",
    "accepted",
)


@dataclass(frozen=True)
class RouteSnapshot:
    """The routes as routing read them, before deciding anything."""

    #: item id -> its row's (route, reason, suggestion_id, priority, label, confidence,
    #: accepted, updated_at)
    rows: dict[str, tuple]
    #: the newest review id at that moment: a review after it means someone acted since
    last_review_id: int


@dataclass(frozen=True)
class RouteWrite:
    """What ``apply_routes`` did: rows written, and rows left alone because a person
    held or decided the item since routing read the store."""

    written: int
    kept: int


def writes_routes(method: Callable) -> Callable:
    """Marks a store method that changes routes: the route history
    (``labelloop.store.history``) is kept after it succeeds."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        out = method(self, *args, **kwargs)
        try:
            self.note_routes()
        except sa.exc.SQLAlchemyError:  # the write stands; the next one records the counts
            log.warning("route history not recorded this time", exc_info=True)
        return out

    return wrapper


class RoutesMixin:
    @writes_routes
    def set_routes(
        self, decisions: Sequence[RouteDecision], priorities: dict[str, float] | None = None
    ) -> None:
        """Upsert the route of each item (one transaction)."""
        if not decisions:
            return
        now = datetime.now(UTC)
        priorities = priorities or {}
        rows = [
            {
                "item_id": d.item_id,
                "route": d.route.value,
                "reason": d.reason,
                "suggestion_id": d.suggestion_id,
                "priority": priorities.get(d.item_id, 0.0),
                "accepted": accepted_of(d),
                "updated_at": now,
            }
            for d in decisions
        ]
        ids = [d.item_id for d in decisions]
        with self.engine.begin() as c:
            _add_browse_columns(c, rows)
            for i in range(0, len(ids), 900):
                c.execute(sa.delete(T_ROUTES).where(T_ROUTES.c.item_id.in_(ids[i : i + 900])))
            c.execute(sa.insert(T_ROUTES), rows)

    def route_snapshot(self) -> RouteSnapshot:
        """Every route row and the newest review id, read together before routing."""
        cols = [T_ROUTES.c[k] for k in ROUTE_COLUMNS]
        with self.engine.connect() as c:
            last = c.execute(sa.select(sa.func.max(T_REVIEWS.c.id))).scalar() or 0
            rows = c.execute(sa.select(T_ROUTES.c.item_id, *cols, T_ROUTES.c.updated_at))
            return RouteSnapshot({r[0]: tuple(r[1:]) for r in rows}, last)

    @writes_routes
    def apply_routes(
        self,
        decisions: Sequence[RouteDecision],
        priorities: dict[str, float],
        seen: RouteSnapshot,
        now: datetime | None = None,
    ) -> RouteWrite:
        """Write the routes that differ from ``seen``, each only if nothing moved the item
        since routing read the store: its row is as it was then, nobody reviewed it since,
        and no reviewer holds it (a leased item keeps its route until it is decided). One
        transaction; items left alone are routed again on the next run."""
        now = now or datetime.now(UTC)
        rows = [_route_row(d, priorities.get(d.item_id, 0.0), now) for d in decisions]
        with self.engine.begin() as c:
            _add_browse_columns(c, rows)
            changed = [r for r in rows if _differs(r, seen.rows.get(r["item_id"]))]
            written = _insert_new(
                c, self.dialect, [r for r in changed if r["item_id"] not in seen.rows]
            )
            moved = [
                _guard_params(r, seen.rows[r["item_id"]], seen.last_review_id, now)
                for r in changed
                if r["item_id"] in seen.rows
            ]
            if moved:
                lock_routes(c, [m["iid"] for m in moved], unheld_at=now)
                written += c.execute(_guarded_update(), moved).rowcount
        return RouteWrite(written=written, kept=len(changed) - written)

    @writes_routes
    def add_routes(self, decisions: Sequence[RouteDecision], priorities: dict[str, float]) -> int:
        """Route rows for items that have none (one transaction); a row another writer made
        first for the same item stays. The rows written."""
        now = datetime.now(UTC)
        rows = [_route_row(d, priorities.get(d.item_id, 0.0), now) for d in decisions]
        with self.engine.begin() as c:
            _add_browse_columns(c, rows)
            return _insert_new(c, self.dialect, rows)

    def get_route(self, item_id: str) -> ItemRoute | None:
        with self.session() as s:
            row = s.get(RouteRow, item_id)
            return None if row is None else _item_route(row)

    def reviewed_since_routed(self) -> set[str]:
        """Reviewed items with a review newer than their route row (a second annotator's
        import, say): the label the item browser shows for them is routing's to refresh."""
        q = (
            sa.select(T_REVIEWS.c.item_id)
            .distinct()
            .join(T_ROUTES, T_ROUTES.c.item_id == T_REVIEWS.c.item_id)
            .where(
                T_ROUTES.c.route == Route.REVIEWED.value,
                T_REVIEWS.c.created_at > T_ROUTES.c.updated_at,
            )
        )
        with self.engine.connect() as c:
            return set(c.execute(q).scalars())

    def routes(self) -> dict[str, str]:
        with self.engine.connect() as c:
            return dict(c.execute(sa.select(T_ROUTES.c.item_id, T_ROUTES.c.route)).all())

    def route_counts(self) -> dict[str, int]:
        """Items per route, with items never routed counted as unlabeled."""
        with self.engine.connect() as c:
            return count_routes(c)

    def answered_waiting(self, routes: Sequence[str]) -> int:
        """Items on ``routes`` that a person has already answered (an answer or a reject,
        not undone, outside gold checks, since the item was last reopened): those a queue
        still holds for another answer."""
        r = T_REVIEWS.c
        later = T_REVIEWS.alias("later")
        reopened_since = sa.exists().where(
            later.c.item_id == r.item_id, later.c.action == REOPEN, later.c.id > r.id
        )
        q = (
            sa.select(sa.func.count(sa.distinct(r.item_id)))
            .select_from(T_REVIEWS.join(T_ROUTES, T_ROUTES.c.item_id == r.item_id))
            .where(
                T_ROUTES.c.route.in_(list(routes)),
                live_answers(),
                sa.or_(r.queue.is_(None), r.queue != "gold"),
                ~reopened_since,
            )
        )
        with self.engine.connect() as c:
            return int(c.execute(q).scalar_one())

    def active_frontier(self, since: datetime) -> tuple[float | None, float | None]:
        """Where the active queue stands: (head, reached). ``head`` is the lowest priority
        still waiting in it (failures, at negative priorities, aside; None: nothing waits);
        ``reached`` the highest priority of an item decided from it since ``since`` (None:
        no decision since)."""
        decided = (
            sa.select(sa.func.max(T_ROUTES.c.priority))
            .join(T_REVIEWS, T_REVIEWS.c.item_id == T_ROUTES.c.item_id)
            .where(
                T_REVIEWS.c.queue == "active",
                T_REVIEWS.c.action != "skip",
                T_REVIEWS.c.created_at >= since,
                live_reviews(),
            )
        )
        waiting = sa.select(sa.func.min(T_ROUTES.c.priority)).where(
            T_ROUTES.c.route == Route.ACTIVE.value, T_ROUTES.c.priority >= 0
        )
        with self.engine.connect() as c:
            return c.execute(waiting).scalar(), c.execute(decided).scalar()

    def queue_item_ids(self, queue: str) -> list[str]:
        """Items waiting in a review queue, in the order reviewers get them."""
        routes = QUEUE_ROUTES.get(queue, (queue,))
        q = sa.select(T_ROUTES.c.item_id).where(T_ROUTES.c.route.in_(routes))
        with self.engine.connect() as c:
            return list(c.execute(q.order_by(T_ROUTES.c.priority, T_ROUTES.c.item_id)).scalars())

    def routes_for(self, item_ids: Sequence[str]) -> dict[str, ItemRoute]:
        """item id -> its route, for the ids given."""
        out: dict[str, ItemRoute] = {}
        with self.session() as s:
            for i in range(0, len(item_ids), 900):
                q = sa.select(RouteRow).where(RouteRow.item_id.in_(item_ids[i : i + 900]))
                out.update((r.item_id, _item_route(r)) for r in s.exec(q).scalars())
        return out

    def accepted_counts(self) -> dict[str, int]:
        """question -> items whose route auto-accepts their answer to it (auto-accepted,
        audited or waiting for people on other questions; reviewed items included)."""
        q = sa.select(T_ROUTES.c.accepted).where(T_ROUTES.c.accepted.is_not(None))
        counts: dict[str, int] = {}
        with self.engine.connect() as c:
            for (names,) in c.execute(q):
                for name in names or ():
                    counts[name] = counts.get(name, 0) + 1
        return counts

    def route_reasons(self, route: str, limit: int = 5) -> list[tuple[str, int]]:
        """The most common reasons items sit on a route (e.g. why they failed)."""
        q = (
            sa.select(T_ROUTES.c.reason, sa.func.count().label("n"))
            .where(T_ROUTES.c.route == route)
            .group_by(T_ROUTES.c.reason)
            .order_by(sa.desc("n"))
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [(r, n) for r, n in c.execute(q)]


def count_routes(c) -> dict[str, int]:
    """Items per route on connection ``c``, with items never routed counted as unlabeled."""
    counts = {r.value: 0 for r in Route}
    q = sa.select(T_ROUTES.c.route, sa.func.count()).group_by(T_ROUTES.c.route)
    for route, n in c.execute(q):
        counts[route] = n
    total = c.execute(sa.select(sa.func.count()).select_from(T_ITEMS)).scalar_one()
    counts["unlabeled"] += total - sum(counts.values())
    return counts


def _route_row(d: RouteDecision, priority: float, now: datetime) -> dict:
    return {
        "item_id": d.item_id,
        "route": d.route.value,
        "reason": d.reason,
        "suggestion_id": d.suggestion_id,
        "priority": priority,
        "accepted": accepted_of(d),
        "updated_at": now,
    }


def accepted_of(d: RouteDecision) -> list[str] | None:
    """The questions a decision auto-accepts, as stored: sorted names, None for none (a
    decision of a one-question guideline has no ``accepted``)."""
    got = getattr(d, "accepted", None)
    return sorted(got) if got else None


def _differs(row: dict, stored: tuple | None) -> bool:
    return stored is None or tuple(row[k] for k in ROUTE_COLUMNS) != stored[: len(ROUTE_COLUMNS)]


def untouched_since(item_col, last_review):
    """Nobody reviewed the item after review ``last_review``, and no reviewer holds it."""
    reviewed = sa.select(T_REVIEWS.c.id).where(
        T_REVIEWS.c.item_id == item_col, T_REVIEWS.c.id > last_review
    )
    now = sa.bindparam("now", type_=T_LEASES.c.expires_at.type)
    return sa.and_(~sa.exists(reviewed), ~held(item_col, now))


def held(item_col, now):
    """A reviewer holds the item: an unexpired lease outside the gold queue."""
    return sa.exists(
        sa.select(T_LEASES.c.item_id).where(
            T_LEASES.c.item_id == item_col, T_LEASES.c.expires_at > now, T_LEASES.c.queue != "gold"
        )
    )


def lock_routes(c, item_ids: Sequence[str], unheld_at: datetime | None = None) -> None:
    """Lock the items' route rows for the transaction, in id order (PostgreSQL); with
    ``unheld_at``, only those of items no reviewer holds then (a write that leaves held
    items alone need not make their reviewers' decisions wait).

    A guarded write then reads leases and reviews in a snapshot taken after the lock: a
    lease locks the route row as it is taken, so one taken while the write waited is
    seen. An UPDATE that waited for the row itself would go on with its older snapshot,
    without the lease, and move an item someone holds. The order keeps two writers from
    deadlocking. SQLite has one writer at a time and no row locks: nothing to do there.
    """
    if c.dialect.name != "postgresql":
        return
    ids = sorted(item_ids)
    for i in range(0, len(ids), 900):
        q = sa.select(T_ROUTES.c.item_id).where(T_ROUTES.c.item_id.in_(ids[i : i + 900]))
        if unheld_at is not None:
            q = q.where(~held(T_ROUTES.c.item_id, unheld_at))
        c.execute(q.order_by(T_ROUTES.c.item_id).with_for_update()).all()


def _guard_params(row: dict, stored: tuple, last_review: int, now: datetime) -> dict:
    new = {f"n_{k}": row[k] for k in (*ROUTE_COLUMNS, "updated_at")}
    seen = {"iid": row["item_id"], "seen_route": stored[0], "seen_at": stored[-1]}
    return new | seen | {"last_review": last_review, "now": now}


def _guarded_update() -> sa.Update:
    """Move one item, only if its row is as routing read it and nobody touched it since."""
    at = T_ROUTES.c.updated_at.type
    return (
        sa.update(T_ROUTES)
        .where(
            T_ROUTES.c.item_id == sa.bindparam("iid"),
            T_ROUTES.c.route == sa.bindparam("seen_route"),
            T_ROUTES.c.updated_at == sa.bindparam("seen_at", type_=at),
            untouched_since(T_ROUTES.c.item_id, sa.bindparam("last_review")),
        )
        .values(
            {
                k: sa.bindparam(f"n_{k}", type_=T_ROUTES.c[k].type)
                for k in (*ROUTE_COLUMNS, "updated_at")
            }
        )
    )


def _insert_new(c, dialect: str, rows: list[dict]) -> int:
    """Route rows for items that had none (another writer's row for the same item wins)."""
    if not rows:
        return 0
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(T_ROUTES)
    ins = ins.on_conflict_do_nothing(index_elements=["item_id"])
    # the rows written: without it, psycopg's many-row execute counts -1
    return c.execute(ins, rows, execution_options={"preserve_rowcount": True}).rowcount


def _item_route(row: RouteRow) -> ItemRoute:
    return to_record(ItemRoute, row, route=Route(row.route), accepted=tuple(row.accepted or ()))


def browse_label(value: LabelValue | None) -> str | None:
    """The label as the item browser filters it: the name, or sorted names joined by ', '."""
    if value is None or value.abstain:
        return None
    if value.label is not None:
        return value.label
    names = sorted(set(value.names()))
    return ", ".join(names) if names else None


def live_reviews(t=T_REVIEWS):
    """Reviews that stand: not an ``undo`` row and not taken back by one."""
    undo = T_REVIEWS.alias("undo")
    return sa.and_(
        t.c.action != "undo",
        ~sa.exists(sa.select(undo.c.id).where(undo.c.supersedes == t.c.id)),
    )


#: the routes of items waiting in a review queue
QUEUED_ROUTES = tuple(r.value for routes in QUEUE_ROUTES.values() for r in routes)


def live_answers(t=T_REVIEWS):
    """Reviews that answer their item (accept, fix, import or reject) and stand."""
    return sa.and_(t.c.action.in_((*DECISIVE, "reject")), live_reviews(t))


def _add_browse_columns(c, rows: list[dict]) -> None:
    """Fill each route row's browser label and confidence (the human label wins)."""
    by_sid = {r["suggestion_id"]: r for r in rows if r["suggestion_id"] is not None}
    sids = list(by_sid)
    for i in range(0, len(sids), 900):
        q = sa.select(T_SUGG.c.id, T_SUGG.c.value, T_SUGG.c.calibrated, T_SUGG.c.confidence)
        for sid, value, cal, conf in c.execute(q.where(T_SUGG.c.id.in_(sids[i : i + 900]))):
            by_sid[sid]["label"] = browse_label(value_from_json(value))
            by_sid[sid]["confidence"] = cal if cal is not None else conf
    reviewed = {r["item_id"]: r for r in rows if r["route"] == Route.REVIEWED.value}
    ids = list(reviewed)
    for i in range(0, len(ids), 900):
        q = (
            sa.select(T_REVIEWS.c.item_id, T_REVIEWS.c.value)
            .where(
                T_REVIEWS.c.item_id.in_(ids[i : i + 900]),
                T_REVIEWS.c.action.in_(DECISIVE),
                T_REVIEWS.c.queue.is_distinct_from("gold"),
                T_REVIEWS.c.id > _last_reopen(),
                live_reviews(),
            )
            .order_by(_adjudicated_last(), T_REVIEWS.c.id)
        )
        for item_id, value in c.execute(q):
            reviewed[item_id]["label"] = browse_label(value_from_json(value))
    for r in rows:
        r.setdefault("label", None)
        r.setdefault("confidence", None)


def _last_reopen():
    """The id of the review's item's last live ``reopen`` (0 if none): the label that
    stands is decided after it (``labelloop.core.standing``)."""
    reopen = T_REVIEWS.alias("reopen")
    return (
        sa.select(sa.func.coalesce(sa.func.max(reopen.c.id), 0))
        .where(
            reopen.c.item_id == T_REVIEWS.c.item_id,
            reopen.c.action == REOPEN,
            live_reviews(reopen),
        )
        .scalar_subquery()
    )


def _adjudicated_last():
    """Sort key: an adjudicator's review after every other, so it is the one that stands."""
    return sa.case((T_REVIEWS.c.queue == "adjudication", 1), else_=0)
