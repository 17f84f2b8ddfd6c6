"""``turn_role``: a per-turn guideline labels the user's turns (the default), the
assistant's, or every turn; one rule for the parser, the importer, the prompt's schema, the
console's turn cursor and the checks on a reviewer's answer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from labelloop.core.errors import GuidelineError, LabelloopError
from labelloop.core.guideline import parse_guideline
from labelloop.core.turns import labeled_turns
from labelloop.core.types import Item, LabelValue, Message
from labelloop.ingest.checks import RowError
from labelloop.ingest.importer import RowContext, parse_row
from labelloop.label.schemas import output_model, turn_problems, validation_context
from labelloop.review.rules import check_complete
from ui.render import body_html

ROLE = "---\ntask: reply-quality\nunit: turn\n{role}labels: [good, bad]\n---\n"
CHAT = (
    Message(role="system", content="Be kind."),
    Message(role="user", content="My card is lost"),
    Message(role="assistant", content="I froze it for you."),
    Message(role="tool", content='{"frozen": true}'),
    Message(role="user", content="Thanks"),
    Message(role="assistant", content="Anything else?"),
)


def guideline(role: str | None):
    return parse_guideline(ROLE.format(role=f"turn_role: {role}\n" if role else ""), "g.md")


@pytest.mark.parametrize(
    ("role", "turns"),
    [(None, [1, 4]), ("user", [1, 4]), ("assistant", [2, 5]), ("any", [1, 2, 4, 5])],
)
def test_each_role_labels_its_turns_and_never_a_system_prompt_or_a_tool_result(role, turns):
    g = guideline(role)
    assert g.turn_role == (role or "user")
    assert labeled_turns(CHAT, g.turn_role) == turns


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\ntask: t\nturn_role: assistant\nlabels: [a]\n---\n", 3, "needs unit: turn"),
        ("---\ntask: t\nunit: turn\nturn_role: bot\nlabels: [a]\n---\n", 4, "use one of user"),
    ],
)
def test_a_wrong_turn_role_names_its_line(text, line, words):
    with pytest.raises(GuidelineError, match=words) as err:
        parse_guideline(text, "g.md")
    assert err.value.line == line


def test_labels_on_assistant_messages_import_and_labels_on_user_messages_are_refused():
    ctx = RowContext.of(guideline("assistant"), "ann")
    msgs = [m.model_dump() for m in CHAT]
    msgs[2]["label"], msgs[5]["label"] = "good", "bad"
    item, reviews = parse_row({"id": "c1", "messages": msgs}, ctx)
    assert reviews[0].value.turns == {2: "good", 5: "bad"}
    assert item.messages == CHAT  # labels written on messages are not part of the item
    msgs[1]["label"] = "good"
    with pytest.raises(RowError, match="only assistant messages are labeled"):
        parse_row({"id": "c1", "messages": msgs}, ctx)
    with pytest.raises(RowError, match="which is not an assistant message"):
        parse_row(
            {"id": "c2", "messages": [m.model_dump() for m in CHAT], "turns": {"1": "good"}}, ctx
        )
    del msgs[1]["label"], msgs[5]["label"]
    with pytest.raises(RowError, match="only 1 of the 2 assistant messages"):
        parse_row({"id": "c1", "messages": msgs}, ctx)


def test_the_model_must_answer_exactly_the_assistant_turns():
    g = guideline("assistant")
    item = Item(id="c1", messages=CHAT)
    schema = output_model(g)
    ok = {"turns": [{"turn": 2, "label": "good"}, {"turn": 5, "label": "bad"}]}
    tail = {"guideline_section": "good", "rationale": "r", "confidence": 80}
    schema.model_validate({**ok, **tail}, context=validation_context(item, g))
    wrong = {"turns": [{"turn": 1, "label": "good"}, {"turn": 5, "label": "bad"}], **tail}
    with pytest.raises(ValidationError, match="turn 1 is not an assistant turn"):
        schema.model_validate(wrong, context=validation_context(item, g))
    assert "assistant turn" in str(schema.model_json_schema())
    assert turn_problems([2, 5], item, g) == []
    assert turn_problems([1, 4], item, guideline("user")) == []


def test_a_reviewer_answer_must_cover_the_assistant_turns():
    g, item = guideline("assistant"), Item(id="c1", messages=CHAT)
    check_complete(g, item, LabelValue(turns={2: "good", 5: "good"}))
    with pytest.raises(LabelloopError, match="assistant turn"):
        check_complete(g, item, LabelValue(turns={1: "good", 4: "good"}))


def test_the_console_cursor_moves_between_the_turns_the_role_labels():
    item = Item(id="c1", messages=CHAT)
    html = body_html(item, None, "assistant")
    marked = [
        i
        for i in range(len(CHAT))
        if f'data-turn="{i}" data-role' in html
        and (f'data-turn="{i}" data-role="{CHAT[i].role}" data-labelable="1"' in html)
    ]
    assert marked == [2, 5]
    assert 'data-labelable="1"' not in body_html(item)
