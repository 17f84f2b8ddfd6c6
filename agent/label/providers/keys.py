"""Which provider a model string names and which environment variables hold its key,
known without importing litellm (which takes seconds).

The table agrees with litellm's ``validate_environment``: the variables it reports missing
are the ones named here (``report``), in its order. A provider prefix places a model
(``anthropic/claude-...`` is Anthropic's); a bare name is OpenAI's when litellm's price
map, read as a file, lists it as an OpenAI model (``gpt-4o-mini``). A model string the
table cannot place is litellm's to judge (``None`` from ``provider_named``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from importlib.util import find_spec
from pathlib import Path


@dataclass(frozen=True)
class Keys:
    """What a provider's requests need from the environment.

    ``report``: the variables to set when the key is missing, as litellm names them.
    ``accepts``: groups of variables, each group satisfied by any one of its names; every
    group must be (default: each variable of ``report``, alone).
    """

    report: tuple[str, ...]
    accepts: tuple[tuple[str, ...], ...] = ()

    def groups(self) -> tuple[tuple[str, ...], ...]:
        return self.accepts or tuple((name,) for name in self.report)

    def missing(self, environ=os.environ) -> list[str]:
        """The variables to set (empty when every group has one of its names set)."""
        if all(any(name in environ for name in group) for group in self.groups()):
            return []
        return list(self.report)


def _one(name: str, *aliases: str) -> Keys:
    return Keys((name,), ((name, *aliases),))


#: provider (litellm's name, the model string's prefix) -> the variables its key lives in
PROVIDER_KEYS: dict[str, Keys] = {
    "openai": _one("OPENAI_API_KEY"),
    "anthropic": _one("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "azure": Keys(("AZURE_API_BASE", "AZURE_API_VERSION", "AZURE_API_KEY")),
    "gemini": Keys(("GOOGLE_API_KEY", "GEMINI_API_KEY"), (("GOOGLE_API_KEY", "GEMINI_API_KEY"),)),
    "vertex_ai": Keys(("VERTEXAI_PROJECT", "VERTEXAI_LOCATION")),
    "mistral": _one("MISTRAL_API_KEY"),
    "codestral": _one("CODESTRAL_API_KEY"),
    "groq": _one("GROQ_API_KEY"),
    # litellm's calls read any of the three; its validate_environment names the first
    "together_ai": _one("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
    "deepseek": _one("DEEPSEEK_API_KEY"),
    "openrouter": _one("OPENROUTER_API_KEY"),
    "fireworks_ai": _one(
        "FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY", "FIREWORKSAI_API_KEY", "FIREWORKS_AI_TOKEN"
    ),
    "perplexity": _one("PERPLEXITYAI_API_KEY"),
    "xai": _one("XAI_API_KEY"),
    "huggingface": _one("HUGGINGFACE_API_KEY"),
    "cerebras": _one("CEREBRAS_API_KEY"),
    "deepinfra": _one("DEEPINFRA_API_KEY"),
    "nvidia_nim": _one("NVIDIA_NIM_API_KEY"),
    "replicate": _one("REPLICATE_API_KEY"),
    "moonshot": _one("MOONSHOT_API_KEY"),
    "novita": _one("NOVITA_API_KEY"),
    "nebius": _one("NEBIUS_API_KEY"),
    "ai21": _one("AI21_API_KEY"),
    "ai21_chat": _one("AI21_API_KEY"),
    # a local server: litellm wants to know where it is
    "ollama": _one("OLLAMA_API_BASE"),
    "ollama_chat": _one("OLLAMA_API_BASE"),
}

#: names after ``azure/`` that litellm sends elsewhere (Azure AI's Cohere and Mistral models)
_AZURE_ELSEWHERE = ("command", "mistral", "codestral", "ministral", "pixtral")
#: names after ``anthropic/`` that litellm sends to Anthropic's text-completion API
_ANTHROPIC_TEXT = ("claude-2", "claude-instant")


def provider_named(model: str, api_base: str | None = None) -> str | None:
    """The provider litellm would place ``model`` at, when this table can tell; else None."""
    if os.environ.get("USE_LITELLM_PROXY"):  # litellm then sends every model to its proxy
        return None
    prefix, slash, name = model.partition("/")
    if not slash:
        # litellm places a bare name by its price map; a base URL may name another provider
        return "openai" if api_base is None and _bare_openai(model) else None
    if prefix not in PROVIDER_KEYS or not name:
        return None
    lowered = name.lower()
    if prefix == "azure" and any(word in lowered for word in _AZURE_ELSEWHERE):
        return None
    if prefix == "anthropic" and lowered.startswith(_ANTHROPIC_TEXT):
        return None
    return prefix


def missing_keys(model: str) -> list[str] | None:
    """The variables to set before ``model`` can be called (empty when its key is there);
    None when the table cannot place the model."""
    provider = provider_named(model)
    if provider is None:
        return None
    return PROVIDER_KEYS[provider].missing()


def key_in_environment(model: str) -> str | None:
    """The variable holding the model's key, when the table knows it and it is set."""
    provider = provider_named(model)
    if provider is None:
        return None
    names = (n for group in PROVIDER_KEYS[provider].groups() for n in group)
    return next((n for n in names if n in os.environ and ("KEY" in n or "TOKEN" in n)), None)


def _bare_openai(model: str) -> bool:
    """Whether litellm places a bare model name at OpenAI (as its ``get_llm_provider``
    does: an OpenAI model of its price map, a fine-tune of GPT-3.5 or GPT-4, gpt-image)."""
    if "ft:gpt-3.5-turbo" in model or "ft:gpt-4" in model or model.startswith("gpt-image"):
        return True
    prices = price_map()
    entry = prices.get(model)
    for _ in range(5):  # an alias names the entry it stands for
        if not (isinstance(entry, dict) and "alias_of" in entry):
            break
        entry = prices.get(entry["alias_of"])
    if model.startswith("ft:") and model.count(":") <= 1:  # a fine-tune's price entry
        return False
    return isinstance(entry, dict) and entry.get("litellm_provider") == "openai"


@cache
def price_map() -> dict:
    """litellm's bundled price map (the one it reads offline), read as JSON: ~20 ms, where
    importing litellm to ask it takes seconds. Empty when the file is not where it was."""
    spec = find_spec("litellm")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "model_prices_and_context_window_backup.json"
        try:
            return json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
    return {}
