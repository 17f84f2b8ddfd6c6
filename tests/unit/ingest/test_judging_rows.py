"""Judging tasks: guidelines of kind pairwise, rating and ranking, and their import rows (the
contract's ``replies`` and the common preference layouts), with errors naming the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelloop import api
from labelloop.core.errors import GuidelineError, ImportFileError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import LabelValue
from labelloop.ingest.checks import RowError
from labelloop.ingest.importer import RowContext, parse_row

FIXTURES = Path(__file__).parents[2] / "fixtures" / "judging"

PAIRWISE = """\
---
task: reply-preference
kind: pairwise
allow_tie: true
---
# Which reply is better?

Pick the reply that follows the user's instruction more faithfully.
"""
PAIRWISE_NO_TIE = PAIRWISE.replace("allow_tie: true\n", "")
RATING = """\
---
task: helpfulness
kind: rating
labels: [1, 2, 3, 4, 5]
---
# Helpfulness

## Labels

### 1
Useless or harmful.

### 5
Fully answers the request.
"""
RANKING = "---\ntask: order\nkind: ranking\n---\nBest reply first.\n"


def ctx(text: str) -> RowContext:
    return RowContext.of(parse_guideline(text, "g.md"), "import")


def row(**kw) -> dict:
    base = {
        "id": "p1",
        "messages": [{"role": "user", "content": "Name a prime."}],
        "replies": [
            {"id": "a", "content": "7", "model": "m1"},
            {"id": "b", "content": "8", "model": "m2"},
        ],
    }
    return base | kw


def refused(raw: dict, text: str = PAIRWISE) -> str:
    with pytest.raises(RowError) as info:
        parse_row(raw, ctx(text))
    return str(info.value)


# -- guidelines ---------------------------------------------------------------------------


def test_judging_guidelines_parse_with_their_defaults():
    g = parse_guideline(PAIRWISE, "g.md")
    assert (g.kind, g.unit, g.allow_tie, g.labels, g.judges) == (
        "pairwise",
        "conversation",
        True,
        (),
        True,
    )
    r = parse_guideline(RATING, "g.md")
    assert (r.kind, r.scale, r.label_names) == ("rating", "ordinal", ["1", "2", "3", "4", "5"])
    assert r.label("5").definition == "Fully answers the request."
    assert parse_guideline(RANKING, "g.md").labels == ()


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\ntask: t\nkind: pairwise\nlabels: [a, b]\n---\n", 4, "has no labels"),
        ("---\ntask: t\nallow_tie: true\nlabels: [a, b]\n---\n", 3, "pairwise only"),
        ("---\ntask: t\nkind: pairwise\nallow_tie: maybe\n---\n", 4, "true or false"),
        ("---\ntask: t\nkind: ranking\nunit: turn\n---\n", 4, "unit: conversation"),
        ("---\ntask: t\nkind: rating\n---\n# R\n", 1, "labels: [1, 2, 3, 4, 5]"),
        ("---\ntask: t\nkind: pairwise\n---\n## Labels\n### a\nx\n", 6, "instructions"),
    ],
)
def test_judging_guideline_errors_name_the_line_and_the_fix(text, line, words):
    with pytest.raises(GuidelineError) as info:
        parse_guideline(text, "g.md")
    assert info.value.line == line
    assert words in str(info.value)


# -- rows -----------------------------------------------------------------------------------


def test_a_contract_row_keeps_its_replies_and_answer():
    item, reviews = parse_row(row(label="b"), ctx(PAIRWISE))
    assert item.reply_ids == ("a", "b")
    assert [r.model for r in item.replies] == ["m1", "m2"]
    assert [r.value for r in reviews] == [LabelValue(label="b")]
    # the replies are part of what is labeled: other replies, another item
    other, _ = parse_row(
        row(replies=[{"id": "a", "content": "7"}, {"id": "b", "content": "9"}]), ctx(PAIRWISE)
    )
    assert other.content_hash() != item.content_hash()


def test_ratings_and_rankings_are_checked_against_the_replies_and_scale():
    item, reviews = parse_row(row(ratings={"a": 5, "b": "2"}), ctx(RATING))
    assert reviews[0].value == LabelValue(ratings={"a": 5, "b": 2})
    _, reviews = parse_row(row(ranking=["b", "a"]), ctx(RANKING))
    assert reviews[0].value.ranking == ("b", "a")
    assert "not on the scale" in refused(row(ratings={"a": 6, "b": 1}), RATING)
    assert "no value for reply 'b'" in refused(row(ratings={"a": 5}), RATING)
    assert "every reply id once" in refused(row(ranking=["a", "a"]), RANKING)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (row(label="c"), "not a reply of this item"),
        (row(replies=[{"id": "a", "content": "7"}]), "at least 2 replies"),
        (row(replies=[{"id": "a", "content": "7"}, {"id": "a", "content": "8"}]), "own id"),
        (row(replies=[{"id": "tie", "content": "7"}, {"id": "b", "content": "8"}]), "not 'tie'"),
        (row(replies=None), "give 'replies'"),
        (row(replies=[{"id": "a", "text": "7"}, {"id": "b", "content": "8"}]), "unknown field"),
        (
            row(replies=[{"id": i, "content": i} for i in "abc"]),
            "exactly 2 replies",
        ),
        ({"id": "x", "prompt": "p", "chosen": "c"}, "both 'chosen' and 'rejected'"),
        ({"id": "x", "prompt": "p", "chosen": "c", "rejected": "r", "response_a": "z"}, "mixes"),
    ],
)
def test_bad_judging_rows_say_what_to_fix(raw, words):
    assert words in refused(raw)


def test_a_tie_needs_allow_tie():
    assert "allow_tie: true" in refused(row(label="tie"), PAIRWISE_NO_TIE)
    _, reviews = parse_row(row(label="tie"), ctx(PAIRWISE))
    assert reviews[0].value == LabelValue(label="tie")


def test_chosen_rejected_rows_store_the_winner_in_either_position():
    """The chosen reply lands first or second by the id's hash, never always first: a judge
    that always picks the first reply must not look perfect on such a file."""
    winners = set()
    for n in range(20):
        raw = {"id": f"x{n}", "prompt": "hi", "chosen": "Hello!", "rejected": "Go away."}
        item, reviews = parse_row(raw, ctx(PAIRWISE))
        by_id = {r.id: r.content for r in item.replies}
        assert by_id[reviews[0].value.label] == "Hello!"
        winners.add(reviews[0].value.label)
        again, _ = parse_row(raw, ctx(PAIRWISE))
        assert again == item  # the same on every import
    assert winners == {"a", "b"}


@pytest.mark.parametrize(
    ("extra", "label"),
    [
        ({"winner": "model_b"}, "b"),
        ({"winner": "tie (bothbad)"}, "tie"),
        ({"winner_model_a": 1, "winner_model_b": 0, "winner_tie": 0}, "a"),
    ],
)
def test_response_ab_rows_read_the_winner(extra, label):
    raw = {"id": "x", "prompt": "p", "response_a": "1", "response_b": "2"}
    raw |= {"model_a": "m1", "model_b": "m2"} | extra
    item, reviews = parse_row(raw, ctx(PAIRWISE))
    assert [r.model for r in item.replies] == ["m1", "m2"]
    assert reviews[0].value.label == label


def test_the_pandalm_sample_imports_with_one_review_per_annotator(tmp_path):
    guideline = tmp_path / "g.md"
    guideline.write_text(PAIRWISE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline)
    result = api.import_file(project, FIXTURES / "pandalm_sample.jsonl")
    assert (result.items_added, result.reviews_added) == (40, 120)
    first = json.loads((FIXTURES / "pandalm_sample.jsonl").read_text().splitlines()[0])
    item = project.store.get_item(first["id"])
    assert [r.content for r in item.replies] == [first["reply_a"], first["reply_b"]]
    assert "llm_judgments" in item.meta  # other fields are kept, as for any row


def test_a_bad_preference_row_names_its_line(tmp_path):
    guideline = tmp_path / "g.md"
    guideline.write_text(PAIRWISE_NO_TIE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline)
    rows = [
        {"id": "1", "prompt": "p", "response_a": "x", "response_b": "y", "winner": "model_a"},
        {"id": "2", "prompt": "p", "response_a": "x", "response_b": "y", "winner": "tie"},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ImportFileError) as info:
        api.import_file(project, path)
    assert f"{path}:2:" in str(info.value) and "allow_tie: true" in str(info.value)
    assert project.store.count_items() == 0  # all or nothing


def test_a_preference_csv_imports_and_the_cli_exports_csv_by_its_name(tmp_path):
    """A CSV of an arena layout (prompt, response_a/b, winner) has no 'text' column and
    imports all the same; `export out.csv` writes CSV, not JSONL."""
    from typer.testing import CliRunner

    from labelloop.ui.cli import app

    guideline = tmp_path / "g.md"
    guideline.write_text(PAIRWISE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline)
    path = tmp_path / "arena.csv"
    path.write_text(
        "id,prompt,response_a,response_b,model_a,model_b,winner\n"
        "1,Say hi,Hello!,Go away,m1,m2,model_a\n"
        "2,Name a prime,7,8,m2,m1,tie\n",
        encoding="utf-8",
    )
    result = api.import_file(project, path)
    assert (result.items_added, result.reviews_added) == (2, 2)
    out = tmp_path / "out.csv"
    ran = CliRunner().invoke(app, ["export", str(out), "-p", str(project.root)])
    assert ran.exit_code == 0, ran.output
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,messages,target_turn,replies,label")


def test_annotators_times_and_the_whole_judgments_are_kept():
    raw = {
        "id": "t1",
        "prompt": "p",
        "reply_a": "x",
        "reply_b": "y",
        "gold": "A",
        "human_judgments": [
            {
                "annotator": "se",
                "choice": "A",
                "strength": "clear",
                "timestamp": "2023-05-19 04:51:53",
            }
        ],
    }
    item, reviews = parse_row(raw, ctx(PAIRWISE))
    assert reviews[0].created_at.isoformat() == "2023-05-19T04:51:53+00:00"
    assert item.meta["human_judgments"][0]["strength"] == "clear"
    assert item.meta["gold"] == "A"


def test_a_reply_that_is_not_text_says_how_to_fix_it():
    message = refused({"id": "x", "prompt": "p", "reply_a": True, "reply_b": "y"})
    assert "not true" in message and "in quotes" in message
