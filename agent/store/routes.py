"""Routes: where each item stands now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from agent.store.tables import ItemRow, RouteRow
from agent.types import QUEUE_ROUTES, Route, RouteDecision

T_ROUTES = RouteRow.__table__
T_ITEMS = ItemRow.__table__


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
