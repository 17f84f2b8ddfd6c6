"""A span task offline, from import to export, through the CLI: init with a spans guideline,
import gold spans (a blind sample) and unlabeled items, label with the embedded model (its
CRF), calibrate, review in the console's service (fix one item's spans, accept another's),
export JSONL; the export holds what was decided.

The guideline is the WNUT-17 one with ``unit: conversation`` (a project's items are all texts
or all transcripts): each post is a one-turn transcript, "user: <post>", so every offset counts
in the rendered transcript, and two items have an assistant turn as well."""

from __future__ import annotations

import json
import re

import pytest

from labelloop.core.types import Item, LabelValue, Message, Span
from labelloop.export.conll import read_conll
from labelloop.label.schemas import item_text
from labelloop.project import load_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.ui.cli import app
from tests.support.cli import cli, runner
from tests.support.llm import write_jsonl
from tests.support.paths import FIXTURES, ROOT

SAMPLE = FIXTURES / "wnut17_sample.jsonl"


def transcript(item_id: str, turns: list[tuple[str, str]]) -> dict:
    return {"id": item_id, "messages": [{"role": r, "content": c} for r, c in turns]}


def rendered(row: dict) -> str:
    """The text span offsets count in: the item's text, or its transcript's lines."""
    if "text" in row:
        return row["text"]
    messages = tuple(Message(role=m["role"], content=m["content"]) for m in row["messages"])
    return item_text(Item(id=row["id"], messages=messages))


def as_transcript(row: dict) -> dict:
    """A post as a one-turn transcript, its gold spans moved past the "user: " prefix."""
    shift = len("user: ")
    spans = [{**s, "start": s["start"] + shift, "end": s["end"] + shift} for s in row["spans"]]
    return transcript(row["id"], [("user", row["text"])]) | {"spans": spans}


def span_at(text: str, words: str, label: str) -> dict:
    start = text.index(words)
    return {"start": start, "end": start + len(words), "label": label}


def triples(spans) -> list[tuple[int, int, str]]:
    return sorted((s["start"], s["end"], s["label"]) for s in spans or ())


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spans")
    source = (ROOT / "guidelines" / "wnut17-entities.md").read_text(encoding="utf-8")
    guideline = tmp / "entities.md"
    guideline.write_text(
        source.replace("unit: text\n", "unit: conversation\n", 1), encoding="utf-8"
    )
    rows = [json.loads(x) for x in SAMPLE.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if r["split"] == "train"][:16]
    test = [r for r in rows if r["split"] == "test"][:12]
    # a reviewed transcript: its gold offsets count in "user: ...\nassistant: ..."
    chat_gold = transcript(
        "chat-gold",
        [("user", "flying to Denver with Kayla tomorrow"), ("assistant", "Enjoy Denver!")],
    )
    text = rendered(chat_gold)
    chat_gold["spans"] = [
        span_at(text, "Denver", "location"),
        span_at(text, "Kayla", "person"),
        {**span_at(text, "Denver!", "location"), "end": text.index("Denver!") + 6},
    ]
    assert text[chat_gold["spans"][2]["start"] :].startswith("Denver!")
    chat = transcript(
        "chat-new",
        [("user", "is the new Xbox 360 worth it"), ("assistant", "Ask Marcus at GameStop")],
    )
    gold_rows = [as_transcript(r) for r in train] + [chat_gold]
    for r, g in zip(train, gold_rows, strict=False):  # the same words, in the transcript
        assert [rendered(g)[s["start"] : s["end"]] for s in g["spans"]] == [
            r["text"][s["start"] : s["end"]] for s in r["spans"]
        ]
    todo_rows = [{k: v for k, v in as_transcript(r).items() if k != "spans"} for r in test] + [chat]
    root = tmp / "proj"
    p = str(root)
    cli("init", p, "--guideline", str(guideline))
    gold_file = write_jsonl(tmp / "gold.jsonl", gold_rows)
    cli("import", str(gold_file), "--reviewer", "gold", "--sample", "-p", p)
    cli("import", str(write_jsonl(tmp / "todo.jsonl", todo_rows)), "-p", p)
    cli("label", "--model", "local", "-p", p)
    calibrated = json.loads(cli("calibrate", "--json", "-p", p))

    project = load_project(root)
    add_user(project.store, "ann", "reviewer", "password-ann")
    project.config.review.queues = ["active"]
    project.config.review.overlap = 0.0  # one answer per item: nothing waits for a second
    service = ReviewService(project)
    accepted = service.next_item("ann")
    assert accepted is not None and accepted.suggestion is not None
    suggested = accepted.suggestion.value
    fixed = service.decide("ann", accepted.item.id, "accept").next
    assert fixed is not None and fixed.item.id != accepted.item.id
    # a fix the model did not suggest: the item's last word as a product
    last = list(re.finditer(r"\w+", fixed.item.render_plain()))[-1]
    fix = LabelValue(spans=(Span(start=last.start(), end=last.end(), label="product"),))
    assert fix.key() != fixed.suggestion.value.key()
    service.decide("ann", fixed.item.id, "fix", fix)
    service.close()

    out = tmp / "export.jsonl"
    cli("export", str(out), "--format", "jsonl", "-p", p)
    exported = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    conll = tmp / "export.conll"
    said = cli("export", str(conll), "--format", "conll", "-p", p)
    wide = runner.invoke(app, ["eval", "-p", p], env={"COLUMNS": "200"}, catch_exceptions=False)
    return {
        "eval": (wide.output, json.loads(cli("eval", "--json", "-p", p))),
        "conll": (said, {r["id"]: r for r in read_conll(conll)}),
        "gold": {r["id"]: r for r in gold_rows},
        "todo": {r["id"]: r for r in todo_rows},
        "calibrated": calibrated,
        "accepted": (accepted.item.id, suggested),
        "fixed": (fixed.item.id, fix),
        "exported": exported,
    }


def test_every_item_is_exported_with_a_local_suggestion(loop):
    exported = loop["exported"]
    assert set(exported) == set(loop["gold"]) | set(loop["todo"])
    for row in exported.values():
        s = row["suggestion"]
        assert s["model"] == "local" and isinstance(s["spans"], list), row
        assert 0.0 <= s["confidence"] <= 1.0


def test_suggested_and_decided_spans_lie_inside_their_texts(loop):
    rows = loop["gold"] | loop["todo"]
    labels = {"person", "location", "group", "creative-work", "corporation", "product"}
    for item_id, row in loop["exported"].items():
        text = rendered(rows[item_id])
        for s in row["suggestion"]["spans"] + (row.get("spans") or []):
            assert 0 <= s["start"] < s["end"] <= len(text), (item_id, s)
            assert s["label"] in labels
            if s.get("text") is not None:
                assert s["text"] == text[s["start"] : s["end"]]


def test_the_transcript_is_labeled_in_its_rendered_text(loop):
    row = loop["exported"]["chat-new"]
    assert "messages" in row and row["route"] != "unlabeled"
    text = rendered(loop["todo"]["chat-new"])
    assert text.startswith("user: is the new Xbox 360") and "\nassistant: " in text
    assert all(s["end"] <= len(text) for s in row["suggestion"]["spans"])


def test_gold_spans_are_exported_as_human_decisions(loop):
    for item_id, gold in loop["gold"].items():
        row = loop["exported"][item_id]
        assert row["label_source"] == "human" and row["route"] == "reviewed"
        assert triples(row["spans"]) == triples(gold["spans"]), item_id
        assert [r["reviewer"] for r in row["reviews"]] == ["gold"]


def test_the_review_decisions_are_what_is_exported(loop):
    exported = loop["exported"]
    item_id, suggested = loop["accepted"]
    row = exported[item_id]
    assert row["label_source"] == "human" and row["route"] == "reviewed"
    assert triples(row["spans"]) == triples(s.model_dump() for s in suggested.spans)
    assert [(r["reviewer"], r["action"]) for r in row["reviews"]] == [("ann", "accept")]
    item_id, fix = loop["fixed"]
    row = exported[item_id]
    assert triples(row["spans"]) == triples(s.model_dump() for s in fix.spans)
    assert [(r["reviewer"], r["action"]) for r in row["reviews"]] == [("ann", "fix")]


def test_calibration_reports_on_the_span_suggestions(loop):
    report = loop["calibrated"]
    assert report["model"] == "local"
    # a handful of blind pairs: too few to certify a threshold, so nothing is auto-accepted
    assert report["threshold"] is None
    assert all(r["route"] != "auto_accepted" for r in loop["exported"].values())
    # the pairs the look tests are the drawn items answered blind (or counted wrong) and
    # the blind answers imported as a sample outside the draw: the printed counts add up
    parts = report["answered_blind"] + report["counted_wrong"] + report["imported_outside"]
    assert report["calibration_pairs"] == parts and report["imported_outside"] > 0


def test_conll_holds_only_decided_items(loop):
    """An item still waiting is left out of CoNLL, where all O would read as "no spans"."""
    said, conll = loop["conll"]
    decided = {i for i, r in loop["exported"].items() if r["label_source"] is not None}
    assert set(conll) == decided and len(decided) < len(loop["exported"])
    assert "left out" in said and f"Wrote {len(decided)} rows" in " ".join(said.split())
    for item_id, gold in loop["gold"].items():
        # tokens are cut at span edges: "Denver" in "Denver!" comes back without the "!"
        assert triples(conll[item_id]["spans"]) == triples(gold["spans"]), item_id
        assert conll[item_id]["label_source"] == "human"


def test_eval_prints_the_span_f1_it_computes(loop):
    text, figures = loop["eval"]
    f1 = figures["models"]["local"]["vs_consensus"]["span_exact_f1"]
    assert "span F1" in text and f"{f1['value']:.3f}" in text
