"""The loop, one line a step: import -> label -> route -> review -> export."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial

from agent import active, calibration_sample, cascade, routing
from agent.config import Project
from agent.errors import ConfigError, LabelloopError
from agent.labeler import LabelRun, Progress, label_items
from agent.providers import get_provider
from agent.providers.local import MODEL as LOCAL
from agent.types import Route, RouteDecision, Suggestion

ROUTING_STATE = "routing"
#: the model the store routes on (set by the first label run and `labelloop route`)
ROUTING_MODEL_STATE = "routing_model"
#: bounds of the automatically sized calibration sample (share of items)
MIN_AUTO_RATE, MAX_AUTO_RATE = 0.02, 0.5
ALARM_STATE = "audit_alarm"
#: the drawn items' shadow places in the active queue's order, and those it has passed
#: (see ``agent.calibration_sample``)
ACTIVE_PASS_STATE = "active_pass"


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
    from agent.calibrate import calibrate_model, current_versions

    cal = calibration_state(project, model)
    if not cal.get("calibrated") or project.config.routing.cascade:
        return None
    guideline = project.guideline()
    latest = project.store.latest_suggestions(model=model)
    now = current_versions(latest, guideline.version)
    if now is None or (now, guideline.version) == (
        cal.get("prompt_version"),
        cal.get("guideline_version"),
    ):
        return None
    report = calibrate_model(project, model, cal["epsilon"], cal["delta"])
    keys = ("threshold", "coverage", "calibration_pairs", "look", "guarantee")
    return {k: report.get(k) for k in keys}


def claims_routing(project: Project, model: str) -> bool:
    """Whether ``model``'s suggestions route: it is the routing model or a cascade stage.
    A project that routes on no model yet takes the first one labeled with (recorded, and
    named in labelloop.toml when the file names none)."""
    if project.config.routing.cascade:
        return model in project.config.routing.cascade
    if recorded_model(project) is None and project.config.model in (None, model):
        set_routing_model(project, model)
    return model == routing_model(project)


def recorded_model(project: Project) -> str | None:
    """The model the store routes on, as the first ``label`` run or ``labelloop route``
    recorded it (for a project routed before that record existed: the model it last
    routed on, if that model has suggestions)."""
    store = project.store
    got = (store.get_state(ROUTING_MODEL_STATE) or {}).get("model")
    if got is None:
        legacy = (store.get_state(ROUTING_STATE) or {}).get("model")
        got = legacy if legacy and store.has_suggestions(legacy) else None
    return got


def routing_model(project: Project) -> str:
    """The model whose suggestions route items: the cascade's first stage, else the one the
    store routes on, else ``model`` in labelloop.toml, else the local model. A different
    ``model`` in labelloop.toml takes over only through ``labelloop route --model``."""
    cascade_ = project.config.routing.cascade
    if cascade_:
        return cascade_[0]
    return recorded_model(project) or project.config.model or "local"


def model_mismatch(project: Project) -> str | None:
    """A note when labelloop.toml names another model than the one items are routed on."""
    named, routed = project.config.model, routing_model(project)
    if named is None or named == routed or project.config.routing.cascade:
        return None
    return (
        f"labelloop.toml names {named}, but items are routed on {routed}'s suggestions: "
        f"`labelloop route --model {named}` switches (it shows what changes first)"
    )


def set_routing_model(project: Project, model: str) -> None:
    """Route on ``model`` from now on: recorded in the store, and named in labelloop.toml
    (its one ``model = ...`` line, comments kept)."""
    from agent.config import write_model

    if project.config.model != model:
        write_model(project, model)
    project.store.set_state(ROUTING_MODEL_STATE, {"model": model})


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
    reviewed: bool = False,
    **provider_options,
) -> str:
    """What ``label`` would do, spending nothing."""
    from agent.labeler import items_to_label, label_context

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
    if preview is not None and todo:
        return preview(todo, ctx)
    detail = f"{provider.model} (version {version})"
    return f"Would label {len(todo)} items with {detail}; nothing was labeled or spent."


def routing_state(project: Project) -> dict:
    """The routing model and the policy last routed with."""
    return {**(project.store.get_state(ROUTING_STATE) or {}), "model": routing_model(project)}


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


#: what a certified look leaves for routing (the calibration state's "certified")
CERTIFIED_KEYS = (
    "threshold",
    "prompt_version",
    "guideline_version",
    "score_signal",
    "look",
    "run_id",
    "coverage",
    "epsilon",
    "delta",
)


def certified(cal: dict, guideline_version: str) -> dict | None:
    """The certification routing uses: the last look that certified a threshold, on the
    labels of the model version it tested, for as long as the guideline is the one it was
    tested under. A later look that certifies nothing (too few pairs for a retrained
    model, say) does not take it back: each look's guarantee stands on its own share of δ,
    and its version's labels stay auto-accepted until a look certifies the newer ones."""
    if not cal.get("calibrated"):
        return None
    c = cal.get("certified")
    if c is None and cal.get("threshold") is not None:  # states written before "certified"
        c = {k: cal.get(k) for k in CERTIFIED_KEYS}
    if not c or c.get("threshold") is None or c.get("guideline_version") != guideline_version:
        return None
    if (c.get("epsilon"), c.get("delta")) != (cal.get("epsilon"), cal.get("delta")):
        return None  # another target: its certification says nothing of this one
    return c


def in_force(project: Project, cal: dict) -> dict:
    """What of a calibration state routing applies ({} when nothing): the last certified
    look (``certified``); in a cascade the state itself, as a stage routes on its latest
    suggestions only and keeps no earlier version's."""
    if project.config.routing.cascade:
        return cal if cal.get("calibrated") else {}
    return certified(cal, project.guideline().version) or {}


def policy(
    project: Project, model: str | None = None, upstream: list | None = None
) -> routing.RoutingPolicy:
    """The routing policy for a model's suggestions: its calibrated threshold, alarm, rates.

    ``upstream``: in a cascade, the calibration runs of the stages before this one; a stage
    calibrated under other runs of those stages auto-accepts nothing.
    """
    store, cfg = project.store, project.config.routing
    model = model or routing_model(project)
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
        c = in_force(project, cal)
        return routing.RoutingPolicy(
            threshold=c.get("threshold"),
            calibrated=True,
            prompt_version=c.get("prompt_version", cal.get("prompt_version")),
            guideline_version=c.get("guideline_version", cal.get("guideline_version")),
            score_signal=c.get("score_signal", cal.get("score_signal")),
            **rates,
        )
    return routing.RoutingPolicy(threshold=cfg.threshold, **rates)


def calibration_rate(project: Project, cal: dict) -> float:
    """The share of items drawn into the calibration queue.

    A rate set in labelloop.toml is used as it is. Otherwise the rate the last calibration
    grew the sample to (see ``grown_rate``); before any, the sample is sized for the first
    look (tested at δ/2) to pass at 50% coverage with the error rate the model's own
    probabilities claim for its more confident half (at least ε/10, at most ε/4). ``route``
    keeps that first rate (``keep_rate``): the sample never shrinks.
    """
    from agent.calibration import calibration_sample_size, look_delta

    cfg = project.config.routing
    if cfg.calibration_rate is not None:
        return cfg.calibration_rate
    if cal.get("sample_rate") is not None:
        return float(cal["sample_rate"])
    epsilon, delta = cal.get("epsilon") or 0.05, cal.get("delta") or 0.05
    claimed = min(max(_claimed_error(project), epsilon / 10), epsilon / 4)
    needed = calibration_sample_size(epsilon, look_delta(delta, 1), 0.5, error_rate=claimed)
    items = max(project.store.count_items(), 1)
    return min(MAX_AUTO_RATE, max(MIN_AUTO_RATE, needed / items))


def _claimed_error(project: Project) -> float:
    """The error the routing model's own probabilities claim for its more confident half of
    the items (0 before it labeled anything)."""
    import numpy as np

    from agent.calibration import raw_probability

    latest = project.store.latest_suggestions(model=routing_model(project))
    signals = [s.signals for s in latest.values() if s.value is not None]
    p = raw_probability(signals) if signals else np.zeros(0)
    p = np.sort(p[np.isfinite(p)])[::-1]
    return float(np.mean(1 - p[: max(1, len(p) // 2)])) if len(p) else 0.0


def keep_rate(project: Project) -> None:
    """Record the calibration rate each routing model's items are drawn at, before any
    calibration grows it: a rate worked out again later (from a retrained model's claims)
    could be lower, and the items drawn before would fall out of the sample."""
    if project.config.routing.calibration_rate is not None:
        return
    for model in project.config.routing.cascade or [routing_model(project)]:
        cal = calibration_state(project, model)
        if cal.get("sample_rate") is None and project.store.has_suggestions(model):
            rate = calibration_rate(project, cal)
            project.store.set_state(calibration_key(model), cal | {"sample_rate": rate})


#: the routes of labeled, unreviewed items the calibration draw may pick from
DRAWABLE_ROUTES = ("calibration", "active", "audit", "auto_accepted")


def grown_rate(project: Project, cal: dict, more: int) -> float:
    """The calibration rate whose queue holds ``more`` blind reviews (never below the rate
    in force, at most MAX_AUTO_RATE).

    The same uniform draw per item decides membership, so a higher rate adds the next items
    in draw order: the sample stays a uniform draw from the routed stream, and items drawn
    before stay drawn.
    """
    now = calibration_rate(project, cal)
    if project.config.routing.calibration_rate is not None or more <= 0:
        return now
    seed = project.config.routing.seed
    draws = sorted(
        d
        for route in DRAWABLE_ROUTES
        for item_id in project.store.queue_item_ids(route)
        if (d := routing.uniform_draw(item_id, seed)) >= now
    )
    waiting = len(project.store.queue_item_ids("calibration"))
    add = more - waiting
    if add <= 0:
        return now
    rate = 1.0 if add >= len(draws) else (draws[add - 1] + draws[add]) / 2
    return max(now, min(MAX_AUTO_RATE, rate))


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
    for k, model in enumerate(stages or [routing_model(project)]):
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


def plan_routes(
    project: Project, model: str | None = None
) -> tuple[list[tuple[RouteDecision, Suggestion | None]], dict]:
    """Every item's route on the routing model's suggestions (``model``'s when given; in a
    cascade, through the stages), and the routing state it was decided under; writes
    nothing."""
    decided, state, _ = _plan(project, model)
    return decided, state


#: how an item would be routed had it not been drawn: (decision, suggestion routed on)
Twin = Callable[[str, Suggestion | None], tuple[RouteDecision, Suggestion | None]]


def _plan(project: Project, model: str | None = None):
    """``plan_routes``, and (one routing model) how an undrawn twin of an item is routed."""
    store = project.store
    reviewed = store.reviewed_item_ids()
    stages = stage_policies(project) if model is None else []
    model = model or routing_model(project)
    if stages:
        decided = cascade.walk(store, stages, reviewed).decided
        return decided, {"model": model, "cascade": [p.model_dump() for p in stages]}, None
    rules = policy(project, model)
    suggestions = store.latest_suggestions(model=model)
    tested = _certified_suggestions(store, model, rules, suggestions)

    def decide(i: str, s: Suggestion | None, was_reviewed: bool, rules=rules):
        d = routing.route_item(i, s, was_reviewed, rules)
        if d.route == Route.ACTIVE and i in tested:  # the certified version's label clears it
            old = routing.route_item(i, tested[i], False, rules)
            if old.route in (Route.AUTO_ACCEPTED, Route.AUDIT):
                return old, tested[i]
        return d, s

    decided = [decide(i, suggestions.get(i), i in reviewed) for i in store.item_ids()]
    undrawn = rules.model_copy(update={"calibration_rate": 0.0})
    twin = partial(decide, was_reviewed=False, rules=undrawn)
    return decided, {"model": model, "policy": rules.model_dump()}, twin


def _certified_suggestions(
    store, model: str, rules: routing.RoutingPolicy, latest: dict[str, Suggestion]
) -> dict[str, Suggestion]:
    """Suggestions of the certified version for items whose latest suggestion is of
    another (a retrained model): what the threshold in force was tested on."""
    if rules.threshold is None or rules.prompt_version is None:
        return {}
    versions = (rules.prompt_version, rules.guideline_version)
    other = {i for i, s in latest.items() if (s.prompt_version, s.guideline_version) != versions}
    if not other:
        return {}
    tested = store.version_suggestions(model, *versions)
    return {i: s for i, s in tested.items() if i in other}


def route(project: Project) -> dict[str, int]:
    """Route every item on its routing suggestion (in a cascade, through the stages); the
    active queue in the order ``[routing] active_order`` names (see ``agent.active``).

    What routing read is compared with the store row by row as it writes: an item someone
    decided, undid or leased meanwhile keeps what that person did (see
    ``Store.apply_routes``), and overlap and adjudication items stay queued.
    """
    store = project.store
    check_audit(project)
    keep_rate(project)
    passed = passed_by_active(project)  # the order about to be replaced, as reviewers met it
    seen = store.route_snapshot()  # first: anything after it wins over this run
    decided, state, twin = _plan(project)
    decided, shadow = _draw_twins(decided, state, twin, passed, store.calibration_item_ids())
    waiting = store.waiting_on_answers()
    seed = project.config.routing.seed
    decisions, priorities, queued = [], {}, {}
    for d, s in decided:
        stored = seen.rows.get(d.item_id)
        if d.item_id in waiting or (d.route == Route.REVIEWED and stored and stored[0] == d.route):
            continue
        decisions.append(d)
        # the calibration queue is met in draw order: what is answered is not chosen by it
        priorities[d.item_id] = (
            routing.uniform_draw(d.item_id, seed)
            if d.route == Route.CALIBRATION
            else routing.priority(d, s)
        )
        if active.reorderable(d, s):
            queued[d.item_id] = priorities[d.item_id]
    cfg = project.config.routing
    ordered = active.reorder(queued | shadow, cfg.active_order, active.item_vectors(store), seed)
    shadow = {i: ordered.pop(i) for i in shadow}
    store.apply_routes(decisions, priorities | ordered, seen)
    store.set_state(ROUTING_STATE, state)
    store.set_state(
        ACTIVE_PASS_STATE,
        {"since": datetime.now(UTC).isoformat(), "shadow": shadow, "passed": sorted(passed)},
    )
    return store.route_counts()


def passed_by_active(project: Project) -> set[str]:
    """The drawn items the active queue has passed so far (see ``agent.calibration_sample``)."""
    state = project.store.get_state(ACTIVE_PASS_STATE) or {}
    passed = set(state.get("passed", []))
    if state.get("shadow"):
        head, reached = project.store.active_frontier(datetime.fromisoformat(state["since"]))
        passed |= calibration_sample.passed_by_active(state["shadow"], head, reached)
    return passed


def _draw_twins(decided, state: dict, twin: Twin | None, passed: set[str], blind: set[str]):
    """(decided, shadow): the calibration draw's items as if they had not been drawn.

    A drawn item (waiting, or answered blind: in ``blind``) that its undrawn twin would
    have in the active queue gets a shadow priority, its place in the queue's order; one
    the active queue has passed has left the draw's population, so if it still waits for
    a blind answer it is routed as its twin. Not for a cascade (its draw is per stage).
    """
    if twin is None:
        return decided, {}
    rules = routing.RoutingPolicy.model_validate(state["policy"])
    out, shadow = [], {}
    for d, s in decided:
        drawn = routing.in_calibration_sample(d.item_id, rules)
        if drawn and (d.route == Route.CALIBRATION or d.item_id in blind):
            t, ts = twin(d.item_id, s)
            if d.item_id not in passed:
                if active.reorderable(t, ts):
                    shadow[d.item_id] = routing.priority(t, ts)
            elif d.route == Route.CALIBRATION:
                d, s = t, ts
        out.append((d, s))
    return out, shadow


def route_changes(project: Project, model: str) -> Counter:
    """("from", "to") -> items, for routing on ``model``'s suggestions instead."""
    store = project.store
    current = store.routes()
    waiting = store.waiting_on_answers()
    decided, _ = plan_routes(project, model)
    return Counter(
        (current.get(d.item_id, "unlabeled"), d.route.value)
        for d, _ in decided
        if d.item_id not in waiting and current.get(d.item_id, "unlabeled") != d.route.value
    )


def switch_routing_model(project: Project, model: str, apply: bool = True) -> Counter:
    """Make ``model`` the routing model (labelloop.toml) and route on it; the route changes,
    reported before (``apply=False``: only reported) they are made."""
    if project.config.routing.cascade:
        raise ConfigError(
            "The cascade in labelloop.toml routes this project: change [routing] cascade there"
        )
    if not project.store.has_suggestions(model):
        raise ConfigError(
            f"No suggestions from {model} yet: run `labelloop label --model {model}` first"
        )
    changes = route_changes(project, model)
    if apply:
        set_routing_model(project, model)
        route(project)
    return changes


@contextmanager
def run_lock(store, name: str, what: str) -> Iterator[None]:
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
