"""Provider batch APIs behind one small interface: upload a file of requests, create a
batch over it with metadata, look batches up (one, or all of them page by page), read a
result file.

* ``OpenAIBatches``: the ``openai`` SDK's Files and Batches, for OpenAI and for any
  OpenAI-compatible server given with ``--api-base`` (vLLM, a gateway, the stub).
* ``LiteLLMBatches``: litellm's files and batches functions, for the other providers it
  has them for (``LITELLM_PROVIDERS``).

Every answer is a plain dict in OpenAI's Batch shape. litellm is imported only when a
batch is made or read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

import openai

from labelloop.core.errors import ConfigError, LabelloopError

ENDPOINT = "/v1/chat/completions"
WINDOW = "24h"
#: providers whose batches litellm creates, lists and reads in OpenAI's format
LITELLM_PROVIDERS = ("azure", "hosted_vllm", "litellm_proxy")


class BatchApiError(LabelloopError):
    """A batch request failed: ``refused`` when the provider answered with an error (else
    the connection failed, and the request may have been carried out)."""

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class BatchClient(Protocol):
    name: str

    def upload(self, data: bytes, filename: str) -> str: ...
    def create(self, input_file_id: str, metadata: dict[str, str]) -> dict: ...
    def retrieve(self, batch_id: str) -> dict: ...
    def batches(self) -> Iterator[dict]: ...
    def content(self, file_id: str) -> str: ...
    def cancel(self, batch_id: str) -> dict: ...


def batch_client(model: str, api_base: str | None, client: str = "auto") -> BatchClient:
    """The batch client for the model; ConfigError naming the fix when it has none."""
    from labelloop.label.providers.wire import client_for, provider_of

    provider = provider_of(model, api_base)
    if api_base or client_for(model, client) == "openai" or provider == "openai":
        return OpenAIBatches(api_base)
    if provider in LITELLM_PROVIDERS:
        return LiteLLMBatches(provider, api_base)
    raise ConfigError(
        f"No batch API for {model} (provider {provider!r}): batches go to OpenAI, an "
        f"OpenAI-compatible server (--api-base URL) or {', '.join(LITELLM_PROVIDERS)}; "
        "label it without --batch"
    )


def body_model(model: str, api_base: str | None) -> str:
    """The model as a batch line's body names it: without litellm's provider prefix."""
    from labelloop.label.providers.wire import provider_of

    provider = provider_of(model, api_base)
    prefix = f"{provider}/"
    return model[len(prefix) :] if model.startswith(prefix) else model


def _refused(exc: Exception, what: str) -> BatchApiError:
    from labelloop.label.redact import env_secrets, redact_secrets

    said = redact_secrets(" ".join(str(exc).split())[:300], env_secrets())
    refused = isinstance(exc, openai.APIStatusError)
    return BatchApiError(f"The provider could not {what}: {said}", refused=refused)


class OpenAIBatches:
    """Files and Batches through the ``openai`` SDK."""

    name = "openai"

    def __init__(self, api_base: str | None, timeout: float = 120.0):
        from labelloop.label.providers.wire import PLACEHOLDER_KEY

        key = os.environ.get("OPENAI_API_KEY") or (PLACEHOLDER_KEY if api_base else None)
        if key is None:
            raise ConfigError(
                "No API key for OpenAI's batch API: set OPENAI_API_KEY in the environment "
                "(or --api-base URL for an OpenAI-compatible server)"
            )
        self.client = openai.OpenAI(api_key=key, base_url=api_base or None, timeout=timeout)

    def _do(self, what: str, call, *args, **kwargs) -> Any:
        try:
            return call(*args, **kwargs)
        except openai.APIError as exc:
            raise _refused(exc, what) from None

    def upload(self, data: bytes, filename: str) -> str:
        f = self._do(
            "take the batch file", self.client.files.create, file=(filename, data), purpose="batch"
        )
        return f.id

    def create(self, input_file_id: str, metadata: dict[str, str]) -> dict:
        batch = self._do(
            "create the batch",
            self.client.batches.create,
            input_file_id=input_file_id,
            endpoint=ENDPOINT,
            completion_window=WINDOW,
            metadata=metadata,
        )
        return batch.model_dump()

    def retrieve(self, batch_id: str) -> dict:
        return self._do(
            f"show batch {batch_id}", self.client.batches.retrieve, batch_id
        ).model_dump()

    def batches(self) -> Iterator[dict]:
        """Every batch, newest first (the SDK pages through them)."""
        for batch in self._do("list batches", self.client.batches.list, limit=100):
            yield batch.model_dump()

    def content(self, file_id: str) -> str:
        return self._do(f"send file {file_id}", self.client.files.content, file_id).text

    def cancel(self, batch_id: str) -> dict:
        return self._do(
            f"cancel batch {batch_id}", self.client.batches.cancel, batch_id
        ).model_dump()


class LiteLLMBatches:
    """litellm's files and batches functions for one provider."""

    name = "litellm"

    def __init__(self, provider: str, api_base: str | None):
        from labelloop.label.providers.wire import PLACEHOLDER_KEY

        self.provider = provider
        self.extra: dict[str, Any] = {"custom_llm_provider": provider}
        if api_base:
            self.extra["api_base"] = api_base
            if not os.environ.get(f"{provider.upper()}_API_KEY"):
                self.extra["api_key"] = PLACEHOLDER_KEY  # litellm insists on one

    def _do(self, what: str, name: str, **kwargs) -> Any:
        from labelloop.label.providers.transport import litellm

        try:
            return getattr(litellm, name)(**kwargs, **self.extra)
        except Exception as exc:  # litellm's errors subclass openai's, and others
            raise _refused(exc, what) from None

    def upload(self, data: bytes, filename: str) -> str:
        return self._do(
            "take the batch file", "create_file", file=(filename, data), purpose="batch"
        ).id

    def create(self, input_file_id: str, metadata: dict[str, str]) -> dict:
        batch = self._do(
            "create the batch",
            "create_batch",
            input_file_id=input_file_id,
            endpoint=ENDPOINT,
            completion_window=WINDOW,
            metadata=metadata,
        )
        return _plain(batch)

    def retrieve(self, batch_id: str) -> dict:
        return _plain(self._do(f"show batch {batch_id}", "retrieve_batch", batch_id=batch_id))

    def batches(self) -> Iterator[dict]:
        after = None
        while True:
            page = self._do("list batches", "list_batches", limit=100, after=after)
            data = [_plain(b) for b in (_get(page, "data") or [])]
            yield from data
            if not data or not _get(page, "has_more"):
                return
            after = data[-1]["id"]

    def content(self, file_id: str) -> str:
        got = self._do(f"send file {file_id}", "file_content", file_id=file_id)
        text = getattr(got, "text", None)
        return text if isinstance(text, str) else got.content.decode("utf-8")

    def cancel(self, batch_id: str) -> dict:
        return _plain(self._do(f"cancel batch {batch_id}", "cancel_batch", batch_id=batch_id))


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _plain(obj: Any) -> dict:
    if isinstance(obj, dict):
        return obj
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
