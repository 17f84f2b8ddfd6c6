"""The item browser's SQL: filtered pages in id order, capped counts, bulk accept.

Filters use the columns the browser keeps on ``routes`` (label, confidence), the reviews'
``(reviewer, id)`` and ``created_at`` indexes, and the word indexes (SQLite FTS5, m006;
PostgreSQL ``tsvector``, m008), so a page of 30 is found without scanning the whole table.

Text search, on both backends: the words typed, whole and in that order (a phrase),
case-insensitive, without stemming; punctuation separates words and is otherwise ignored.
"card arrived" finds "My CARD arrived!" but not "cards arrived" or "arrived card".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from agent.store.routes import live_reviews
from agent.store.tables import ItemRow, ReviewRow, RouteRow, SuggestionRow
from agent.types import QUEUE_ROUTES

T_ITEMS = ItemRow.__table__
T_ROUTES = RouteRow.__table__
T_REVIEWS = ReviewRow.__table__
T_SUGG = SuggestionRow.__table__
#: SQLite's full-text index of item text (migration m006); its rowid is the item's
FTS = sa.table("items_fts", sa.column("rowid"))
#: PostgreSQL's words of item text, a stored tsvector column with a GIN index (m008)
WORDS = sa.literal_column("items.words")
#: rows a bulk accept writes per transaction
BULK_BATCH = 1000
#: routes whose items a bulk accept may take: those waiting for people
WAITING = tuple(r for routes in QUEUE_ROUTES.values() for r in routes)


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
        q = _select(self.dialect, filters, kind).add_columns(T_SUGG.c.value)
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

    def bulk_accept(self, admin: str, filters, kind: str) -> int:
        """Accept the routed suggestion of every matching item waiting for people, recorded
        as bulk; a batch per transaction. Returns how many items were accepted."""
        done, after = 0, ""
        base = _select(self.dialect, filters, kind).where(
            T_ROUTES.c.route.in_(WAITING), T_SUGG.c.value.is_not(None)
        )
        while True:
            q = (
                base.add_columns(T_SUGG.c.value.label("value"))
                .where(T_ITEMS.c.id > after)
                .order_by(T_ITEMS.c.id)
                .limit(BULK_BATCH)
            )
            with self.engine.begin() as c:
                rows = list(c.execute(q))
                if not rows:
                    return done
                _accept_all(c, admin, rows)
            done += len(rows)
            after = rows[-1].id


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


def _on_route(f) -> bool:
    """Whether a filter reads the item's route row."""
    on_route = f.label or (f.route and f.route != "unlabeled")
    return bool(on_route or f.min_confidence is not None or f.max_confidence is not None)


def _conditions(dialect: str, f, kind: str) -> list:
    out = []
    if f.text and f.text.strip():
        out.append(_text_match(dialect, f.text.strip()))
    if f.label:
        out.append(_label_match(f.label, kind))
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
    return out


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


def _label_match(label: str, kind: str):
    col = T_ROUTES.c.label
    if kind != "multi":
        return col == label
    # multi-label values are stored as sorted names joined by ", "
    return sa.or_(
        col == label,
        col.like(f"{label}, %"),
        col.like(f"%, {label}"),
        col.like(f"%, {label}, %"),
    )


def _reviewed_match(f):
    conds = [T_REVIEWS.c.item_id == T_ITEMS.c.id, live_reviews()]
    if f.reviewer:
        conds.append(T_REVIEWS.c.reviewer == f.reviewer)
    if f.since:
        conds.append(T_REVIEWS.c.created_at >= f.since)
    if f.until:
        conds.append(T_REVIEWS.c.created_at < f.until)
    return sa.exists(sa.select(T_REVIEWS.c.id).where(*conds))


def _accept_all(c, admin: str, rows: list) -> None:
    from agent.store.base import value_from_json
    from agent.store.routes import browse_label

    now = datetime.now(UTC)
    queue_of = {r: q for q, routes in QUEUE_ROUTES.items() for r in routes}
    c.execute(
        sa.insert(T_REVIEWS),
        [
            {
                "item_id": r.id,
                "reviewer": admin,
                "action": "accept",
                "value": r.value,
                "queue": queue_of.get(r.route),
                "blind": False,
                "suggestion_id": r.suggestion_id,
                "source": "console",
                "bulk": True,
                "created_at": now,
            }
            for r in rows
        ],
    )
    c.execute(
        sa.update(T_ROUTES)
        .where(T_ROUTES.c.item_id == sa.bindparam("iid"))
        .values(
            route="reviewed",
            reason=f"bulk accept by {admin}",
            label=sa.bindparam("lab"),
            updated_at=now,
        ),
        [{"iid": r.id, "lab": browse_label(value_from_json(r.value))} for r in rows],
    )
