"""Which client sends a model's requests, what a call costs, and how faults are read
whichever client raised them."""

from __future__ import annotations

import httpx
import openai
import pytest

from labelloop.core.errors import ConfigError
from labelloop.label.providers import transport, wire
from labelloop.label.providers.transport import litellm


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o-mini", "openai"),
        ("openai/gpt-4o-mini", "openai"),
        ("openai/my-vllm-model", "openai"),
        ("anthropic/claude-3-5-sonnet-20240620", "litellm"),
        ("ollama/llama3", "litellm"),
        ("azure/my-deployment", "litellm"),
        ("gemini/gemini-1.5-flash", "litellm"),
    ],
)
def test_auto_sends_openai_wire_models_through_the_sdk_and_the_rest_through_litellm(
    model, expected
):
    assert wire.client_for(model) == expected
    assert wire.client_for(model, "litellm") == "litellm"


def test_an_unknown_client_setting_names_the_choices():
    with pytest.raises(ConfigError, match="auto, openai, litellm"):
        wire.client_for("gpt-4o-mini", "requests")


def test_price_counts_cached_prompt_tokens_at_their_rate():
    usage = {"prompt_tokens": 1000, "completion_tokens": 100}
    full = wire.price("gpt-4o-mini", usage)
    cin, cout = litellm.cost_per_token(
        model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=100
    )
    assert full == pytest.approx(cin + cout) and full > 0
    cached = wire.price("gpt-4o-mini", {**usage, "prompt_tokens_details": {"cached_tokens": 800}})
    cin, cout = litellm.cost_per_token(
        model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=100, cache_read_input_tokens=800
    )
    assert cached == pytest.approx(cin + cout) and 0 < cached < full


def test_an_unpriced_model_costs_nothing_and_is_looked_up_once(monkeypatch):
    assert wire.price("openai/a-local-model-xyz", {"prompt_tokens": 10}) == 0.0
    monkeypatch.setattr(litellm, "cost_per_token", lambda **_: pytest.fail("looked up again"))
    assert wire.price("openai/a-local-model-xyz", {"prompt_tokens": 10}) == 0.0


def test_the_model_prefix_is_dropped_only_for_the_sdk():
    sdk = wire.OpenAIWire("openai/stub-model", "http://127.0.0.1:9/v1", 5.0)
    assert sdk.request([{"role": "user", "content": "x"}])["model"] == "stub-model"
    lite = wire.LiteLLMWire("openai/stub-model", "http://127.0.0.1:9/v1", 5.0)
    req = lite.request([{"role": "user", "content": "x"}])
    assert req["model"] == "openai/stub-model" and req["api_base"] == "http://127.0.0.1:9/v1"


def _status_error(cls, status: int, body: dict | None = None, headers: dict | None = None):
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx.Response(status, request=request, headers=headers or {})
    return cls("refused", response=response, body=body)


def test_faults_are_read_the_same_from_either_clients_exceptions():
    request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
    too_long = _status_error(
        openai.BadRequestError, 400, {"code": "context_length_exceeded", "message": "too long"}
    )
    assert not transport.is_transient(too_long)
    assert "context window" in str(transport.classify(too_long, "gpt-4o-mini"))
    plain_400 = _status_error(openai.BadRequestError, 400, {"message": "bad"})
    assert not transport.is_transient(plain_400)
    assert "request refused (400)" in str(transport.classify(plain_400, "gpt-4o-mini"))
    limited = _status_error(openai.RateLimitError, 429, headers={"retry-after": "7"})
    assert transport.is_transient(limited) and transport.retry_after(limited) == 7.0
    assert transport.is_transient(_status_error(openai.InternalServerError, 503))
    assert transport.is_transient(openai.APITimeoutError(request=request))
    assert transport.is_transient(openai.APIConnectionError(request=request))
    denied = _status_error(openai.AuthenticationError, 401)
    assert not transport.is_transient(denied)
    assert isinstance(transport.classify(denied, "gpt-4o-mini"), transport.RunAborted)
    lite = litellm.exceptions.ContextWindowExceededError("too long", "gpt-4o-mini", "openai")
    assert not transport.is_transient(lite)
    assert isinstance(transport.classify(lite, "gpt-4o-mini"), transport.ItemFault)
