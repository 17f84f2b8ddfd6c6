"""Engines and migrations: SQLite (WAL, foreign keys on) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import re
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from labelloop.core.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: ``revision = "m013"`` / ``down_revision = "m012"`` (or ``None``) in a migration script,
#: with or without a type annotation
_REVISION_LINE = re.compile(
    r"^(?P<name>revision|down_revision)\s*(?::[^=\n]*)?=\s*"
    r"""(?:(?P<q>["'])(?P<value>[^"'\n]+)(?P=q)|None)\s*(?:#.*)?$""",
    re.MULTILINE,
)
#: a pooled server connection unused this long is pinged before it is handed out again
IDLE_PING_S = 30.0
#: and one older than this is replaced (servers and proxies drop idle connections)
IDLE_RECYCLE_S = 3600
DEFAULT_PORTS = {"postgresql": 5432}
#: how long a SQLite write waits for another to finish before it fails: longer than the
#: longest write (an import's commit: a few seconds per 100,000s of rows on a busy host)
BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept plain postgres:// URLs and point them at the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path)}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for another backend or an in-memory database."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def without_password(url: str) -> str:
    """The URL as it may be written down or shown: its password (if any) left out."""
    parsed = sa.engine.make_url(url)
    if parsed.password is None and "password" not in parsed.query:
        return url
    return _render(parsed.difference_update_query(["password"]))


def _render(url: sa.engine.URL) -> str:
    """The URL without its password (``URL.set`` takes None as 'unchanged')."""
    return url._replace(password=None).render_as_string(hide_password=False)


def store_identity(url: str) -> tuple:
    """What names one store, credentials aside: the SQLite file, or backend, server,
    database and user."""
    parsed = sa.engine.make_url(normalise_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        return (backend, str(path.resolve()) if path else ":memory:")
    port = parsed.port or DEFAULT_PORTS.get(backend)
    return (backend, parsed.host or "", port, parsed.database, parsed.username)


def same_store(a: str, b: str) -> bool:
    """Whether two URLs name the same store (whatever their passwords and options)."""
    return store_identity(a) == store_identity(b)


def _create_private(path: Path) -> None:
    """Create a new SQLite file readable and writable by its owner only (the store holds
    reviewers' password hashes, sessions and the call log); SQLite gives the -wal and -shm
    files it creates beside it the same permissions. An existing file keeps its own."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except (FileExistsError, FileNotFoundError):  # a missing folder: SQLite says so
        pass


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # first: the journal-mode switch may wait for another process's write
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def create_engine(url: str) -> Engine:
    """An engine for the URL with the project's connection settings."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            _create_private(path)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20, pool_recycle=IDLE_RECYCLE_S)
    sa.event.listen(engine, "checkin", _mark_idle)
    sa.event.listen(engine, "checkout", _ping_if_idle)
    return engine


def _mark_idle(_dbapi_conn, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
    """Ping a connection that sat idle, not every checkout: a busy console then pays no
    round trip for it, and a connection the server dropped is still replaced unseen."""
    since = record.info.get("idle_since")
    if since is None or time.monotonic() - since < IDLE_PING_S:
        return
    try:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT 1")
        cur.close()
        dbapi_conn.rollback()
    except Exception as exc:  # any failure: the pool discards it and connects again
        raise sa.exc.DisconnectionError(str(exc)) from exc


def _alembic_config(connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@lru_cache(maxsize=1)
def script_head() -> str | None:
    """The head revision read from the migration scripts as text, without alembic (slower to
    import than the store is to open): the one revision no script names as its
    ``down_revision``. None unless every script states both plainly and they form one
    chain; alembic then decides."""
    parents: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        if path.name.startswith("_"):
            continue
        found: dict[str, list[str | None]] = {"revision": [], "down_revision": []}
        for m in _REVISION_LINE.finditer(path.read_text(encoding="utf-8")):
            found[m["name"]].append(m["value"])
        if len(found["revision"]) != 1 or len(found["down_revision"]) != 1:
            return None
        rev = found["revision"][0]
        if rev is None or rev in parents:
            return None
        parents[rev] = found["down_revision"][0]
    named = [p for p in parents.values() if p is not None]
    heads = set(parents) - set(named)
    roots = [r for r, p in parents.items() if p is None]
    chain = len(named) == len(set(named)) and set(named) <= set(parents)
    if not chain or len(heads) != 1 or len(roots) != 1:
        return None
    return heads.pop()


def up_to_date(engine: Engine) -> bool:
    """Whether the store is at the scripts' head, read with plain SQL (no alembic): its
    ``alembic_version`` table holds that one revision. False when in doubt (a new store
    without the table, scripts the text reading cannot follow): alembic then decides."""
    head = script_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return False
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    return [r[0] for r in rows] == [head]


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; a project made by an older version opens fine."""
    try:
        if revision == "head" and up_to_date(engine):
            return
        from alembic import command  # a store to create or upgrade, or a doubt: alembic's

        current = current_revision(engine)
        if revision == "head" and current == head_revision():
            return
        with engine.begin() as conn, warnings.catch_warnings():
            # SQLite table copies reflect an expression index they then rebuild: harmless
            warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
            command.upgrade(_alembic_config(conn), revision)
    except sa.exc.OperationalError as exc:
        said = " ".join(str(exc.orig).split())  # libpq's messages span lines
        shown = _render(engine.url)
        fix = "check the server, the database name and the user"
        if engine.dialect.name != "sqlite":
            fix += " (the password comes from LABELLOOP_DATABASE_URL, PGPASSWORD or ~/.pgpass)"
        raise StoreError(f"Cannot open the store at {shown}: {said}; {fix}") from exc
