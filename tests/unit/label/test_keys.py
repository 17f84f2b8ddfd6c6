"""The provider -> key variable table agrees with litellm, which it stands in for."""

from __future__ import annotations

import pytest

from labelloop.label.providers import keys, transport
from labelloop.label.providers.transport import litellm

ALL_VARIABLES = sorted(
    {n for k in keys.PROVIDER_KEYS.values() for g in k.groups() for n in (*g, *k.report)}
)
NAMES = ("some-model", "org/some-model")


@pytest.fixture
def no_keys(monkeypatch):
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("USE_LITELLM_PROXY", raising=False)
    return monkeypatch


@pytest.mark.parametrize("provider", sorted(keys.PROVIDER_KEYS))
def test_the_table_places_models_and_names_keys_as_litellm_does(provider, no_keys):
    for name in NAMES:
        model = f"{provider}/{name}"
        assert keys.provider_named(model) == litellm.get_llm_provider(model)[1] == provider
        said = litellm.validate_environment(model)["missing_keys"]
        assert said and keys.missing_keys(model) == said
    model = f"{provider}/{NAMES[0]}"
    for name in said:  # what litellm asks for satisfies both
        no_keys.setenv(name, "x")
    assert litellm.validate_environment(model)["missing_keys"] == []
    assert keys.missing_keys(model) == []


def test_bare_openai_names_are_placed_as_litellm_places_them(no_keys):
    bare = [m for m in keys.price_map() if "/" not in m]
    assert "gpt-4o-mini" in bare
    for model in bare:
        placed = keys.provider_named(model)
        if placed is not None:
            assert placed == litellm.get_llm_provider(model)[1] == "openai", model
    assert keys.missing_keys("gpt-4o-mini") == ["OPENAI_API_KEY"]
    assert keys.provider_named("gpt-4o-mini", api_base="https://api.groq.com/openai/v1") is None


@pytest.mark.parametrize(
    "model",
    [
        "stub-model",  # a bare name litellm does not know
        "claude-3-5-haiku",
        "acme/model-1",
        "cohere/command-r",  # litellm sends it to cohere_chat
        "anthropic/claude-2",  # Anthropic's text API
        "azure/command-r-plus",  # Azure AI's Cohere model
        "hosted_vllm/my-model",
    ],
)
def test_models_the_table_cannot_place_are_left_to_litellm(model):
    assert keys.provider_named(model) is None and keys.missing_keys(model) is None


def test_aliases_litellm_reads_for_calls_count_as_the_key(no_keys):
    no_keys.setenv("TOGETHER_API_KEY", "x")
    assert keys.missing_keys("together_ai/some-model") == []
    no_keys.setenv("ANTHROPIC_AUTH_TOKEN", "x")
    assert keys.missing_keys("anthropic/claude-3-5-haiku") == []
    assert keys.key_in_environment("anthropic/claude-3-5-haiku") == "ANTHROPIC_AUTH_TOKEN"


def test_a_missing_key_stops_the_run_with_the_variable_to_set(no_keys):
    with pytest.raises(transport.RunAborted, match="set OPENAI_API_KEY in the environment"):
        transport.check_credentials("openai/gpt-4o-mini", None)
    with pytest.raises(transport.RunAborted, match="GOOGLE_API_KEY or GEMINI_API_KEY"):
        transport.check_credentials("gemini/gemini-1.5-flash", None)
    transport.check_credentials("openai/gpt-4o-mini", "http://127.0.0.1:9/v1")  # local server
    no_keys.setenv("OPENAI_API_KEY", "sk-x")
    transport.check_credentials("openai/gpt-4o-mini", None)
    assert "check OPENAI_API_KEY" in transport.missing_key_hint("openai/gpt-4o-mini")


def test_every_bare_name_litellm_places_at_openai_is_in_the_table(no_keys):
    bare = [m for m in litellm.open_ai_chat_completion_models if "/" not in m]
    assert bare
    assert [m for m in bare if keys.provider_named(m) != "openai"] == []
