"""Console accounts (argon2id password hashes) and the sessions that expire."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from labelloop.core.errors import LabelloopError

if TYPE_CHECKING:
    from labelloop.store import Store

ROLES = ("reviewer", "admin")
_hasher = PasswordHasher()
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def hash_password(password: str) -> str:
    """An argon2id hash of the password (salted, memory-hard)."""
    if len(password) < 8:
        raise LabelloopError("Password too short: use at least 8 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_user(name: str, role: str) -> None:
    """Refuse names that would be awkward in exports and unknown roles."""
    if not _NAME.match(name):
        raise LabelloopError(
            f"Invalid user name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-'"
        )
    if role not in ROLES:
        raise LabelloopError(f"Unknown role {role!r}: valid roles are {', '.join(ROLES)}")


def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create or update a console account."""
    check_user(name, role)
    store.add_user(name, role, hash_password(password))
    # a new password or role takes effect at once: signed-in browsers sign in again
    store.delete_sessions(user=name)


def disable_user(store: Store, name: str, disabled: bool = True) -> None:
    """Disable an account (it cannot sign in; its sessions end, its items go back to the
    queues) or enable it again."""
    if not store.set_user_disabled(name, disabled):
        raise _no_account(store, name)
    if disabled:
        _sign_out(store, name)


def delete_user(store: Store, name: str) -> None:
    """Remove an account's login; its reviews stay (the history is append-only) and keep
    its name, so a new account of that name would appear as their author: prefer disabling.
    Its API tokens are revoked: they never serve a later account of the same name."""
    if not store.delete_user(name):
        raise _no_account(store, name)
    _sign_out(store, name)
    store.revoke_tokens(name, datetime.now(UTC))


def _sign_out(store: Store, name: str) -> None:
    store.delete_sessions(user=name)
    store.release_lease(name)


def _no_account(store: Store, name: str) -> LabelloopError:
    names = ", ".join(u.name for u in store.list_users()) or "none yet"
    return LabelloopError(f"No console account {name!r}: the accounts are {names}")


def authenticate(store: Store, name: str, password: str):
    """The user row when the name and password match an enabled account, else None.

    An unknown or disabled name costs the same hash check as a wrong password, so the time
    an answer takes does not tell which names exist."""
    user = store.get_user(name)
    if user is None or user.disabled:
        verify_password(_decoy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


# --- sessions ---------------------------------------------------------------------------

#: the console's session cookie (HttpOnly, SameSite=Strict); it holds a random token
SESSION_COOKIE = "labelloop_session"
#: ``seen_at`` is written at most this often, so a busy reviewer is not a write per request
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a console session lives: ``idle`` without requests, ``max_age`` in all."""

    idle: timedelta = timedelta(hours=1)
    max_age: timedelta = timedelta(hours=12)

    @classmethod
    def from_config(cls, review) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=review.session_idle_minutes),
            max_age=timedelta(hours=review.session_max_hours),
        )


def token_hash(token: str) -> str:
    """What the store keeps of a session token (a stolen database holds no live cookies)."""
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    store: Store, name: str, policy: SessionPolicy, now: datetime | None = None
) -> str:
    """A new session for the account ``name``; returns the token for the cookie."""
    now = now or datetime.now(UTC)
    token = secrets.token_urlsafe(32)
    store.add_session(token_hash(token), name, now, now + policy.max_age)
    return token


def session_user(
    store: Store, token: str | None, policy: SessionPolicy, now: datetime | None = None
):
    """The enabled account behind a live session token, else None (expired, unknown, disabled)."""
    if not token:
        return None
    now = now or datetime.now(UTC)
    row = store.get_session(token_hash(token))
    if row is None or now >= row.expires_at or now - row.seen_at >= policy.idle:
        return None
    user = store.get_user(row.username)
    if user is None or user.disabled:
        return None
    if now - row.seen_at >= _TOUCH_EVERY:
        store.touch_session(row.token_hash, now)
    return user


def end_session(store: Store, token: str | None) -> None:
    """Log out: the token stops working at once."""
    if token:
        store.delete_session(token_hash(token))
