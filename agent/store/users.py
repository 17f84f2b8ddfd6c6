"""Console accounts and small project-wide state."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.records import Account
from labelloop.store.base import to_record
from labelloop.store.tables import StateRow, UserRow

T_USERS = UserRow.__table__


class UsersMixin:
    def add_user(self, name: str, role: str, password_hash: str) -> None:
        """Create an account, or update its role and password when it exists."""
        with self.session() as s:
            row = s.exec(sa.select(UserRow).where(UserRow.name == name)).scalar_one_or_none()
            if row is None:
                row = UserRow(name=name, role=role, password_hash=password_hash)
            else:
                row.role, row.password_hash = role, password_hash
            s.add(row)
            s.commit()

    def get_user(self, name: str) -> Account | None:
        with self.session() as s:
            row = s.exec(sa.select(UserRow).where(UserRow.name == name)).scalar_one_or_none()
            return None if row is None else to_record(Account, row)

    def set_user_disabled(self, name: str, disabled: bool) -> bool:
        """Disable or enable an account; False when there is none of that name."""
        with self.engine.begin() as c:
            q = sa.update(T_USERS).where(T_USERS.c.name == name).values(disabled=disabled)
            return c.execute(q).rowcount > 0

    def delete_user(self, name: str) -> bool:
        """Remove an account (its reviews, which name it, stay); False when there is none."""
        with self.engine.begin() as c:
            return c.execute(sa.delete(T_USERS).where(T_USERS.c.name == name)).rowcount > 0

    def list_users(self) -> list[Account]:
        with self.session() as s:
            rows = s.exec(sa.select(UserRow).order_by(UserRow.name)).scalars()
            return [to_record(Account, r) for r in rows]

    def get_state(self, key: str, default: dict | None = None) -> dict | None:
        with self.session() as s:
            row = s.get(StateRow, key)
            return row.value if row is not None else default

    def set_state(self, key: str, value: dict) -> None:
        """Write ``key`` in one statement: two processes setting it at once never collide."""
        with self.engine.begin() as c:
            c.execute(state_upsert(self.dialect, key, value, datetime.now(UTC)))


def state_upsert(dialect: str, key: str, value: dict, now: datetime) -> sa.Insert:
    """The statement that sets the state ``key`` to ``value``, whether it exists or not."""
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(StateRow.__table__)
    ins = ins.values(key=key, value=value, updated_at=now)
    return ins.on_conflict_do_update(
        index_elements=["key"], set_={c: ins.excluded[c] for c in ("value", "updated_at")}
    )
