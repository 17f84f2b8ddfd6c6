"""Chat logs as teams keep them: the ShareGPT layout (``conversations`` of ``{"from",
"value"}``) and messages whose content is a list of parts; tool calls are refused with the
message and the fix, never imported half."""

from __future__ import annotations

import json

import pytest

from labelloop import api
from labelloop.core.errors import ImportFileError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import Message
from labelloop.ingest.checks import RowError
from labelloop.ingest.importer import RowContext, parse_row

GUIDELINE = "---\ntask: chat-intent\nunit: conversation\nlabels: [refund, other]\n---\n"


def ctx() -> RowContext:
    return RowContext.of(parse_guideline(GUIDELINE, "g.md"), "import")


def test_a_sharegpt_row_is_a_conversation_with_chat_roles():
    raw = {
        "id": "s1",
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "I want my money back"},
            {"from": "gpt", "value": "Sorry to hear that."},
        ],
        "label": "refund",
    }
    item, reviews = parse_row(raw, ctx())
    assert item.messages == (
        Message(role="system", content="Be brief."),
        Message(role="user", content="I want my money back"),
        Message(role="assistant", content="Sorry to hear that."),
    )
    assert reviews[0].value.label == "refund" and item.meta == {}
    # the same conversation written as messages is the same item
    same, _ = parse_row({"id": "s1", "messages": [m.model_dump() for m in item.messages]}, ctx())
    assert same.content_hash() == item.content_hash()


def test_content_parts_are_joined_and_other_parts_named():
    raw = {
        "id": "p1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "It arrived broken:"},
                    {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png"}},
                    {"type": "text", "text": "refund please"},
                ],
            }
        ],
    }
    item, _ = parse_row(raw, ctx())
    assert item.messages[0].content == "It arrived broken:\n\n[image_url]\n\nrefund please"


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}], "tool call"),
        ([{"role": "tool", "content": "42", "tool_call_id": "c1"}], "tool call"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "'type'"),
        ([{"role": "user", "content": [{"type": "text"}]}], "'text' string"),
    ],
)
def test_what_cannot_be_imported_says_so(messages, words):
    with pytest.raises(RowError, match=words):
        parse_row({"id": "x", "messages": messages}, ctx())


def test_a_sharegpt_file_imports_and_a_tool_message_names_its_line(tmp_path):
    guideline = tmp_path / "g.md"
    guideline.write_text(GUIDELINE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline)
    rows = [
        {"id": "1", "conversations": [{"from": "human", "value": "refund?"}]},
        {"id": "2", "messages": [{"role": "tool", "content": "{}"}]},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ImportFileError, match=f"{path}:2: message 0 is a tool call"):
        api.import_file(project, path)
    assert project.store.count_items() == 0
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert api.import_file(project, path).items_added == 1
