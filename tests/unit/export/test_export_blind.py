"""Exports of blind queues hold the items alone, and their labeled copy imports back as a sample."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.core.errors import LabelloopError
from labelloop.core.types import Guideline, LabelValue, Review, RouteDecision, Span, Suggestion
from labelloop.export.writer import export
from labelloop.ingest.importer import import_file
from labelloop.store import Store
from tests.support.factories import guideline

MODEL = "secret-model-x"
RATIONALE = "the customer plainly asks for a refund-rationale-marker"
REASON = "confidence 0.9321 >= threshold 0.9000"
COMMENT = "overlap-comment-marker"
SINGLE = guideline()
SPANS = guideline("spans", labels=("CARD", "CITY"))
CONV = guideline(unit="conversation")
TEXTS = {"b1": "Where is my card?", "b2": "Card stolen in a bar.", "b3": "Any news?"}
MESSAGES = [{"role": "user", "content": "Card?"}, {"role": "assistant", "content": "Which?"}]
#: what a model, a route or an earlier reviewer said: none of it may reach a blind export
SECRETS = (MODEL, RATIONALE, "refund", "0.9321", "threshold", COMMENT, "early-ann", "CITY")
FORMATS = ("jsonl", "csv", "labelstudio", "hf")


def suggested(g: Guideline) -> LabelValue:
    if g.kind == "spans":
        return LabelValue(spans=(Span(start=0, end=5, label="CITY"),))
    return LabelValue(label="refund")


def answer(g: Guideline) -> LabelValue:
    if g.kind == "spans":
        return LabelValue(spans=(Span(start=6, end=8, label="CARD"),))
    return LabelValue(label="card_arrival")


def blind_store(path: Path, g: Guideline) -> Store:
    """b1 in calibration (with an earlier skip), b2 in audit, b3 active: all suggested."""
    store = Store.open(f"sqlite:///{path}")
    rows = [
        {"id": i, "meta": {"source": "email"}}
        | ({"text": t} if g.unit == "text" else {"messages": MESSAGES, "target_turn": 0})
        for i, t in TEXTS.items()
    ]
    src = path.with_suffix(".jsonl")
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import_file(store, g, src, reviewer="setup")
    ids = store.add_suggestions(
        [
            Suggestion(
                item_id=i,
                model=MODEL,
                value=suggested(g),
                confidence=0.9321,
                rationale=RATIONALE,
                signals={"margin": 0.9321},
                prompt_version="p1",
                guideline_version=g.version,
            )
            for i in TEXTS
        ]
    )
    skip = Review(item_id="b1", reviewer="early-ann", action="skip", comment=COMMENT, blind=True)
    store.add_review(skip)
    routes = zip(TEXTS, ("calibration", "audit", "active"), ids, strict=True)
    store.set_routes([RouteDecision(item_id=i, route=r, reason=REASON, suggestion_id=s)
                      for i, r, s in routes])  # fmt: skip
    return store


@pytest.fixture
def stores(tmp_path: Path):
    opened: list[Store] = []

    def make(g: Guideline) -> Store:
        opened.append(blind_store(tmp_path / f"s{len(opened)}.db", g))
        return opened[-1]

    yield make
    for s in opened:
        s.close()


def written(out: Path, fmt: str) -> str:
    """Everything the export wrote, as text (Parquet decoded: its bytes are compressed)."""
    if fmt == "hf":
        return json.dumps(pq.read_table(out / "data.parquet").to_pylist())
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("queue", ["calibration", "audit"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_blind_queue_export_holds_the_item_alone(stores, tmp_path, fmt, queue) -> None:
    store = stores(SINGLE)
    out = tmp_path / f"out.{fmt}"
    assert export(store, out, fmt, queue=queue, model=MODEL, guideline=SINGLE) == 1
    text = written(out, fmt)
    item = "b1" if queue == "calibration" else "b2"
    assert item in text and TEXTS[item] in text and "email" in text
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{fmt} export of the {queue} queue shows {leaked}: {text}"
    assert queue not in text  # the route says nothing either


def test_blind_span_exports_in_conll_and_labelstudio(stores, tmp_path) -> None:
    store = stores(SPANS)
    for fmt in ("conll", "labelstudio", "jsonl"):
        out = tmp_path / f"spans.{fmt}"
        export(store, out, fmt, queue="calibration", model=MODEL, guideline=SPANS)
        text = written(out, fmt)
        assert TEXTS["b1"].split()[0] in text
        assert not [s for s in SECRETS if s in text], text


def test_other_queues_keep_their_provenance(stores, tmp_path) -> None:
    store = stores(SINGLE)
    out = tmp_path / "active.jsonl"
    export(store, out, "jsonl", queue="active", model=MODEL, guideline=SINGLE)
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["suggestion"]["rationale"] == RATIONALE and row["route"] == "active"


def labeled_copy(out: Path, fmt: str, g: Guideline, value: LabelValue) -> Path:
    """The blind file as an annotator hands it back: each row's answer filled in."""
    as_dict = value.as_dict()
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        back = out.with_name("back.jsonl")
        back.write_text("".join(json.dumps(r | as_dict) + "\n" for r in rows), encoding="utf-8")
        return back
    if fmt == "csv":
        with out.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows, columns = list(reader), reader.fieldnames
        cell = {k: v if isinstance(v, str) else json.dumps(v) for k, v in as_dict.items()}
        back = out.with_name("back.csv")
        with back.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(r | cell for r in rows)
        return back
    if fmt == "labelstudio":
        tasks = json.loads(out.read_text())
        choice = {"choices": [value.label]} if value.label else None
        for t in tasks:
            region = {"from_name": "label", "to_name": "text", "type": "choices", "value": choice}
            t["annotations"] = [{"completed_by": {"email": "ann@example.com"}, "result": [region]}]
        back = out.with_name("back.json")
        back.write_text(json.dumps(tasks), encoding="utf-8")
        return back
    table = pq.read_table(out / "data.parquet")
    i = table.schema.get_field_index("label")
    table = table.set_column(i, "label", pa.array([value.label] * table.num_rows, pa.string()))
    back = out.with_name("back.parquet")
    pq.write_table(table, back)
    return back


@pytest.mark.parametrize("fmt", FORMATS)
def test_labeled_blind_export_imports_back_as_a_sample(stores, tmp_path, fmt) -> None:
    store = stores(SINGLE)
    out = tmp_path / f"cal.{fmt}"
    export(store, out, fmt, queue="calibration", model=MODEL, guideline=SINGLE)
    back = labeled_copy(out, fmt, SINGLE, answer(SINGLE))
    result = import_file(store, SINGLE, back, reviewer="ann", sample=True)
    assert (result.rows, result.items_added, result.reviews_added) == (1, 0, 1)
    assert store.get_item("b1").meta == {"source": "email"}
    [pair] = store.calibration_pairs(MODEL, "p1", SINGLE.version)
    assert (pair.source, pair.review.item_id, pair.review.value) == ("import", "b1", answer(SINGLE))


@pytest.mark.parametrize("g", [SPANS, CONV], ids=["spans", "conversation"])
def test_other_shapes_import_back_from_jsonl_and_csv(stores, tmp_path, g) -> None:
    for fmt in ("jsonl", "csv"):
        store = stores(g)
        out = tmp_path / f"{g.kind}-{g.unit}.{fmt}"
        export(store, out, fmt, queue="audit", model=MODEL, guideline=g)
        back = labeled_copy(out, fmt, g, answer(g))
        result = import_file(store, g, back, reviewer="ann", sample=True)
        assert (result.items_added, result.reviews_added) == (0, 1), fmt
        assert not [s for s in SECRETS if s in out.read_text()]


def test_blind_csv_needs_the_guideline(stores, tmp_path) -> None:
    with pytest.raises(LabelloopError, match="needs the project's guideline"):
        export(stores(SINGLE), tmp_path / "x.csv", "csv", queue="audit", model=MODEL)
    assert not (tmp_path / "x.csv").exists()
