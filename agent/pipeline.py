"""The loop, one line a step: import -> label -> route -> review -> export."""

from __future__ import annotations

from agent import routing
from agent.config import Project
from agent.labeler import LabelRun, Progress, label_items
from agent.providers import get_provider
from agent.types import Route

ROUTING_STATE = "routing"


def import_file(project: Project, path, fmt: str | None = None, reviewer: str | None = None):
    """Import a file of items (and their human labels), then route what it reviewed."""
    from agent.ingest import import_file as ingest

    result = ingest(project.store, project.guideline(), path, fmt=fmt, reviewer=reviewer)
    route(project)
    return result


def label(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    progress: Progress | None = None,
    **provider_options,
) -> LabelRun:
    """Propose labels for items the model has not labeled, then route them."""
    guideline = project.guideline()
    project.store.save_guideline(guideline)
    provider = get_provider(project.model(model), **provider_options)
    run = label_items(
        project.store, guideline, provider, limit=limit, stale=stale, progress=progress
    )
    project.store.set_state(ROUTING_STATE, {**routing_state(project), "model": provider.model})
    route(project)
    return run


def dry_run(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    **provider_options,
) -> str:
    """What ``label`` would do, spending nothing."""
    from agent.labeler import items_to_label, training_examples
    from agent.providers.base import LabelContext

    guideline = project.guideline()
    provider = get_provider(project.model(model), **provider_options)
    ctx = LabelContext(guideline=guideline, examples=training_examples(project.store))
    version = provider.version(ctx)
    todo = items_to_label(project.store, provider.model, version, guideline, stale)
    n = sum(1 for _ in todo) if limit is None else min(limit, sum(1 for _ in todo))
    preview = getattr(provider, "describe", None)
    detail = preview(ctx) if preview else f"{provider.model} (version {version})"
    return f"Would label {n} items with {detail}; nothing was labeled or spent."


def routing_state(project: Project) -> dict:
    """The routing model and policy in force."""
    return project.store.get_state(ROUTING_STATE) or {"model": project.model()}


def route(project: Project) -> dict[str, int]:
    """Route every item on its routing suggestion; returns items per route."""
    store = project.store
    policy = routing.ThresholdPolicy(**project.config.routing.model_dump())
    model = routing_state(project)["model"]
    suggestions = store.latest_suggestions(model=model)
    reviewed = store.reviewed_item_ids()
    current = store.routes()
    decisions, priorities = [], {}
    for item_id in store.item_ids():
        s = suggestions.get(item_id)
        d = routing.route_item(item_id, s, item_id in reviewed, policy)
        if current.get(item_id) != d.route.value or d.route != Route.REVIEWED:
            decisions.append(d)
            priorities[item_id] = routing.priority(d, s)
    store.set_routes(decisions, priorities)
    store.set_state(ROUTING_STATE, {"model": model, "policy": policy.model_dump()})
    return store.route_counts()
