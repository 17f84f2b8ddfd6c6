"""Providers: the registry maps a model string to a provider.

``local`` is the embedded model; any other string is a litellm model. Both are loaded on
first use (litellm takes seconds to import, and the offline path should not pay for it; the
embedded model's numpy and scikit-learn are nothing an LLM run needs).
"""

from labelloop.label.providers.base import Provider, get_provider, register, register_fallback

LOCAL = "local"  # labelloop.label.providers.local.MODEL


def _local(**options) -> Provider:
    from labelloop.label.providers.local import LocalProvider

    return LocalProvider(**options)


def _llm(**options) -> Provider:
    from labelloop.label.providers.llm import LLMProvider

    return LLMProvider(**options)


register(LOCAL, _local)
register_fallback(_llm)

__all__ = ["get_provider"]
