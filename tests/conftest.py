"""Shared fixtures, grouped by what they provide.

- projects: a temp project with a small guideline, seeded review queues, a console user
- browser: a Chromium launched through Playwright (one per test module)
- passwords: the console's argon2id hasher, remembering what it computed (session-wide)

Outside services go through ``tests.services.require_or_skip``: a missing one skips the
test, or fails it under ``LABELLOOP_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from labelloop.core.types import Item, LabelValue, Route, RouteDecision, Suggestion
from labelloop.project import Project, init_project
from labelloop.review.auth import add_user
from labelloop.store.base import item_to_values
from labelloop.store.tables import ItemRow
from tests.support.services import require_or_skip

# --- projects ---------------------------------------------------------------------------

GUIDELINE = """\
---
task: support-intent
labels: [card_arrival, lost_or_stolen_card, refund]
---
# Support intent

Pick the customer's main request.

## Labels

### card_arrival
The customer asks where their new card is.

### lost_or_stolen_card
The customer's card was lost or stolen.

### refund
The customer wants money back.
"""

REVIEWER = ("rita", "correct-horse-battery")


@pytest.fixture
def guideline_file(tmp_path: Path) -> Path:
    """A three-label single-choice guideline file."""
    path = tmp_path / "guideline.md"
    path.write_text(GUIDELINE, encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, guideline_file: Path) -> Iterator[Project]:
    """A fresh SQLite project in a temp directory."""
    proj = init_project(tmp_path / "project", guideline_file)
    yield proj
    proj.store.close()


@pytest.fixture
def reviewer(project: Project) -> tuple[str, str]:
    """A console account (name, password) in ``project``."""
    name, password = REVIEWER
    add_user(project.store, name, "reviewer", password)
    return REVIEWER


def add_items(store, items: Sequence[Item]) -> None:
    """Insert items directly (the importer is the real way in; these tests need no file)."""
    with store.transaction() as conn:
        conn.execute(sa.insert(ItemRow.__table__), [item_to_values(i) for i in items])


Entry = tuple[Item, str, float, Route]


@pytest.fixture
def seed_queue(project: Project):
    """A function that adds items with suggestions routed to queues in ``project``."""
    return lambda entries: add_routed(project, entries)


def add_routed(project: Project, entries: Sequence[Entry]) -> dict[str, int]:
    """Items with a suggestion (label, confidence) on a route; item id -> suggestion id."""
    store = project.store
    add_items(store, [item for item, *_ in entries])
    suggestions = [
        Suggestion(
            item_id=item.id,
            model="local",
            value=LabelValue(label=label),
            confidence=confidence,
            rationale=f"The text reads like {label}.",
        )
        for item, label, confidence, _ in entries
    ]
    ids = store.add_suggestions(suggestions)
    decisions = [
        RouteDecision(item_id=item.id, route=route, reason="test", suggestion_id=sid)
        for (item, _, _, route), sid in zip(entries, ids, strict=True)
    ]
    store.set_routes(decisions, {item.id: float(n) for n, (item, *_) in enumerate(entries)})
    return {item.id: sid for (item, *_), sid in zip(entries, ids, strict=True)}


# --- passwords --------------------------------------------------------------------------


class RememberingHasher(PasswordHasher):
    """An argon2id hasher with the same parameters as the one it stands in for, that
    remembers its results: a password hashed before gets the hash it got then, and a
    (hash, password) pair checked before gets the same answer (True, or the same error).

    Every stored hash is still a real argon2id hash of the password with the console's
    parameters, and every check still runs argon2 once per distinct pair; only the
    repeats of the same few test passwords are answered from memory."""

    def __init__(self, like: PasswordHasher):
        super().__init__(
            time_cost=like.time_cost,
            memory_cost=like.memory_cost,
            parallelism=like.parallelism,
            hash_len=like.hash_len,
            salt_len=like.salt_len,
            encoding=like.encoding,
            type=like.type,
        )
        self._hashes: dict[str | bytes, str] = {}
        self._checks: dict[tuple[str | bytes, str | bytes], Exception | None] = {}

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if salt is not None:
            return super().hash(password, salt=salt)
        if password not in self._hashes:
            self._hashes[password] = super().hash(password)
        return self._hashes[password]

    def verify(self, hash: str | bytes, password: str | bytes):
        key = (hash, password)
        if key not in self._checks:
            try:
                super().verify(hash, password)
                self._checks[key] = None
            except Exception as exc:  # noqa: BLE001 - remembered, raised again below
                self._checks[key] = exc
        failed = self._checks[key]
        if failed is not None:
            raise type(failed)(*failed.args)
        return True


@pytest.fixture(scope="session", autouse=True)
def remembered_password_hashes() -> Iterator[None]:
    """The console's password hasher remembers its results for the whole session (see
    ``RememberingHasher``); a test that sets its own hasher replaces it for that test."""
    from labelloop.review import auth

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auth, "_hasher", RememberingHasher(auth._hasher))
        auth._decoy_hash.cache_clear()
        yield
    auth._decoy_hash.cache_clear()


# --- browser ----------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    """The Chromium binary: ``LABELLOOP_CHROMIUM`` when set, else Debian's, else one on PATH."""
    override = os.environ.get("LABELLOOP_CHROMIUM")
    if override:
        return override if Path(override).exists() else None
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


# Module scope, not session: while Playwright's sync API is open it holds a running event
# loop on the main thread, and later modules that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium driven by Playwright's sync API, shared by one test module."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        require_or_skip("playwright is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        require_or_skip("Chromium not found: install it or set LABELLOOP_CHROMIUM")
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Error as exc:
            require_or_skip(f"Chromium at {path} did not start: {exc.message.splitlines()[0]}")
        yield browser
        browser.close()


# --- ConvAbuse sample (CC BY 4.0, see tests/fixtures/convabuse_ATTRIBUTION.md) ------------

CONVABUSE = Path(__file__).parent / "fixtures" / "convabuse_sample.jsonl"


@pytest.fixture(scope="module")
def convabuse() -> dict[str, dict[str, str]]:
    """item -> {annotator: severity as a string}, first passes only."""
    rows = [json.loads(line) for line in CONVABUSE.read_text().splitlines()]
    return {
        r["id"]: {a["annotator"]: str(a["severity"]) for a in r["annotations"] if a["pass"] == 1}
        for r in rows
    }
