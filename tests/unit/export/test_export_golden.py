"""Every export format, byte for byte, against files written from a fixed store.

The store holds the shapes that have tripped exports before: conversations, meta, every
value kind, failed suggestions, two models and a cascade, blind and adjudicated reviews,
reopened and undone ones. Rewrite the files on purpose only:
``python -m tests.test_export_golden`` (then review the diff).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labelloop.core.types import Item, LabelValue, Message, Review, RouteDecision, Span, Suggestion
from labelloop.export.writer import export
from labelloop.ingest.importer import import_file
from labelloop.store import Store
from tests.conftest import add_items
from tests.support.factories import guideline
from tests.support.paths import FIXTURES
from tests.support.services import postgres_database

GOLDEN = FIXTURES / "export"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SINGLE = guideline()
SPANS = guideline("spans", labels=("CARD", "CITY"))
#: (file name, format, export arguments)
CASES = [
    ("m.jsonl", "jsonl", {"model": "m"}),
    ("any.jsonl", "jsonl", {}),
    ("cascade.jsonl", "jsonl", {"stages": ("m", "big")}),
    ("active.jsonl", "jsonl", {"model": "m", "queue": "active"}),
    ("m.csv", "csv", {"model": "m"}),
    ("m.labelstudio.json", "labelstudio", {"model": "m", "guideline": SINGLE}),
    ("m.conll", "conll", {"model": "m", "guideline": SPANS}),
    ("m.hf", "hf", {"model": "m", "guideline": SINGLE}),
]
VALUES = [
    LabelValue(label="refund"),
    LabelValue(labels=("refund", "card_arrival")),
    LabelValue(labels=()),
    LabelValue(
        spans=(
            Span(start=0, end=4, label="CARD", text="Lost"),
            Span(start=8, end=17, label="CITY"),
            Span(start=22, end=27, label="CITY"),  # "Paris" in "Paris 3,": the token is cut
        )
    ),
    LabelValue(abstain=True),
    LabelValue(turns={0: "refund", 2: "card_arrival"}),
]


def build(store: Store) -> None:
    """12 items, suggestions from two models, routes and reviews, at fixed times."""
    items = [_item(i) for i in range(12)]
    add_items(store, items)
    suggestions = [
        _suggestion(k, item.id, model)
        for k, item in enumerate(items)
        for model in (("m", "big") if k % 2 else ("m",))
    ]
    ids = store.add_suggestions(suggestions)
    first: dict[str, int] = {}
    for s, sid in zip(suggestions, ids, strict=True):
        first.setdefault(s.item_id, sid)  # the cascade routed on its first stage
    routes = ["auto_accepted", "active", "audit", "failed", "adjudication", "calibration"]
    decisions = [
        RouteDecision(item_id=it.id, route=routes[k % 6], reason="t", suggestion_id=first[it.id])
        for k, it in enumerate(items)
        if k != 11  # never routed
    ]
    store.set_routes(decisions)
    for k, item in enumerate(items[:9]):
        for review in _reviews(k, item.id):
            rid = store.add_review(review)
        if k == 6:  # take the last one back
            undo = Review(item_id=item.id, reviewer="zed", action="undo", supersedes=rid)
            store.add_review(undo.model_copy(update={"created_at": T0 + timedelta(hours=1)}))


def _item(i: int) -> Item:
    meta = {"source": "email", "n": i} if i % 4 == 0 else {}
    if i % 5 == 3:
        turns = (
            Message(role="user", content=f"Card {i}?\nnow"),
            Message(role="agent", content="Ünï «q»"),
        )
        return Item(id=f"c{i:02d}", messages=turns, target_turn=i % 2 or None, meta=meta)
    return Item(id=f"t{i:02d}", text=f'Lost my\tVisa card in  Paris {i}, "x"\nok', meta=meta)


def _suggestion(k: int, item_id: str, model: str) -> Suggestion:
    at = T0 + timedelta(seconds=k, microseconds=k * 7)
    if k == 7:
        return Suggestion(
            item_id=item_id, model=model, value=None, status="failed", error="boom", created_at=at
        )
    return Suggestion(
        item_id=item_id,
        model=model,
        value=VALUES[k % len(VALUES)],
        confidence=k / 16 if k % 3 else None,
        calibrated=0.5 if k % 4 == 0 else None,
        rationale="why" if k % 2 else "",
        signals={"margin": 0.25, "n": 2} if k % 3 == 0 else {},
        prompt_version="p1",
        guideline_version="g1",
        fewshot_ids=("a", "b") if k % 5 == 0 else (),
        created_at=at,
    )


def _reviews(k: int, item_id: str) -> list[Review]:
    at = T0 + timedelta(minutes=k)
    out = [
        Review(
            item_id=item_id,
            reviewer="rita",
            action="fix",
            value=VALUES[3 * (k % 2)],  # a label, or spans
            duration_ms=4200,
            queue="active",
            created_at=at,
        ),
    ]
    if k % 3 == 0:
        out += [
            Review(
                item_id=item_id,
                reviewer="ls-user-7",
                action="accept",
                value=VALUES[3],
                blind=True,
                queue="audit",
                reason="ok",
                comment="c",
                created_at=at,
            ),
            Review(
                item_id=item_id,
                reviewer="bo@example.com",
                action="fix",
                queue="adjudication",
                value=LabelValue(label="card_arrival"),
                created_at=at,
            ),
        ]
    if k == 3:
        out.append(Review(item_id=item_id, reviewer="system", action="reopen", created_at=at))
    if k == 6:
        out += [
            Review(item_id=item_id, reviewer="al", action="skip", created_at=at),
            Review(
                item_id=item_id, reviewer="zed", action="accept", value=VALUES[0], created_at=at
            ),
        ]
    return out


def written(store: Store, out: Path, fmt: str, kwargs: dict) -> dict[str, bytes]:
    """The files the export writes (the Parquet table as JSON rows)."""
    export(store, out, fmt, **kwargs)
    if fmt != "hf":
        return {out.name: out.read_bytes()}
    table = pq.read_table(out / "data.parquet").to_pylist()
    return {
        f"{out.name}.rows.json": json.dumps(table, ensure_ascii=False, indent=1).encode(),
        f"{out.name}.info.json": (out / "dataset_info.json").read_bytes(),
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def golden_store(request, tmp_path):
    if request.param == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path}/store.db")
        build(store)
        yield store
        store.close()
        return
    with postgres_database() as url:
        store = Store.open(url)
        build(store)
        yield store
        store.close()


@pytest.mark.parametrize(("name", "fmt", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_export_matches_golden_file(golden_store, tmp_path, name, fmt, kwargs) -> None:
    for file, text in written(golden_store, tmp_path / name, fmt, kwargs).items():
        assert text == (GOLDEN / file).read_bytes(), file


def test_pages_keep_import_order(golden_store, tmp_path) -> None:
    """Paged reading picks up after each page's last key: within an item group, within
    an import, and across imports, on both databases."""
    for name in ("b", "a"):
        rows = "".join(json.dumps({"id": f"{name}{i}", "text": f"x {i}"}) + "\n" for i in (3, 1, 2))
        (tmp_path / f"{name}.jsonl").write_text(rows, encoding="utf-8")
        import_file(golden_store, SINGLE, tmp_path / f"{name}.jsonl", reviewer="imp")
    whole = [r.item.id for r in golden_store.iter_records(model="m")]
    built = sorted(whole[:12])  # never imported: by id, before every import
    assert whole == [*built, "b3", "b1", "b2", "a3", "a1", "a2"]
    for page in (1, 2, 5):
        assert [r.item.id for r in golden_store.iter_records(model="m", page=page)] == whole
        assert [i.id for i in golden_store.iter_items(batch=page)] == whole
    route = [i.id for i in golden_store.iter_items(batch=2, route="reviewed")]
    routes = golden_store.routes()
    assert route == [i for i in whole if routes.get(i) == "reviewed"] != []


def regenerate(folder: Path) -> None:
    import tempfile

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/store.db")
        build(store)
        for name, fmt, kwargs in CASES:
            for file, text in written(store, Path(tmp) / name, fmt, kwargs).items():
                (folder / file).write_bytes(text)
        store.close()


if __name__ == "__main__":
    regenerate(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
