"""A guideline that asks several questions: ``questions:`` in the front matter, each with
its own kind and labels (or scale), label sections under each question's ``## name``, and
errors that name the line and the fix."""

from __future__ import annotations

import pytest

from labelloop.core.errors import GuidelineError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import LabelValue

RUBRIC = """\
---
task: reply-rubric
unit: conversation
questions:
  category: {kind: single, labels: [hate_speech, offensive_language, neither]}
  unanimous: {kind: single, labels: ["yes", "no"]}
  intent:
    kind: single
    unit: turn
    labels: [ask, thank]
  topics: {kind: multi}
---
# Rubric

Read the whole chat.

## category

Which category fits the conversation.

### hate_speech
Attacks a group.
- Example: they should all leave

### offensive_language
Rude, without attacking a group.

### neither
Neither.

## topics
### billing
Money.
### shipping
Boxes.

## Notes
Other notes.
"""


def test_each_question_has_its_kind_labels_and_own_instructions():
    g = parse_guideline(RUBRIC, "g.md")
    assert g.question_names == ["category", "unanimous", "intent", "topics"]
    assert g.labels == () and g.asks_questions
    cat = g.question("category")
    assert [lab.name for lab in cat.labels] == ["hate_speech", "offensive_language", "neither"]
    assert cat.labels[0].examples == ("they should all leave",)
    assert cat.instructions == "Which category fits the conversation." and cat.line == 5
    assert [lab.name for lab in g.question("topics").labels] == ["billing", "shipping"]
    assert g.question("unanimous").labels[0].name == "yes"  # quoted: not YAML's true
    # sections that are not questions stay general instructions
    assert g.instructions == "Read the whole chat.\n\n## Notes\nOther notes."
    one = g.for_question("intent")
    assert (one.unit, one.kind, one.label_names) == ("turn", "single", ["ask", "thank"])
    assert one.version == f"{g.version}/intent" and one.questions == ()
    cat_g = g.for_question("category")
    assert cat_g.unit == "conversation"
    assert cat_g.instructions.endswith("## category\n\nWhich category fits the conversation.")


def test_answers_keyed_by_question_compare_and_read_back():
    a = LabelValue(
        answers={"topics": LabelValue(labels=("shipping", "billing")), "c": LabelValue(label="x")}
    )
    b = LabelValue(
        answers={"c": LabelValue(label="x"), "topics": LabelValue(labels=("billing", "shipping"))}
    )
    assert a.key() == b.key()
    assert LabelValue.model_validate(a.as_dict()) == a
    assert a.short() == "topics: shipping, billing; c: x"


FRONT = "---\ntask: t\n{front}---\n{body}"


@pytest.mark.parametrize(
    ("front", "body", "line", "words"),
    [
        (
            "questions:\n  a: {kind: single, labels: [x, y]}\nlabels: [x, y]\n",
            "",
            5,
            "belongs to each question",
        ),
        ("questions: [a, b]\n", "", 3, "must name at least one question"),
        (
            "questions:\n  a: {kind: single, lables: [x, y]}\n",
            "",
            4,
            "unknown key 'lables' in question 'a' (did you mean 'labels'?)",
        ),
        ("questions:\n  a: {kind: triple, labels: [x, y]}\n", "", 4, "invalid kind 'triple'"),
        ("questions:\n  a: {kind: single, labels: [x]}\n", "", 4, "at least 2 labels"),
        (
            "questions:\n  a: {kind: single, labels: [x, y]}\n  a: {kind: multi}\n",
            "",
            5,
            "defined twice",
        ),
        (
            "questions:\n  a: {kind: single, unit: turn, labels: [x, y]}\n",
            "",
            4,
            "needs `unit: conversation`",
        ),
        (
            "unit: turn\nquestions:\n  a: {kind: single, labels: [x, y]}\n",
            "",
            3,
            "`unit` is text or conversation",
        ),
        (
            "questions:\n  a: {kind: single}\n",
            "## a\n### x\nX.\n## Labels\n### y\n",
            9,
            "its own `## question-name`",
        ),
        (
            "questions:\n  a: {kind: single, labels: [x, y]}\n",
            "## a\n### z\nZ.\n",
            7,
            "not in the front-matter `labels`",
        ),
        (
            "questions:\n  a: {kind: single}\n",
            "## b\n### x\n",
            4,
            "no labels: add `labels: [a, b]` to the front matter, or a '## a' section",
        ),
        ("questions:\n  a b: {kind: single}\n", "", 4, "invalid question name"),
        ("questions:\n  replies: {kind: single}\n", "", 4, "also a field of import rows"),
    ],
)
def test_question_errors_name_the_line_and_the_fix(front, body, line, words):
    with pytest.raises(GuidelineError) as err:
        parse_guideline(FRONT.format(front=front, body=body), "g.md")
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)


def test_the_rubric_template_parses_with_a_question_per_assistant_turn():
    from pathlib import Path

    from labelloop.core.guideline import load_guideline

    g = load_guideline(Path(__file__).parents[3] / "guidelines" / "rubric.md")
    assert g.question_names == ["resolved", "problems", "tone", "each_reply"]
    replies = g.for_question("each_reply")
    assert (replies.unit, replies.turn_role) == ("turn", "assistant")
    assert [lab.name for lab in g.question("problems").labels] == [
        "wrong_facts",
        "ignored_request",
        "rude",
    ]
