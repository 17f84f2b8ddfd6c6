"""The loop, one line a step: import -> label -> route -> review -> export."""

from __future__ import annotations

from datetime import UTC, datetime

from agent import cascade, routing
from agent.config import Project
from agent.errors import ConfigError
from agent.labeler import LabelRun, Progress, label_items
from agent.providers import get_provider
from agent.types import Route

ROUTING_STATE = "routing"
#: bounds of the automatically sized calibration sample (share of items)
MIN_AUTO_RATE, MAX_AUTO_RATE = 0.02, 0.5
ALARM_STATE = "audit_alarm"


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
    from agent.ingest import import_file as ingest

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
    progress: Progress | None = None,
    **provider_options,
) -> LabelRun:
    """Propose labels for items the model has not labeled, then route them."""
    guideline = project.guideline()
    project.store.save_guideline(guideline)
    provider = make_provider(project, model, provider_options)
    retention = project.config.llm.log_retention_days
    if retention:
        project.store.prune_calls(retention)
    only = cascade.reached_items(project.store, stage_policies(project), provider.model)
    run = label_items(
        project.store, guideline, provider, limit=limit, stale=stale, progress=progress, only=only
    )
    project.store.set_state(ROUTING_STATE, {**routing_state(project), "model": provider.model})
    route(project)
    return run


def make_provider(project: Project, model: str | None, options: dict):
    """The provider for the model, with labelloop.toml's [llm] settings under the flags."""
    name = project.model(model)
    given = {k: v for k, v in options.items() if v is not None}
    if name == "local":
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
            raise ConfigError(f"{flags} apply to LLM models only: add --model MODEL, or drop them")
        return get_provider(name)
    settings = project.config.llm.model_dump(exclude={"log_retention_days"})
    return get_provider(name, **{**settings, **given})


def dry_run(
    project: Project,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    **provider_options,
) -> str:
    """What ``label`` would do, spending nothing."""
    from agent.labeler import items_to_label, label_context

    guideline = project.guideline()
    provider = make_provider(project, model, provider_options)
    ctx = label_context(project.store, guideline)
    version = provider.version(ctx)
    only = cascade.reached_items(project.store, stage_policies(project), provider.model)
    todo = list(items_to_label(project.store, provider.model, version, guideline, stale, only=only))
    todo = todo[:limit] if limit is not None else todo
    preview = getattr(provider, "preview", None)
    if preview is not None and todo:
        return preview(todo, ctx)
    detail = f"{provider.model} (version {version})"
    return f"Would label {len(todo)} items with {detail}; nothing was labeled or spent."


def routing_state(project: Project) -> dict:
    """The routing model and policy in force."""
    return project.store.get_state(ROUTING_STATE) or {"model": project.model()}


def calibration_state(project: Project, model: str) -> dict:
    """The calibration in force for a model's suggestions ({} when there is none)."""
    store = project.store
    state = store.get_state(calibration_key(model))
    if state is None:  # projects calibrated before states were kept per model
        legacy = store.get_state("calibration") or {}
        state = legacy if legacy.get("model") == model else {}
    return state


def calibration_key(model: str) -> str:
    return f"calibration:{model}"


def policy(
    project: Project, model: str | None = None, upstream: list | None = None
) -> routing.RoutingPolicy:
    """The routing policy for a model's suggestions: its calibrated threshold, alarm, rates.

    ``upstream``: in a cascade, the calibration runs of the stages before this one; a stage
    calibrated under other runs of those stages auto-accepts nothing.
    """
    store, cfg = project.store, project.config.routing
    model = model or routing_state(project)["model"]
    cal = calibration_state(project, model)
    raised = store.get_state(ALARM_STATE) or {}
    # a cascade stage refitted on fresh reviews since the alarm auto-accepts again
    alarm = raised.get("active", False) and model not in raised.get("refitted", [])
    rates = {
        "calibration_rate": calibration_rate(project, cal),
        "audit_rate": cfg.audit_rate,
        "seed": cfg.seed,
        "alarm": alarm,
        "model": model,
    }
    if cal.get("calibrated") and upstream is not None and cal.get("upstream", []) != upstream:
        return routing.RoutingPolicy(
            uncalibrated="calibrated before the stages ahead of it were recalibrated: "
            "run `labelloop calibrate`",
            **rates,
        )
    if cal.get("calibrated"):
        return routing.RoutingPolicy(
            threshold=cal.get("threshold"),
            calibrated=True,
            prompt_version=cal.get("prompt_version"),
            guideline_version=cal.get("guideline_version"),
            **rates,
        )
    return routing.RoutingPolicy(threshold=cfg.threshold, **rates)


def calibration_rate(project: Project, cal: dict) -> float:
    """The share of items drawn into the calibration queue.

    A rate set in labelloop.toml is used as it is. Otherwise the sample is sized from ε, δ
    and the coverage seen so far: enough uniform reviews that the test half can hold the
    items a passing threshold needs (a prior of 50% coverage before any calibration).
    """
    from agent.calibration import calibration_sample_size

    cfg = project.config.routing
    if cfg.calibration_rate is not None:
        return cfg.calibration_rate
    epsilon, delta = cal.get("epsilon") or 0.05, cal.get("delta") or 0.05
    coverage = cal.get("coverage") or 0.5
    needed = calibration_sample_size(epsilon, delta, max(coverage, 0.05))
    items = max(project.store.count_items(), 1)
    return min(MAX_AUTO_RATE, max(MIN_AUTO_RATE, needed / items))


def stage_policies(project: Project) -> list[routing.RoutingPolicy]:
    """Each cascade stage's policy, cheapest first; empty without a cascade."""
    out, upstream = [], []
    for model in project.config.routing.cascade or []:
        out.append(policy(project, model, upstream=upstream))
        upstream = [*upstream, calibration_state(project, model).get("run_id")]
    return out


def check_audit(project: Project) -> dict:
    """Raise the audit alarm on evidence that auto-accepted labels err more than promised."""
    from agent.calibration import audit_alarm

    store = project.store
    alarm = store.get_state(ALARM_STATE) or {"active": False}
    if alarm.get("active"):
        return alarm
    cleared = alarm.get("cleared_at")
    since = datetime.fromisoformat(cleared) if cleared else None
    stages = project.config.routing.cascade
    for k, model in enumerate(stages or [routing_state(project)["model"]]):
        cal = calibration_state(project, model)
        if not cal.get("calibrated"):
            continue
        n, wrong = store.audit_outcomes(since, model=model if stages else None)
        if n and audit_alarm(n, wrong, cal["epsilon"], cal["delta"]):
            where = f"stage {k + 1} ({model}): " if stages else ""
            alarm = {
                "active": True,
                "raised_at": datetime.now(UTC).isoformat(),
                "model": model,
                "audited": n,
                "wrong": wrong,
                "reason": f"{where}{wrong} of {n} audited auto-accepted labels were "
                f"wrong: the error is above {cal['epsilon']:.0%} with "
                f"{1 - cal['delta']:.0%} confidence; run `labelloop calibrate` after fresh "
                "calibration reviews",
            }
            store.set_state(ALARM_STATE, alarm)
            return alarm
    return alarm


def route(project: Project) -> dict[str, int]:
    """Route every item on its routing suggestion (in a cascade, through the stages)."""
    store = project.store
    check_audit(project)
    model = routing_state(project)["model"]
    reviewed = store.reviewed_item_ids()
    stages = stage_policies(project)
    if stages:
        decided = cascade.walk(store, stages, reviewed).decided
        state = {"model": model, "cascade": [p.model_dump() for p in stages]}
    else:
        rules = policy(project, model)
        suggestions = store.latest_suggestions(model=model)
        decided = [
            (routing.route_item(i, suggestions.get(i), i in reviewed, rules), suggestions.get(i))
            for i in store.item_ids()
        ]
        state = {"model": model, "policy": rules.model_dump()}
    current = store.routes()
    waiting = store.waiting_on_answers()  # overlap and adjudication items stay queued
    decisions, priorities = [], {}
    for d, s in decided:
        if d.item_id in waiting:
            continue
        if current.get(d.item_id) != d.route.value or d.route != Route.REVIEWED:
            decisions.append(d)
            priorities[d.item_id] = routing.priority(d, s)
    store.set_routes(decisions, priorities)
    store.set_state(ROUTING_STATE, state)
    return store.route_counts()
