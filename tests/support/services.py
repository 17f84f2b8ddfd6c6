"""Test helpers for outside services: skip when missing, fail under CI."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def require_or_skip(reason: str) -> None:
    """Skip, or fail when LABELLOOP_REQUIRE_SERVICES=1 (CI must not skip these tests)."""
    if os.environ.get("LABELLOOP_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database; yields its SQLAlchemy URL and drops it afterwards."""
    import psycopg

    base = os.environ.get("LABELLOOP_TEST_POSTGRES_URL", DEFAULT_PG)
    name = f"labelloop_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        require_or_skip(f"PostgreSQL not reachable at {base}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
