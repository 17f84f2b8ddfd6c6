"""The item browser's SQL: filtered pages in id order, capped counts, bulk accept.

Filters use the columns the browser keeps on ``routes`` (label, confidence), the reviews'
``(reviewer, id)`` and ``created_at`` indexes, and the word indexes (SQLite FTS5, m006;
PostgreSQL ``tsvector``, m008), so a page of 30 is found without scanning the whole table.

Text search, on both backends: the words typed, whole and in that order (a phrase),
case-insensitive, without stemming; punctuation separates words and is otherwise ignored.
"card arrived" finds "My CARD arrived!" but not "cards arrived" or "arrived card".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from labelloop.core.types import QUEUE_ROUTES
from labelloop.store.routes import live_reviews, lock_routes, writes_routes
from labelloop.store.tables import (
    BulkActionRow,
    GoldRow,
    ItemRow,
    LeaseRow,
    ReviewRow,
    RouteRow,
    SuggestionRow,
)

T_ITEMS = ItemRow.__table__
T_ROUTES = RouteRow.__table__
T_REVIEWS = ReviewRow.__table__
T_SUGG = SuggestionRow.__table__
T_LEASES = LeaseRow.__table__
T_GOLD = GoldRow.__table__
T_BULK = BulkActionRow.__table__
#: SQLite's full-text index of item text (migration m006); its rowid is the item's
FTS = sa.table("items_fts", sa.column("rowid"))
#: PostgreSQL's words of item text, a stored tsvector column with a GIN index (m008)
WORDS = sa.literal_column("items.words")
#: rows a bulk accept writes per transaction
BULK_BATCH = 1000
#: routes whose items a bulk accept may take: those waiting for people
WAITING = tuple(r for routes in QUEUE_ROUTES.values() for r in routes)


@dataclass(frozen=True)
class BulkMatch:
    """An item a bulk accept's filters match, with what decides whether it may take it."""

    item_id: str
    route: str
    suggestion_id: int | None
    has_value: bool
    #: the reviewer holding its lease, if any
    holder: str | None
    gold: bool


@dataclass(frozen=True)
class PageRows:
    """A browser page as the store reads it, in one connection."""

    #: (id, text, messages, route, label, confidence, updated_at, suggestion_id, reason,
    #: value): ``value`` is the routed suggestion's
    rows: list
    reviewers: dict[str, list[str]]
    #: matches counted up to ``cap`` + 1, or None when the page itself tells the total
    total: int | None


class BrowseMixin:
    def browse_page(self, filters, kind: str, offset: int, limit: int, cap: int) -> PageRows:
        """Up to ``limit`` matching rows from ``offset`` in id order, their reviewers, and
        (unless the first page already holds every match) the count up to ``cap`` + 1."""
        q = _select(self.dialect, filters, kind).add_columns(T_SUGG.c.value, _gold().label("gold"))
        with self.engine.connect() as c:
            rows = list(
                c.execute(q.order_by(_order(self.dialect, filters)).offset(offset).limit(limit))
            )
            reviewers = _reviewers(c, [r.id for r in rows]) if rows else {}
            total = None
            if offset or len(rows) == limit:
                inner = _matches(self.dialect, filters, kind).limit(cap + 1).subquery()
                total = c.execute(sa.select(sa.func.count()).select_from(inner)).scalar_one()
        return PageRows(rows, reviewers, total)

    def bulk_matches(self, filters, kind: str, now: datetime) -> list[BulkMatch]:
        """Every matching item waiting for people, with what decides whether a bulk accept
        may take it: its route, routed suggestion, lease holder and gold answer."""
        holder = (
            sa.select(T_LEASES.c.reviewer)
            .where(
                T_LEASES.c.item_id == T_ITEMS.c.id,
                T_LEASES.c.expires_at > now,
                T_LEASES.c.queue != "gold",
            )
            .limit(1)
            .scalar_subquery()
        )
        gold = _gold()
        q = _select(self.dialect, filters, kind).where(T_ROUTES.c.route.in_(WAITING))
        q = q.add_columns(T_SUGG.c.value.is_not(None).label("has_value"), holder.label("holder"))
        q = q.add_columns(gold.label("gold"))
        with self.engine.connect() as c:
            return [
                BulkMatch(r.id, r.route, r.suggestion_id, bool(r.has_value), r.holder, r.gold)
                for r in c.execute(q.order_by(T_ITEMS.c.id))
            ]

    @writes_routes
    def bulk_accept(
        self, admin: str, planned: Sequence[tuple[str, int]], filters: dict, now: datetime
    ) -> tuple[int, list[str]]:
        """Accept each planned (item, suggestion) that is still as planned: waiting in the
        active queue on that suggestion, held by nobody, not gold. One transaction, recorded
        as one bulk accept; returns its id and the items accepted."""
        with self.engine.begin() as c:
            bid = c.execute(
                sa.insert(T_BULK).returning(T_BULK.c.id),
                [
                    {
                        "admin": admin,
                        "action": "accept",
                        "filters": filters,
                        "items": 0,
                        "created_at": now,
                    }
                ],  # fmt: skip
            ).scalar_one()
            accepted: list[tuple[str, int]] = []
            for i in range(0, len(planned), BULK_BATCH):
                accepted += _accept_batch(c, admin, bid, planned[i : i + BULK_BATCH], now)
            c.execute(sa.update(T_BULK).where(T_BULK.c.id == bid).values(items=len(accepted)))
        return bid, [i for i, _ in accepted]

    def last_bulk(self, admin: str) -> int | None:
        """The admin's latest bulk accept not undone yet."""
        q = (
            sa.select(T_BULK.c.id)
            .where(T_BULK.c.admin == admin, T_BULK.c.undone_at.is_(None))
            .order_by(T_BULK.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as c:
            return c.execute(q).scalar()

    @writes_routes
    def undo_bulk(
        self, bulk_id: int, admin: str, now: datetime
    ) -> tuple[list[str], list[tuple[str, str]]]:
        """Take back a bulk accept on the items nobody changed since (no later review, not
        leased, still reviewed): an ``undo`` row each, and back to the active queue. Returns
        the items restored and, for the rest, why each was left as it is."""
        with self.engine.begin() as c:
            done = c.execute(
                sa.update(T_BULK)
                .where(T_BULK.c.id == bulk_id, T_BULK.c.undone_at.is_(None))
                .values(undone_at=now, undone_by=admin)
            ).rowcount
            if not done:
                return [], []
            rows = c.execute(
                sa.select(T_REVIEWS.c.id, T_REVIEWS.c.item_id, T_REVIEWS.c.suggestion_id)
                .where(T_REVIEWS.c.bulk_id == bulk_id, T_REVIEWS.c.action == "accept")
                .order_by(T_REVIEWS.c.item_id)
            ).all()
            restored: list[str] = []
            for i in range(0, len(rows), BULK_BATCH):
                restored += _restore_batch(c, admin, bulk_id, rows[i : i + BULK_BATCH], now)
            kept = [r.item_id for r in rows if r.item_id not in set(restored)]
            return restored, _why_kept(c, kept, bulk_id, now)


def _reviewers(c, item_ids: list[str]) -> dict[str, list[str]]:
    """item id -> reviewers with a standing review of it."""
    q = (
        sa.select(T_REVIEWS.c.item_id, T_REVIEWS.c.reviewer)
        .where(T_REVIEWS.c.item_id.in_(item_ids), live_reviews())
        .distinct()
    )
    out: dict[str, list[str]] = {}
    for item_id, reviewer in c.execute(q):
        out.setdefault(item_id, []).append(reviewer)
    return {k: sorted(v) for k, v in out.items()}


def _order(dialect: str, f):
    """Id order, read from the routes index when a filter needs a route (same ids, no
    sort); with a text filter on SQLite, import order, as the text index streams it."""
    if _fts(dialect, f):
        return FTS.c.rowid
    return T_ROUTES.c.item_id if _on_route(f) else T_ITEMS.c.id


def _select(dialect: str, f, kind: str):
    """Matching items joined to their route and routed suggestion."""
    j = (
        _items(dialect, f)
        .outerjoin(T_ROUTES, T_ROUTES.c.item_id == T_ITEMS.c.id)
        .outerjoin(T_SUGG, T_SUGG.c.id == T_ROUTES.c.suggestion_id)
    )
    q = sa.select(
        T_ITEMS.c.id,
        T_ITEMS.c.text,
        T_ITEMS.c.messages,
        T_ROUTES.c.route,
        T_ROUTES.c.label,
        T_ROUTES.c.confidence,
        T_ROUTES.c.updated_at,
        T_ROUTES.c.suggestion_id,
        T_ROUTES.c.reason,
    ).select_from(j)
    return q.where(*_conditions(dialect, f, kind))


def _items(dialect: str, f):
    """Items, from SQLite's text index when searching text (it streams them in order)."""
    if _fts(dialect, f):
        return FTS.join(T_ITEMS, sa.literal_column("items.rowid") == FTS.c.rowid)
    return T_ITEMS


def _matches(dialect: str, f, kind: str):
    """The ids of matching items, joined to no more than the filters read (for counting)."""
    base = _items(dialect, f)
    if _on_route(f) or f.route == "unlabeled":
        base = base.outerjoin(T_ROUTES, T_ROUTES.c.item_id == T_ITEMS.c.id)
    return sa.select(T_ITEMS.c.id).select_from(base).where(*_conditions(dialect, f, kind))


def matching_ids(dialect: str, f, kind: str, after: str | None, limit: int) -> sa.Select:
    """The ids of the first ``limit`` matching items after the id ``after``, in id order
    (from the routes index when a filter reads the route)."""
    key = T_ROUTES.c.item_id if _on_route(f) else T_ITEMS.c.id
    q = _matches(dialect, f, kind)
    if after is not None:
        # both ids: PostgreSQL does not carry a bound on one side of the join to the other,
        # and a merge join would read the items' index from its first entry (80 ms at 1M)
        q = q.where(key > after, T_ITEMS.c.id > after)
    return q.order_by(key).limit(limit)


def _on_route(f) -> bool:
    """Whether a filter reads the item's route row."""
    on_route = f.label or (f.route and f.route != "unlabeled")
    return bool(on_route or f.min_confidence is not None or f.max_confidence is not None)


def _conditions(dialect: str, f, kind: str) -> list:
    out = []
    if f.text and f.text.strip():
        out.append(_text_match(dialect, f.text.strip()))
    if f.label:
        out.append(_label_match(dialect, f.label, kind))
    if f.route == "unlabeled":
        out.append(sa.or_(T_ROUTES.c.route.is_(None), T_ROUTES.c.route == "unlabeled"))
    elif f.route:
        out.append(T_ROUTES.c.route == f.route)
    if f.min_confidence is not None:
        out.append(T_ROUTES.c.confidence >= f.min_confidence)
    if f.max_confidence is not None:
        out.append(T_ROUTES.c.confidence <= f.max_confidence)
    if f.reviewer or f.since or f.until:
        out.append(_reviewed_match(f))
    reads_model = f.label or f.min_confidence is not None or f.max_confidence is not None
    if reads_model and f.visible is not None:
        out.append(_model_visible(f.visible))
    return out


def _gold():
    return sa.exists(sa.select(T_GOLD.c.item_id).where(T_GOLD.c.item_id == T_ITEMS.c.id))


def _model_visible(visible: str):
    """Items whose model answer a reviewer may filter on (see ``labelloop.review.access``):
    decided ones only, or (``open``) also those waiting outside the blind queues."""
    if visible == "reviewed":
        return T_ROUTES.c.route == "reviewed"
    seen = ("reviewed", "auto_accepted", "active", "failed", "unlabeled")
    return sa.and_(T_ROUTES.c.route.in_(seen), ~_gold())


def _fts(dialect: str, f) -> bool:
    return dialect == "sqlite" and bool(f.text and f.text.strip())


def _text_match(dialect: str, text: str):
    if dialect == "sqlite":
        # one quoted phrase: the user's words, never FTS5 query syntax
        phrase = '"' + text.replace('"', '""') + '"'
        return sa.text("items_fts MATCH :phrase").bindparams(phrase=phrase)
    # the same words in the same order, as FTS5 matches a quoted phrase (migration m008)
    query = sa.func.phraseto_tsquery(sa.literal_column("'simple'::regconfig"), text)
    return WORDS.op("@@")(query)


def _label_match(dialect: str, label: str, kind: str):
    col = T_ROUTES.c.label
    if kind != "multi":
        return col == label
    # multi-label values are stored as sorted names joined by ", ": the name is one of them
    # when ", name, " is in ", value, ". A plain substring search, not LIKE: "_" and "%"
    # in a label's name are no wildcards, and case counts on both backends.
    find = sa.func.strpos if dialect == "postgresql" else sa.func.instr
    sep = sa.literal(", ")
    return find(sep + col + sep, f", {label}, ") > 0


def _reviewed_match(f):
    conds = [T_REVIEWS.c.item_id == T_ITEMS.c.id, live_reviews()]
    if f.reviewer:
        conds.append(T_REVIEWS.c.reviewer == f.reviewer)
    if f.since:
        conds.append(T_REVIEWS.c.created_at >= f.since)
    if f.until:
        conds.append(T_REVIEWS.c.created_at < f.until)
    return sa.exists(sa.select(T_REVIEWS.c.id).where(*conds))


def _free(now: datetime):
    """The route row's item is held by no reviewer and is no gold item."""
    held = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_ROUTES.c.item_id,
        T_LEASES.c.expires_at > now,
        T_LEASES.c.queue != "gold",
    )
    gold = sa.select(T_GOLD.c.item_id).where(T_GOLD.c.item_id == T_ROUTES.c.item_id)
    return sa.and_(~sa.exists(held), ~sa.exists(gold))


def _accept_batch(c, admin: str, bid: int, pairs, now: datetime) -> list[tuple[str, int]]:
    """Move the batch's items still as planned to ``reviewed`` and append their accepts."""
    lock_routes(c, [item_id for item_id, _ in pairs], unheld_at=now)  # see its docstring
    moved = c.execute(
        sa.update(T_ROUTES)
        .where(
            sa.tuple_(T_ROUTES.c.item_id, T_ROUTES.c.suggestion_id).in_(list(pairs)),
            T_ROUTES.c.route == "active",
            _free(now),
        )
        .values(route="reviewed", reason=f"bulk accept {bid} by {admin}", updated_at=now)
        .returning(T_ROUTES.c.item_id, T_ROUTES.c.suggestion_id)
    ).all()
    if not moved:
        return []
    values = dict(
        c.execute(
            sa.select(T_SUGG.c.id, T_SUGG.c.value).where(T_SUGG.c.id.in_([s for _, s in moved]))
        ).all()
    )
    c.execute(
        sa.insert(T_REVIEWS),
        [
            {
                "item_id": item_id,
                "reviewer": admin,
                "action": "accept",
                "value": values[sid],
                "queue": "active",
                "blind": False,
                "suggestion_id": sid,
                "source": "console",
                "bulk": True,
                "bulk_id": bid,
                "created_at": now,
            }
            for item_id, sid in moved
        ],
    )
    return [(i, s) for i, s in moved]


def _restore_batch(c, admin: str, bid: int, rows, now: datetime) -> list[str]:
    """Move the batch's items nobody changed since back to ``active``, with an undo each."""
    lock_routes(c, [r.item_id for r in rows], unheld_at=now)  # see its docstring
    later = T_REVIEWS.alias("later")
    untouched = ~sa.exists(
        sa.select(later.c.id).where(
            later.c.item_id == T_ROUTES.c.item_id,
            later.c.id
            > sa.select(sa.func.max(T_REVIEWS.c.id))
            .where(T_REVIEWS.c.item_id == T_ROUTES.c.item_id, T_REVIEWS.c.bulk_id == bid)
            .scalar_subquery(),
        )
    )
    held = sa.select(T_LEASES.c.item_id).where(
        T_LEASES.c.item_id == T_ROUTES.c.item_id, T_LEASES.c.expires_at > now
    )
    back = set(
        c.execute(
            sa.update(T_ROUTES)
            .where(
                T_ROUTES.c.item_id.in_([r.item_id for r in rows]),
                T_ROUTES.c.route == "reviewed",
                untouched,
                ~sa.exists(held),
            )
            .values(route="active", reason=f"bulk accept {bid} undone by {admin}", updated_at=now)
            .returning(T_ROUTES.c.item_id)
        ).scalars()
    )
    undo = [
        {
            "item_id": r.item_id,
            "reviewer": admin,
            "action": "undo",
            "queue": "active",
            "suggestion_id": r.suggestion_id,
            "source": "console",
            "supersedes": r.id,
            "bulk": True,
            "bulk_id": bid,
            "created_at": now,
        }
        for r in rows
        if r.item_id in back
    ]
    if undo:
        c.execute(sa.insert(T_REVIEWS), undo)
    return sorted(back)


def _why_kept(c, item_ids: list[str], bid: int, now: datetime) -> list[tuple[str, str]]:
    """Why each item was not restored: decided again since, held by a reviewer, or moved."""
    out = []
    for item_id in item_ids:
        accepted = (
            sa.select(sa.func.max(T_REVIEWS.c.id))
            .where(T_REVIEWS.c.item_id == item_id, T_REVIEWS.c.bulk_id == bid)
            .scalar_subquery()
        )
        later = c.execute(
            sa.select(T_REVIEWS.c.reviewer, T_REVIEWS.c.action)
            .where(T_REVIEWS.c.item_id == item_id, T_REVIEWS.c.id > accepted)
            .order_by(T_REVIEWS.c.id.desc())
            .limit(1)
        ).first()
        holder = c.execute(
            sa.select(T_LEASES.c.reviewer).where(
                T_LEASES.c.item_id == item_id, T_LEASES.c.expires_at > now
            )
        ).scalar()
        route = c.execute(sa.select(T_ROUTES.c.route).where(T_ROUTES.c.item_id == item_id))
        if holder is not None:
            out.append((item_id, f"{holder} is reviewing it"))
        elif later is not None:
            out.append((item_id, f"{later.reviewer} made a {later.action} since"))
        else:
            out.append((item_id, f"its route is now {route.scalar()}"))
    return out
