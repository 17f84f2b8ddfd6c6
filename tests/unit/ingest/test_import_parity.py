"""SQLite and PostgreSQL accept exactly the same import files, with the same messages; and
every hostile file of the reliability corpus is refused in one line, on both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.reliability import hostile_imports
from labelloop.core.errors import ImportFileError
from labelloop.ingest.importer import import_file
from labelloop.store import Store
from tests.support.factories import INTENTS, guideline
from tests.support.services import postgres_database

SINGLE = guideline()
BIG = "__a 5,000-digit number__"
DEEP = "__100,000 levels of nesting__"
#: any character but lone surrogates and NUL: those come as mutations, as often as the rest
CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.text(CHARS, max_size=12)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
ROWS = st.fixed_dictionaries(
    {
        "id": st.text(CHARS, min_size=1, max_size=8) | st.integers(-(10**20), 10**20),
        "text": TEXT | st.sampled_from(["Where is my card?", " "]),
    },
    optional={
        "label": st.sampled_from([*INTENTS, "nope"]),
        "meta": st.dictionaries(TEXT, JSON, max_size=3),
        "source": JSON,
    },
)
#: what may be done to a row: nothing (often), or one thing a store might keep differently
MUTATIONS = {
    "none": lambda row, at: row,
    "lone surrogate": lambda row, at: _put(row, at, "a\ud800b"),
    "low surrogate in a key": lambda row, at: {**row, "meta": {"\udc00": 1}},
    "NUL": lambda row, at: _put(row, at, "a\x00b"),
    "NaN": lambda row, at: {**row, "meta": {"x": float("nan")}},
    "Infinity": lambda row, at: {**row, "source": float("-inf")},
    "5,000-digit number": lambda row, at: _put(row, at, BIG),
    "63 levels": lambda row, at: {**row, "meta": {"x": _nested(62)}},
    "64 levels": lambda row, at: {**row, "meta": {"x": _nested(63)}},
    "100,000 levels": lambda row, at: {**row, "meta": DEEP},
    "256-character id": lambda row, at: {**row, "id": "\u00e9" * 256},
    "257-character id": lambda row, at: {**row, "id": "i" * 257},
    "float id": lambda row, at: {**row, "id": 1.5},
}
MUTATED = st.builds(
    lambda row, how, at: MUTATIONS[how](row, at),
    ROWS,
    st.sampled_from(["none"] * 6 + list(MUTATIONS)),
    st.sampled_from(["id", "text", "meta"]),
)


def _put(row: dict, at: str, value) -> dict:
    return {**row, "meta": {"k": value}} if at == "meta" else {**row, at: value}


def _nested(depth: int) -> list:
    """``depth`` lists, one inside the other."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def line(row: dict) -> str:
    """A JSONL line as Python's JSON writes it: escapes for surrogates, NaN and Infinity."""
    text = json.dumps(row)
    text = text.replace(json.dumps(DEEP), "[" * 10**5 + "]" * 10**5)
    return text.replace(json.dumps(BIG), "9" * 5000)


def outcome(store: Store, path: Path) -> tuple:
    """What an import made of the file: its one-line refusal, or what the store holds."""
    try:
        import_file(store, SINGLE, path, reviewer="gen")
    except ImportFileError as exc:
        assert "\n" not in str(exc), str(exc)
        return ("refused", str(exc))
    ids = [str(json.loads(x)["id"]) for x in path.read_text().splitlines()]
    items = store.get_items(ids)
    labels = sorted((r.item_id, r.value.label) for r in store.iter_reviews() if r.item_id in ids)
    return ("stored", [items[i] for i in ids], labels)


@pytest.mark.postgres
def test_sqlite_and_postgresql_accept_the_same_rows(tmp_path: Path) -> None:
    with postgres_database() as url:
        stores = [Store.open(f"sqlite:///{tmp_path}/parity.db"), Store.open(url)]
        files = iter(range(10**6))
        try:

            @settings(
                max_examples=60,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(rows=st.lists(MUTATED, min_size=1, max_size=3))
            def same(rows: list) -> None:
                path = tmp_path / f"gen{next(files)}.jsonl"
                path.write_text("".join(line(r) + "\n" for r in rows), encoding="utf-8")
                lite, pg = (outcome(s, path) for s in stores)
                assert lite == pg

            same()
        finally:
            for s in stores:
                s.close()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_every_hostile_file_is_refused_in_one_line_leaving_the_store_unchanged(backend) -> None:
    if backend == "sqlite":
        found = hostile_imports.run(None)
    else:
        with postgres_database() as url:
            found = hostile_imports.run(url)
    assert found["files"] >= 70
    assert found["findings"] == []
    assert found["refused"] == found["files"]
    assert found["tracebacks"] == found["store_changed"] == found["accepted"] == 0
    assert found["seconds"] < 30  # a 100,000-column header took minutes when its check was O(n^2)
