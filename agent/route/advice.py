"""Advice that names a command the user can run: what makes a model label this project.

``calibrate``, ``route`` and ``status`` tell the user to label first when a model has no
suggestions; for the embedded model on a task it cannot label (``kind: rating`` or
``ranking``), "run `labelloop label --model local`" would only fail again, so they say to
set an LLM model instead.
"""

from __future__ import annotations

from labelloop.core.types import Guideline
from labelloop.project import Project

LOCAL = "local"
#: the model string advice shows as an example (any litellm model string works)
EXAMPLE_LLM = "gpt-4o-mini"


def local_refuses(guideline: Guideline) -> str | None:
    """The kind (the guideline's, or one of its questions') the local model cannot label;
    None when it labels them all. The local model's own list, so the two never differ."""
    from labelloop.label.providers.local import REFUSED_KINDS

    kinds = [q.kind for q in guideline.questions] if guideline.asks_questions else [guideline.kind]
    return next((k for k in kinds if k in REFUSED_KINDS), None)


def cannot_label(project: Project, model: str) -> str | None:
    """A sentence saying that ``model`` cannot label this project's items and what to run
    instead; None when it can (every model but the local one is assumed to)."""
    if model != LOCAL:
        return None
    kind = local_refuses(project.guideline())
    if kind is None:
        return None
    head = f"the local model cannot label kind: {kind} tasks"
    if LOCAL in (project.config.routing.cascade or []):
        return f'{head}: remove "{LOCAL}" from [routing] cascade in labelloop.toml'
    key = "any litellm model string, with its API key in the environment"
    then = (
        f"({key}), then `labelloop route --model {EXAMPLE_LLM}` (labelloop.toml names {LOCAL})"
        if project.config.model == LOCAL
        else f"({key}; its first run makes it the routing model)"
    )
    return (
        f"{head}: set an LLM model instead, `labelloop label --model {EXAMPLE_LLM}` {then}; "
        "or review the items in the console (`labelloop review`)"
    )


def label_first(project: Project, model: str) -> str:
    """What to run when ``model`` has no suggestions yet."""
    return cannot_label(project, model) or f"run `labelloop label --model {model}` first"
