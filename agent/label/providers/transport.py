"""One place for calls to hosted models: retries, rate limits, fault classification.

Transient faults (429, 5xx, timeouts, dropped connections) are retried with exponential
backoff and jitter, honouring ``Retry-After``; faults that a retry cannot fix (400, 401,
403, 404, context length) are not. Faults that concern every item (a bad key, an unknown
model) abort the run with a message naming the fix.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from labelloop.core.errors import LabelloopError
from labelloop.label.providers import keys
from labelloop.label.redact import env_secrets, redact_secrets

# before litellm is imported, wherever from: its price map is the copy it ships, not one
# fetched over the network at import
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MAX_RETRY_AFTER = 120.0


@cache
def load_litellm() -> ModuleType:
    """litellm, imported on first use: it takes seconds, and the OpenAI SDK's path (and the
    key check, through ``keys``) does without it until a price or another provider is asked."""
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # providers without logprobs/response_format still answer
    return litellm


def __getattr__(name: str) -> Any:
    """``transport.litellm`` (and ``from ...transport import litellm``), loaded on first use."""
    if name == "litellm":
        return load_litellm()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class RunAborted(LabelloopError):
    """A fault that every remaining item would hit too (bad key, unknown model, ...)."""


class ItemFault(Exception):
    """A fault specific to one item: one a retry cannot fix (too long for the context, a
    bad request), or a ``transient`` one that outlasted every retry (429, 5xx, timeouts),
    which the next run tries again."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class ProviderFault(Exception):
    """A provider's error on its way through code that logs what it catches (instructor
    logs every failed call): the message has its credentials removed (servers may echo the
    key), the error itself is in ``fault``."""

    def __init__(self, fault: BaseException):
        super().__init__(redact_secrets(short(fault), env_secrets()))
        self.fault = fault


def provider_fault(exc: BaseException) -> BaseException | None:
    """The provider's error behind ``exc`` (itself, or a cause or context of it, as when
    instructor wraps it), or None when no call to the provider failed."""
    import openai

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ProviderFault):
            return seen.fault
        if isinstance(seen, openai.APIError):  # litellm's exceptions subclass these too
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


def is_context_length(exc: BaseException) -> bool:
    """The prompt does not fit the model's context window (litellm's class, or the code
    OpenAI-compatible servers send with their 400)."""
    import openai

    if any(
        c.__name__ == "ContextWindowExceededError" and c.__module__.startswith("litellm")
        for c in type(exc).__mro__
    ):
        return True  # litellm's class, told without importing litellm
    return isinstance(exc, openai.BadRequestError) and (
        getattr(exc, "code", None) == "context_length_exceeded"
        or "maximum context length" in str(exc).lower()
    )


def is_transient(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors are worth retrying; nothing else is.

    litellm's exception classes subclass the ``openai`` ones, so one check covers both
    clients (``APITimeoutError`` is an ``APIConnectionError``).
    """
    import openai

    if is_context_length(exc):
        return False
    if isinstance(exc, openai.APIConnectionError):
        return True
    code = status_of(exc)
    return code == 429 or (code is not None and code >= 500)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from its Retry-After header."""
    headers: Any = getattr(exc, "headers", None) or {}
    response = getattr(exc, "response", None)
    if not headers and response is not None:
        headers = getattr(response, "headers", {}) or {}
    value = None
    for key in ("retry-after", "Retry-After"):
        value = value or headers.get(key)
    try:
        return min(float(value), MAX_RETRY_AFTER) if value is not None else None
    except (TypeError, ValueError):
        return None


class _Wait:
    """Exponential backoff with jitter, or the server's Retry-After when it gives one."""

    def __init__(self, initial: float, maximum: float):
        self.backoff = wait_exponential_jitter(initial=initial, max=maximum, jitter=initial)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after(exc) if exc is not None else None
        return asked if asked is not None else self.backoff(state)


def classify(exc: BaseException, model: str) -> BaseException:
    """Turn a final provider error into a run abort (with the fix) or an item fault."""
    import openai

    if is_context_length(exc):
        return ItemFault(
            "the item and prompt exceed the model's context window: shorten the item, "
            "lower the few-shot count, or use a model with a longer context"
        )
    code = status_of(exc)
    if code == 401 or isinstance(exc, openai.AuthenticationError):
        return RunAborted(f"{model}: the API key was rejected (401): {missing_key_hint(model)}")
    if code == 403:
        return RunAborted(f"{model}: access denied (403): check the key's permissions")
    if code == 404:
        return RunAborted(
            f"{model}: model or endpoint not found (404): check --model and --api-base"
        )
    # the reason is stored with the item and shown in status and exports: servers may echo
    # the key in their error messages
    said = redact_secrets(short(exc), env_secrets())
    if is_transient(exc):
        return ItemFault(
            f"{type(exc).__name__} on every attempt: {said} (a rerun of `labelloop label` "
            "tries this item again)",
            transient=True,
        )
    if code is not None and 400 <= code < 500:
        return ItemFault(f"request refused ({code}): {said}")
    return ItemFault(f"{type(exc).__name__}: {said}")


def missing_keys(model: str) -> list[str]:
    """The environment variables to set before ``model`` can be called (none when its key
    is there): from ``keys`` without importing litellm, else litellm's own check."""
    missing = keys.missing_keys(model)
    if missing is None:  # a model string the table cannot place: litellm judges it
        missing = load_litellm().validate_environment(model).get("missing_keys") or []
    return missing


def missing_key_hint(model: str) -> str:
    """How to fix a rejected key: the environment variable to set, or to correct."""
    env = missing_keys(model)
    if env:
        return f"set {' or '.join(env)} in the environment"
    variable = keys.key_in_environment(model)
    if variable is None and keys.provider_named(model) is None:
        try:
            provider = load_litellm().get_llm_provider(model)[1]
            variable = f"{provider.upper()}_API_KEY"
        except Exception:  # a model string litellm cannot place
            variable = None
    if variable is not None and variable in os.environ:
        return f"check {variable}: it is set, but the provider refused the key"
    return "check the key in the provider's environment variable"


def check_credentials(model: str, api_base: str | None) -> None:
    """Fail before any call when the provider's key variable is not set."""
    if api_base:  # a local OpenAI-compatible server usually needs no key
        return
    missing = missing_keys(model)
    if missing:
        raise RunAborted(
            f"No API key for {model}: set {' or '.join(missing)} in the environment "
            "(or use --model local, or --api-base URL for a local OpenAI-compatible server)"
        )


def short(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Limits:
    """Client-side rate limits (requests and tokens per minute); None means unlimited."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        self._requests = AsyncLimiter(self.rpm, 60) if self.rpm else None
        self._tokens = AsyncLimiter(self.tpm, 60) if self.tpm else None

    async def acquire(self, tokens: int) -> None:
        if self._requests is not None:
            await self._requests.acquire()
        if self._tokens is not None:
            await self._tokens.acquire(min(tokens, self.tpm))


@dataclass
class Attempt:
    """One call's outcome, for the call log."""

    number: int
    started: float
    response: Any = None
    error: BaseException | None = None

    @property
    def latency_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


async def call_with_retries(
    call: Callable[[], Awaitable[Any]],
    *,
    attempts: int,
    on_attempt: Callable[[Attempt], None],
    initial_wait: float = 1.0,
    max_wait: float = 60.0,
) -> Any:
    """Run ``call`` until it succeeds or a non-transient fault; every attempt is reported."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_Wait(initial_wait, max_wait),
        retry=retry_if_exception(is_transient),
        reraise=True,
    )
    async for state in retrying:
        with state:
            attempt = Attempt(number=state.retry_state.attempt_number, started=time.perf_counter())
            try:
                attempt.response = await call()
            except Exception as exc:
                attempt.error = exc
                on_attempt(attempt)
                raise
            on_attempt(attempt)
            return attempt.response
    raise AssertionError("unreachable")  # pragma: no cover
