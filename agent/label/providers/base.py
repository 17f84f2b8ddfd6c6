"""The provider contract: anything that turns items into suggestions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from labelloop.core.errors import ConfigError
from labelloop.core.types import Frozen, Guideline, Item, LabelValue, Suggestion


class Example(Frozen):
    """A reviewed item used to teach a model (few-shot example or training row)."""

    item: Item
    value: LabelValue
    reviewer: str = ""
    review_id: int | None = None


class LabelContext(Frozen):
    """Everything a provider needs besides the items: the guideline and reviewed examples."""

    guideline: Guideline
    examples: tuple[Example, ...] = ()
    #: items of frozen eval sets: never shown to a model as examples
    excluded_ids: frozenset[str] = frozenset()
    seed: int = 0


@runtime_checkable
class Provider(Protocol):
    """A model behind one small interface; the registry maps model strings to providers."""

    model: str

    def version(self, ctx: LabelContext) -> str:
        """The prompt/model version its suggestions are made under (part of the cache key)."""
        ...

    def label(self, items: Sequence[Item], ctx: LabelContext) -> list[Suggestion]:
        """One suggestion per item, in order; failures are suggestions with status 'failed'."""
        ...


ProviderFactory = Callable[..., Provider]
_REGISTRY: dict[str, ProviderFactory] = {}
_FALLBACK: list[ProviderFactory] = []


def register(name: str, factory: ProviderFactory) -> None:
    """Map a model string to a provider factory."""
    _REGISTRY[name] = factory


def register_fallback(factory: ProviderFactory) -> None:
    """Provider for any model string not registered by name (the LLM provider)."""
    _FALLBACK[:] = [factory]


def get_provider(model: str, **options) -> Provider:
    """The provider for a model string: 'local', or any litellm model string."""
    if model in _REGISTRY:
        return _REGISTRY[model](model=model, **options)
    if _FALLBACK:
        return _FALLBACK[0](model=model, **options)
    known = ", ".join(sorted(_REGISTRY))
    raise ConfigError(f"Unknown model {model!r}: available models are {known}")


#: the signal a failed suggestion carries when the provider's fault (429, 5xx, timeout)
#: outlasted the retries: the item is labeled again by the next run
TRANSIENT_FAULT = "transient_fault"


def cache_key(model: str, version: str, guideline_version: str, item: Item, params: dict) -> str:
    """What makes a suggestion reusable: model, versions, the item's content, parameters."""
    raw = json.dumps(
        [model, version, guideline_version, item.content_hash(), params], sort_keys=True
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
