"""API tokens: a user's key to the JSON API, with that user's role.

A token is 32 random bytes (``ll_`` and URL-safe base64), shown once when it is made and
kept only as its SHA-256: a copy of the database holds no usable token. A token works
while it is not revoked and its user exists and is enabled; its role is the user's role
now (a reviewer made admin gets admin routes with the same token). Its last use is noted at
most once a minute."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError
from labelloop.core.records import Account
from labelloop.review.auth import _no_account, token_hash

if TYPE_CHECKING:
    from labelloop.store import Store

PREFIX = "ll_"
#: how often a token's last use is written
NOTE_USE_EVERY = timedelta(minutes=1)


def create_token(store: Store, user: str, now: datetime | None = None) -> str:
    """A new token for the existing, enabled account ``user``; the only time it is seen."""
    account = store.get_user(user)
    if account is None:
        raise _no_account(store, user)
    if account.disabled:
        raise LabelloopError(f"Account {user!r} is disabled: `labelloop users enable {user}` first")
    token = PREFIX + secrets.token_urlsafe(32)
    store.add_token(user, token[: len(PREFIX) + 6], token_hash(token), now or datetime.now(UTC))
    return token


def revoke_tokens(store: Store, user: str, token_id: int | None = None) -> int:
    """Revoke ``user``'s tokens (or only ``token_id``); how many were live."""
    if store.get_user(user) is None and not store.list_tokens(user):
        raise _no_account(store, user)
    return store.revoke_tokens(user, datetime.now(UTC), token_id)


def token_user(store: Store, token: str | None, now: datetime | None = None) -> Account | None:
    """The enabled account a live token belongs to; None for anything else (no token, a
    wrong, revoked or malformed one, a deleted or disabled account)."""
    if not token or not token.startswith(PREFIX) or len(token) > 128:
        return None
    owner = store.token_owner(token_hash(token), now or datetime.now(UTC), NOTE_USE_EVERY)
    if owner is None:
        return None
    account = store.get_user(owner)
    return account if account is not None and not account.disabled else None
