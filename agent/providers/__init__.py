"""Providers: the registry maps a model string to one (importing registers the built-ins)."""

from agent.providers import local  # noqa: F401  (registers "local")
