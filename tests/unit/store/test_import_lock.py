"""An import reads, checks and stages its rows without the store's write lock, then stores
them in one short transaction: console decisions made meanwhile wait at most that commit."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from benchmarks.bench_import_decisions import decisions_during
from labelloop.ingest.importer import import_file
from labelloop.store import Store
from tests.support.concurrency import LABELS, Load, build
from tests.support.factories import guideline


def rows_file(path: Path, n: int, prefix: str = "r") -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row = {"id": f"{prefix}{i:06d}", "text": f"message number {i}"}
            if i % 10 == 0:
                row["label"] = LABELS[i % 3]
            fh.write(json.dumps(row) + "\n")
    return path


def test_staging_leaves_the_store_writable_and_a_late_error_stores_nothing(tmp_path: Path):
    db = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{db}")
    other = sqlite3.connect(db, timeout=0, isolation_level=None)  # waits for no lock
    writable: list[bool] = []

    def try_a_write(_rows: int) -> None:
        try:
            other.execute("BEGIN IMMEDIATE")  # takes the write lock, or fails at once
            other.execute("ROLLBACK")
            writable.append(True)
        except sqlite3.OperationalError:
            writable.append(False)

    path = rows_file(tmp_path / "in.jsonl", 5000)
    result = import_file(store, guideline(), path, batch_size=1000, progress=try_a_write)
    assert writable == [True] * 5 and result.items_added == 5000
    # all or nothing still: a bad last row, after four staged batches, leaves no trace
    bad = rows_file(tmp_path / "bad.jsonl", 4000, prefix="b")
    with bad.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "b-last", "text": "x", "label": "nope"}\n')
    before = (store.count_items(), store.count_reviews(), len(store.imports()))
    try:
        import_file(store, guideline(), bad, batch_size=1000, progress=try_a_write)
    except Exception as exc:  # noqa: BLE001
        assert "4001: unknown label 'nope'" in str(exc)
    else:
        raise AssertionError("the bad row was imported")
    assert (store.count_items(), store.count_reviews(), len(store.imports())) == before
    assert all(writable)
    other.close()
    store.close()


def test_console_decisions_during_an_import_never_fail(tmp_path: Path):
    """10,000 rows staged slowly (as a large file is): decisions go on meanwhile."""
    project = build(tmp_path, Load(items=120, clients=2, overlap=0.0))
    path = rows_file(tmp_path / "big.jsonl", 10_000)

    def slow(_rows: int) -> None:
        time.sleep(0.5)  # five batches: two and a half seconds of reading and checking

    def work() -> dict:
        g = project.guideline()
        result = import_file(project.store, g, path, reviewer="bench", progress=slow)
        return {"rows": result.rows}

    try:
        found = decisions_during(project, work, reviewers=2, think=0.05)
    finally:
        project.store.close()
    assert found["rows"] == 10_000
    assert found["failures"] == 0, found["failure_samples"]
    assert found["decisions_during_import"] >= 10 and not found["ran_out_of_items"]
    # before staging, a decision waited for the whole import (2.5 s and more)
    assert found["wait_max_s"] < 2.0, found


def test_a_store_busy_past_its_timeout_refuses_the_import_in_one_line(tmp_path, monkeypatch):
    from labelloop.core.errors import ImportFileError
    from labelloop.store import db

    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.db"
    store = Store.open(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)

    def hold_the_lock(_rows: int) -> None:  # another writer, busy until after the commit
        other.execute("BEGIN IMMEDIATE")

    rows = rows_file(tmp_path / "in.jsonl", 50)
    try:
        import_file(store, guideline(), rows, progress=hold_the_lock)
    except ImportFileError as exc:
        assert str(exc).startswith(f"{rows}: the store stayed busy with another write")
        assert str(exc).endswith("; run the import again")
    else:
        raise AssertionError("imported while another writer held the store")
    other.execute("ROLLBACK")
    assert (store.count_items(), len(store.imports())) == (0, 0)
    other.close()
    store.close()
