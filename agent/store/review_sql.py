"""The review stream's hot statements, built once per shape and run with parameters.

Picking the next item and taking its lease is one ``INSERT ... SELECT ... ON CONFLICT ...
RETURNING``; on PostgreSQL the item's view is read in the same statement (a CTE) and a
decision (release the lease, append the review, move the item, renew the next lease) is
one statement of data-modifying CTEs. Run in autocommit, each is one round trip.
Building and hashing these constructs costs more than running them, hence the caches.

Parameters: ``reviewer``, ``now``, ``until`` (a new lease's expiry); a decision's review
columns as ``v_<column>``, its move as ``m_<column>``, the next lease as ``next_item``.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.types import QUEUE_ROUTES
from labelloop.store.routes import live_reviews
from labelloop.store.tables import GoldRow, ItemRow, LeaseRow, ReviewRow, RouteRow, SuggestionRow

T_LEASES = LeaseRow.__table__
T_ROUTES = RouteRow.__table__
T_REVIEWS = ReviewRow.__table__
T_ITEMS = ItemRow.__table__
T_SUGG = SuggestionRow.__table__
T_GOLD = GoldRow.__table__
GOLD = "gold"
LEASE_COLUMNS = ("item_id", "reviewer", "queue", "leased_at", "expires_at")

REVIEWER = sa.bindparam("reviewer", type_=T_LEASES.c.reviewer.type)
NOW = sa.bindparam("now", type_=T_LEASES.c.expires_at.type)
UNTIL = sa.bindparam("until", type_=T_LEASES.c.expires_at.type)


# --- a leased item's view ---------------------------------------------------------------


def context_columns() -> list:
    """The columns of a leased item's view: item (``i_``), route (and the questions it
    auto-accepted), suggestion, gold."""
    item = [
        T_ITEMS.c[k].label(f"i_{k}")
        for k in ("id", "text", "messages", "target_turn", "replies", "meta")
    ]
    route = [T_ROUTES.c.route, T_ROUTES.c.accepted]
    return [*item, *route, *T_SUGG.c, T_GOLD.c.value.label("gold")]


def with_context(j):
    """Join, to a from-clause holding ``items``, the rest of a view's tables."""
    return (
        j.outerjoin(T_ROUTES, T_ROUTES.c.item_id == T_ITEMS.c.id)
        .outerjoin(T_SUGG, T_SUGG.c.id == T_ROUTES.c.suggestion_id)
        .outerjoin(T_GOLD, T_GOLD.c.item_id == T_ITEMS.c.id)
    )


@lru_cache
def context() -> sa.Select:
    """An item's view by ``item_id``."""
    q = sa.select(*context_columns()).select_from(with_context(T_ITEMS))
    return q.where(T_ITEMS.c.id == sa.bindparam("item_id"))


# --- picking and leasing ----------------------------------------------------------------


def _unseen(item_col):
    return ~sa.exists(
        sa.select(T_REVIEWS.c.id).where(
            T_REVIEWS.c.item_id == item_col, T_REVIEWS.c.reviewer == REVIEWER, live_reviews()
        )
    )


def _free_in_route(route: str):
    held = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_ROUTES.c.item_id, T_LEASES.c.expires_at > NOW
    )
    return (
        sa.select(T_ROUTES.c.item_id, T_ROUTES.c.priority)
        .where(T_ROUTES.c.route == route, ~sa.exists(held), _unseen(T_ROUTES.c.item_id))
        .order_by(T_ROUTES.c.priority, T_ROUTES.c.item_id)
        .limit(1)
    )


@lru_cache
def free_in_queues(queues: tuple[str, ...]) -> sa.Select:
    """(item_id, queue) of the first item nobody holds and the reviewer has not answered,
    from the first queue that has one: each route's head read from its queue-order index,
    the row locked so that concurrent pickers skip it rather than collide (PostgreSQL)."""
    heads = []
    for rank, queue in enumerate(queues):
        for route in QUEUE_ROUTES.get(queue, (queue,)):
            head = _free_in_route(route).add_columns(
                sa.literal(rank).label("rank"), sa.literal(queue).label("queue")
            )
            heads.append(sa.select(head.with_for_update(skip_locked=True).subquery()))
    free = (sa.union_all(*heads) if len(heads) > 1 else heads[0]).subquery("free")
    return (
        sa.select(free.c.item_id, free.c.queue)
        .order_by(free.c.rank, free.c.priority, free.c.item_id)
        .limit(1)
    )


@lru_cache
def free_gold() -> sa.Select:
    """(item_id, queue) of a gold item the reviewer neither holds nor has answered."""
    mine = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_GOLD.c.item_id,
        T_LEASES.c.reviewer == REVIEWER,
        T_LEASES.c.expires_at > NOW,
    )
    return (
        sa.select(T_GOLD.c.item_id, sa.literal(GOLD).label("queue"))
        .where(~sa.exists(mine), _unseen(T_GOLD.c.item_id))
        .order_by(T_GOLD.c.item_id)
        .limit(1)
    )


def _upsert(ins, gold: bool):
    """Take the lease over when its holder's time ran out, or it is the reviewer's own;
    otherwise insert nothing (another reviewer holds the item)."""
    target = (
        {"index_elements": ["item_id", "reviewer"]}
        if gold
        else {"index_elements": ["item_id"], "index_where": sa.text("queue != 'gold'")}
    )
    return ins.on_conflict_do_update(
        **target,
        set_={k: ins.excluded[k] for k in LEASE_COLUMNS[1:]},
        where=sa.or_(T_LEASES.c.expires_at <= NOW, T_LEASES.c.reviewer == REVIEWER),
    ).returning(T_LEASES.c.item_id, T_LEASES.c.queue, T_LEASES.c.expires_at)


def _insert(dialect: str):
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(T_LEASES)


@lru_cache
def claim(dialect: str, queues: tuple[str, ...] | None) -> sa.Insert:
    """Lease what ``free_in_queues(queues)`` picks (``free_gold()`` when None):
    INSERT ... SELECT ... ON CONFLICT ... RETURNING item_id, queue, expires_at."""
    p = (free_gold() if queues is None else free_in_queues(queues)).subquery("pick")
    rows = sa.select(p.c.item_id, REVIEWER, p.c.queue, NOW, UNTIL)
    rows = rows.where(sa.true())  # SQLite reads ON CONFLICT after a bare FROM as a join
    return _upsert(_insert(dialect).from_select(list(LEASE_COLUMNS), rows), queues is None)


@lru_cache
def claim_with_context(queues: tuple[str, ...] | None) -> sa.Select:
    """PostgreSQL: ``claim`` and the leased item's view, in one statement."""
    got = claim("postgresql", queues).cte("got")
    j = with_context(sa.join(got, T_ITEMS, T_ITEMS.c.id == got.c.item_id))
    return sa.select(
        got.c.item_id.label("lease_item"),
        got.c.queue.label("lease_queue"),
        got.c.expires_at.label("lease_until"),
        *context_columns(),
    ).select_from(j)


@lru_cache
def take(dialect: str, gold: bool) -> sa.Insert:
    """Lease the given ``item_id`` in ``queue`` (taking over an expired lease)."""
    values = [sa.bindparam("item_id"), REVIEWER, sa.bindparam("queue"), NOW, UNTIL]
    return _upsert(_insert(dialect).values(dict(zip(LEASE_COLUMNS, values, strict=True))), gold)


# --- a decision, at once (PostgreSQL) -----------------------------------------------------


def route_moved(item, expect):
    """Whether the item's route is no longer ``expect`` (the route it was leased on)."""
    now = sa.select(T_ROUTES.c.route).where(T_ROUTES.c.item_id == item).scalar_subquery()
    return now.is_distinct_from(expect)


@lru_cache
def decision(
    columns: tuple[str, ...],
    needs_lease: bool,
    move: tuple[str, ...],
    extend: bool,
    check_route: bool = False,
):
    """Lock the item's route row, release the lease, append the review, move the item (its
    ``move`` columns) and renew the next lease, as data-modifying CTEs. Nothing is written
    when ``needs_lease`` and no lease was released; the row holds ``rid`` (None then),
    ``extended`` and ``changed``. With ``check_route``, the review's ``route_changed`` says
    whether the item's route was still ``expect_route`` when the decision was made."""
    item, who = sa.bindparam("v_item_id"), sa.bindparam("v_reviewer")
    # the route row before the lease, the order a lease is taken in (``claim`` locks the
    # row, then inserts the lease): a decision that held the lease while it waited for the
    # row deadlocked with a lease or an undo of the same item waiting the other way round
    locked = sa.select(T_ROUTES.c.item_id).where(T_ROUTES.c.item_id == item)
    locked = locked.with_for_update().cte("locked")
    released = (
        sa.delete(T_LEASES)
        .where(
            T_LEASES.c.item_id == item,
            T_LEASES.c.reviewer == who,
            sa.select(sa.func.count()).select_from(locked).scalar_subquery() >= 0,
        )
        .returning(T_LEASES.c.item_id)
        .cte("released")
    )
    values = [
        route_moved(item, sa.bindparam("expect_route", type_=T_ROUTES.c.route.type))
        if check_route and k == "route_changed"
        else sa.bindparam(f"v_{k}", type_=T_REVIEWS.c[k].type)
        for k in columns
    ]
    row = sa.select(*values)
    if needs_lease:
        row = row.where(sa.exists(sa.select(released.c.item_id)))
    ins = sa.insert(T_REVIEWS).from_select(list(columns), row)
    ins = ins.returning(T_REVIEWS.c.id, T_REVIEWS.c.route_changed).cte("ins")
    done = sa.exists(sa.select(ins.c.id))
    # a CTE is only rendered when the statement refers to it: each one is counted
    out = [
        sa.select(ins.c.id).scalar_subquery().label("rid"),
        sa.select(ins.c.route_changed).scalar_subquery().label("changed"),
        _count(released),
    ]
    if move:
        moved = (
            sa.update(T_ROUTES)
            .where(T_ROUTES.c.item_id == item, done)
            .values({k: sa.bindparam(f"m_{k}", type_=T_ROUTES.c[k].type) for k in move})
            .returning(T_ROUTES.c.item_id)
            .cte("moved")
        )
        out.append(_count(moved))
    extended = sa.null()
    if extend:
        renewed = (
            sa.update(T_LEASES)
            .where(
                T_LEASES.c.item_id == sa.bindparam("next_item"),
                T_LEASES.c.reviewer == who,
                T_LEASES.c.expires_at > sa.bindparam("v_created_at"),
                done,
            )
            .values(expires_at=UNTIL)
            .returning(T_LEASES.c.item_id)
            .cte("renewed")
        )
        extended = _count(renewed)
    return sa.select(*out, extended.label("extended"))


def _count(cte):
    return sa.select(sa.func.count()).select_from(cte).scalar_subquery()
