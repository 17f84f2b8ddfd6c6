"""The local OpenAI-compatible stub LLM: wire format, structured-output modes, logprobs, faults."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from typing import Literal

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from labelloop.testing.stub_llm import (
    StubServer,
    find_item,
    schema_labels,
    text_key,
    tokenize,
)

LABELS = ["card_arrival", "lost_or_stolen_card", "refund"]


class LabelDraft(BaseModel):
    label: Literal["card_arrival", "lost_or_stolen_card", "refund"]
    confidence: float
    rationale: str


SCHEMA = LabelDraft.model_json_schema()
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "LabelDraft", "schema": SCHEMA}}
TOOL = {
    "type": "function",
    "function": {"name": "LabelDraft", "description": "the label", "parameters": SCHEMA},
}


@pytest.fixture(scope="module")
def server():
    """Overrides the conftest's: slower retry waits and a short timeout."""
    with StubServer(retry_after=0.05, timeout_seconds=5) as stub:
        yield stub


@pytest.fixture
def client(stub):
    return OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)


def msgs(item_id: str, text: str = "some customer message") -> list[dict]:
    return [
        {"role": "system", "content": "Label the item."},
        {"role": "user", "content": f'<item id="{item_id}">{text}</item>'},
    ]


def post(stub, item_id: str = "a1", text: str = "some customer message", **body) -> httpx.Response:
    payload = {"model": "stub-model", "messages": msgs(item_id, text), **body}
    return httpx.post(f"{stub.base_url}/chat/completions", json=payload, timeout=10)


def completion(response: httpx.Response) -> ChatCompletion:
    assert response.status_code == 200, response.text
    return ChatCompletion.model_validate(response.json())


def content_json(response: httpx.Response) -> dict:
    return json.loads(completion(response).choices[0].message.content)


# --- structured-output modes ---------------------------------------------------------------


def test_json_schema_mode_answers_the_script(stub, client):
    stub.script["a1"] = {"label": "refund", "confidence": 0.9, "rationale": "asks for money"}
    out = client.chat.completions.create(
        model="stub-model", messages=msgs("a1"), response_format=JSON_SCHEMA
    )
    assert json.loads(out.choices[0].message.content) == {
        "label": "refund",
        "confidence": 0.9,
        "rationale": "asks for money",
    }
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.prompt_tokens > 0 and out.usage.completion_tokens > 0
    assert out.id and out.created and out.model == "stub-model" and out.system_fingerprint
    assert stub.calls[0].key == "a1" and stub.calls[0].body["response_format"] == JSON_SCHEMA


def test_unscripted_item_gets_a_deterministic_enum_label(stub):
    by_words = content_json(post(stub, "x", "I want a refund now", response_format=JSON_SCHEMA))
    assert by_words["label"] == "refund" and by_words["confidence"] == 0.7
    first = content_json(post(stub, "y", "hello there", response_format=JSON_SCHEMA))
    again = content_json(post(stub, "y", "hello there", response_format=JSON_SCHEMA))
    assert first["label"] in LABELS and first == again


def test_json_object_mode_finds_the_schema_in_the_prompt(stub):
    prompt = f"Answer with JSON matching this json_schema:\n\n{json.dumps(SCHEMA)}\n\nOnly JSON."
    stub.script["a1"] = {"label": "lost_or_stolen_card"}
    messages = [{"role": "system", "content": prompt}, *msgs("a1")[1:]]
    body = {"model": "m", "messages": messages, "response_format": {"type": "json_object"}}
    got = completion(httpx.post(f"{stub.base_url}/chat/completions", json=body))
    answer = json.loads(got.choices[0].message.content)
    assert LabelDraft.model_validate(answer).label == "lost_or_stolen_card"


def test_json_object_mode_without_schema_answers_a_plain_object(stub):
    stub.script["a1"] = {"labels": ["refund", "card_arrival"], "confidence": 0.6}
    answer = content_json(post(stub, response_format={"type": "json_object"}))
    assert answer["labels"] == ["refund", "card_arrival"] and answer["confidence"] == 0.6


def test_tools_mode_answers_in_tool_call_arguments(stub, client):
    stub.script["a1"] = {"label": "card_arrival", "confidence": 0.8}
    choice = {"type": "function", "function": {"name": "LabelDraft"}}
    out = client.chat.completions.create(
        model="stub-model",
        messages=msgs("a1"),
        tools=[TOOL],
        tool_choice=choice,
        logprobs=True,
        top_logprobs=2,
    )
    message = out.choices[0].message
    assert out.choices[0].finish_reason == "tool_calls" and message.content is None
    call = message.tool_calls[0]
    assert call.function.name == "LabelDraft"
    assert LabelDraft.model_validate_json(call.function.arguments).confidence == 0.8
    assert out.choices[0].logprobs is None


def test_schema_fill_follows_refs_spans_and_integer_confidence(stub):
    schema = {
        "$defs": {
            "Intent": {"enum": ["a_b", "c_d"], "type": "string"},
            "Span": {
                "type": "object",
                "properties": {
                    "start": {"type": "integer"},
                    "end": {"type": "integer"},
                    "label": {"$ref": "#/$defs/Intent"},
                    "text": {"type": "string"},
                },
            },
        },
        "type": "object",
        "properties": {
            "spans": {"type": "array", "items": {"$ref": "#/$defs/Span"}},
            "confidence": {"type": "integer", "minimum": 0, "maximum": 100},
            "evidence": {"type": "array", "items": {"type": "string"}},
            "abstain": {"type": "boolean"},
        },
    }
    assert schema_labels(schema) == ["a_b", "c_d"]
    stub.script["s"] = {"spans": [{"start": 0, "end": 5, "label": "c_d"}], "confidence": 0.42}
    rf = {"type": "json_schema", "json_schema": {"name": "S", "schema": schema, "strict": True}}
    answer = content_json(post(stub, "s", "Hello world", response_format=rf))
    assert answer == {
        "spans": [{"start": 0, "end": 5, "label": "c_d", "text": "Hello"}],
        "confidence": 42,
        "evidence": [],
        "abstain": False,
    }


def test_raw_answer_is_returned_as_is(stub):
    stub.script["a1"] = {"answer": {"whatever": [1, 2]}}
    assert content_json(post(stub, response_format=JSON_SCHEMA)) == {"whatever": [1, 2]}


def test_models_endpoint(stub, client):
    assert [m.id for m in client.models.list()] == ["stub-model"]


# --- logprobs ----------------------------------------------------------------------------


def test_logprobs_carry_the_scripted_label_probability(stub):
    stub.script["a1"] = {"label": "lost_or_stolen_card", "confidence": 0.8}
    got = completion(post(stub, response_format=JSON_SCHEMA, logprobs=True, top_logprobs=5))
    content = got.choices[0].message.content
    tokens = got.choices[0].logprobs.content
    assert "".join(t.token for t in tokens) == content
    assert all(t.bytes == list(t.token.encode()) and len(t.top_logprobs) <= 5 for t in tokens)
    start = content.index('"lost_or_stolen_card"') + 1
    label_tokens, pos = [], 0
    for t in tokens:
        if start <= pos < start + len("lost_or_stolen_card"):
            label_tokens.append(t)
        pos += len(t.token)
    assert [t.token for t in label_tokens] == tokenize("lost_or_stolen_card")
    assert math.exp(sum(t.logprob for t in label_tokens)) == pytest.approx(0.8)
    first = label_tokens[0]
    assert first.logprob == pytest.approx(math.log(0.8))
    alternatives = {a.token: math.exp(a.logprob) for a in first.top_logprobs}
    assert set(alternatives) == {"lost", "card", "refund"}
    assert sum(alternatives.values()) == pytest.approx(1.0)


def test_logprobs_without_top_and_top_logprobs_over_20(stub):
    got = completion(post(stub, response_format=JSON_SCHEMA, logprobs=True))
    assert all(t.top_logprobs == [] for t in got.choices[0].logprobs.content)
    assert completion(post(stub, response_format=JSON_SCHEMA)).choices[0].logprobs is None
    refused = post(stub, response_format=JSON_SCHEMA, logprobs=True, top_logprobs=21)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "top_logprobs"


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (502, openai.InternalServerError, None),
        (503, openai.InternalServerError, None),
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
    ],
)
def test_http_faults_look_like_openai_errors(stub, client, status, error, code):
    stub.script["a1"] = {"fail": [status]}
    with pytest.raises(error) as caught:
        client.chat.completions.create(model="m", messages=msgs("a1"), response_format=JSON_SCHEMA)
    assert caught.value.status_code == status
    body = caught.value.response.json()["error"]
    assert body["message"] and body["type"] and body["code"] == code
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "0.05"


def test_retry_after_is_configurable_per_item(stub):
    stub.script["a1"] = {"fail": [429], "retry_after": 7}
    assert post(stub).headers["retry-after"] == "7"


def test_context_length_exceeded(stub, client):
    stub.script["a1"] = {"fail": ["context_length_exceeded"]}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="m", messages=msgs("a1"))
    assert caught.value.code == "context_length_exceeded"
    assert "maximum context length" in caught.value.message


def test_attempts_are_counted_per_item(stub):
    stub.script["a1"] = {"fail": [429, 429]}
    assert [post(stub, "a1").status_code for _ in range(3)] == [429, 429, 200]
    assert post(stub, "b2").status_code == 200
    assert stub.calls.attempts("a1") == 3 and stub.calls.attempts("b2") == 1
    assert [c.outcome for c in stub.calls.for_item("a1")] == ["429", "429", "ok"]


def test_openai_client_retries_through_rate_limits(stub):
    stub.script["a1"] = {"fail": [429, 429], "label": "refund"}
    retrying = OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=2)
    out = retrying.chat.completions.create(
        model="m", messages=msgs("a1"), response_format=JSON_SCHEMA
    )
    assert json.loads(out.choices[0].message.content)["label"] == "refund"
    assert stub.calls.attempts("a1") == 3


def test_malformed_json(stub):
    stub.script["a1"] = {"malformed": True, "malformed_attempts": 1}
    with pytest.raises(json.JSONDecodeError):
        content_json(post(stub, response_format=JSON_SCHEMA))
    assert content_json(post(stub, response_format=JSON_SCHEMA))["label"] in LABELS


def test_out_of_set_label_then_a_valid_one(stub):
    stub.script["a1"] = {"label": "refund", "out_of_set": "spam?", "out_of_set_attempts": 1}
    assert content_json(post(stub, response_format=JSON_SCHEMA))["label"] == "spam?"
    assert content_json(post(stub, response_format=JSON_SCHEMA))["label"] == "refund"
    assert [c.outcome for c in stub.calls] == ["out_of_set", "ok"]


def test_timeout_trips_a_short_client_timeout(stub):
    stub.script["a1"] = {"timeout": True}
    short = OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0, timeout=0.3)
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        short.chat.completions.create(model="m", messages=msgs("a1"))
    assert time.perf_counter() - start < 2


def test_drop_connection(stub, client):
    stub.script["a1"] = {"fail": ["drop_connection"]}
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=msgs("a1"))
    assert post(stub).status_code == 200


def test_latency_per_item_and_global(stub):
    stub.script["slow"] = {"latency": 0.3}
    start = time.perf_counter()
    post(stub, "slow")
    assert time.perf_counter() - start >= 0.3
    stub.state.latency = 0.2
    start = time.perf_counter()
    post(stub, "other")
    assert time.perf_counter() - start >= 0.2


def test_concurrent_requests_overlap(stub):
    stub.state.latency = 0.5

    async def run() -> list[int]:
        async with httpx.AsyncClient(timeout=10) as http:
            url = f"{stub.base_url}/chat/completions"
            asks = [
                http.post(url, json={"model": "m", "messages": msgs(f"c{i}")}) for i in range(64)
            ]
            return [r.status_code for r in await asyncio.gather(*asks)]

    start = time.perf_counter()
    assert asyncio.run(run()) == [200] * 64
    assert time.perf_counter() - start < 3
    assert len(stub.calls) == 64


def test_latency_counts_from_arrival(stub, monkeypatch):
    """The stub's own work on a request falls inside its latency, not after it."""
    from labelloop.testing import stub_llm

    build = stub_llm.completion_for

    def slow_build(*args, **kwargs):
        time.sleep(0.25)  # the stub busy with other requests of a burst
        return build(*args, **kwargs)

    monkeypatch.setattr(stub_llm, "completion_for", slow_build)
    stub.state.latency = 0.5
    start = time.perf_counter()
    assert post(stub, "a1").status_code == 200
    took = time.perf_counter() - start
    assert 0.5 <= took < 0.7, took


def test_keep_alive_answers_are_not_held_back(stub):
    """Every answer on a reused connection comes at once (TCP_NODELAY on the stub's
    sockets): without it Nagle held each body for the client's delayed ACK, 40 ms a call."""
    import statistics

    with httpx.Client(timeout=10) as http:
        took = []
        for n in range(12):
            start = time.perf_counter()
            got = http.post(
                f"{stub.base_url}/chat/completions", json={"model": "m", "messages": msgs(f"k{n}")}
            )
            took.append(time.perf_counter() - start)
            assert got.status_code == 200
    assert statistics.median(took[1:]) < 0.02, took


def test_unknown_script_key_is_a_clear_error(stub):
    stub.script["a1"] = {"lable": "refund"}
    refused = post(stub)
    assert refused.status_code == 500 and "lable" in refused.json()["error"]["message"]


# --- finding the item ----------------------------------------------------------------------


def test_item_found_by_id_text_or_hash(stub):
    assert find_item(msgs("x7", "a &amp; b")).text == "a & b"
    plain = [{"role": "user", "content": [{"type": "text", "text": "no tags here"}]}]
    assert find_item(plain).key == text_key("no tags here")
    stub.script["no tags here"] = {"label": "refund"}
    stub.script[text_key("by hash")] = {"label": "card_arrival"}
    for text, label in [("no tags here", "refund"), ("by hash", "card_arrival")]:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        got = httpx.post(f"{stub.base_url}/chat/completions", json=body)
        assert json.loads(completion(got).choices[0].message.content)["label"] == label


def test_item_pattern_is_configurable():
    pattern = r"ITEM\[(?P<id>\w+)\]: (?P<text>.*)"
    with StubServer({"q9": {"label": "refund"}}, item_pattern=pattern, labels=LABELS) as stub:
        body = {"model": "m", "messages": [{"role": "user", "content": "ITEM[q9]: hi"}]}
        got = httpx.post(f"{stub.base_url}/chat/completions", json=body)
        assert json.loads(completion(got).choices[0].message.content)["label"] == "refund"
        assert stub.calls[0].item_id == "q9" and stub.calls[0].text == "hi"


# --- real clients --------------------------------------------------------------------------


def test_litellm_accepts_the_responses(stub):
    import litellm

    stub.script["a1"] = {"label": "refund", "confidence": 0.9}
    out = litellm.completion(
        model="openai/stub-model",
        api_base=stub.base_url,
        api_key="sk-test",
        messages=msgs("a1"),
        response_format=JSON_SCHEMA,
        logprobs=True,
        top_logprobs=3,
    )
    assert json.loads(out.choices[0].message.content)["label"] == "refund"
    assert out.usage.prompt_tokens > 0


@pytest.mark.parametrize("mode", ["TOOLS", "JSON", "JSON_SCHEMA", "MD_JSON"])
def test_instructor_over_litellm_gets_a_valid_draft(stub, mode):
    import instructor
    import litellm

    stub.script["a1"] = {"label": "lost_or_stolen_card", "confidence": 0.55}
    labeler = instructor.from_litellm(litellm.completion, mode=instructor.Mode[mode])
    draft = labeler.chat.completions.create(
        model="openai/stub-model",
        api_base=stub.base_url,
        api_key="sk-test",
        messages=msgs("a1"),
        response_model=LabelDraft,
        max_retries=0,
    )
    assert (draft.label, draft.confidence) == ("lost_or_stolen_card", 0.55)


def test_runs_as_a_process_and_reads_a_yaml_script(tmp_path):
    script = tmp_path / "script.yaml"
    script.write_text("a1:\n  label: refund\n  fail: [503]\n")
    cmd = [
        sys.executable,
        "-m",
        "labelloop.testing.stub_llm",
        "--port",
        "0",
        "--script",
        str(script),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        body = {"model": "m", "messages": msgs("a1"), "response_format": JSON_SCHEMA}
        statuses = [httpx.post(f"{url}/chat/completions", json=body).status_code for _ in "ab"]
        assert statuses == [503, 200]
        assert httpx.get(f"{url.removesuffix('/v1')}/stub/calls").json()["attempts"] == {"a1": 2}
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
