"""API tokens, kept as hashes."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from labelloop.core.records import ApiToken
from labelloop.store.base import aware
from labelloop.store.tables import ApiTokenRow

T_TOKENS = ApiTokenRow.__table__


class TokensMixin:
    def add_token(self, user: str, prefix: str, digest: str, now: datetime) -> int:
        with self.engine.begin() as c:
            q = sa.insert(T_TOKENS).values(user=user, prefix=prefix, hash=digest, created_at=now)
            return c.execute(q.returning(T_TOKENS.c.id)).scalar_one()

    def token_owner(self, digest: str, now: datetime, note_every: timedelta) -> str | None:
        """The user of the live token with this hash, its use noted (at most once per
        ``note_every``, not a write per request); None for no such token, or a revoked one."""
        with self.engine.begin() as c:
            row = c.execute(
                sa.select(T_TOKENS.c.id, T_TOKENS.c.user, T_TOKENS.c.last_used_at).where(
                    T_TOKENS.c.hash == digest, T_TOKENS.c.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                return None
            last = aware(row.last_used_at)
            if last is None or now - last >= note_every:
                c.execute(
                    sa.update(T_TOKENS).where(T_TOKENS.c.id == row.id).values(last_used_at=now)
                )
        return row.user

    def revoke_tokens(self, user: str, now: datetime, token_id: int | None = None) -> int:
        """Revoke the user's live tokens (or the one ``token_id``); how many."""
        q = sa.update(T_TOKENS).where(T_TOKENS.c.user == user, T_TOKENS.c.revoked_at.is_(None))
        if token_id is not None:
            q = q.where(T_TOKENS.c.id == token_id)
        with self.engine.begin() as c:
            return c.execute(q.values(revoked_at=now)).rowcount

    def list_tokens(self, user: str | None = None) -> list[ApiToken]:
        q = sa.select(T_TOKENS).order_by(T_TOKENS.c.user, T_TOKENS.c.id)
        if user is not None:
            q = q.where(T_TOKENS.c.user == user)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        return [
            ApiToken(
                id=r.id,
                user=r.user,
                prefix=r.prefix,
                created_at=aware(r.created_at),
                last_used_at=aware(r.last_used_at),
                revoked_at=aware(r.revoked_at),
            )
            for r in rows
        ]
