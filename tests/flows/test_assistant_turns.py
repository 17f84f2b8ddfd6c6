"""Assistant turns of chatbot logs with tool calls, end to end: import (labels written on
the assistant's messages), the LLM labeler on the stub (it is given the tool calls and
must answer exactly the assistant turns), the embedded model, the reviewer's checks, eval
turn by turn, and every export format back into a fresh project, tool calls and names
intact."""

from __future__ import annotations

import json

import pytest

from labelloop import api, loop
from labelloop.core.errors import LabelloopError
from labelloop.core.types import LabelValue
from labelloop.learn.evaluate import evaluate
from labelloop.project import init_project
from tests.support.llm import MODEL, label, suggestions, write_jsonl

GUIDELINE = """\
---
task: reply-quality
unit: turn
turn_role: assistant
labels: [resolved, unhelpful]
---
# Reply quality

Label each reply of the support bot.

## Labels

### resolved
The reply answers the customer with facts from the tools.

### unhelpful
The reply does not help: it stalls, apologises without acting, or asks again.
"""


def chat(n: int, good: bool) -> list[dict]:
    reply = (
        f"Order {n} shipped yesterday and arrives on Friday."
        if good
        else "Sorry, I cannot tell. Please ask again later."
    )
    return [
        {"role": "system", "content": "You are the shop's support bot."},
        {"role": "user", "content": f"Where is my order {n}?", "name": f"cust{n}"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": f"call_{n}",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": json.dumps({"order": n})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": f"call_{n}", "content": '{"status": "shipped"}'},
        {"role": "assistant", "content": reply},
    ]


def labeled_row(n: int) -> dict:
    good = n % 2 == 0
    msgs = chat(n, good)
    msgs[2]["label"] = "resolved"
    msgs[4]["label"] = "resolved" if good else "unhelpful"
    return {"id": f"c{n}", "messages": msgs}


@pytest.fixture
def project(tmp_path):
    g = tmp_path / "g.md"
    g.write_text(GUIDELINE, encoding="utf-8")
    return init_project(tmp_path / "p", g)


def test_the_llm_is_given_the_tool_calls_and_labels_only_assistant_turns(project, stub, tmp_path):
    rows = [{"id": f"c{n}", "messages": chat(n, True)} for n in (1, 2)]
    loop.import_file(project, write_jsonl(tmp_path / "i.jsonl", rows))
    answer = {
        "guideline_section": "resolved",
        "rationale": "Facts from the tool.",
        "confidence": 90,
    }
    user = [{"turn": 1, "label": "resolved"}, {"turn": 4, "label": "resolved"}]
    right = [{"turn": 2, "label": "resolved"}, {"turn": 4, "label": "unhelpful"}]
    stub.script = {
        "c1": {"answer": {**answer, "turns": user}},
        "c2": {"answer": {**answer, "turns": right}},
    }
    run = label(project, stub.base_url)
    assert run.failed == 1
    made = suggestions(project)
    assert made["c2"].value.turns == {2: "resolved", 4: "unhelpful"}
    # a label on a user turn is never kept: the labeler re-asks, then gives up on the item
    assert made["c1"].status == "failed" and "turn 1 is not an assistant turn" in made["c1"].error
    first = next(c for c in stub.state.calls if c.item_id == "c1").body["messages"]
    prompt = first[-1]["content"]
    assert '[turn 2] assistant: Let me check.\n    [tool call lookup_order({"order": 1})]' in prompt
    assert '[turn 3] tool: {"status": "shipped"}' in prompt
    assert "[turn 1] user (cust1): Where is my order 1?" in prompt
    assert "Label each assistant turn of the conversation" in prompt and "turns 2 and 4" in prompt


def test_the_loop_on_assistant_turns_keeps_tool_calls_through_every_export(project, tmp_path):
    rows = [labeled_row(n) for n in range(40)]
    rows += [{"id": f"u{n}", "messages": chat(100 + n, n % 2 == 0)} for n in range(10)]
    loop.import_file(project, write_jsonl(tmp_path / "items.jsonl", rows), reviewer="ann")
    run = loop.label(project, "local")
    assert run.failed == 0
    made = project.store.latest_suggestions(model="local")
    for n in range(10):
        value = made[f"u{n}"].value
        assert set(value.turns) == {2, 4}  # the assistant's turns, never a user's or a tool's
    right = sum(
        made[f"u{n}"].value.turns[4] == ("resolved" if n % 2 == 0 else "unhelpful")
        for n in range(10)
    )
    assert right >= 8, right
    # eval counts agreement turn by turn: 40 reviewed chats, 2 assistant turns each
    figures = evaluate(project, n_boot=0)
    assert figures["consensus"]["items"] == 80
    assert figures["models"]["local"]["suggestions"] == 100

    stored = {i.id: i for i in project.store.iter_items()}
    for fmt, name in (("jsonl", "out.jsonl"), ("csv", "out.csv"), ("hf", "hf")):
        out = tmp_path / name
        api.export_items(project, out, fmt)
        g = tmp_path / "g.md"
        fresh = init_project(tmp_path / f"fresh-{fmt}", g)
        path = next(out.rglob("*.parquet")) if fmt == "hf" else out
        loop.import_file(fresh, path, reviewer="ann")
        again = {i.id: i for i in fresh.store.iter_items()}
        assert again == stored, fmt
        assert again["c3"].messages[2].tool_calls[0].arguments == '{"order": 3}'
        assert again["c3"].messages[1].name == "cust3"
        reviews = {(r.item_id, r.value.key()) for r in fresh.store.iter_reviews()}
        assert ("c3", LabelValue(turns={2: "resolved", 4: "unhelpful"}).key()) in reviews, fmt
        assert len(reviews) == 40, fmt
    # Label Studio's tags hold no label per turn: refused with the formats that do
    with pytest.raises(LabelloopError, match="use --format jsonl"):
        api.export_items(project, tmp_path / "ls.json", "labelstudio")


@pytest.fixture
def stub():
    from labelloop.testing.stub_llm import StubServer

    with StubServer(retry_after=0.01) as server:
        yield server


_ = MODEL


CONVERSATION = """\
---
task: chat-outcome
unit: conversation
labels: [resolved, unhelpful]
---
# Chat outcome

Was the customer helped?
"""


def test_a_conversation_task_keeps_tool_calls_through_every_export(tmp_path):
    g = tmp_path / "conv.md"
    g.write_text(CONVERSATION, encoding="utf-8")
    project = init_project(tmp_path / "p", g)
    rows = [
        {
            "id": f"c{n}",
            "messages": chat(n, n % 2 == 0),
            "label": ["unhelpful", "resolved"][n % 2 == 0],
        }
        for n in range(6)
    ]
    loop.import_file(project, write_jsonl(tmp_path / "items.jsonl", rows), reviewer="ann")
    stored = {i.id: i for i in project.store.iter_items()}
    assert stored["c1"].messages[2].tool_calls[0].name == "lookup_order"
    for fmt, name in (
        ("jsonl", "o.jsonl"),
        ("csv", "o.csv"),
        ("hf", "hf"),
        ("labelstudio", "o.json"),
    ):
        out = tmp_path / name
        api.export_items(project, out, fmt)
        fresh = init_project(tmp_path / f"fresh-{fmt}", g)
        path = next(out.rglob("*.parquet")) if fmt == "hf" else out
        loop.import_file(fresh, path, reviewer="ann")
        assert {i.id: i for i in fresh.store.iter_items()} == stored, fmt
        labels = {(r.item_id, r.value.label) for r in fresh.store.iter_reviews()}
        assert labels == {(r["id"], r["label"]) for r in rows}, fmt
