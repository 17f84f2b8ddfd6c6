"""Route: where every labeled item goes now, planned from the store's state and applied to it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from labelloop.core.consensus import split_items
from labelloop.core.errors import ConfigError
from labelloop.core.types import Route, RouteDecision, Suggestion
from labelloop.project import Project
from labelloop.route import active, cascade
from labelloop.route import rules as routing
from labelloop.route import sample as calibration_sample
from labelloop.route.advice import label_first
from labelloop.route.state import (
    ACTIVE_PASS_STATE,
    ROUTING_STATE,
    RoutingState,
    check_audit,
    keep_rate,
    policy,
    routing_model,
    set_routing_model,
    stage_policies,
)
from labelloop.store.routes import ROUTE_COLUMNS

if TYPE_CHECKING:
    from labelloop.store import Store

#: how an item would be routed had it not been drawn: (decision, suggestion routed on)
Twin = Callable[[str, Suggestion | None], tuple[RouteDecision, Suggestion | None]]


def plan_routes(
    project: Project, model: str | None = None
) -> tuple[list[tuple[RouteDecision, Suggestion | None]], RoutingState]:
    """Every item's route on the routing model's suggestions (``model``'s when given; in a
    cascade, through the stages), and the routing state it was decided under; writes
    nothing."""
    decided, state, _ = _plan(project, model)
    return decided, state


def _plan(project: Project, model: str | None = None):
    """``plan_routes``, and (one routing model) how an undrawn twin of an item is routed."""
    store = project.store
    reviewed = store.reviewed_item_ids()
    stages = stage_policies(project) if model is None else []
    model = model or routing_model(project)
    if stages:
        decided = cascade.walk(store, stages, reviewed).decided
        return decided, RoutingState(model=model, cascade=stages), None
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
    return decided, RoutingState(model=model, policy=rules), twin


def _certified_suggestions(
    store: Store, model: str, rules: routing.RoutingPolicy, latest: dict[str, Suggestion]
) -> dict[str, Suggestion]:
    """Suggestions of the certified version for items whose latest suggestion is of
    another (a retrained model): what the threshold in force was tested on. With
    questions, when the thresholds in force were all tested on one version."""
    certified = {
        (p.prompt_version, p.guideline_version)
        for p in (rules.questions or {"": rules}).values()
        if p.threshold is not None and p.prompt_version is not None
    }
    if len(certified) != 1:
        return {}
    versions = certified.pop()
    other = {i for i, s in latest.items() if (s.prompt_version, s.guideline_version) != versions}
    if not other:
        return {}
    tested = store.version_suggestions(model, *versions)
    return {i: s for i, s in tested.items() if i in other}


def route(project: Project) -> dict[str, int]:
    """Route every item on its routing suggestion (in a cascade, through the stages); the
    active queue in the order ``[routing] active_order`` names (see ``labelloop.route.active``).

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
    decided = _adjudicate_splits(project, decided)
    decided, shadow = _draw_twins(decided, state, twin, passed, store.calibration_item_ids())
    waiting = store.waiting_on_answers()
    relabel = store.reviewed_since_routed()  # their browser label may be out of date
    seed = project.config.routing.seed
    decisions, priorities, queued = [], {}, {}
    for d, s in decided:
        stored = seen.rows.get(d.item_id)
        unchanged = d.route == Route.REVIEWED and stored and stored[0] == d.route
        if d.item_id in waiting or (unchanged and d.item_id not in relabel):
            continue
        d = _keep_accepted(d, stored)
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
    store.set_state(ROUTING_STATE, state.stored())
    store.set_state(
        ACTIVE_PASS_STATE,
        {"since": datetime.now(UTC).isoformat(), "shadow": shadow, "passed": sorted(passed)},
    )
    return store.route_counts()


def route_unlabeled(project: Project, item_ids: list[str]) -> int:
    """Route new items that nobody has labeled or decided (an import's, without labels);
    the rows written.

    Such an item is ``unlabeled`` whatever the policy says (no stage has a suggestion for
    it), and no other item's route reads it: routing plans each item from its own
    suggestions and reviews, and the active queue's order and the calibration draw take
    only labeled items. So ``route`` would leave every other row as it is and write these
    same rows; this writes them without planning the whole store. A row another process
    wrote first for one of them stays.
    """
    stages = [routing.RoutingPolicy(model=m) for m in project.config.routing.cascade or ()]
    decisions, priorities = [], {}
    for item_id in item_ids:
        if stages:
            d = routing.route_cascade(item_id, [(None, p) for p in stages], False)
        else:
            d = routing.route_item(item_id, None, False, routing.RoutingPolicy())
        decisions.append(d)
        priorities[item_id] = routing.priority(d, None)
    return project.store.add_routes(decisions, priorities)


def _keep_accepted(d: RouteDecision, stored: tuple | None) -> RouteDecision:
    """A reviewed item keeps the answers auto-accepted on it before people answered the
    rest: the questions and the suggestion its stored route row names."""
    if d.route != Route.REVIEWED or stored is None:
        return d
    accepted = stored[ROUTE_COLUMNS.index("accepted")]
    if not accepted:
        return d
    return routing.QuestionsDecision(
        **d.model_dump(exclude={"suggestion_id"}),
        suggestion_id=stored[ROUTE_COLUMNS.index("suggestion_id")],
        accepted=tuple(accepted),
    )


def _adjudicate_splits(project: Project, decided):
    """A judged item whose people split with no consensus (imported verdicts, say) waits in
    the adjudication queue, as an overlap pair that disagrees does: it has no label until
    an adjudicator decides (``labelloop.core.consensus``)."""
    guideline = project.guideline()
    if not guideline.judges:
        return decided
    split = split_items(list(project.store.iter_reviews()), guideline)
    if not split:
        return decided
    reason = "the people who judged it disagree, with no majority: an adjudicator decides"
    return [
        (
            d.model_copy(update={"route": Route.ADJUDICATION, "reason": reason})
            if d.item_id in split and d.route == Route.REVIEWED
            else d,
            s,
        )
        for d, s in decided
    ]


def passed_by_active(project: Project) -> set[str]:
    """The drawn items the active queue has passed so far (see ``labelloop.route.sample``)."""
    state = project.store.get_state(ACTIVE_PASS_STATE) or {}
    passed = set(state.get("passed", []))
    if state.get("shadow"):
        head, reached = project.store.active_frontier(datetime.fromisoformat(state["since"]))
        passed |= calibration_sample.passed_by_active(state["shadow"], head, reached)
    return passed


def _draw_twins(decided, state: RoutingState, twin: Twin | None, passed: set[str], blind: set[str]):
    """(decided, shadow): the calibration draw's items as if they had not been drawn.

    A drawn item (waiting, or answered blind: in ``blind``) that its undrawn twin would
    have in the active queue gets a shadow priority, its place in the queue's order; one
    the active queue has passed has left the draw's population, so if it still waits for
    a blind answer it is routed as its twin. Not for a cascade (its draw is per stage).
    """
    if twin is None:
        return decided, {}
    rules = state.policy
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
        (current.get(d.item_id, Route.UNLABELED), d.route.value)
        for d, _ in decided
        if d.item_id not in waiting and current.get(d.item_id, Route.UNLABELED) != d.route.value
    )


def switch_routing_model(project: Project, model: str, apply: bool = True) -> Counter:
    """Make ``model`` the routing model (labelloop.toml) and route on it; the route changes,
    reported before (``apply=False``: only reported) they are made."""
    if project.config.routing.cascade:
        raise ConfigError(
            "The cascade in labelloop.toml routes this project: change [routing] cascade there"
        )
    if not project.store.has_suggestions(model):
        raise ConfigError(f"No suggestions from {model} yet: {label_first(project, model)}")
    changes = route_changes(project, model)
    if apply:
        set_routing_model(project, model)
        route(project)
    return changes
