"""Console accounts: argon2id password hashes."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from agent.errors import LabelloopError

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


def add_user(store, name: str, role: str, password: str) -> None:
    """Create or update a console account."""
    check_user(name, role)
    store.add_user(name, role, hash_password(password))


def authenticate(store, name: str, password: str):
    """The user row when the name and password match an enabled account, else None."""
    user = store.get_user(name)
    if user is None or user.disabled or not verify_password(user.password_hash, password):
        return None
    return user
