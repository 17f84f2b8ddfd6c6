"""Providers: the registry maps a model string to a provider.

``local`` is the embedded model; any other string is a litellm model, loaded on first use
(litellm takes seconds to import, and the offline path should not pay for it).
"""

from labelloop.label.providers import local  # noqa: F401  (registers "local")
from labelloop.label.providers.base import Provider, get_provider, register_fallback


def _llm(**options) -> Provider:
    from labelloop.label.providers.llm import LLMProvider

    return LLMProvider(**options)


register_fallback(_llm)

__all__ = ["get_provider"]
