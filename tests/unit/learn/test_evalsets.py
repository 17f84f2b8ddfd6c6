"""Eval sets: frozen versions, consensus gold, stratified draws, no leaks into few-shot."""

from __future__ import annotations

from collections import Counter

import pytest
from typer.testing import CliRunner

from labelloop.core.errors import LabelloopError
from labelloop.core.types import LabelValue, Review
from labelloop.label.labeler import label_context
from labelloop.learn import evalsets
from labelloop.ui import cli
from tests.support.llm import make_project

LABELS = ("card_arrival", "lost_or_stolen_card", "refund")


TEXTS = [
    "Still waiting on my new card, when does it arrive?",
    "The replacement card has not come in the post yet",
    "How many days until my debit card shows up",
    "Courier tracking for the card says pending since Monday",
    "Is there a delivery estimate for cards sent abroad",
    "My partner got her card, mine never came",
    "Someone took my wallet on the train this morning",
    "I think I left the card in a taxi, please block it",
    "Thieves used my card at a petrol station",
    "Lost it at the gym, need a freeze right now",
    "Please return the fee you charged me twice",
    "Mixed wording: card gone or money back, unsure",
]


@pytest.fixture
def project(tmp_path):
    # 12 items: 6 card_arrival, 4 lost_or_stolen_card, 2 refund; t11 has two annotators
    # who disagree (a tie: no consensus, never gold)
    gold = [LABELS[0]] * 6 + [LABELS[1]] * 4 + [LABELS[2]] * 2
    rows = [{"id": f"t{i:02d}", "text": TEXTS[i], "label": g} for i, g in enumerate(gold)]
    rows[11] = {
        "id": "t11",
        "text": TEXTS[11],
        "annotations": [
            {"reviewer": "ann", "label": "refund"},
            {"reviewer": "bob", "label": "card_arrival"},
        ],
    }
    return make_project(tmp_path, rows, reviewer="rita")


def test_draw_is_stratified_reproducible_and_sorted():
    gold = {f"i{n:03d}": "a" if n < 60 else ("b" if n < 90 else "c") for n in range(100)}
    picked = evalsets.draw(gold, 20, stratify=True, seed=3)
    assert Counter(gold[i] for i in picked) == {"a": 12, "b": 6, "c": 2}
    assert picked == sorted(picked) == evalsets.draw(gold, 20, stratify=True, seed=3)
    assert picked != evalsets.draw(gold, 20, stratify=True, seed=4)
    plain = evalsets.draw(gold, 20, stratify=False, seed=3)
    assert len(set(plain)) == 20 and set(plain) <= set(gold)
    assert evalsets.draw(gold, None, False, 0) == sorted(gold)


def test_versions_are_frozen_and_never_change(project):
    first = evalsets.create(project, "holdout", size=6, stratify=True, seed=1)
    assert (first.version, len(first.gold)) == (1, 6)
    assert first.params["eligible"] == 11  # the tied item has no consensus
    assert first.params["labels"] == {"card_arrival": 3, "lost_or_stolen_card": 2, "refund": 1}
    assert "t11" not in first.gold
    # a later fix changes the consensus of one frozen item: version 1 keeps its gold
    item = sorted(first.gold)[0]
    old = first.gold[item]
    new = next(x for x in LABELS if x != old.label)
    project.store.add_review(
        Review(item_id=item, reviewer="rita", action="fix", value=LabelValue(label=new))
    )
    second = evalsets.create(project, "holdout")
    assert (second.version, len(second.gold)) == (2, 11)
    assert second.gold[item].label == new
    again = evalsets.get(project, "holdout", version=1)
    assert again.gold == first.gold and again.review_ids == first.review_ids
    assert evalsets.get(project, "holdout").version == 2
    listed = [(s["name"], s["version"], s["items"]) for s in evalsets.listing(project)]
    assert listed == [("holdout", 1, 6), ("holdout", 2, 11)]


def test_adjudication_wins_and_gold_records_its_review(project):
    decided = Review(
        item_id="t11",
        reviewer="lead",
        action="fix",
        value=LabelValue(label="refund"),
        queue="adjudication",
    )
    rid = project.store.add_review(decided)
    es = evalsets.create(project, "adjudicated")
    assert es.gold["t11"] == LabelValue(label="refund") and es.review_ids["t11"] == rid


def test_bad_requests_are_one_line_errors(project):
    with pytest.raises(LabelloopError, match="Only 11 reviewed items have a consensus label"):
        evalsets.create(project, "big", size=50)
    with pytest.raises(LabelloopError, match="Invalid eval set name 'two words'"):
        evalsets.create(project, "two words")
    with pytest.raises(LabelloopError, match="No eval set 'missing': eval sets are none yet"):
        evalsets.show(project, "missing")
    result = CliRunner().invoke(
        cli.app, ["evalset", "create", "x", "--size", "50", "-p", str(project.root)]
    )
    assert result.exit_code == 1 and "ask for --size 11 or fewer" in str(result.exception)


def test_frozen_items_and_their_near_duplicates_never_teach_a_model(project, tmp_path):
    es = evalsets.create(project, "holdout", size=4, seed=0)
    frozen = sorted(es.gold)
    store = project.store
    # an item that repeats a frozen one (case and punctuation aside), and an unrelated one
    twin_of = store.get_item(frozen[0]).text
    from labelloop import loop
    from tests.support.llm import write_jsonl

    extra = [
        {"id": "twin", "text": twin_of.upper() + "!!", "label": "refund"},
        {"id": "other", "text": "where is the refund for my cancelled order", "label": "refund"},
    ]
    loop.import_file(project, write_jsonl(tmp_path / "extra.jsonl", extra), reviewer="rita")
    ctx = label_context(store, project.guideline())
    taught = {ex.item.id for ex in ctx.examples}
    assert not taught & set(frozen)
    assert "twin" not in taught and "other" in taught
    assert ctx.excluded_ids == frozenset(frozen)
    # every other reviewed item still teaches
    assert taught == store.reviewed_item_ids() - set(frozen) - {"twin"}
