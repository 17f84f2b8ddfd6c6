"""Console login sessions: one row per signed-in browser, keyed by a hash of its token.

The table lives here rather than in ``tables.py`` because only the console reads it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from labelloop.core.records import LoginSession
from labelloop.core.types import utcnow
from labelloop.store.base import aware


class SessionRow(SQLModel, table=True):
    """A signed-in browser. Only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "sessions"
    token_hash: str = Field(primary_key=True)
    username: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow)
    seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


T_SESSIONS = SessionRow.__table__


class SessionsMixin:
    def add_session(self, token_hash: str, user: str, now: datetime, expires_at: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.insert(T_SESSIONS).values(
                    token_hash=token_hash,
                    username=user,
                    created_at=now,
                    seen_at=now,
                    expires_at=expires_at,
                )
            )

    def get_session(self, token_hash: str) -> LoginSession | None:
        with self.engine.connect() as c:
            row = c.execute(
                sa.select(T_SESSIONS).where(T_SESSIONS.c.token_hash == token_hash)
            ).one_or_none()
        if row is None:
            return None
        return LoginSession(
            token_hash=row.token_hash,
            username=row.username,
            created_at=aware(row.created_at),
            seen_at=aware(row.seen_at),
            expires_at=aware(row.expires_at),
        )

    def touch_session(self, token_hash: str, now: datetime) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.update(T_SESSIONS)
                .where(T_SESSIONS.c.token_hash == token_hash)
                .values(seen_at=now)
            )

    def expire_session(self, token_hash: str, when: datetime) -> None:
        """End one session at ``when`` (a logout, or a test that ages it)."""
        with self.engine.begin() as c:
            c.execute(
                sa.update(T_SESSIONS)
                .where(T_SESSIONS.c.token_hash == token_hash)
                .values(expires_at=when)
            )

    def delete_session(self, token_hash: str) -> None:
        with self.engine.begin() as c:
            c.execute(sa.delete(T_SESSIONS).where(T_SESSIONS.c.token_hash == token_hash))

    def delete_sessions(
        self, user: str | None = None, expired_before: datetime | None = None
    ) -> int:
        """Sign out every session of ``user``, or drop the ones expired before a time."""
        query = sa.delete(T_SESSIONS)
        if user is not None:
            query = query.where(T_SESSIONS.c.username == user)
        if expired_before is not None:
            query = query.where(T_SESSIONS.c.expires_at < expired_before)
        with self.engine.begin() as c:
            return c.execute(query).rowcount

    def sessions_for(self, user: str) -> list[str]:
        """Token hashes of ``user``'s sessions, newest first."""
        with self.engine.connect() as c:
            return list(
                c.execute(
                    sa.select(T_SESSIONS.c.token_hash)
                    .where(T_SESSIONS.c.username == user)
                    .order_by(T_SESSIONS.c.created_at.desc())
                ).scalars()
            )
