"""Routing state kept in the store: the routing model, the calibration in force per model,
the audit alarm and the active queue's pass over the calibration draw."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from labelloop.core.events import AUDIT_ALARM
from labelloop.core.types import Queue, Route
from labelloop.project import Project
from labelloop.route import rules as routing

if TYPE_CHECKING:
    from labelloop.store import Store
    from labelloop.store.webhooks import Fact

ROUTING_STATE = "routing"


class _Stored(BaseModel):
    """State kept in the store as JSON: read back as it was written (keys of older versions
    included), written with the keys that were set."""

    model_config = ConfigDict(frozen=True, extra="allow")

    def stored(self) -> dict[str, Any]:
        """The keys that were set, each whole (a nested policy with its defaults too)."""
        dump = self.model_dump(mode="json")
        return {k: v for k, v in dump.items() if k in self.model_fields_set}


class RoutingState(_Stored):
    """The routing model and the policy the store was last routed with (a cascade: each
    stage's)."""

    model: str
    policy: routing.RoutingPolicy | None = None
    cascade: list[routing.RoutingPolicy] | None = None

    def stored(self) -> dict[str, Any]:
        """As ``_Stored.stored``; a policy without questions is written as it always was."""
        out = super().stored()
        for p in [out.get("policy"), *(out.get("cascade") or [])]:
            if p is not None and p.get("questions") is None:
                p.pop("questions", None)
        return out


class Certification(_Stored):
    """What a certified look leaves for routing: its threshold on the labels of the model
    version it tested, under the targets it was tested at."""

    threshold: float | None = None
    prompt_version: str | None = None
    guideline_version: str | None = None
    score_signal: str | None = None
    look: int | None = None
    run_id: int | None = None
    coverage: float | None = None
    epsilon: float | None = None
    delta: float | None = None


class CalibrationState(_Stored):
    """The calibration in force for one model's suggestions, as the last look left it
    (``labelloop.route.calibrate``). Nothing set: never calibrated, no sample rate kept."""

    calibrated: bool = False
    model: str | None = None
    stage: int | None = None
    run_id: int | None = None
    threshold: float | None = None
    epsilon: float | None = None
    delta: float | None = None
    coverage: float | None = None
    guarantee: str | None = None
    reason: str | None = None
    #: set by every look (None: no look yet, only a kept sample rate)
    calibration_pairs: int | None = None
    more_reviews_needed: int | None = None
    expected_coverage: float | None = None
    #: drawn items the last look was still waiting for (the calibration queue may hold
    #: more: drawn items the active queue has passed, whose answers no longer calibrate)
    waiting_blind: int | None = None
    score_signal: str | None = None
    look: int | None = None
    sample_rate: float | None = None
    prompt_version: str | None = None
    guideline_version: str | None = None
    #: in a cascade, the calibration runs of the stages before this one
    upstream: list[int | None] = []
    looks: int = 0
    look_key: str | None = None
    certified: Certification | None = None


class AuditAlarm(_Stored):
    """The audit alarm: raised when audited auto-accepted labels err more than promised,
    cleared once every routing model is recalibrated on fresh reviews."""

    active: bool = False
    raised_at: str | None = None
    cleared_at: str | None = None
    model: str | None = None
    audited: int | None = None
    wrong: int | None = None
    reason: str | None = None
    #: cascade stages refitted since the alarm was raised
    refitted: list[str] = []


#: the model the store routes on (set by the first label run and `labelloop route`)
ROUTING_MODEL_STATE = "routing_model"


#: bounds of the automatically sized calibration sample (share of items)
MIN_AUTO_RATE, MAX_AUTO_RATE = 0.02, 0.5


ALARM_STATE = "audit_alarm"


#: the drawn items' shadow places in the active queue's order, and those it has passed
#: (see ``labelloop.route.sample``)
ACTIVE_PASS_STATE = "active_pass"


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
    from labelloop.project import write_model

    if project.config.model != model:
        write_model(project, model)
    project.store.set_state(ROUTING_MODEL_STATE, {"model": model})


def routing_state(project: Project) -> RoutingState:
    """The routing model and the policy last routed with."""
    stored = project.store.get_state(ROUTING_STATE) or {}
    return RoutingState.model_validate({**stored, "model": routing_model(project)})


def calibration_state(project: Project, model: str) -> CalibrationState:
    """The calibration in force for a model's suggestions (nothing set when there is none)."""
    store = project.store
    state = store.get_state(calibration_key(model))
    if state is None:  # projects calibrated before states were kept per model
        legacy = store.get_state("calibration") or {}
        state = legacy if legacy.get("model") == model else {}
    return CalibrationState.model_validate(state)


def save_calibration_state(project: Project, model: str, state: CalibrationState) -> None:
    project.store.set_state(calibration_key(model), state.stored())


def audit_alarm_state(store: Store) -> AuditAlarm:
    return AuditAlarm.model_validate(store.get_state(ALARM_STATE) or {})


def save_audit_alarm(store: Store, alarm: AuditAlarm) -> None:
    """Keep the alarm's state; when it goes up or down, the ``audit.alarm`` event is
    recorded in the same transaction (webhooks are told of it)."""
    change = alarm_change(audit_alarm_state(store), alarm)
    if change is None:
        store.set_state(ALARM_STATE, alarm.stored())
    else:
        store.record_events([change], datetime.now(UTC), state=(ALARM_STATE, alarm.stored()))


def alarm_change(old: AuditAlarm, new: AuditAlarm) -> Fact | None:
    """The ``audit.alarm`` fact (type, key, data, time) when the alarm is raised or cleared;
    None when it stays as it was. A clearing carries the figures of the raising it ends. Its
    key names the transition before it (else its own time), so two processes making the same
    change (two calibrations clearing one alarm) record it once."""
    if new.active == old.active:
        return None
    raised = new if new.active else old
    state = "raised" if new.active else "cleared"
    at = (new.raised_at if new.active else new.cleared_at) or datetime.now(UTC).isoformat()
    after = (old.cleared_at if new.active else old.raised_at) or at
    data = {
        "state": state,
        "model": raised.model,
        "audited": raised.audited,
        "wrong": raised.wrong,
        "reason": raised.reason,
        "raised_at": raised.raised_at,
        "cleared_at": None if new.active else at,
    }
    when = datetime.fromisoformat(at)
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return (AUDIT_ALARM, f"{AUDIT_ALARM}:{state}:after:{after}", data, when)


def calibration_key(model: str) -> str:
    return f"calibration:{model}"


def question_key(model: str, question: str) -> str:
    """Where the calibration of one question of a model's suggestions is kept."""
    return f"{calibration_key(model)}#{question}"


def asked_questions(project: Project) -> list[str]:
    """The questions calibrated and routed one by one: a guideline's questions (none for a
    one-question guideline, nor in a cascade, whose stages route items as a whole)."""
    guideline = project.guideline()
    if not guideline.asks_questions or project.config.routing.cascade:
        return []
    return guideline.question_names


def question_state(project: Project, model: str, question: str) -> CalibrationState:
    """The calibration in force for one question of a model's suggestions."""
    return CalibrationState.model_validate(
        project.store.get_state(question_key(model, question)) or {}
    )


def save_question_state(
    project: Project, model: str, question: str, state: CalibrationState
) -> None:
    project.store.set_state(question_key(model, question), state.stored())


def question_states(project: Project, model: str) -> dict[str, CalibrationState]:
    """Each asked question's calibration in force (``asked_questions``), in guideline order."""
    return {q: question_state(project, model, q) for q in asked_questions(project)}


def certification_of(cal: CalibrationState) -> Certification:
    """The certification a look's own state holds (its threshold, versions and targets)."""
    return Certification(**{k: getattr(cal, k) for k in Certification.model_fields})


def certified(cal: CalibrationState, guideline_version: str) -> Certification | None:
    """The certification routing uses: the last look that certified a threshold, on the
    labels of the model version it tested, for as long as the guideline is the one it was
    tested under. A later look that certifies nothing (too few pairs for a retrained
    model, say) does not take it back: each look's guarantee stands on its own share of δ,
    and its version's labels stay auto-accepted until a look certifies the newer ones."""
    if not cal.calibrated:
        return None
    c = cal.certified
    if c is None and cal.threshold is not None:  # states written before "certified"
        c = certification_of(cal)
    if c is None or c.threshold is None or c.guideline_version != guideline_version:
        return None
    if (c.epsilon, c.delta) != (cal.epsilon, cal.delta):
        return None  # another target: its certification says nothing of this one
    return c


def in_force(project: Project, cal: CalibrationState) -> Certification | None:
    """What of a calibration state routing applies (None when nothing): the last certified
    look (``certified``); in a cascade the state's own look, as a stage routes on its latest
    suggestions only and keeps no earlier version's."""
    if project.config.routing.cascade:
        return certification_of(cal) if cal.calibrated else None
    return certified(cal, project.guideline().version)


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
    raised = audit_alarm_state(store)
    # a cascade stage refitted on fresh reviews since the alarm auto-accepts again
    alarm = raised.active and model not in raised.refitted
    rates = {
        "calibration_rate": calibration_rate(project, cal),
        "audit_rate": cfg.audit_rate,
        "seed": cfg.seed,
        "alarm": alarm,
        "model": model,
    }
    if cal.calibrated and upstream is not None and cal.upstream != upstream:
        return routing.RoutingPolicy(
            uncalibrated="calibrated before the stages ahead of it were recalibrated: "
            "run `labelloop calibrate`",
            **rates,
        )
    asked = {} if upstream is not None else question_states(project, model)
    questions = {
        q: _calibrated_policy(project, c, rates, question=True) for q, c in asked.items()
    } or None
    if cal.calibrated:
        return _calibrated_policy(project, cal, rates).model_copy(update={"questions": questions})
    return routing.RoutingPolicy(threshold=cfg.threshold, questions=questions, **rates)


def _calibrated_policy(
    project: Project, cal: CalibrationState, rates: dict, question: bool = False
) -> routing.RoutingPolicy:
    """The policy of one calibration state: its certification in force, else the fixed
    threshold of labelloop.toml before any calibration. ``question``: one question's (its
    reason says when a look passed no threshold)."""
    if not cal.calibrated:
        return routing.RoutingPolicy(threshold=project.config.routing.threshold, **rates)
    c = in_force(project, cal)
    tested = c or cal  # nothing in force: the versions the last look tested
    return routing.RoutingPolicy(
        threshold=c.threshold if c else None,
        calibrated=True,
        prompt_version=tested.prompt_version,
        guideline_version=tested.guideline_version,
        score_signal=tested.score_signal,
        **rates,
        **({"uncalibrated": "no threshold certified yet"} if question and not c else {}),
    )


def calibration_rate(project: Project, cal: CalibrationState) -> float:
    """The share of items drawn into the calibration queue.

    A rate set in labelloop.toml is used as it is. Otherwise the rate the last calibration
    grew the sample to (see ``grown_rate``); before any, the sample is sized for the first
    look (tested at δ/2) to pass at 50% coverage with the error rate the model's own
    probabilities claim for its more confident half (at least ε/10, at most ε/4). ``route``
    keeps that first rate (``keep_rate``): the sample never shrinks.
    """
    cfg = project.config.routing
    if cfg.calibration_rate is not None:
        return cfg.calibration_rate
    if cal.sample_rate is not None:
        return float(cal.sample_rate)
    from labelloop.route.calibrator import calibration_sample_size, look_delta  # scipy

    epsilon, delta = cal.epsilon or 0.05, cal.delta or 0.05
    claimed = min(max(_claimed_error(project), epsilon / 10), epsilon / 4)
    needed = calibration_sample_size(epsilon, look_delta(delta, 1), 0.5, error_rate=claimed)
    items = max(project.store.count_items(), 1)
    return min(MAX_AUTO_RATE, max(MIN_AUTO_RATE, needed / items))


def _claimed_error(project: Project) -> float:
    """The error the routing model's own probabilities claim for its more confident half of
    the items (0 before it labeled anything)."""
    import numpy as np

    from labelloop.route.calibrator import raw_probability

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
        if cal.sample_rate is None and project.store.has_suggestions(model):
            rate = calibration_rate(project, cal)
            save_calibration_state(project, model, cal.model_copy(update={"sample_rate": rate}))


#: the routes of labeled, unreviewed items the calibration draw may pick from
DRAWABLE_ROUTES = (Route.CALIBRATION, Route.ACTIVE, Route.AUDIT, Route.AUTO_ACCEPTED)


def grown_rate(project: Project, cal: CalibrationState, more: int) -> float:
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
    waiting = len(project.store.queue_item_ids(Queue.CALIBRATION))
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
        upstream = [*upstream, calibration_state(project, model).run_id]
    return out


def check_audit(project: Project) -> AuditAlarm:
    """Raise the audit alarm on evidence that auto-accepted labels err more than promised."""
    from labelloop.route.calibrator import audit_alarm

    store = project.store
    alarm = audit_alarm_state(store)
    if alarm.active:
        return alarm
    since = datetime.fromisoformat(alarm.cleared_at) if alarm.cleared_at else None
    stages = project.config.routing.cascade
    if asked_questions(project):
        return _check_question_audits(project, alarm, since)
    for k, model in enumerate(stages or [routing_model(project)]):
        cal = calibration_state(project, model)
        if not cal.calibrated:
            continue
        n, wrong = store.audit_outcomes(since, model=model if stages else None)
        if n and audit_alarm(n, wrong, cal.epsilon, cal.delta):
            where = f"stage {k + 1} ({model}): " if stages else ""
            return _raise_alarm(store, model, cal, n, wrong, where, "labels")
    return alarm


def _raise_alarm(
    store: Store, model: str, cal: CalibrationState, n: int, wrong: int, where: str, noun: str
) -> AuditAlarm:
    """Raise and save the audit alarm: ``wrong`` of ``n`` audited auto-accepted ``noun``
    (labels, or one question's answers; ``where`` says whose) were wrong beyond the target."""
    alarm = AuditAlarm(
        active=True,
        raised_at=datetime.now(UTC).isoformat(),
        model=model,
        audited=n,
        wrong=wrong,
        reason=f"{where}{wrong} of {n} audited auto-accepted {noun} were "
        f"wrong: the error is above {cal.epsilon:.0%} with "
        f"{1 - cal.delta:.0%} confidence; run `labelloop calibrate` after fresh "
        "calibration reviews",
    )
    save_audit_alarm(store, alarm)
    return alarm


def _check_question_audits(project: Project, alarm: AuditAlarm, since) -> AuditAlarm:
    """``check_audit`` for a guideline with questions: each question's audited answers
    (those its route auto-accepted) against that question's targets."""
    from labelloop.route.calibrator import audit_alarm

    store, model = project.store, routing_model(project)
    for q, cal in question_states(project, model).items():
        if not cal.calibrated:
            continue
        n, wrong = store.question_audit_outcomes(q, since)
        if n and audit_alarm(n, wrong, cal.epsilon, cal.delta):
            return _raise_alarm(store, model, cal, n, wrong, f"question {q}: ", "answers")
    return alarm
