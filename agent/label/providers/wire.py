"""How a chat-completions request reaches a model: the OpenAI SDK or litellm.

Both clients take the same request (model, messages, JSON-schema response format,
logprobs) and hand back a ``Reply``: the response body exactly as the server sent it (what
the call log commits before anything parses it), its token usage and its price.

* ``OpenAIWire`` speaks the OpenAI wire format through the ``openai`` SDK on its aiohttp
  transport (the SDK's errors, headers and auth): OpenAI itself and every OpenAI-compatible
  server (vLLM, llama.cpp, LM Studio, a gateway) given with ``--api-base``. httpx's
  connection pool rescans every connection for every queued request, which at 64 calls in
  flight costs more CPU than the rest of a call together; aiohttp's does not.
* ``LiteLLMWire`` goes through litellm for every other provider (Anthropic, Azure, Gemini,
  Bedrock, Ollama, ...), which translates the request to the provider's own API.

``make_wire`` picks one (``[llm] client = "auto"``: the SDK for models litellm places at
OpenAI, litellm otherwise). Retries, rate limits and fault classification stay in
``transport``; both clients raise the ``openai`` exception classes (litellm's subclass them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import openai

from labelloop.core.errors import ConfigError
from labelloop.label.providers import keys
from labelloop.label.providers.transport import load_litellm, missing_keys

Client = Literal["auto", "openai", "litellm"]
CLIENTS: tuple[str, ...] = ("auto", "openai", "litellm")
#: what a local OpenAI-compatible server gets as the key when none is set (most ignore it)
PLACEHOLDER_KEY = "no-key"


@dataclass
class Reply:
    """One response as received: its raw JSON body, usage and price."""

    raw: str
    cost: float = 0.0
    _data: dict | None = field(default=None, repr=False)

    def data(self) -> dict:
        if self._data is None:
            self._data = json.loads(self.raw)
        return self._data

    @property
    def usage(self) -> dict:
        return self.data().get("usage") or {}


#: what a re-ask's completion call is wrapped in (the runner adds retries and logging)
Wrap = Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]


def _same(create: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    return create


def _instructor(create: Callable[..., Awaitable[Any]]):
    """instructor over one OpenAI-shaped async completion function: the SDK's method or
    ``litellm.acompletion`` take the same arguments and answer in the same shape; imported
    here, for the first re-ask."""
    import instructor

    return instructor.from_litellm(create, mode=instructor.Mode.JSON_SCHEMA, async_client=True)


def provider_of(model: str, api_base: str | None = None) -> str:
    """The provider litellm sends the model string to; ConfigError with the fix if none.

    Checked when a provider is made, before any item is read: a name litellm cannot place
    would otherwise fail on every item, one by one. ``keys`` places most names without
    importing litellm.
    """
    known = keys.provider_named(model, api_base)
    if known is not None:
        return known
    try:
        return load_litellm().get_llm_provider(model, api_base=api_base)[1]
    except Exception:  # litellm's BadRequestError ("LLM Provider NOT provided") and kin
        raise ConfigError(
            f"Unknown model {model!r}: name its provider, as in openai/NAME, anthropic/NAME, "
            "gemini/NAME, azure/DEPLOYMENT or ollama/NAME (for an OpenAI-compatible server: "
            "--model openai/NAME --api-base URL), or use --model local"
        ) from None


def client_for(model: str, client: str = "auto") -> str:
    """``"openai"`` or ``"litellm"``: which client sends this model's requests."""
    if client not in CLIENTS:
        raise ConfigError(f"[llm] client must be one of {', '.join(CLIENTS)}, not {client!r}")
    if client != "auto":
        return client
    provider = keys.provider_named(model)
    if provider is None:
        try:
            provider = load_litellm().get_llm_provider(model)[1]
        except Exception:  # a model string litellm cannot place: let litellm explain
            return "litellm"
    return "openai" if provider == "openai" else "litellm"


def make_wire(model: str, api_base: str | None, timeout: float, client: str = "auto"):
    if client_for(model, client) == "openai":
        return OpenAIWire(model, api_base, timeout)
    return LiteLLMWire(model, api_base, timeout)


class OpenAIWire:
    """The OpenAI SDK (aiohttp transport): OpenAI and OpenAI-compatible servers."""

    name = "openai"

    def __init__(self, model: str, api_base: str | None, timeout: float):
        self.model = model
        self.wire_model = model.split("/", 1)[1] if model.startswith("openai/") else model
        key = os.environ.get("OPENAI_API_KEY") or (PLACEHOLDER_KEY if api_base else None)
        self.client = openai.AsyncOpenAI(
            api_key=key,
            base_url=api_base or None,  # None: OPENAI_BASE_URL, else OpenAI itself
            max_retries=0,  # retries are transport's, with the call log seeing each attempt
            timeout=timeout,
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )

    def request(self, messages, **params: Any) -> dict[str, Any]:
        return {"model": self.wire_model, "messages": list(messages), **params}

    async def send(self, request: dict[str, Any]) -> Reply:
        # The SDK's generic POST (its documented way to any endpoint) with the body as built:
        # ``chat.completions.create`` walks every request against its TypedDicts to rename
        # aliased keys, which chat requests have none of: with a 77-label schema and few-shot
        # examples that walk costs more CPU than the whole rest of the call. The answer
        # comes back as the server's text, committed before anything parses it.
        body = dict(request)
        timeout = body.pop("timeout", None)
        text = await self.client.post(
            "/chat/completions", cast_to=str, body=body, options={"timeout": timeout}
        )
        reply = Reply(raw=text)
        reply.cost = price(self.model, reply.usage)
        return reply

    def reply_of(self, completion: Any) -> Reply:
        """A parsed completion (from instructor's re-ask) as a ``Reply``."""
        reply = Reply(raw=completion.model_dump_json())
        reply.cost = price(self.model, reply.usage)
        return reply

    def reasker(self, wrap: Wrap = _same):
        """instructor over the SDK's completion call, ``wrap``ped (retries, call log)."""
        return _instructor(wrap(self.client.chat.completions.create))

    async def aclose(self) -> None:
        await self.client.close()


class LiteLLMWire:
    """litellm: every provider it knows, translated to that provider's API."""

    name = "litellm"

    def __init__(self, model: str, api_base: str | None, timeout: float):
        self.model, self.api_base, self.timeout = model, api_base, timeout
        self.extra: dict[str, Any] = {"num_retries": 0}
        if api_base:
            self.extra["api_base"] = api_base
            if missing_keys(model):
                self.extra["api_key"] = PLACEHOLDER_KEY  # litellm insists on one

    def request(self, messages, **params: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": list(messages), **params, **self.extra}

    async def send(self, request: dict[str, Any]) -> Reply:
        response = await load_litellm().acompletion(**request, max_retries=0)
        return self.reply_of(response)

    def reply_of(self, response: Any) -> Reply:
        return Reply(raw=response.model_dump_json(), cost=litellm_cost(response))

    def reasker(self, wrap: Wrap = _same):
        """instructor over ``litellm.acompletion``, ``wrap``ped (retries, call log)."""
        return _instructor(wrap(load_litellm().acompletion))

    async def aclose(self) -> None:
        return None


#: (model, provider) pairs litellm has no price for: not looked up again
_UNPRICED: set[tuple[Any, Any]] = set()


def price(model: str, usage: dict) -> float:
    """The price of one call from its usage, with cached prompt tokens at their rate.

    Asked once a reply is in: litellm's price map is loaded then, not before the first
    request."""
    if model in _UNPRICED or not usage:
        return 0.0
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    rates = _flat_rates(model)
    if rates is UNKNOWN:  # not in litellm's price map: no price known, litellm not loaded
        _UNPRICED.add(model)
        return 0.0
    if rates is not None:  # per-token prices: no lookup per call (~0.5 ms each)
        per_in, per_cached, per_out = rates
        return (prompt - cached) * per_in + cached * per_cached + completion * per_out
    try:
        cin, cout = load_litellm().cost_per_token(
            model=model,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cache_read_input_tokens=cached,
        )
    except Exception:  # unknown model (local server): no price known
        _UNPRICED.add(model)
        return 0.0
    return float(cin + cout)


#: what ``_flat_rates`` answers for a model litellm's price map does not hold
UNKNOWN = (0.0, 0.0, 0.0)


@lru_cache(maxsize=64)
def _flat_rates(model: str) -> tuple[float, float, float] | None:
    """(input, cached input, output) USD per token when the price does not depend on the
    prompt's length; None when it does (tiers: litellm prices each call); ``UNKNOWN`` when
    the model is not in litellm's price map.

    Read from the price map's file, not through litellm: importing litellm takes seconds,
    and the first reply of a run would wait for it with every call in flight."""
    prices = keys.price_map()
    info = prices.get(model) or prices.get(model.split("/", 1)[-1])
    if not info:
        return UNKNOWN
    if any("above" in k and v for k, v in info.items() if "cost" in k):
        return None
    per_in, per_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if per_in is None or per_out is None:
        return None
    return float(per_in), float(info.get("cache_read_input_token_cost") or per_in), float(per_out)


def litellm_cost(response: Any) -> float:
    hidden = getattr(response, "_hidden_params", {}) or {}
    cost = hidden.get("response_cost")
    if cost is None:
        priced_as = (getattr(response, "model", None), hidden.get("custom_llm_provider"))
        if priced_as in _UNPRICED:
            return 0.0
        try:
            cost = load_litellm().completion_cost(completion_response=response)
        except Exception:
            _UNPRICED.add(priced_as)
            cost = 0.0
    return float(cost or 0.0)
