"""Chat logs as teams keep them: the ShareGPT layout (``conversations`` of ``{"from",
"value"}``), messages whose content is a list of parts, speakers' names, assistant tool
calls and tools' results, and logged chat completions (request + response); what cannot be
read is refused with the message and the fix, never imported half."""

from __future__ import annotations

import json

import pytest

from labelloop import api
from labelloop.core.errors import ImportFileError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import Item, Message, content_hash
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
        ([{"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}], "no function"),
        ([{"role": "assistant", "content": "", "tool_calls": {"id": "c1"}}], "a list such as"),
        ([{"role": "tool", "content": "42", "tool_call_id": 7}], "'tool_call_id' is 7"),
        ([{"role": "user", "content": "hi", "name": ""}], "'name' is"),
        ([{"role": "user", "content": [{"text": "no type"}]}], "'type'"),
        ([{"role": "user", "content": [{"type": "text"}]}], "'text' string"),
    ],
)
def test_what_cannot_be_imported_says_so(messages, words):
    with pytest.raises(RowError, match=words):
        parse_row({"id": "x", "messages": messages}, ctx())


def test_a_sharegpt_file_imports_and_a_bad_tool_call_names_its_line(tmp_path):
    guideline = tmp_path / "g.md"
    guideline.write_text(GUIDELINE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline)
    rows = [
        {"id": "1", "conversations": [{"from": "human", "value": "refund?"}]},
        {"id": "2", "messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(ImportFileError, match=f"{path}:2: message 0: tool call 0 has no function"):
        api.import_file(project, path)
    assert project.store.count_items() == 0
    path.write_text(json.dumps(rows[0]) + "\n", encoding="utf-8")
    assert api.import_file(project, path).items_added == 1


TOOL_CHAT = [
    {"role": "system", "content": "You are a support agent."},
    {"role": "user", "content": "Where is order 42?", "name": "ada"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order": 42}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    {"role": "assistant", "content": "It shipped yesterday."},
]


def test_tool_calls_tool_results_and_names_are_kept_whole():
    item, _ = parse_row({"id": "t1", "messages": TOOL_CHAT}, ctx())
    user, call, result = item.messages[1], item.messages[2], item.messages[3]
    assert user.name == "ada" and user.speaker == "user (ada)"
    assert call.content == "" and call.tool_calls[0].name == "lookup_order"
    assert call.tool_calls[0].arguments == '{"order": 42}' and call.tool_calls[0].id == "call_1"
    assert result.role == "tool" and result.tool_call_id == "call_1"
    # what a model reads: the call as a line of its own, the speaker's name beside the role
    assert '[tool call lookup_order({"order": 42})]' in item.render_plain()
    assert "user (ada): Where is order 42?" in item.render_plain()
    # written back as the chat-completions form, it is the same item
    again, _ = parse_row({"id": "t1", "messages": [m.as_row() for m in item.messages]}, ctx())
    assert again == item and again.content_hash() == item.content_hash()
    assert again.messages[2].as_row()["tool_calls"] == TOOL_CHAT[2]["tool_calls"]
    # the tool call is part of what is labeled: another call is another item
    other = json.loads(json.dumps(TOOL_CHAT))
    other[2]["tool_calls"][0]["function"]["arguments"] = '{"order": 43}'
    changed, _ = parse_row({"id": "t1", "messages": other}, ctx())
    assert changed.content_hash() != item.content_hash()
    # a plain conversation hashes as it always has
    plain = Item(id="x", messages=(Message(role="user", content="hi"),))
    assert plain.content_hash() == content_hash(None, [{"role": "user", "content": "hi"}], None)


def log_row(**response) -> dict:
    return {
        "request": {"model": "gpt-4o", "messages": TOOL_CHAT[:2], "tools": [{"type": "function"}]},
        "response": {
            "id": "chatcmpl-9",
            "model": "gpt-4o-2024-08-06",
            "choices": [{"message": TOOL_CHAT[2], "finish_reason": "tool_calls"}],
            "usage": {"total_tokens": 31},
            **response,
        },
    }


def test_a_logged_chat_completion_is_its_request_and_its_reply():
    item, _ = parse_row({**log_row(), "label": "other"}, ctx())
    assert item.id == "chatcmpl-9"
    assert [m.role for m in item.messages] == ["system", "user", "assistant"]
    assert item.messages[2].tool_calls[0].name == "lookup_order"
    assert item.meta["model"] == "gpt-4o-2024-08-06" and item.meta["finish_reason"] == "tool_calls"
    assert item.meta["usage"] == {"total_tokens": 31} and item.meta["tools"]
    named, _ = parse_row({**log_row(), "id": "mine"}, ctx())
    assert named.id == "mine"


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ({"request": {"messages": []}}, "no 'response'"),
        ({**log_row(), "messages": TOOL_CHAT}, "both 'messages'"),
        ({"response": {"choices": []}, "request": {"messages": TOOL_CHAT}}, "no 'choices'"),
        (log_row(choices=[{"message": TOOL_CHAT[4]}] * 2), "2 choices"),
        (log_row(choices=[{"delta": {"content": "x"}}]), "'delta'"),
        ({"request": {"prompt": "hi"}, "response": {}}, "needs 'request' with"),
    ],
)
def test_a_log_row_that_cannot_be_read_says_why(row, words):
    with pytest.raises(RowError, match=words):
        parse_row(row, ctx())


def test_tool_call_arguments_are_redacted_and_scanned_like_text():
    from labelloop.label.injection import item_fields
    from labelloop.label.redact import redact_item

    msgs = json.loads(json.dumps(TOOL_CHAT))
    msgs[2]["tool_calls"][0]["function"]["arguments"] = '{"email": "ada@example.com"}'
    item, _ = parse_row({"id": "t1", "messages": msgs}, ctx())
    redacted = redact_item(item)
    assert "ada@example.com" not in redacted.messages[2].tool_calls[0].arguments
    assert redacted.messages[2].tool_calls[0].name == "lookup_order"
    assert any("ada@example.com" in f for f in item_fields(item))  # what a model would read
