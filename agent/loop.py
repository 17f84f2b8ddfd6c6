"""The loop, one line a step: import -> label -> route -> review -> export."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError, RunLocked
from labelloop.label.labeler import LabelRun, Progress, label_items, make_provider
from labelloop.label.providers.local import MODEL as LOCAL
from labelloop.project import Project
from labelloop.route import cascade
from labelloop.route import rules as routing
from labelloop.route.router import route, route_unlabeled
from labelloop.route.state import (
    calibration_rate,
    calibration_state,
    claims_routing,
    routing_model,
    stage_policies,
)

if TYPE_CHECKING:
    from labelloop.label.crew import Crew
    from labelloop.store import Store

#: what a label run reports of the re-test after a retrain (``LabelRun.retested``)
RETEST_KEYS = ("threshold", "coverage", "calibration_pairs", "look", "guarantee")


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
    An import that adds no labels changes no route: only its new items are routed, each
    ``unlabeled`` (``route_unlabeled``). Items it answered that stay queued (a reviewer
    holds them, or they wait for console answers) are named in ``still_queued``.
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
    if not result.reviews_added:
        route_unlabeled(project, project.store.import_item_ids(result.import_id))
        return result
    route(project)
    queued = project.store.import_answers_queued(result.import_id)
    return result.model_copy(update={"still_queued": tuple(queued)})


def label(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    reviewed: bool = False,
    progress: Progress | None = None,
    command: str = "label",
    crew: Crew | None = None,
    **provider_options,
) -> LabelRun:
    """Propose labels for items the model has not labeled; route them when it is the
    routing model (the first run of a project names it).

    Another model's suggestions are stored and change no route: ``labelloop route --model``
    is the explicit step that makes it the routing model. On PostgreSQL, any number of runs
    of an LLM share the work as one crew (``labelloop.label.crew``); on SQLite, and for the
    embedded model, one run per model and store works at a time (a second refuses to start
    rather than pay for the same items).
    """
    guideline = project.guideline()
    provider = make_provider(project, model, provider_options)
    with labeling(project.store, provider, command, crew) as crew:
        # inside the lock: a run that refuses to start records no routing model
        routes = claims_routing(project, provider.model)
        project.store.save_guideline(guideline)
        retention = project.config.llm.log_retention_days
        if retention:
            project.store.prune_calls(retention)
        # finished provider batches first: their items are not paid for twice
        batches = settle_batches(project, provider, guideline, locked=crew is None)
        only, skip = label_scope(project, provider.model, reviewed)
        run = label_items(
            project.store,
            guideline,
            provider,
            limit=limit,
            # the local model costs nothing: after new reviews (a new version) it refreshes
            # every item, so blind labels pair with its current answers
            stale=stale or provider.model == LOCAL,
            progress=progress,
            only=only,
            skip=skip | set(batches.waiting),
            crew=crew,
        )
    retest = None
    if routes and (run.labeled or crew is None):
        route(project)  # first: the re-test sizes its growth on the stream as routed now
        retest = retest_after_retrain(project, provider.model)
        if retest is not None:
            from labelloop.route.calibrate import record_done

            record_done(project, [retest], route(project))
            retest = {k: retest.get(k) for k in RETEST_KEYS}
    update = {"routed": routes, "routing_model": routing_model(project), "retested": retest}
    return run.model_copy(update={**update, "batches": tuple(batches.summary())})


def label_scope(project: Project, model: str, reviewed: bool) -> tuple[set[str] | None, set[str]]:
    """The items ``model`` may label (None: all; a cascade stage, those that reached it)
    and those it skips (``not_needed``)."""
    only = cascade.reached_items(project.store, stage_policies(project), model)
    return only, not_needed(project, model, reviewed)


def retest_after_retrain(project: Project, model: str) -> dict | None:
    """Re-test auto-acceptance when the model's suggestions changed version under a
    calibration in force (the local model after new reviews).

    Between the new suggestions and the re-test nothing of the new version is auto-accepted:
    the threshold applies only to the version it was tested on. The re-test is a look of
    the calibration loop like any other (``labelloop calibrate``), with the targets in force;
    its report, or None when nothing needed a re-test.
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
    return calibrate_model(project, model, cal.epsilon, cal.delta)


def not_needed(project: Project, model: str, reviewed: bool) -> set[str]:
    """Items an LLM need not label: those people decided, except calibration items (their
    pairs calibrate it). The local model labels everything: it costs nothing, and its
    cross-fitted answers on reviewed items are what it is measured on."""
    if reviewed or model == LOCAL:
        return set()
    store = project.store
    decided = store.reviewed_item_ids() - store.calibration_item_ids()
    if not decided:  # nothing to skip: no rate to work out (sizing a first one loads scipy)
        return set()
    cal = calibration_state(project, model)
    rate, seed = calibration_rate(project, cal), project.config.routing.seed
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
    only, skip = label_scope(project, provider.model, reviewed)
    skip |= set(project.store.items_in_open_batches(provider.model))  # a batch answers them
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


def shares_work(store: Store, provider) -> bool:
    """Whether runs of ``provider`` on ``store`` share the work as a crew: an LLM on
    PostgreSQL. The embedded model costs nothing and retrains on each run: one at a time."""
    return store.dialect == "postgresql" and hasattr(provider, "stream")


@contextmanager
def labeling(
    store: Store, provider, command: str = "label", crew: Crew | None = None
) -> Iterator[Crew | None]:
    """This process's place among the runs labeling with ``provider``: a worker of the
    crew on PostgreSQL (``crew``: the one this process already belongs to, as a
    long-running worker does), else the model's run lock (None)."""
    if crew is not None and shares_work(store, provider) and crew.model == provider.model:
        yield crew
        return
    if shares_work(store, provider):
        from labelloop.label.crew import Crew

        with Crew(store, provider.model, command, provider.max_cost) as crew:
            yield crew
        return
    with run_lock(store, f"label:{provider.model}", f"labelloop {command}"):
        yield None


@contextmanager
def run_lock(store: Store, name: str, what: str) -> Iterator[None]:
    """Hold ``name`` while the block runs (renewed in the background); refuse to start when
    another live process holds it."""
    with store.run_lock(name, what) as other:
        if other is not None:
            since = f"({other.holder}, since {other.started_at:%Y-%m-%d %H:%M:%S} UTC)"
            if store.dialect == "sqlite" and name.startswith("label:"):
                raise RunLocked(
                    f"Another {other.detail} is labeling with {name[6:]} on this store "
                    f"{since}. A SQLite store takes one labeling process per model at a time: "
                    "wait for it to finish, or stop it (a stopped run's claim lapses within a "
                    "minute). To label with several processes or machines at once, keep the "
                    "project on PostgreSQL (database_url in labelloop.toml)."
                )
            raise RunLocked(
                f"Another {other.detail} is working on this store {since}: wait for it to "
                "finish, or stop it; a stopped run's claim lapses within a minute"
            )
        yield


# --- provider batch jobs -------------------------------------------------------------------


def settle_batches(project: Project, provider, guideline, locked: bool = True):
    """The model's open provider batches: found again, looked up, finished ones collected
    (``labelloop.label.batch_jobs.settle``); ``locked``: this process holds the model's
    run lock, else it takes it for the while, or leaves collecting to its holder."""
    from labelloop.label.batch_jobs import Settled, settle

    store = project.store
    if not hasattr(provider, "stream") or not store.batch_jobs(provider.model, open_only=True):
        return Settled()
    if locked:
        return settle(store, guideline, provider)
    with store.run_lock(f"label:{provider.model}", "labelloop label (batches)") as other:
        if other is None:
            return settle(store, guideline, provider)
    return Settled(waiting=store.items_in_open_batches(provider.model))


def label_batch(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    reviewed: bool = False,
    **provider_options,
):
    """Submit what ``label`` would label to the provider's batch API (``labelloop label
    --batch``), after collecting finished batches and leaving out items still waiting in
    one; ``collect_batches`` (or a later ``label``) labels the answers."""
    from labelloop.label import batch_jobs
    from labelloop.label.labeler import items_to_label, label_context

    guideline = project.guideline()
    provider = make_provider(project, model, provider_options)
    if not hasattr(provider, "stream"):
        raise LabelloopError(
            "--batch sends items to an LLM provider's batch API: give --model MODEL (the "
            "local model labels without it)"
        )
    client = batch_jobs.client_for(provider)  # refuses a provider with no batch API first
    store = project.store
    with run_lock(store, f"label:{provider.model}", "labelloop label --batch"):
        routes = claims_routing(project, provider.model)
        store.save_guideline(guideline)
        settled = batch_jobs.settle(store, guideline, provider)
        only, skip = label_scope(project, provider.model, reviewed)
        version = provider.version(label_context(store, guideline))
        todo = items_to_label(
            store, provider.model, version, guideline, stale, only, skip | set(settled.waiting)
        )
        todo = list(todo)[:limit] if limit is not None else list(todo)
        project_id = project.config.project_id or ""
        with _claimed_for_batch(store, provider.model, todo) as todo:
            submitted, left = batch_jobs.submit(
                store, guideline, provider, todo, client, project_id
            )
    if routes and settled.collected:
        route(project)
    return batch_jobs.Submission(submitted=submitted, settled=settled, left_at_budget=left)


@contextmanager
def _claimed_for_batch(store: Store, model: str, todo: list) -> Iterator[list]:
    """On PostgreSQL, the items of ``todo`` no worker of the crew holds, claimed while they
    are submitted: a worker that meets them later finds them in the open batch and leaves
    them (``labelloop.label.crew``); elsewhere, ``todo`` as it is."""
    if store.dialect != "postgresql" or not todo:
        yield todo
        return
    from labelloop.label.crew import Crew

    with Crew(store, model, "batch") as crew:
        ids, mine = [i.id for i in todo], set()
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            mine.update(store.claim_items(model, crew.holder, part, crew.ttl)[0])
        yield [i for i in todo if i.id in mine]


def collect_batches(project: Project, model: str | None = None, **provider_options) -> list:
    """Collect every finished batch (of ``model``, else of every model with open ones) and
    route, as ``label`` does; one ``Settled`` per model."""
    from labelloop.label import batch_jobs

    store = project.store
    models = [model] if model else sorted({b.model for b in store.batch_jobs(open_only=True)})
    out = []
    for name in models:
        guideline = project.guideline()
        provider = make_provider(project, name, provider_options)
        with run_lock(store, f"label:{provider.model}", "labelloop batch collect"):
            routes = claims_routing(project, provider.model)
            store.save_guideline(guideline)
            settled = batch_jobs.settle(store, guideline, provider)
        if routes and settled.collected:
            route(project)
        out.append(settled)
    return out


def batch_status(project: Project, **provider_options) -> tuple[list, list[str]]:
    """Every batch as the provider has it now, and what was found again; a model whose
    run lock another process holds is shown as recorded."""
    from labelloop.label import batch_jobs

    store = project.store
    notes: list[str] = []
    for name in sorted({b.model for b in store.batch_jobs(open_only=True)}):
        provider = make_provider(project, name, provider_options)
        with store.run_lock(f"label:{name}", "labelloop batch status") as other:
            if other is None:
                settled = batch_jobs.settle(store, project.guideline(), provider, False)
                notes += settled.notes
    return store.batch_jobs(), notes
