"""Renaming, merging and splitting labels: the guideline edit, the recorded mapping, and
existing reviews and suggestions mapped without losing history."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labelloop.core.errors import LabelloopError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import LabelValue, Review, Span, Suggestion
from labelloop.export.writer import export
from labelloop.learn import evalrun, evalsets, labelmap
from labelloop.ui import cli
from tests.support.llm import make_project

GUIDELINE = """\
---
task: support-intent
labels: [card_arrival, lost_or_stolen_card, refund]  # the three intents
---
# Support intent

Pick the customer's main request.

## Labels

### card_arrival
The customer asks where their new card is.
- Example: Still waiting on my card
- Counter-example: My card was stolen. (lost_or_stolen_card)

### lost_or_stolen_card
The customer's card was lost or stolen.
- Counter-example: Where is my card? (card_arrival)

### refund
The customer wants money back.
- Counter-example: My card never came (card_arrival)
"""

ROWS = [
    {"id": "a", "text": "where is my card", "label": "card_arrival"},
    {"id": "b", "text": "my card was stolen", "label": "lost_or_stolen_card"},
    {"id": "c", "text": "money back please", "label": "refund"},
    {"id": "d", "text": "no card yet", "label": "card_arrival"},
]


@pytest.fixture
def project(tmp_path):
    proj = make_project(tmp_path, ROWS, reviewer="rita")
    proj.guideline_path.write_text(GUIDELINE, encoding="utf-8")
    store = proj.store
    store.save_guideline(proj.guideline())
    made = [
        Suggestion(item_id=i, model="local", value=LabelValue(label=v), confidence=0.9)
        for i, v in [("a", "card_arrival"), ("b", "card_arrival"), ("c", "refund")]
    ]
    store.add_suggestions(made)
    # on item a, ann decides later than rita, with the same label
    store.add_review(Review(item_id="a", reviewer="ann", action="accept", value=made[0].value))
    return proj


def test_remap_value_in_every_shape():
    m = {"x": "z", "y": "z", "s": None}
    assert labelmap.remap_value(LabelValue(label="x"), m) == LabelValue(label="z")
    assert labelmap.remap_value(LabelValue(labels=("x", "y", "w")), m).labels == ("z", "w")
    spans = (Span(start=0, end=2, label="x", text="ab"),)
    assert labelmap.remap_value(LabelValue(spans=spans), m).spans[0].label == "z"
    assert labelmap.remap_value(LabelValue(turns={0: "y", 2: "w"}), m).turns == {0: "z", 2: "w"}
    assert labelmap.remap_value(LabelValue(labels=("s", "w")), m) is None
    assert labelmap.apply_all(LabelValue(label="x"), [{"x": "y"}, {"y": "q"}]).label == "q"


def test_rename_edits_the_guideline_and_maps_reviews_and_suggestions(project):
    store = project.store
    before = list(store.iter_reviews())
    result = labelmap.rename(project, "card_arrival", "card_delivery")
    g = project.guideline()
    assert g.label_names == ["card_delivery", "lost_or_stolen_card", "refund"]
    text = project.guideline_path.read_text(encoding="utf-8")
    assert "labels: [card_delivery, lost_or_stolen_card, refund]  # the three intents" in text
    assert "### card_delivery" in text and "card_arrival" not in text
    assert g.label("refund").counter_examples == (("My card never came", "card_delivery"),)
    assert result["guideline"]["after"] == g.version != result["guideline"]["before"]
    # history: every original row is still there, unchanged, followed by mapped copies
    after = list(store.iter_reviews())
    assert after[: len(before)] == before
    copies = after[len(before) :]
    assert {(r.item_id, r.reviewer, r.source) for r in copies} == {
        ("a", "rita", "mapping"),
        ("a", "ann", "mapping"),
        ("d", "rita", "mapping"),
    }
    assert [r.reviewer for r in copies if r.item_id == "a"] == ["rita", "ann"]  # order kept
    assert all(r.value.label == "card_delivery" for r in copies)
    assert all(r.reason.startswith(f"label mapping {result['id']}: ") for r in copies)
    assert store.final_reviews()["a"].reviewer == "ann"
    latest = store.latest_suggestions(model="local")
    assert latest["a"].value.label == "card_delivery" and latest["c"].value.label == "refund"
    assert (result["reviews_mapped"], result["suggestions_mapped"]) == (3, 2)
    [row] = store.label_mappings()
    assert (row.kind, row.mapping) == ("rename", {"card_arrival": "card_delivery"})


def test_merge_makes_one_section_and_keeps_each_items_latest_decision(project):
    store = project.store
    # b: rita said lost_or_stolen_card, then bob (later) said refund; bob's stays final
    store.add_review(
        Review(item_id="b", reviewer="bob", action="fix", value=LabelValue(label="refund"))
    )
    labelmap.merge(project, ["card_arrival", "lost_or_stolen_card"], "card_problem")
    g = project.guideline()
    assert g.label_names == ["card_problem", "refund"]
    merged = g.label("card_problem")
    # counter-examples between the merged labels became examples of the merged label
    assert set(merged.examples) == {
        "Still waiting on my card",
        "My card was stolen.",
        "Where is my card?",
    }
    assert merged.counter_examples == ()
    finals = {i: r.value.label for i, r in store.final_reviews().items()}
    assert finals == {"a": "card_problem", "b": "refund", "c": "refund", "d": "card_problem"}
    assert store.latest_suggestions(model="local")["b"].value.label == "card_problem"


def test_split_sends_items_back_to_people_and_keeps_history(project, tmp_path):
    store = project.store
    n_before = store.count_reviews()
    result = labelmap.split(project, "card_arrival", ["card_late", "card_never_sent"])
    g = project.guideline()
    assert g.label_names == ["card_late", "card_never_sent", "lost_or_stolen_card", "refund"]
    assert "split from card_arrival" in project.guideline_path.read_text(encoding="utf-8")
    assert result["items_reopened"] == 2 and result["reviews_mapped"] == 0
    assert store.count_reviews() == n_before + 2  # one reopen each, nothing rewritten
    assert "a" not in store.reviewed_item_ids() and "d" not in store.reviewed_item_ids()
    assert set(store.final_reviews()) == {"b", "c"}
    waiting = set(store.queue_item_ids("active"))
    assert {"a", "d"} <= waiting
    assert store.get_route("a").reason.startswith(f"label mapping {result['id']}")
    # the export shows no final label for reopened items, but their whole history
    out = tmp_path / "out.jsonl"
    export(store, out, model="local")
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["a"]["label_source"] is None
    assert [r["action"] for r in rows["a"]["reviews"]] == ["import", "accept", "reopen"]
    # a person decides again: the item is reviewed once more
    store.add_review(
        Review(item_id="a", reviewer="rita", action="fix", value=LabelValue(label="card_late"))
    )
    assert "a" in store.reviewed_item_ids()


def test_eval_set_gold_follows_renames_and_drops_split_items(project):
    evalsets.create(project, "holdout")
    labelmap.rename(project, "refund", "money_back")
    labelmap.split(project, "card_arrival", ["card_late", "card_never_sent"])
    result = evalrun.compare_runs(project, "holdout")
    assert result["evalset"]["items"] == 4
    assert (result["evalset"]["scored"], result["evalset"]["unscorable"]) == (2, 2)


def test_bad_requests_name_the_fix(project):
    with pytest.raises(LabelloopError, match="Unknown label 'nope'.*valid labels are card_arrival"):
        labelmap.rename(project, "nope", "x")
    with pytest.raises(LabelloopError, match="Label 'refund' already exists"):
        labelmap.rename(project, "card_arrival", "refund")
    with pytest.raises(LabelloopError, match="Invalid label name 'two words'"):
        labelmap.split(project, "refund", ["two words", "x"])
    with pytest.raises(LabelloopError, match="Splitting needs two new labels"):
        labelmap.split(project, "refund", ["x"])
    assert project.store.label_mappings() == []  # nothing recorded, the file untouched
    assert (
        parse_guideline(project.guideline_path.read_text()).version
        == parse_guideline(GUIDELINE).version
    )


def test_cli_commands(project):
    runner = CliRunner()
    root = ["-p", str(project.root)]
    r = runner.invoke(cli.app, ["labels", "rename", "refund", "money_back", *root])
    assert r.exit_code == 0, r.output
    assert "1 reviews and 1 suggestions mapped" in " ".join(r.output.split())
    r = runner.invoke(
        cli.app, ["labels", "merge", "card_arrival", "lost_or_stolen_card", "--into", "card", *root]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli.app, ["labels", "split", "card", "--into", "card_late,card_lost", *root])
    assert r.exit_code == 0, r.output
    assert "3 items sent back to people" in " ".join(r.output.split())
    assert [m.kind for m in project.store.label_mappings()] == ["rename", "merge", "split"]
