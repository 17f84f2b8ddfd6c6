"""The LLM labeler on a guideline that asks several questions: one call per item, one answer
object keyed by question (each question's answer, rationale and confidence), validated per
question by the one-question validators, signals per question, and the stub answering it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from openai.lib._pydantic import to_strict_json_schema
from pydantic import ValidationError

from labelloop import loop
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import Item, LabelValue, Message, Span
from labelloop.label import prompting, signals
from labelloop.label.prompting import complete_examples, render
from labelloop.label.providers.base import Example
from labelloop.label.schemas import (
    answer_json,
    output_model,
    question_answers,
    reask_message,
    response_format,
    shape,
    to_value,
    validation_context,
)
from labelloop.project import init_project
from labelloop.testing.stub_llm import (
    fill_schema,
    find_item,
    make_draft,
    question_schemas,
    questions_answer,
    tokenize,
)
from tests.support.llm import MODEL, suggestions, write_jsonl

pytestmark = pytest.mark.usefixtures("no_key")

RUBRIC = """\
---
task: reply-rubric
unit: conversation
questions:
  category: {kind: single, labels: [hate_speech, offensive_language, neither], allow_abstain: true}
  unanimous: {kind: single, labels: ["yes", "no"]}
  intent:
    kind: single
    unit: turn
    turn_role: assistant
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
- Counter-example: you are an idiot (offensive_language)

### offensive_language
Rude, without attacking a group.

### neither
Neither.

## topics

Every topic the chat is about.

### billing
Money.

### shipping
Boxes.
"""

SPANS = """\
---
task: review-parts
questions:
  entities: {kind: spans, labels: [PRODUCT, CITY]}
  sentiment: {kind: single, labels: [positive, negative]}
---
# Review parts

## entities
Mark products and cities.

## sentiment
The review's overall tone.
"""

JUDGED = """\
---
task: judged
unit: conversation
questions:
  better: {kind: pairwise}
  safe: {kind: single, labels: ["yes", "no"]}
---
# Judged
"""

NAMES = ["category", "unanimous", "intent", "topics"]
CHAT = Item(
    id="c1",
    messages=(
        Message(role="user", content="my parcel never came, and you charged me twice"),
        Message(role="assistant", content="Could you give me the order number?"),
        Message(role="user", content="12345, thanks"),
        Message(role="assistant", content="Thank you, a refund is on its way."),
    ),
)
TEXT = Item(id="t1", text="My Kettle 3000 broke in Paris. Awful.")


@pytest.fixture(scope="module")
def rubric():
    return parse_guideline(RUBRIC, "rubric.md")


@pytest.fixture(scope="module")
def parts():
    return parse_guideline(SPANS, "parts.md")


def answer(**changes) -> dict:
    """A valid answer to the rubric for CHAT, with some questions' members replaced."""
    base = {
        "category": {"label": "neither", "rationale": "No attack.", "confidence": 90},
        "unanimous": {"label": "yes", "rationale": "Clear.", "confidence": 80},
        "intent": {
            "turns": [{"turn": 1, "label": "ask"}, {"turn": 3, "label": "thank"}],
            "rationale": "Turn 1 asks, turn 3 thanks.",
            "confidence": 70,
        },
        "topics": {
            "labels": ["shipping", "billing"],
            "rationale": "Parcel, charge.",
            "confidence": 60,
        },
    }
    return {**base, **changes}


def check(g, data, item=CHAT):
    return output_model(g).model_validate(data, context=validation_context(item, g))


# --- the schema -----------------------------------------------------------------------------


def test_a_guideline_with_questions_has_one_member_per_question_in_its_own_shape(rubric):
    assert shape(rubric) == "questions"
    schema = output_model(rubric).model_json_schema()
    assert list(schema["properties"]) == NAMES == schema["required"]
    defs = schema["$defs"]
    for name in NAMES:
        member = defs[schema["properties"][name]["$ref"].split("/")[-1]]
        one = output_model(rubric.for_question(name)).model_json_schema()
        answer_fields = [f for f in one["properties"] if f not in ("guideline_section",)]
        # the one-question model's answer field(s) first, then rationale and confidence
        assert list(member["properties"]) == answer_fields
        first = answer_fields[0]
        assert _resolved(member["properties"][first], schema) == _resolved(
            one["properties"][first], one
        )
    category = defs[schema["properties"]["category"]["$ref"].split("/")[-1]]
    assert category["properties"]["label"]["enum"] == [
        "hate_speech",
        "offensive_language",
        "neither",
        "none_of_these",  # this question allows abstaining
    ]
    unanimous = defs[schema["properties"]["unanimous"]["$ref"].split("/")[-1]]
    assert unanimous["properties"]["label"]["enum"] == ["yes", "no"]
    assert unanimous["properties"]["confidence"]["maximum"] == 100


def _resolved(node, root):
    """A schema node with every $ref replaced by its definition (titles dropped)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(root["$defs"][node["$ref"].split("/")[-1]], root)
        return {k: _resolved(v, root) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_resolved(v, root) for v in node]
    return node


def test_the_response_format_is_a_strict_json_schema(rubric, parts):
    for g in (rubric, parts):
        fmt = response_format(g)
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        assert fmt["json_schema"]["name"] == "QuestionsAnswer"
        schema = fmt["json_schema"]["schema"]
        assert to_strict_json_schema(output_model(g)) == schema  # nothing left to change
        for node in _walk(schema):
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert sorted(node["required"]) == sorted(node["properties"])
            if "$ref" in node:
                assert set(node) == {"$ref"}  # strict mode allows no keyword beside a $ref
            assert "default" not in node


def _walk(node):
    if isinstance(node, dict):
        yield node
        for sub in node.values():
            yield from _walk(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _walk(sub)


def test_a_question_name_that_is_no_python_name_is_the_json_key():
    g = parse_guideline(
        "---\ntask: t\nquestions:\n  is-toxic: {kind: single, labels: [a, b]}\n"
        "  copy: {kind: single, labels: [a, b]}\n---\n# T\n"
    )
    schema = output_model(g).model_json_schema()
    assert list(schema["properties"]) == ["is-toxic", "copy"]
    out = check(
        g,
        {
            "is-toxic": {"label": "a", "rationale": "", "confidence": 5},
            "copy": {"label": "b", "rationale": "", "confidence": 6},
        },
        TEXT,
    )
    assert to_value(out, g).answers == {
        "is-toxic": LabelValue(label="a"),
        "copy": LabelValue(label="b"),
    }


# --- validation, per question ---------------------------------------------------------------


def test_each_question_is_validated_by_its_own_rules(rubric):
    bad = answer(
        unanimous={"label": "maybe", "rationale": "", "confidence": 50},
        intent={"turns": [{"turn": 0, "label": "ask"}], "rationale": "", "confidence": 50},
        topics={"labels": [], "rationale": "", "confidence": 500},
    )
    with pytest.raises(ValidationError) as info:
        check(rubric, bad)
    errors = {e["loc"]: e["msg"] for e in info.value.errors(include_url=False)}
    assert (
        "Unknown label 'maybe' for task 'reply-rubric/unanimous'" in errors[("unanimous", "label")]
    )
    assert "valid labels are yes, no" in errors[("unanimous", "label")]
    # the turn check reads the question's own turn_role (assistant turns)
    turns = errors[("intent",)]
    assert "turn 0 is not an assistant turn" in turns and "1, 3 have no label" in turns
    assert "no labels chosen" in errors[("topics", "labels")]
    assert errors[("topics", "confidence")].startswith("Input should be less than or equal to 100")
    message = reask_message(info.value)
    assert "- unanimous.label: Unknown label 'maybe'" in message
    assert "- intent: turn 0 is not an assistant turn" in message


def test_every_question_must_be_answered_and_nothing_else(rubric):
    data = answer()
    del data["unanimous"]
    with pytest.raises(ValidationError) as info:
        check(rubric, {**data, "extra": {}})
    locs = {e["loc"]: e["type"] for e in info.value.errors()}
    assert locs == {("unanimous",): "missing", ("extra",): "extra_forbidden"}
    with pytest.raises(ValidationError, match="guideline_section"):
        check(rubric, answer(category={**answer()["category"], "guideline_section": "x"}))


def test_span_offsets_are_repaired_inside_a_question(parts):
    data = {
        "entities": {
            "spans": [
                {"text": "Kettle 3000", "label": "PRODUCT", "start": 0, "end": 5},
                {"text": "Paris", "label": "CITY", "start": 24, "end": 29},
            ],
            "rationale": "",
            "confidence": 90,
        },
        "sentiment": {"label": "negative", "rationale": "Awful.", "confidence": 95},
    }
    value = to_value(check(parts, data, TEXT), parts)
    assert value.answers["entities"].spans == (
        Span(start=3, end=14, label="PRODUCT", text="Kettle 3000"),
        Span(start=24, end=29, label="CITY", text="Paris"),
    )
    data["entities"]["spans"][1]["text"] = "London"
    with pytest.raises(ValidationError) as info:
        check(parts, data, TEXT)
    assert info.value.errors()[0]["loc"] == ("entities", "spans", 1)


def test_the_answer_parses_into_answers_keyed_by_question(rubric):
    out = check(rubric, answer())
    assert list(question_answers(out)) == NAMES
    assert to_value(out, rubric) == LabelValue(
        answers={
            "category": LabelValue(label="neither"),
            "unanimous": LabelValue(label="yes"),
            "intent": LabelValue(turns={1: "ask", 3: "thank"}),
            "topics": LabelValue(labels=("shipping", "billing")),
        }
    )


def test_abstaining_is_per_question_where_the_question_allows_it(rubric):
    none = {"label": "none_of_these", "rationale": "", "confidence": 40}
    value = to_value(check(rubric, answer(category=none)), rubric)
    assert value.answers["category"] == LabelValue(abstain=True)
    assert value.answers["unanimous"] == LabelValue(label="yes")
    with pytest.raises(ValidationError) as info:
        check(rubric, answer(unanimous=none))  # unanimous does not allow abstaining
    assert info.value.errors()[0]["loc"] == ("unanimous", "label")


def test_answer_json_round_trips_and_needs_every_question(rubric):
    value = to_value(check(rubric, answer()), rubric)
    data = answer_json(value, rubric, rationale={"category": "Why."}, item=CHAT)
    assert list(data) == NAMES
    assert data["category"] == {"label": "neither", "rationale": "Why.", "confidence": 90}
    assert data["unanimous"]["rationale"] == ""
    assert to_value(check(rubric, data), rubric) == value
    partial = LabelValue(answers={"category": LabelValue(label="neither")})
    with pytest.raises(ValueError, match="unanimous, intent, topics"):
        answer_json(partial, rubric)


# --- signals, per question ------------------------------------------------------------------


def _tokens(content: str, probs: dict[int, float]) -> list[dict]:
    """Tokens of ``content``; the token starting at each offset of ``probs`` has that
    probability, every other token is sure."""
    out, at = [], 0
    for token in tokenize(content):
        p = probs.get(at, 1.0)
        out.append({"token": token, "logprob": math.log(p), "bytes": list(token.encode())})
        at += len(token)
    return out


def test_logprob_signals_read_each_questions_own_label_tokens(rubric):
    content = json.dumps(answer())
    at_category = content.index('"neither"') + 1
    at_unanimous = content.index('"yes"') + 1
    at_topics = content.index('"shipping"') + 1
    tokens = _tokens(content, {at_category: 0.5, at_unanimous: 0.25, at_topics: 0.8})
    own = {q: rubric.for_question(q).label_names for q in NAMES}
    got = {
        q: signals.question_signals(tokens, q, v, own[q])
        for q, v in to_value(check(rubric, answer()), rubric).answers.items()
    }
    assert got["category"]["logprob_prob"] == pytest.approx(0.5)
    assert got["unanimous"]["logprob_prob"] == pytest.approx(0.25)
    assert got["topics"]["logprob_prob"] == pytest.approx(0.8)  # shipping 0.8 x billing 1.0
    assert got["intent"]["logprob_prob"] == pytest.approx(1.0)
    # a question the answer does not hold, or no logprobs: missing, never made up
    missing = signals.question_signals(tokens, "absent", LabelValue(label="yes"), ["yes", "no"])
    assert missing == {"logprob_prob": None, "logprob_renorm": None}
    assert (
        signals.question_signals(None, "category", LabelValue(label="neither"), own["category"])
        == missing
    )


# --- the prompt -----------------------------------------------------------------------------


def test_the_prompt_lists_every_question_with_its_labels_and_how_to_answer(rubric):
    prompt = render(rubric, CHAT)
    assert prompt.template == "questions.v1.jinja" and prompt.version.startswith("questions.v1:")
    system = prompt.messages[0]["content"]
    for name in NAMES:
        assert f"### {name}\n" in system and f'"{name}":\n' in system
    for label in ("hate_speech", "offensive_language", "neither", "yes", "no", "ask", "thank"):
        assert f"#### {label}\n" in system
    assert "- Example: they should all leave" in system
    assert "- Counter-example: you are an idiot (offensive_language)" in system
    assert "Which category fits the conversation." in system  # a question's own instructions
    assert "Read the whole chat." in system  # the general instructions
    assert "Asked of each assistant turn" in system
    assert 'answer "none_of_these" only when no label fits' in system  # category only
    assert system.count("none_of_these") == 1
    assert '("category", "unanimous", "intent", "topics")' in system
    user = prompt.messages[-1]["content"]
    assert 'Question "intent" is asked of each assistant turn: turns 1 and 3.' in user
    assert "[turn 3] assistant: Thank you, a refund is on its way." in user
    assert find_item(list(prompt.messages)).item_id == "c1"
    # the static prefix is the same for every item
    other = Item(id="c2", messages=CHAT.messages[:2])
    assert render(rubric, other).messages[0]["content"] == system


def test_items_a_prompt_cannot_show_are_refused_naming_why(rubric, parts):
    with pytest.raises(
        ValueError, match=r"asks question\(s\) intent of each turn of a conversation"
    ):
        render(rubric, TEXT)
    with pytest.raises(ValueError, match="no assistant turn for question 'intent'"):
        render(rubric, Item(id="u", messages=(Message(role="user", content="hi"),)))
    judged = parse_guideline(JUDGED, "judged.md")
    with pytest.raises(ValueError, match="no replies to judge"):
        render(judged, CHAT)
    # a span question over a transcript shows it as plain "role: content" lines
    chat = Item(id="c", messages=(Message(role="user", content="My Kettle 3000 broke"),))
    assert (
        '<item id="c">user: My Kettle 3000 broke</item>'
        in render(parts, chat).messages[-1]["content"]
    )


def test_few_shot_examples_are_whole_answers_keyed_by_question(rubric):
    whole = LabelValue(
        answers={
            "category": LabelValue(abstain=True),
            "unanimous": LabelValue(label="no"),
            "intent": LabelValue(turns={1: "ask"}),
            "topics": LabelValue(labels=("billing",)),
        }
    )
    part = LabelValue(answers={"category": LabelValue(label="neither")})
    ex_item = Item(id="e1", messages=CHAT.messages[:2])
    examples = [Example(item=ex_item, value=whole), Example(item=CHAT, value=part)]
    assert complete_examples(examples, rubric) == examples[:1]
    prompt = render(rubric, Item(id="x", messages=CHAT.messages), examples)
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "user"]  # the partial example is left out
    shown = json.loads(prompt.messages[2]["content"])
    assert list(shown) == NAMES
    assert shown["category"]["label"] == "none_of_these"
    assert shown["intent"]["turns"] == [{"turn": 1, "label": "ask"}]
    assert shown["category"]["confidence"] == prompting.EXAMPLE_CONFIDENCE
    assert "fits the definition of no" in shown["unanimous"]["rationale"]


# --- the stub ------------------------------------------------------------------------------


def test_the_stub_answers_every_question_deterministically_and_validly(rubric):
    schema = response_format(rubric)["json_schema"]["schema"]
    content = render(rubric, CHAT).messages[-1]["content"]
    item = find_item([{"role": "user", "content": content}])
    first, drafts = questions_answer({}, schema, question_schemas(schema), item, 1)
    again, _ = questions_answer({}, schema, question_schemas(schema), item, 1)
    assert first == again and list(first) == NAMES
    value = to_value(check(rubric, first), rubric)
    assert sorted(value.answers["intent"].turns) == [1, 3]  # the assistant turns
    assert set(drafts) == set(NAMES)
    # a scripted question; the others still picked from their own schema
    scripted, _ = questions_answer(
        {"answers": {"topics": {"labels": ["billing"], "confidence": 0.3}}},
        schema,
        question_schemas(schema),
        item,
        1,
    )
    assert scripted["topics"]["labels"] == ["billing"] and scripted["topics"]["confidence"] == 30
    # a one-question schema is filled as it always was
    one = response_format(rubric.for_question("unanimous"))["json_schema"]["schema"]
    assert set(fill_schema(one, make_draft({}, ["yes", "no"], item, 1))) == {
        "label",
        "guideline_section",
        "rationale",
        "confidence",
    }


# --- labeling through the stub --------------------------------------------------------------


def rubric_project(root: Path, rows: list[dict], reviewer: str | None = None):
    root.mkdir(parents=True, exist_ok=True)
    path = root / "rubric.md"
    path.write_text(RUBRIC, encoding="utf-8")
    project = init_project(root / "project", path)
    loop.import_file(project, write_jsonl(root / "items.jsonl", rows), reviewer=reviewer)
    return project


def run_label(project, stub, **options):
    options.setdefault("retry_wait", 0.01)
    return loop.label(project, MODEL, api_base=stub.base_url, **options)


CHAT_ROW = {"id": "c1", "messages": [m.as_row() for m in CHAT.messages]}


def test_one_call_answers_every_question_with_signals_per_question(tmp_path, stub):
    project = rubric_project(tmp_path, [CHAT_ROW])
    stub.script = {
        "c1": {
            "answers": {
                "category": {"label": "neither", "confidence": 0.9, "logprob_confidence": 0.6},
                "unanimous": {"label": "no", "confidence": 0.5, "rationale": "Two readings."},
                "intent": {"turns": {"1": "ask", "3": "thank"}, "confidence": 0.8},
                "topics": {"labels": ["shipping", "billing"], "confidence": 0.7},
            },
            "logprob_confidence": 0.95,
        }
    }
    run = run_label(project, stub)
    assert (run.labeled, run.failed, run.calls) == (1, 0, 1)
    (call,) = stub.calls
    assert call.body["response_format"]["json_schema"]["name"] == "QuestionsAnswer"
    s = suggestions(project)["c1"]
    assert s.status == "ok" and s.prompt_version.startswith("questions.v1:")
    assert s.value == LabelValue(
        answers={
            "category": LabelValue(label="neither"),
            "unanimous": LabelValue(label="no"),
            "intent": LabelValue(turns={1: "ask", 3: "thank"}),
            "topics": LabelValue(labels=("shipping", "billing")),
        }
    )
    sig = s.signals
    assert sig["category.verbalized"] == pytest.approx(0.9)
    assert sig["unanimous.verbalized"] == pytest.approx(0.5)
    assert sig["category.logprob_prob"] == pytest.approx(0.6)  # its own label's tokens
    assert sig["unanimous.logprob_prob"] == pytest.approx(0.95)
    assert sig["unanimous.logprob_renorm"] == pytest.approx(0.95)
    assert sig["intent.logprob_prob"] == pytest.approx(0.95**2)  # both turns' labels
    assert sig["topics.logprob_prob"] == pytest.approx(0.95**2)
    for q in NAMES:  # each question's confidence: its best signal, as for one question
        best = sig.get(f"{q}.logprob_renorm") or sig[f"{q}.logprob_prob"]
        assert sig[f"{q}.confidence"] == pytest.approx(best)
    assert s.confidence == pytest.approx(min(sig[f"{q}.confidence"] for q in NAMES))
    assert sig["verbalized"] == pytest.approx(0.5)  # the item's own: lowest over questions
    assert (
        s.rationale.startswith("category: ")
        and "; unanimous: Two readings.; intent: " in s.rationale
    )
    (row,) = project.store.calls_for("c1")
    assert (row.status, row.cache_key) == ("ok", s.cache_key)


def test_without_a_script_the_stub_answers_and_the_item_is_labeled(tmp_path, stub):
    project = rubric_project(tmp_path, [CHAT_ROW])
    run_label(project, stub, logprobs=False)
    s = suggestions(project)["c1"]
    assert s.status == "ok" and list(s.value.answers) == NAMES
    assert sorted(s.value.answers["intent"].turns) == [1, 3]
    assert s.signals["category.logprob_prob"] is None  # no logprobs asked: missing
    assert s.confidence == pytest.approx(0.7)  # the stub's verbalized confidence


def test_one_questions_out_of_set_label_is_reasked_then_fixed(tmp_path, stub):
    project = rubric_project(tmp_path, [CHAT_ROW])
    stub.script = {
        "c1": {
            "answers": {
                "unanimous": {"label": "yes", "out_of_set": "maybe", "out_of_set_attempts": 1}
            }
        }
    }
    run_label(project, stub)
    assert [c.outcome for c in stub.calls] == ["out_of_set", "ok"]
    first, second = (c.body["messages"] for c in stub.calls)
    assert second[: len(first)] == first
    assert '"label": "maybe"' in second[-2]["content"]  # the rejected answer, then the error
    assert "- unanimous.label: Unknown label 'maybe'" in second[-1]["content"]
    s = suggestions(project)["c1"]
    assert s.status == "ok" and s.value.answers["unanimous"] == LabelValue(label="yes")


def test_an_answer_still_invalid_after_the_reasks_fails_the_whole_item(tmp_path, stub):
    project = rubric_project(tmp_path, [CHAT_ROW])
    stub.script = {"c1": {"answers": {"topics": {"labels": ["billing"], "out_of_set": "returns"}}}}
    run = run_label(project, stub)
    assert run.failed == 1 and len(stub.calls) == 3  # the answer and two re-asks
    s = suggestions(project)["c1"]
    assert s.status == "failed" and s.value is None
    assert s.error.startswith("invalid answer after re-asking: topics.labels.0: ")
    assert "Unknown label 'returns'" in s.error
    assert json.loads(s.raw)["topics"]["labels"][0] == "returns"


def test_reviewed_items_that_answer_every_question_are_the_few_shot_examples(tmp_path, stub):
    reviewed = [
        {
            "id": "r1",
            "messages": [
                {"role": "user", "content": "you people should all leave"},
                {"role": "assistant", "content": "Please ask nicely"},
            ],
            "labels": {
                "category": "hate_speech",
                "unanimous": "yes",
                "intent": {"1": "ask"},
                "topics": ["billing"],
            },
        },
        {
            "id": "r2",
            "messages": [
                {"role": "user", "content": "the box is crushed"},
                {"role": "assistant", "content": "Sorry about that"},
            ],
            "labels": {"category": "neither"},
        },
    ]
    project = rubric_project(tmp_path, [*reviewed, CHAT_ROW], reviewer="alice")
    run_label(project, stub)
    s = suggestions(project)["c1"]
    assert s.status == "ok" and s.fewshot_ids == ("r1",)
    call = next(c for c in stub.calls if c.item_id == "c1")
    shown = json.loads(call.body["messages"][2]["content"])
    assert shown["category"]["label"] == "hate_speech" and list(shown) == NAMES


def test_a_judging_question_is_asked_in_both_orders_beside_the_others(tmp_path, stub):
    judged = parse_guideline(JUDGED, "judged.md")
    replies = [{"id": "a", "content": "Paris."}, {"id": "b", "content": "Lyon, I think."}]
    row = {"id": "j1", "messages": [{"role": "user", "content": "Capital of France?"}]}
    root = tmp_path
    (root / "judged.md").write_text(JUDGED, encoding="utf-8")
    project = init_project(root / "project", root / "judged.md")
    loop.import_file(project, write_jsonl(root / "i.jsonl", [{**row, "replies": replies}]))
    run = run_label(project, stub)
    assert (run.labeled, run.failed, run.calls) == (1, 0, 2)  # the replies in each order
    first, second = (c.body["messages"][-1]["content"] for c in stub.calls)
    assert first.index("[Reply 1] Paris.") < first.index("[Reply 2] Lyon")
    assert second.index("[Reply 1] Lyon") < second.index("[Reply 2] Paris.")
    assert "j1" not in first  # a judge knows the item by an opaque id
    s = suggestions(project)["j1"]
    assert s.value.answers["better"].label in ("a", "b")  # a reply id, not a position
    assert s.value.answers["safe"].label in ("yes", "no")
    assert s.signals["better.order_agreement"] in (0.0, 1.0)
    assert s.signals["better.confidence"] is not None and "safe.confidence" in s.signals
    assert judged.judges_any and not judged.judges


def test_a_dry_run_prices_an_answer_per_question(rubric):
    from labelloop.label.providers.base import LabelContext
    from labelloop.label.providers.llm import LLMProvider

    provider = LLMProvider("gpt-4o-mini")
    shown = provider.preview([CHAT], LabelContext(guideline=rubric))
    assert f"about {80 * len(rubric.questions)} output tokens" in shown
    assert "Nothing was sent or spent." in shown
