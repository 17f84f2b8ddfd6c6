"""Exports keep the context fields a guideline names (its items' ``meta``), in every format
that carries meta, and they import back."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labelloop.core.guideline import load_guideline, parse_guideline
from labelloop.export.writer import export
from labelloop.ingest.importer import import_file
from labelloop.store import Store
from tests.support.paths import FIXTURES, ROOT

BOOKING = load_guideline(ROOT / "guidelines" / "restaurant-booking.md")
PLAIN = parse_guideline(re.sub(r"^context: .*\n", "", BOOKING.text, flags=re.M))
SLOTS = {
    "b1": "time",
    "b2": "party_size",
    "b3": "date",
    "b4": "name",
    "b5": "party_size",
    "b6": "time",
    "b7": "time",
}


@pytest.fixture
def stores(tmp_path: Path):
    opened: list[Store] = []

    def make(name: str) -> Store:
        opened.append(Store.open(f"sqlite:///{tmp_path}/{name}.db"))
        return opened[-1]

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def booking(stores) -> Store:
    store = stores("booking")
    import_file(store, BOOKING, FIXTURES / "booking.jsonl", reviewer="ann")
    return store


def slots(rows: dict[str, dict]) -> dict[str, str]:
    return {i: m["requested_slot"] for i, m in rows.items() if "requested_slot" in (m or {})}


def test_jsonl_and_hf_keep_the_context(booking, tmp_path):
    assert export(booking, tmp_path / "out.jsonl", "jsonl", guideline=BOOKING) == 8
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert slots({r["id"]: r.get("meta") for r in rows}) == SLOTS
    export(booking, tmp_path / "hf", "hf", guideline=BOOKING)
    table = pq.read_table(tmp_path / "hf" / "data.parquet").to_pylist()
    assert slots({r["id"]: json.loads(r["meta"]) for r in table}) == SLOTS


def test_label_studio_keeps_the_context_in_each_tasks_meta(booking, tmp_path):
    out = tmp_path / "ls.json"
    export(booking, out, "labelstudio", guideline=BOOKING)
    tasks = json.loads(out.read_text())
    assert slots({t["data"]["id"]: t.get("meta") for t in tasks}) == SLOTS


def test_csv_adds_a_meta_column_for_a_guideline_with_context(booking, stores, tmp_path):
    out = tmp_path / "out.csv"
    export(booking, out, "csv", guideline=BOOKING)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert "meta" in rows[0]
    assert slots({r["id"]: json.loads(r["meta"] or "{}") for r in rows}) == SLOTS
    # and it imports back whole
    back = stores("back")
    import_file(back, BOOKING, out)
    assert slots({i.id: i.meta for i in back.iter_items()}) == SLOTS
    # a guideline without context keeps the columns it had
    export(booking, tmp_path / "plain.csv", "csv", guideline=PLAIN)
    header = (tmp_path / "plain.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "meta" not in header.split(",")
