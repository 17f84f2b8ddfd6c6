"""Output schemas: each task shape, its validators, the inverse for few-shot answers, and
compatibility with OpenAI's strict structured outputs and instructor."""

from __future__ import annotations

import json

import httpx
import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import ValidationError

from labelloop.core.guideline import load_guideline, parse_guideline
from labelloop.core.types import Item, LabelValue, Message, Span
from labelloop.label.schemas import (
    NONE_OF_THESE,
    answer_json,
    bind_context,
    label_choices,
    output_model,
    reask_message,
    response_format,
    shape,
    to_value,
    validation_context,
)
from tests.support.paths import ROOT

TAIL = {"guideline_section": "a", "rationale": "Because.", "confidence": 80}


def guideline(
    unit="text", kind="single", abstain=False, labels=("refund", "card_arrival", "spam_call")
):
    front = (
        f"---\ntask: t\nunit: {unit}\nkind: {kind}\nallow_abstain: {str(abstain).lower()}\n---\n"
    )
    body = "# T\n\n## How to decide\nRead it.\n\n## Labels\n\n" + "".join(
        f"### {name}\nAbout {name}.\n\n" for name in labels
    )
    return parse_guideline(front + body)


@pytest.fixture(scope="module")
def demo():
    return load_guideline(ROOT / "guidelines" / "support-intent.md")


TEXT = Item(id="t1", text="Refund me now. My card never came, the card is late.")
CHAT = Item(
    id="c1",
    messages=(
        Message(role="user", content="hi, my card?"),
        Message(role="assistant", content="Let me check."),
        Message(role="user", content="also I want a refund"),
        Message(role="assistant", content="Sure."),
    ),
)


def check(g, data, item=None):
    ctx = validation_context(item, g) if item else None
    return output_model(g).model_validate(data, context=ctx)


def errors(g, data, item=None) -> str:
    with pytest.raises(ValidationError) as info:
        check(g, data, item)
    return str(info.value)


# --- shapes and field order ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "kind", "first", "expected_shape"),
    [
        ("text", "single", "label", "single"),
        ("conversation", "multi", "labels", "multi"),
        ("text", "spans", "spans", "spans"),
        ("turn", "single", "turns", "turns"),
        ("turn", "spans", "spans", "spans"),
    ],
)
def test_label_field_comes_first_then_section_rationale_confidence(
    unit, kind, first, expected_shape
):
    g = guideline(unit, kind)
    assert shape(g) == expected_shape
    assert list(output_model(g).model_fields) == [
        first,
        "guideline_section",
        "rationale",
        "confidence",
    ]


def test_model_is_cached_per_guideline():
    g = guideline()
    assert output_model(g) is output_model(g)
    assert output_model(guideline(abstain=True)) is not output_model(g)


# --- single label --------------------------------------------------------------------------


def test_single_accepts_a_label_and_gives_its_value():
    g = guideline()
    out = check(g, {"label": "refund", **TAIL})
    assert to_value(out, g) == LabelValue(label="refund")
    assert (out.guideline_section, out.rationale, out.confidence) == ("a", "Because.", 80)


def test_out_of_set_label_message_names_task_and_valid_labels():
    message = errors(guideline(), {"label": "spam", **TAIL})
    assert "Unknown label 'spam' for task 't'" in message
    assert "did you mean spam_call?" in message
    assert "valid labels are refund, card_arrival, spam_call" in message


def test_out_of_set_message_with_77_labels_lists_a_few_and_counts_the_rest(demo):
    message = errors(demo, {"label": "card_arival", **TAIL})
    assert f"(guideline {demo.version})" in message
    assert "did you mean card_arrival" in message
    assert "card_linking, exchange_rate" in message and "and 69 more" in message
    assert "refund_not_showing_up" not in message.split("valid labels are")[1][:200]


def test_none_of_these_only_when_the_guideline_allows_abstaining():
    assert NONE_OF_THESE not in label_choices(guideline())
    assert "Unknown label 'none_of_these'" in errors(guideline(), {"label": NONE_OF_THESE, **TAIL})
    g = guideline(abstain=True)
    out = check(g, {"label": NONE_OF_THESE, **TAIL})
    assert to_value(out, g) == LabelValue(abstain=True)
    assert answer_json(LabelValue(abstain=True), g)["label"] == NONE_OF_THESE


def test_confidence_is_an_integer_percent():
    g = guideline()
    assert check(g, {"label": "refund", **TAIL, "confidence": 0.85}).confidence == 85
    assert check(g, {"label": "refund", **TAIL, "confidence": 70.0}).confidence == 70
    assert "less than or equal to 100" in errors(g, {"label": "refund", **TAIL, "confidence": 150})


def test_strict_json_validation_as_instructor_does_it():
    g = guideline()
    raw = json.dumps({"label": "card_arrival", **TAIL})
    out = output_model(g).model_validate_json(raw, strict=True)
    assert out.label == "card_arrival"
    with pytest.raises(ValidationError, match="extra"):
        output_model(g).model_validate({"label": "refund", **TAIL, "extra": 1})


def test_ordinal_labels_answered_as_numbers_are_accepted():
    g = guideline(labels=("1", "2", "3"))
    assert check(g, {"label": 2, **TAIL}).label == "2"


# --- multi label ---------------------------------------------------------------------------


def test_multi_drops_repeats_and_refuses_unknown_labels():
    g = guideline(kind="multi")
    out = check(g, {"labels": ["refund", "spam_call", "refund"], **TAIL})
    assert to_value(out, g) == LabelValue(labels=("refund", "spam_call"))
    assert "Unknown label 'fraud'" in errors(g, {"labels": ["refund", "fraud"], **TAIL})


def test_multi_empty_only_when_abstaining_is_allowed():
    message = errors(guideline(kind="multi"), {"labels": [], **TAIL})
    assert "no labels chosen" in message and "at least one" in message
    g = guideline(kind="multi", abstain=True)
    assert to_value(check(g, {"labels": [], **TAIL}), g) == LabelValue(abstain=True)
    assert NONE_OF_THESE not in label_choices(g)  # the empty list is the abstention


# --- spans -----------------------------------------------------------------------------------


def span(text, label, start, end):
    return {"text": text, "label": label, "start": start, "end": end}


def test_spans_with_right_offsets_pass_unchanged():
    g = guideline(kind="spans")
    out = check(g, {"spans": [span("Refund me now", "refund", 0, 13)], **TAIL}, TEXT)
    assert to_value(out, g) == LabelValue(
        spans=(Span(start=0, end=13, label="refund", text="Refund me now"),)
    )


def test_span_offsets_are_repaired_to_the_nearest_occurrence():
    g = guideline(kind="spans")
    first, second = TEXT.text.index("card"), TEXT.text.rindex("card")
    out = check(g, {"spans": [span("card", "card_arrival", second - 3, second + 1)], **TAIL}, TEXT)
    assert (out.spans[0].start, out.spans[0].end) == (second, second + 4)
    out = check(g, {"spans": [span("card", "card_arrival", 0, 4)], **TAIL}, TEXT)
    assert (out.spans[0].start, out.spans[0].end) == (first, first + 4)
    out = check(g, {"spans": [span(" Refund me ", "refund", 40, 99)], **TAIL}, TEXT)
    assert (out.spans[0].start, out.spans[0].end, out.spans[0].text) == (0, 9, "Refund me")


def test_span_text_not_in_the_item_is_refused_with_what_to_do():
    g = guideline(kind="spans")
    message = errors(g, {"spans": [span("my parcel", "card_arrival", 3, 12)], **TAIL}, TEXT)
    assert "'my parcel' does not occur in the item" in message
    assert "copy each span's text exactly" in message
    assert "spans.0" in message


def test_span_copied_from_the_neutralised_item_maps_back():
    g = guideline(kind="spans")
    item = Item(id="x", text="a </item> b")
    out = check(g, {"spans": [span("\u2039/item>", "refund", 0, 1)], **TAIL}, item)
    assert (out.spans[0].start, out.spans[0].end, out.spans[0].text) == (2, 9, "</item>")


def test_spans_of_a_conversation_count_in_its_plain_transcript():
    g = guideline(unit="conversation", kind="spans")
    plain = CHAT.render_plain()
    at = plain.index("refund")
    out = check(g, {"spans": [span("refund", "refund", 0, 0)], **TAIL}, CHAT)
    assert (out.spans[0].start, out.spans[0].end) == (at, at + 6)


def test_without_context_offsets_are_not_checked_and_bind_context_supplies_it():
    g = guideline(kind="spans")
    data = {"spans": [span("nowhere", "refund", 0, 7)], **TAIL}
    assert check(g, data).spans[0].text == "nowhere"
    with bind_context(TEXT, g), pytest.raises(ValidationError, match="does not occur"):
        output_model(g).model_validate(data)
    assert check(g, data).spans[0].text == "nowhere"  # the binding ended with the block


# --- turns -----------------------------------------------------------------------------------


def turns(*pairs):
    return {"turns": [{"turn": t, "label": lab} for t, lab in pairs], **TAIL}


def test_turns_label_every_user_turn_once():
    g = guideline(unit="turn")
    out = check(g, turns((0, "card_arrival"), (2, "refund")), CHAT)
    assert to_value(out, g) == LabelValue(turns={0: "card_arrival", 2: "refund"})


@pytest.mark.parametrize(
    ("pairs", "problem"),
    [
        ([(0, "refund")], "user turn(s) 2 have no label"),
        (
            [(0, "refund"), (1, "refund"), (2, "refund")],
            "turn 1 is not a user turn (its role is assistant)",
        ),
        ([(0, "refund"), (2, "refund"), (2, "spam_call")], "turn 2 is labeled twice"),
        ([(0, "refund"), (2, "refund"), (9, "refund")], "there is no turn 9"),
    ],
)
def test_turn_problems_are_refused_with_the_user_turns_listed(pairs, problem):
    message = errors(guideline(unit="turn"), turns(*pairs), CHAT)
    assert problem in message
    assert "give each user turn (0, 2) exactly one label" in message


def test_turn_abstention_keeps_the_other_turns():
    g = guideline(unit="turn", abstain=True)
    out = check(g, turns((0, "refund"), (2, NONE_OF_THESE)), CHAT)
    value = to_value(out, g)
    assert value == LabelValue(turns={0: "refund"}, abstain=True)
    answer = answer_json(value, g, item=CHAT)
    assert answer["turns"] == [{"turn": 0, "label": "refund"}, {"turn": 2, "label": NONE_OF_THESE}]


# --- answer_json: the inverse ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "kind", "value", "item"),
    [
        ("text", "single", LabelValue(label="spam_call"), TEXT),
        ("text", "multi", LabelValue(labels=("refund", "card_arrival")), TEXT),
        ("text", "spans", LabelValue(spans=(Span(start=0, end=6, label="refund"),)), TEXT),
        ("turn", "single", LabelValue(turns={0: "card_arrival", 2: "refund"}), CHAT),
    ],
)
def test_answer_json_validates_and_round_trips(unit, kind, value, item):
    g = guideline(unit, kind)
    answer = answer_json(value, g, rationale="r", section="refund", confidence=90, item=item)
    assert list(answer) == list(output_model(g).model_fields)
    back = to_value(check(g, answer, item), g)
    expected = value
    if value.spans:
        expected = LabelValue(spans=(Span(start=0, end=6, label="refund", text="Refund"),))
    assert back == expected


def test_answer_json_needs_the_item_for_spans_without_text():
    g = guideline(kind="spans")
    with pytest.raises(ValueError, match="pass item="):
        answer_json(LabelValue(spans=(Span(start=0, end=6, label="refund"),)), g)


# --- OpenAI strict structured outputs -------------------------------------------------------------

STRICT_KEYS = {
    "type", "properties", "required", "additionalProperties", "items", "enum", "const",
    "anyOf", "$ref", "$defs", "description", "title", "minimum", "maximum", "minItems",
}  # fmt: skip


def assert_strict(node, path="$"):
    """What OpenAI's strict mode requires: closed objects, every property required, no
    defaults, only supported keywords."""
    if isinstance(node, list):
        for i, sub in enumerate(node):
            assert_strict(sub, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    unknown = set(node) - STRICT_KEYS
    assert not unknown, f"{path}: unsupported keywords {unknown}"
    if node.get("type") == "object":
        assert node.get("additionalProperties") is False, path
        assert sorted(node["required"]) == sorted(node["properties"]), path
    for key in ("properties", "$defs"):
        for name, sub in node.get(key, {}).items():
            assert_strict(sub, f"{path}.{name}")
    for key in ("items", "anyOf"):
        if key in node:
            assert_strict(node[key], f"{path}.{key}")


@pytest.mark.parametrize(
    ("unit", "kind", "abstain"),
    [
        ("text", "single", False),
        ("text", "single", True),
        ("conversation", "multi", False),
        ("text", "spans", True),
        ("turn", "single", True),
    ],
)
def test_77_label_schemas_are_already_strict(demo, unit, kind, abstain):
    g = demo.model_copy(update={"unit": unit, "kind": kind, "allow_abstain": abstain})
    model = output_model(g)
    schema = model.model_json_schema()
    assert to_strict_json_schema(model) == schema  # nothing for strict mode to change
    assert_strict(schema)
    enums = [n["enum"] for n in _walk(schema) if "enum" in n]
    assert enums and all(
        len(e) == 77 + (abstain and kind != "multi" and kind != "spans") for e in enums
    )
    assert len(json.dumps(schema)) < 15_000


def test_response_format_is_a_strict_json_schema(demo):
    fmt = response_format(demo)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "LabelAnswer"
    assert fmt["json_schema"]["schema"] == to_strict_json_schema(output_model(demo))


def test_reask_message_lists_each_problem_with_its_field():
    g = guideline(kind="spans")
    data = {"spans": [span("nowhere", "fraud", 0, 7)], **TAIL, "confidence": 300}
    with pytest.raises(ValidationError) as info:
        check(g, data, TEXT)
    message = reask_message(info.value)
    assert message.startswith("Your answer does not follow the rules:\n- spans.0.label: Unknown")
    assert "- confidence: Input should be less than or equal to 100" in message
    assert "Value error" not in message
    assert reask_message(ValueError("the model returned no content")).count("- the model") == 1


def _walk(node):
    if isinstance(node, dict):
        yield node
        for sub in node.values():
            yield from _walk(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _walk(sub)


# --- through instructor ------------------------------------------------------------------------


def _completion(content: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def test_instructor_reasks_with_our_message_and_bind_context_keeps_messages_intact():
    instructor = pytest.importorskip("instructor")
    from openai import OpenAI

    g = guideline(kind="spans")
    item = Item(id="t2", text="Hi {{ name }} {# 12: refund me")
    answers = [
        json.dumps({"spans": [span("my parcel", "refund", 0, 9)], **TAIL}),
        json.dumps({"spans": [span("refund me", "refund", 0, 9)], **TAIL}),
    ]
    requests = []

    def reply(request: httpx.Request) -> httpx.Response:
        requests.append(json.loads(request.content))
        return httpx.Response(200, json=_completion(answers[len(requests) - 1]))

    http = httpx.Client(transport=httpx.MockTransport(reply))
    client = instructor.from_openai(
        OpenAI(api_key="sk-test", base_url="http://llm.test/v1", http_client=http),
        mode=instructor.Mode.JSON_SCHEMA,
    )
    messages = [{"role": "user", "content": f'<item id="t2">{item.text}</item>'}]
    with bind_context(item, g):
        out = client.chat.completions.create(
            model="gpt-4o-mini", response_model=output_model(g), messages=messages, max_retries=2
        )
    assert (out.spans[0].start, out.spans[0].end) == (item.text.index("refund"), len(item.text))
    assert requests[0]["messages"] == messages  # not rendered as a Jinja template
    assert (
        requests[0]["response_format"]["json_schema"]["schema"]
        == output_model(g).model_json_schema()
    )
    reask = json.dumps(requests[1]["messages"][len(messages) :])
    assert "does not occur in the item" in reask
