"""The loop, one line a step: import -> label -> route -> review -> export."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError
from labelloop.label.labeler import LabelRun, Progress, label_items, make_provider
from labelloop.label.providers.local import MODEL as LOCAL
from labelloop.project import Project
from labelloop.route import cascade
from labelloop.route import rules as routing
from labelloop.route.router import route
from labelloop.route.state import (
    calibration_rate,
    calibration_state,
    claims_routing,
    routing_model,
    stage_policies,
)

if TYPE_CHECKING:
    from labelloop.store import Store


def import_file(
    project: Project,
    path,
    fmt: str | None = None,
    reviewer: str | None = None,
    sample: bool = False,
):
    """Import a file of items (and their human labels), then route what it reviewed.

    ``sample`` marks the file as a uniform random sample of the stream labeled without
    seeing any suggestion: its labels may then calibrate, like calibration-queue reviews.
    """
    from labelloop.ingest.importer import import_file as ingest

    result = ingest(
        project.store,
        project.guideline(),
        path,
        fmt=fmt,
        reviewer=reviewer,
        sample=sample,
        max_item_chars=project.config.max_item_chars,
    )
    route(project)
    return result


def label(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    reviewed: bool = False,
    progress: Progress | None = None,
    **provider_options,
) -> LabelRun:
    """Propose labels for items the model has not labeled; route them when it is the
    routing model (the first run of a project names it).

    Another model's suggestions are stored and change no route: ``labelloop route --model``
    is the explicit step that makes it the routing model. Only one run per model and store
    works at a time (a second refuses to start rather than pay for the same items).
    """
    guideline = project.guideline()
    provider = make_provider(project, model, provider_options)
    with run_lock(project.store, f"label:{provider.model}", "labelloop label"):
        # inside the lock: a run that refuses to start records no routing model
        routes = claims_routing(project, provider.model)
        project.store.save_guideline(guideline)
        retention = project.config.llm.log_retention_days
        if retention:
            project.store.prune_calls(retention)
        run = label_items(
            project.store,
            guideline,
            provider,
            limit=limit,
            # the local model costs nothing: after new reviews (a new version) it refreshes
            # every item, so blind labels pair with its current answers
            stale=stale or provider.model == LOCAL,
            progress=progress,
            only=cascade.reached_items(project.store, stage_policies(project), provider.model),
            skip=not_needed(project, provider.model, reviewed),
        )
    retest = None
    if routes:
        route(project)  # first: the re-test sizes its growth on the stream as routed now
        retest = retest_after_retrain(project, provider.model)
        if retest is not None:
            route(project)
    update = {"routed": routes, "routing_model": routing_model(project), "retested": retest}
    return run.model_copy(update=update)


def retest_after_retrain(project: Project, model: str) -> dict | None:
    """Re-test auto-acceptance when the model's suggestions changed version under a
    calibration in force (the local model after new reviews).

    Between the new suggestions and the re-test nothing of the new version is auto-accepted:
    the threshold applies only to the version it was tested on. The re-test is a look of
    the calibration loop like any other (``labelloop calibrate``), with the targets in force.
    """
    from labelloop.route.calibrate import calibrate_model, current_versions

    cal = calibration_state(project, model)
    if not cal.calibrated or project.config.routing.cascade:
        return None
    guideline = project.guideline()
    latest = project.store.latest_suggestions(model=model)
    now = current_versions(latest, guideline.version)
    if now is None or (now, guideline.version) == (
        cal.prompt_version,
        cal.guideline_version,
    ):
        return None
    report = calibrate_model(project, model, cal.epsilon, cal.delta)
    keys = ("threshold", "coverage", "calibration_pairs", "look", "guarantee")
    return {k: report.get(k) for k in keys}


def not_needed(project: Project, model: str, reviewed: bool) -> set[str]:
    """Items an LLM need not label: those people decided, except calibration items (their
    pairs calibrate it). The local model labels everything: it costs nothing, and its
    cross-fitted answers on reviewed items are what it is measured on."""
    if reviewed or model == LOCAL:
        return set()
    store = project.store
    cal = calibration_state(project, model)
    rate, seed = calibration_rate(project, cal), project.config.routing.seed
    decided = store.reviewed_item_ids() - store.calibration_item_ids()
    # items the calibration draw reached are in the sample whatever their review: their
    # current suggestion is what the test counts
    return {i for i in decided if routing.uniform_draw(i, seed) >= rate}


def dry_run(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    reviewed: bool = False,
    **provider_options,
) -> str:
    """What ``label`` would do, spending nothing."""
    from labelloop.label.labeler import items_to_label, label_context

    guideline = project.guideline()
    provider = make_provider(project, model, provider_options)
    ctx = label_context(project.store, guideline)
    version = provider.version(ctx)
    only = cascade.reached_items(project.store, stage_policies(project), provider.model)
    skip = not_needed(project, provider.model, reviewed)
    todo = items_to_label(project.store, provider.model, version, guideline, stale, only, skip)
    todo = list(todo)
    todo = todo[:limit] if limit is not None else todo
    preview = getattr(provider, "preview", None)
    decided = project.store.reviewed_item_ids()
    drawn = sum(i.id in decided for i in todo)
    why = (
        f"\n{drawn} of them were decided by people but are in the calibration draw: the "
        "model's answers on them are what calibration tests (--reviewed labels every "
        "decided item)."
        if drawn and not reviewed
        else ""
    )
    if preview is not None and todo:
        return preview(todo, ctx) + why
    detail = f"{provider.model} (version {version})"
    return f"Would label {len(todo)} items with {detail}; nothing was labeled or spent.{why}"


@contextmanager
def run_lock(store: Store, name: str, what: str) -> Iterator[None]:
    """Hold ``name`` while the block runs (renewed in the background); refuse to start when
    another live process holds it."""
    with store.run_lock(name, what) as other:
        if other is not None:
            raise LabelloopError(
                f"Another {other.detail} is working on this store ({other.holder}, since "
                f"{other.started_at:%Y-%m-%d %H:%M:%S} UTC): wait for it to finish, or stop it; "
                "a stopped run's claim lapses within a minute"
            )
        yield
