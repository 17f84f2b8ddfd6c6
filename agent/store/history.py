"""Route history: items per route over time, kept as counts (a few rows an hour at most),
never as copies of the routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.store.routes import count_routes
from labelloop.store.tables import RouteHistoryRow

T_HISTORY = RouteHistoryRow.__table__
#: a route write records the counts when the newest record is older than this
EVERY = timedelta(hours=1)


class HistoryMixin:
    #: when this store last saw a record (a write in the meantime need not ask the database)
    _history_seen: datetime | None = None

    def note_routes(self, now: datetime | None = None) -> bool:
        """Record items per route unless the newest record is younger than ``EVERY``;
        whether it recorded. Most calls are answered from memory without a query."""
        now = now or datetime.now(UTC)
        if self._history_seen is not None and now - self._history_seen < EVERY:
            return False
        with self.engine.begin() as c:
            last = _aware(c.execute(sa.select(sa.func.max(T_HISTORY.c.at))).scalar())
            if last is not None and now - last < EVERY:
                self._history_seen = last
                return False
            rows = [{"at": now, "route": r, "items": n} for r, n in count_routes(c).items()]
            ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(T_HISTORY)
            c.execute(ins.on_conflict_do_nothing(index_elements=["at", "route"]), rows)
        self._history_seen = now
        return True

    def route_history(self, since: datetime | None = None) -> list[tuple[datetime, dict]]:
        """(moment, route -> items) for each record, oldest first."""
        q = sa.select(T_HISTORY.c.at, T_HISTORY.c.route, T_HISTORY.c["items"])
        if since is not None:
            q = q.where(T_HISTORY.c.at >= since)
        out: dict[datetime, dict[str, int]] = {}
        with self.engine.connect() as c:
            for at, route, n in c.execute(q.order_by(T_HISTORY.c.at)):
                out.setdefault(_aware(at), {})[route] = n
        return list(out.items())

    def history_start(self) -> datetime | None:
        """The first moment the route history records (None: nothing recorded yet)."""
        with self.engine.connect() as c:
            return _aware(c.execute(sa.select(sa.func.min(T_HISTORY.c.at))).scalar())


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives times back without their zone: they were written in UTC."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
