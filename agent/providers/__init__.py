"""Providers: the registry maps a model string to a provider."""

from agent.providers import local  # noqa: F401  (registers "local")
from agent.providers.base import get_provider

__all__ = ["get_provider"]
