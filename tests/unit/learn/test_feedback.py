"""``labelloop guidelines suggest``: confused label pairs, examples, comments, proposals."""

from __future__ import annotations

import json

import pytest
import tomli_w
from typer.testing import CliRunner

from labelloop.core.types import LabelValue, Review, Suggestion
from labelloop.learn.feedback import confused, suggest
from labelloop.project import load_project
from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, make_project


def _pair(item: str, text: str, ann: str, bob: str) -> dict:
    notes = [{"reviewer": "ann", "label": ann}, {"reviewer": "bob", "label": bob}]
    return {"id": item, "text": text, "annotations": notes}


ROWS = [
    # ann and bob disagree on two items between card_arrival and lost_or_stolen_card
    _pair("h1", "card missing", "card_arrival", "lost_or_stolen_card"),
    _pair("h2", "never got it", "lost_or_stolen_card", "card_arrival"),
    _pair("h3", "refund me", "refund", "refund"),
    {"id": "m1", "text": "money for my late card", "label": "refund"},
    {"id": "m2", "text": "return the fee", "label": "refund"},
]


@pytest.fixture
def project(tmp_path):
    proj = make_project(tmp_path, ROWS, reviewer="rita")
    made = [
        Suggestion(item_id=i, model="local", value=LabelValue(label=v), confidence=0.8)
        for i, v in [("m1", "card_arrival"), ("m2", "card_arrival"), ("h3", "refund")]
    ]
    proj.store.add_suggestions(made)
    note = Review(
        item_id="m1", reviewer="rita", action="skip", comment="late card AND a refund: which?"
    )
    proj.store.add_review(note)
    return proj


def test_confused_pairs_of_two_values():
    assert confused(LabelValue(label="a"), LabelValue(label="b")) == [("a", "b")]
    assert confused(LabelValue(labels=("a", "c")), LabelValue(labels=("c", "b"))) == [("a", "b")]
    assert confused(LabelValue(label="a"), LabelValue(label="a")) == []


def test_local_model_lists_pairs_with_examples_and_comments_and_no_proposals(project):
    data = suggest(project, top=3)
    [model_pair] = data["model_vs_humans"]
    assert (model_pair["a"], model_pair["b"], model_pair["count"]) == ("card_arrival", "refund", 2)
    m1 = next(ex for ex in model_pair["examples"] if ex["id"] == "m1")
    assert m1["labels"] == {"local": "card_arrival", "people": "refund"}
    assert m1["comments"] == ["rita: late card AND a refund: which?"]
    [human_pair] = data["humans"]
    assert (human_pair["a"], human_pair["b"], human_pair["count"]) == (
        "card_arrival",
        "lost_or_stolen_card",
        2,
    )
    assert "proposal" not in human_pair
    assert "No LLM is configured" in data["note"]


def test_configured_llm_proposes_one_clarification_per_pair(project):
    config = project.root / "labelloop.toml"
    with StubServer() as stub:
        data = {"model": MODEL, "llm": {"api_base": stub.base_url}}
        config.write_text(tomli_w.dumps(data), encoding="utf-8")
        stub.script = {"*": {"answer": {"clarification": "Lost means gone for good."}}}
        result = CliRunner().invoke(
            cli.app, ["guidelines", "suggest", "--json", "-p", str(project.root)]
        )
        calls = list(stub.calls)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    pairs = out["model_vs_humans"] + out["humans"]
    assert [p["proposal"] for p in pairs] == ["Lost means gone for good."] * 2
    assert len(calls) == 2  # one call per pair
    asked = calls[1].body["messages"][-1]["content"]
    assert "card_arrival and lost_or_stolen_card" in asked and "card missing" in asked
    assert load_project(project.root).model() == MODEL
