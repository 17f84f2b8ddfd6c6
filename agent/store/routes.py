"""Routes: where each item stands now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from agent.store.base import value_from_json
from agent.store.tables import ItemRow, ReviewRow, RouteRow, SuggestionRow
from agent.types import DECISIVE, QUEUE_ROUTES, LabelValue, Route, RouteDecision

T_ROUTES = RouteRow.__table__
T_ITEMS = ItemRow.__table__
T_SUGG = SuggestionRow.__table__
T_REVIEWS = ReviewRow.__table__


class RoutesMixin:
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

    def get_route(self, item_id: str) -> RouteRow | None:
        with self.session() as s:
            return s.get(RouteRow, item_id)

    def routes(self) -> dict[str, str]:
        with self.engine.connect() as c:
            return dict(c.execute(sa.select(T_ROUTES.c.item_id, T_ROUTES.c.route)).all())

    def route_counts(self) -> dict[str, int]:
        """Items per route, with items never routed counted as unlabeled."""
        counts = {r.value: 0 for r in Route}
        with self.engine.connect() as c:
            q = sa.select(T_ROUTES.c.route, sa.func.count()).group_by(T_ROUTES.c.route)
            for route, n in c.execute(q):
                counts[route] = n
            total = c.execute(sa.select(sa.func.count()).select_from(T_ITEMS)).scalar_one()
        counts["unlabeled"] += total - sum(counts.values())
        return counts

    def queue_item_ids(self, queue: str) -> list[str]:
        """Items waiting in a review queue, in the order reviewers get them."""
        routes = QUEUE_ROUTES.get(queue, (queue,))
        q = sa.select(T_ROUTES.c.item_id).where(T_ROUTES.c.route.in_(routes))
        with self.engine.connect() as c:
            return list(c.execute(q.order_by(T_ROUTES.c.priority, T_ROUTES.c.item_id)).scalars())

    def routes_for(self, item_ids: Sequence[str]) -> dict[str, RouteRow]:
        """item id -> its route row, for the ids given."""
        out: dict[str, RouteRow] = {}
        with self.session() as s:
            for i in range(0, len(item_ids), 900):
                q = sa.select(RouteRow).where(RouteRow.item_id.in_(item_ids[i : i + 900]))
                out.update((r.item_id, r) for r in s.exec(q).scalars())
        return out

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
                live_reviews(),
            )
            .order_by(_adjudicated_last(), T_REVIEWS.c.id)
        )
        for item_id, value in c.execute(q):
            reviewed[item_id]["label"] = browse_label(value_from_json(value))
    for r in rows:
        r.setdefault("label", None)
        r.setdefault("confidence", None)


def _adjudicated_last():
    """Sort key: an adjudicator's review after every other, so it is the one that stands."""
    return sa.case((T_REVIEWS.c.queue == "adjudication", 1), else_=0)
