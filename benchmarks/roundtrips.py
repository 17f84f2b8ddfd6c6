"""Count the round trips an engine makes to its database, for benchmarks.

Statements are counted with SQLAlchemy's ``before_cursor_execute``. On PostgreSQL
(psycopg 3) the transaction control the driver sends on its own counts too: a ``BEGIN``
before the first statement of a transaction, ``COMMIT`` / ``ROLLBACK`` of an open one, and
a pool ping at checkout (it opens a transaction: ``BEGIN`` + ``SELECT 1``). On SQLite every
call stays in the process; the count there is of statements only.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa


class RoundTrips:
    """A running count of an engine's round trips; ``attach`` once, read ``count``."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._listeners: list = []

    def attach(self, engine) -> RoundTrips:
        """Listen on ``engine`` (and its pool) from now on."""
        postgres = engine.dialect.name == "postgresql"
        self._listeners = [(engine, "before_cursor_execute", self._statement(postgres))]
        if postgres:
            self._listeners += [
                (engine, "commit", self._end),
                (engine, "rollback", self._end),
                (engine.pool, "checkout", self._checkout),
                (engine.pool, "reset", self._reset),
            ]
        for target, name, fn in self._listeners:
            sa.event.listen(target, name, fn)
        return self

    def detach(self) -> None:
        """Stop counting."""
        for target, name, fn in self._listeners:
            sa.event.remove(target, name, fn)
        self._listeners = []

    def _add(self, n: int) -> None:
        with self._lock:
            self.count += n

    def _statement(self, postgres: bool):
        def count(conn, _cursor, _statement, _params, _context, _many) -> None:
            dbapi = conn.connection.dbapi_connection
            begin = postgres and not dbapi.autocommit and _idle(dbapi)
            self._add(1 + begin)

        return count

    def _end(self, conn) -> None:
        self._add(not _idle(conn.connection.dbapi_connection))

    def _checkout(self, dbapi, _record, _proxy) -> None:
        # a pre-ping leaves the transaction it opened: BEGIN and SELECT 1 went out
        self._add(0 if _idle(dbapi) else 2)

    def _reset(self, dbapi, _record, _state=None) -> None:
        self._add(not _idle(dbapi))


def _idle(dbapi) -> bool:
    from psycopg.pq import TransactionStatus

    return dbapi.info.transaction_status == TransactionStatus.IDLE
