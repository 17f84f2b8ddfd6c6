"""The calibration step: learn from blind reviews how far confidences can be trusted.

Each run is one look of the calibration loop: the uniformly drawn items answered blind (see
``labelloop.route.sample``), paired with the model's current suggestions, test an
auto-accept threshold with a stated guarantee; look k is tested at δ·2^-k so that all looks
together keep δ. With one ordering signal (the local model's probability) the threshold is
on that signal and every pair tests it; with several, a combiner is fitted on some pairs and
tested on the rest. The calibrated probability is written onto the model's suggestions, and
routing then auto-accepts only what clears the threshold.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labelloop.core.consensus import rule_of
from labelloop.core.errors import LabelloopError
from labelloop.core.events import CALIBRATION_DONE
from labelloop.core.questions import Merge, answer_to
from labelloop.core.records import CalibrationRun
from labelloop.core.types import Route, Suggestion
from labelloop.project import Project
from labelloop.route import calibrator as calibration
from labelloop.route import cascade, router
from labelloop.route import sample as calibration_sample
from labelloop.route import state as route_state
from labelloop.route.advice import label_first
from labelloop.route.outlook import outlook
from labelloop.route.questions import question_suggestion
from labelloop.route.state import AuditAlarm, CalibrationState, Certification

if TYPE_CHECKING:
    from labelloop.store import Store

MIN_PAIRS = 20


def current_versions(latest: Mapping[str, Suggestion], guideline_version: str) -> str | None:
    """The prompt version most of the model's latest suggestions were made under."""
    versions = Counter(
        s.prompt_version for s in latest.values() if s.guideline_version == guideline_version
    )
    return versions.most_common(1)[0][0] if versions else None


def calibrate(
    project: Project,
    target_accuracy: float = 0.95,
    delta: float = 0.05,
    seed: int = 0,
    model: str | None = None,
) -> dict[str, Any]:
    """Fit, choose the threshold, store the run, apply it to suggestions and re-route.

    In a cascade, every stage in order (or only ``model``'s), each on the calibration pairs
    of the items that reached it.
    """
    if not 0 < target_accuracy < 1 or not 0 < delta < 1:
        raise LabelloopError("--target-accuracy and --delta must be between 0 and 1 (exclusive)")
    epsilon, stages = round(1 - target_accuracy, 10), project.config.routing.cascade or []
    if not stages:
        model = model or route_state.routing_model(project)
        report = calibrate_model(project, model, epsilon, delta, seed)
        routes = router.route(project)
        record_done(project, [report], routes)
        return report | {"routes": routes, "outlook": outlook(project, model)}
    if model is not None and model not in stages:
        raise LabelloopError(
            f"{model!r} is not a stage of the cascade in labelloop.toml: valid models are "
            f"{', '.join(stages)} (or leave out --model to calibrate every stage)"
        )
    since = _fresh_since(project.store)  # an alarm stays up until every stage is refitted
    reports = [
        calibrate_model(project, m, epsilon, delta, seed, since=since, skip_unlabeled=not model)
        for m in ([model] if model else stages)
    ]
    routes = router.route(project)
    record_done(project, reports, routes, None if model else cascade_guarantee(reports))
    if model is not None:
        stale = _stale_after(project, model)
        return reports[0] | {
            "routes": routes,
            "stale_stages": stale,
            "outlook": outlook(project, model),
        }
    reports = [r | {"outlook": outlook(project, r["model"])} for r in reports]
    return {"stages": reports, "guarantee": cascade_guarantee(reports), "routes": routes}


def calibrate_model(
    project: Project,
    model: str,
    epsilon: float,
    delta: float,
    seed: int = 0,
    since: datetime | None = None,
    skip_unlabeled: bool = False,
) -> dict[str, Any]:
    """Calibrate one model's suggestions (a cascade stage: on items that reached it)."""
    store, guideline = project.store, project.guideline()
    latest = store.latest_suggestions(model=model)  # read once: every step below uses it
    prompt_version = current_versions(latest, guideline.version)
    if prompt_version is None:
        hint = label_first(project, model)
        if skip_unlabeled:
            return {"model": model, "stage": _stage(project, model), "skipped": hint}
        raise LabelloopError(f"No suggestions from {model} yet: {hint}")
    since = _fresh_since(store) if since is None else since
    old = route_state.calibration_state(project, model)
    versions = (prompt_version, guideline.version)
    look = (latest, versions, since, old, epsilon, delta, seed)
    asked = {
        q: _calibrate_question(project, model, q, *look)
        for q in route_state.asked_questions(project)
    }
    report = _calibrate_item(project, model, *look, asked)
    return report | ({"questions": asked} if asked else {})


def _calibrate_item(
    project: Project,
    model: str,
    latest: dict[str, Suggestion],
    versions: tuple[str, str],
    since: datetime | None,
    old: CalibrationState,
    epsilon: float,
    delta: float,
    seed: int,
    asked: dict[str, dict],
) -> dict[str, Any]:
    """The look on the item as a whole (every answer right). With questions (``asked``:
    their reports) it routes nothing, and the sample grows to what the questions need."""
    store, prompt_version, guideline = project.store, versions[0], project.guideline()
    sample = _sample(project, model, versions, since, old, latest)
    pairs = sample.pairs
    grow = max((r["more_reviews_needed"] for r in asked.values()), default=None)
    if len(pairs) < MIN_PAIRS:  # all right (or all wrong) is evidence, not too little
        report = _not_enough(project, model, pairs, epsilon, delta, grow=grow)
        return report | _draw_report(sample)
    look, key, result = _fit(store, old, versions, pairs, latest, (epsilon, delta, seed))
    upstream = _upstream(project, model)
    run_id = _save_run(project, model, versions, pairs, result, delta, upstream)
    _apply(store, latest, prompt_version, guideline.version, result.calibrator)
    report = _report(project, run_id, model, pairs, result) | _draw_report(sample)
    more = report["more_reviews_needed"] if grow is None else grow
    state = CalibrationState(
        **{k: report[k] for k in STATE_KEYS},
        sample_rate=route_state.grown_rate(project, old, more),
        calibrated=True,
        prompt_version=prompt_version,
        guideline_version=guideline.version,
        upstream=upstream,
        looks=look,
        look_key=key,
    )
    if report["threshold"] is not None:
        state = state.model_copy(update={"certified": route_state.certification_of(state)})
    elif held := _held(project, old, epsilon, delta):
        state = state.model_copy(update={"certified": held})
        report["certified_in_force"] = held.stored()
    route_state.save_calibration_state(project, model, state)
    _refitted(project, model)
    return report


def _fit(store: Store, old: CalibrationState, versions, pairs, latest, target):
    """This look's number and key, and the calibrator fitted on ``pairs`` with its threshold
    chosen at ``target`` (epsilon, delta, seed), the stream being ``latest``'s usable
    suggestions of ``versions``."""
    epsilon, delta, seed = target
    stream = [
        s.signals
        for s in latest.values()
        if (s.prompt_version, s.guideline_version) == versions and calibration_sample.usable(s)
    ]
    look, key = _look(old, versions, pairs, stream, epsilon, delta)
    # The walk starts where the test scores (not their labels) predict a pass is likeliest,
    # never with fewer items than a pass needs: one early error at a tiny start would
    # otherwise end the sequence. The guarantee is unchanged.
    result = calibration.fit_and_choose(
        [p.suggestion.signals for p in pairs],
        [p.correct for p in pairs],
        epsilon,
        delta,
        seed,
        start="predicted",
        stream_items=_stream_items(store),
        stream_signals=stream,
        look=look,
    )
    return look, key, result


def _sample(
    project: Project,
    model: str,
    versions,
    since,
    cal: CalibrationState,
    latest,
    question: str | None = None,
):
    """The drawn items this look tests on (see ``labelloop.route.sample``); for a later
    cascade stage, only items that reached it. ``question``: pairs of that question alone
    (``latest`` then holds its suggestions, ``question_suggestion``); the draw, its rate
    and who has left the population are the item's."""
    store = project.store
    if question is None:
        agreed = rule_of(project.guideline(), complete=True)
    else:
        agreed = _answers_to(project.guideline(), question)

    def paired(since_):
        found = store.calibration_pairs(model, *versions, since_, consensus=agreed)
        if question is None:
            return found
        return [
            p.model_copy(update={"suggestion": question_suggestion(p.suggestion, question)})
            for p in found
        ]

    pairs = paired(since)
    excluded: set[str] = set()
    if since is not None:  # blind labels from before the alarm: the stream changed since
        fresh = {p.suggestion.item_id for p in pairs}
        excluded = {p.suggestion.item_id for p in paired(None) if p.suggestion.item_id not in fresh}
    reached = cascade.reached_items(store, route_state.stage_policies(project), model)
    if reached is not None:
        latest = {i: s for i, s in latest.items() if i in reached}
        pairs = [p for p in pairs if p.suggestion.item_id in reached]
    return calibration_sample.draw_sample(
        latest,
        versions,
        pairs,
        reviewed=_reviewed_by_people(store),
        skipped=store.skipped_calibration_item_ids(),
        rate=route_state.calibration_rate(project, cal),
        seed=project.config.routing.seed,
        excluded=excluded,
        passed=router.passed_by_active(project),
    )


def _answers_to(guideline, question: str):
    """The people's answer to one question from an item's blind reviews (those that answer
    it; each question by its own rule), or None when none answers it."""
    merge = Merge(guideline)
    return lambda reviews: answer_to(merge(reviews), question)


def _calibrate_question(
    project: Project,
    model: str,
    question: str,
    latest: dict[str, Suggestion],
    versions: tuple[str, str],
    since: datetime | None,
    item: CalibrationState,
    epsilon: float,
    delta: float,
    seed: int,
) -> dict[str, Any]:
    """One look at one question: its answers against the people's blind answers to it, on
    its own signals (``question_suggestion``); the item's draw and rate (``item``)."""
    store = project.store
    old = route_state.question_state(project, model, question)
    mine = {i: question_suggestion(s, question) for i, s in latest.items()}
    sample = _sample(project, model, versions, since, item, mine, question)
    pairs = sample.pairs
    if len(pairs) < MIN_PAIRS:
        report = _not_enough(project, model, pairs, epsilon, delta, question=question)
        return report | _draw_report(sample)
    look, key, result = _fit(store, old, versions, pairs, mine, (epsilon, delta, seed))
    run_id = _save_run(project, model, versions, pairs, result, delta, [], question=question)
    _apply_question(store, mine, versions, question, result.calibrator)
    report = _report(project, run_id, model, pairs, result, question=question)
    report |= _draw_report(sample)
    state = CalibrationState(
        **{k: report[k] for k in STATE_KEYS},
        calibrated=True,
        prompt_version=versions[0],
        guideline_version=versions[1],
        looks=look,
        look_key=key,
    )
    if report["threshold"] is not None:
        state = state.model_copy(update={"certified": route_state.certification_of(state)})
    elif held := _held(project, old, epsilon, delta):
        state = state.model_copy(update={"certified": held})
        report["certified_in_force"] = held.stored()
    route_state.save_question_state(project, model, question, state)
    return report


def _apply_question(store: Store, mine, versions, question: str, calibrator) -> None:
    """Write one question's calibrated probability into the signals of the model's latest
    suggestions of these versions (``"{question}.calibrated"``)."""
    current = [
        s for s in mine.values() if (s.prompt_version, s.guideline_version) == versions and s.value
    ]
    probs = calibrator.predict([s.signals for s in current]) if current else []
    store.set_question_calibrated(
        {s.id: {question: float(p)} for s, p in zip(current, probs, strict=True)}
    )


def _reviewed_by_people(store: Store) -> dict[str, str]:
    """item -> where people's decision came from: "console" or "import" (an item people
    are still deciding included: it has left what auto-acceptance can reach)."""
    return {i: r.source for i, r in store.human_decisions().items()}


def _look(
    cal: CalibrationState, versions, pairs, stream, epsilon: float, delta: float
) -> tuple[int, str]:
    """This look's number and what it tests: the same pairs, scores and targets as the last
    look give the same answer and spend nothing more; anything else is the next look."""
    raw = calibration.raw_probability(stream)
    digest = hashlib.sha256()
    digest.update(json.dumps([*versions, epsilon, delta, len(stream)]).encode())
    digest.update(np.sort(np.nan_to_num(raw, nan=-1.0)).tobytes())
    for p in pairs:
        digest.update(json.dumps([p.suggestion.item_id, p.correct, p.suggestion.id]).encode())
    key = digest.hexdigest()[:32]
    looks = int(cal.looks or 0)
    if cal.look_key == key and looks:
        return looks, key
    return looks + 1, key


def _draw_report(sample) -> dict[str, int]:
    return {
        "drawn": sample.drawn,
        "answered_blind": sample.answered,
        "counted_wrong": sample.counted_wrong,
        "waiting_blind": sample.waiting,
        "reviewed_elsewhere": sample.reviewed_elsewhere,
        "passed_active": sample.passed_active,
        "outdated_suggestions": sample.outdated,
        # pairs = answered blind + counted wrong + these (blind answers imported as a sample)
        "imported_outside": sample.imported_outside,
    }


STATE_KEYS = (
    "run_id",
    "model",
    "stage",
    "threshold",
    "epsilon",
    "delta",
    "coverage",
    "guarantee",
    "calibration_pairs",
    "more_reviews_needed",
    "expected_coverage",
    "waiting_blind",
    "score_signal",
    "look",
)


def _stream_items(store: Store) -> int:
    """The unreviewed items a threshold would apply to (the calibration sample aside)."""
    counts = store.route_counts()
    return sum(counts.get(r, 0) for r in route_state.DRAWABLE_ROUTES if r != Route.CALIBRATION)


def _stage(project: Project, model: str) -> int | None:
    """The model's 1-based cascade stage; None without a cascade."""
    stages = project.config.routing.cascade or []
    return stages.index(model) + 1 if model in stages else None


def _upstream(project: Project, model: str) -> list[int | None]:
    """The calibration runs in force for the cascade stages before the model's."""
    stages = project.config.routing.cascade or []
    before = stages[: stages.index(model)] if model in stages else []
    return [route_state.calibration_state(project, m).run_id for m in before]


def _refitted(project: Project, model: str) -> None:
    """Stop the audit alarm once every stage has been refitted since it was raised."""
    store = project.store
    alarm = route_state.audit_alarm_state(store)
    done = sorted({*alarm.refitted, model})
    stages = project.config.routing.cascade or [model]
    if alarm.active and not set(stages) <= set(done):
        route_state.save_audit_alarm(store, alarm.model_copy(update={"refitted": done}))
    else:
        route_state.save_audit_alarm(store, AuditAlarm(active=False, cleared_at=_now()))


def _stale_after(project: Project, model: str) -> list[str]:
    """Later cascade stages whose calibration no longer matches the stages before them."""
    return [
        p.model
        for p in route_state.stage_policies(project)
        if p.model != model
        and not p.calibrated
        and route_state.calibration_state(project, p.model).calibrated
    ]


def cascade_guarantee(reports: list[dict]) -> str:
    """The guarantee of the cascade as a whole, from its stages' (union bound over stages)."""
    fitted = [r for r in reports if r.get("threshold") is not None]
    if not fitted:
        return "Nothing is auto-accepted: no stage has a threshold with a guarantee yet."
    eps = max(r["epsilon"] for r in fitted)
    conf = 1 - sum(r["delta"] for r in fitted)
    return (
        f"With probability >= {conf:.0%}, at most {eps:.0%} of all auto-accepted labels are "
        f"wrong: each of the {len(fitted)} calibrated stages meets its own guarantee on the "
        "items that reached it (a union bound over the stages), provided the calibration "
        "items are a uniform random sample of the stream, labeled blind."
    )


def record_done(
    project: Project, reports: list[dict], routes: dict[str, int], guarantee: str | None = None
) -> None:
    """Record the ``calibration.done`` event of a calibration whose routing is done."""
    data = calibration_done(reports, routes, guarantee)
    key = f"{CALIBRATION_DONE}:{uuid.uuid4().hex}"  # each calibration is a fact of its own
    now = datetime.now(UTC)
    project.store.record_events([(CALIBRATION_DONE, key, data, now)], now)


def calibration_done(
    reports: list[dict], routes: dict[str, int], guarantee: str | None = None
) -> dict[str, Any]:
    """The ``calibration.done`` event's data: each model's look (threshold, coverage,
    target, guarantee, pairs; per question where the guideline asks several) and the items
    per route after it. One model: its look's keys at the top; a cascade: ``stages`` (one
    look each) and the cascade's ``guarantee``."""
    looks = [_look_data(r) for r in reports if "skipped" not in r]
    if guarantee is None and len(looks) == 1:
        return {**looks[0], "routes": dict(routes)}
    return {"stages": looks, "guarantee": guarantee, "routes": dict(routes)}


def _look_data(report: dict) -> dict[str, Any]:
    epsilon = report.get("epsilon")
    out = {
        "model": report.get("model"),
        "threshold": report.get("threshold"),
        "coverage": report.get("coverage"),
        "target_accuracy": None if epsilon is None else round(1 - epsilon, 10),
        "delta": report.get("delta"),
        "calibration_pairs": report.get("calibration_pairs"),
        "more_reviews_needed": report.get("more_reviews_needed"),
        "run_id": report.get("run_id"),
        "guarantee": report.get("guarantee"),
    }
    if report.get("stage") is not None:
        out["stage"] = report["stage"]
    if report.get("questions"):
        out["questions"] = {q: _look_data(r) for q, r in report["questions"].items()}
    return out


def _fresh_since(store: Store) -> datetime | None:
    """After an audit alarm, only calibration reviews made since it count."""
    alarm = route_state.audit_alarm_state(store)
    if alarm.active and alarm.raised_at:
        return datetime.fromisoformat(alarm.raised_at)
    return None


def _apply(store: Store, latest, prompt_version: str, guideline_version: str, calibrator) -> None:
    """Write the calibrated probability onto the model's latest suggestions of these
    versions."""
    current = [
        s
        for s in latest.values()
        if s.prompt_version == prompt_version
        and s.guideline_version == guideline_version
        and s.value is not None
    ]
    probs = calibrator.predict([s.signals for s in current]) if current else []
    store.set_calibrated({s.id: float(p) for s, p in zip(current, probs, strict=True)})


def _save_run(
    project: Project, model, versions, pairs, result, delta, upstream, question=None
) -> int:
    t = result.threshold
    ids = [p.suggestion.item_id for p in pairs]
    stage = {"stage": _stage(project, model), "upstream_run_ids": upstream} if upstream else {}
    return project.store.save_calibration_run(
        CalibrationRun(
            model=model,
            prompt_version=versions[0],
            guideline_version=versions[1],
            method=result.calibrator.method,
            threshold=t.threshold,
            target_accuracy=1 - t.epsilon,
            delta=delta,
            n_pairs=len(pairs),
            coverage=t.coverage,
            question=question,
            params={
                "calibrator": result.calibrator.to_dict(),
                "seed": result.seed,
                "score_signal": result.score_signal,
                "look": t.look,
                "fit_item_ids": [ids[i] for i in result.fit_index],
                "test_item_ids": [ids[i] for i in result.test_index],
                "sources": dict(Counter(p.source for p in pairs)),
                **stage,
            },
            metrics={
                "threshold": t.to_dict(),
                "ece_before": result.ece_before,
                "ece_after": result.ece_after,
                "brier_before": result.brier_before,
                "brier_after": result.brier_after,
            },
        )
    )


def _report(
    project: Project, run_id: int, model: str, pairs, result, question: str | None = None
) -> dict[str, Any]:
    t = result.threshold
    plots = _plots(project, run_id, result)
    guarantee = calibration.guarantee_sentence(t, judging=project.guideline().judges)
    return {
        **({"question": question} if question else {}),
        "run_id": run_id,
        "model": model,
        "stage": _stage(project, model),
        "threshold": t.threshold,
        "epsilon": t.epsilon,
        "delta": t.delta if t.loop_delta is None else t.loop_delta,
        "calibration_pairs": len(pairs),
        "fit_pairs": len(result.fit_index),
        "test_pairs": len(result.test_index),
        "skipped_calibration_items": project.store.skipped_calibration_items(),
        "coverage": t.coverage,
        "n_above": t.n_above,
        "errors_above": t.errors_above,
        "observed_accuracy": t.observed_accuracy,
        "accuracy_lower_bound": None if t.upper_bound is None else 1 - t.upper_bound,
        "error_upper_bound": t.upper_bound,
        "ece_before": result.ece_before,
        "ece_after": result.ece_after,
        "brier_before": result.brier_before,
        "brier_after": result.brier_after,
        "method": result.calibrator.method,
        "more_reviews_needed": t.more_reviews_needed,
        "expected_coverage": t.expected_coverage,
        "score_signal": result.score_signal,
        "look": t.look,
        "look_delta": t.delta,
        "reason": t.reason,
        "guarantee": _of_question(guarantee, question),
        "plots": plots,
    }


def _plots(project: Project, run_id: int, result) -> dict[str, str]:
    from labelloop.evals.calibration import plot_reliability, plot_risk_coverage

    out = plots_dir(project)
    out.mkdir(exist_ok=True)
    rel = plot_reliability(
        result.reliability_before,
        result.reliability_after,
        out / f"calibration-{run_id}-reliability.png",
    )
    rc = plot_risk_coverage(
        result.risk_coverage,
        result.threshold.threshold,
        result.threshold.epsilon,
        out / f"calibration-{run_id}-risk-coverage.png",
    )
    return {"reliability": str(rel), "risk_coverage": str(rc)}


def _of_question(sentence: str, question: str | None) -> str:
    """A guarantee sentence, of one question's answers when ``question`` is given."""
    if question is None:
        return sentence
    return f"Question {question} (its answers alone): {sentence}"


def _not_enough(
    project: Project,
    model: str,
    pairs,
    epsilon: float,
    delta: float,
    grow: int | None = None,
    question: str | None = None,
) -> dict:
    """Too few pairs to fit: nothing is auto-accepted, and we say how many are needed.
    ``grow``: the blind reviews the sample grows by (default: what this look needs);
    ``question``: a look at one question (its state kept apart, the sample the item's)."""
    need = calibration.min_items_to_pass(epsilon, delta)
    more = max(0, max(MIN_PAIRS, 2 * need) - len(pairs))
    if question is None:
        old = route_state.calibration_state(project, model)
    else:
        old = route_state.question_state(project, model, question)
    # the population can shrink under a sample (people review what is left): a look that
    # tests nothing takes back no certification
    held = _held(project, old, epsilon, delta)
    state = CalibrationState(
        calibrated=held is not None,
        **({"certified": held} if held else {}),
        model=model,
        threshold=None,
        reason="too few pairs",
        epsilon=epsilon,
        delta=delta,
        calibration_pairs=len(pairs),
        more_reviews_needed=more,
        expected_coverage=None,
        # no test was made: the looks taken so far still count
        looks=old.looks,
        look_key=old.look_key,
    )
    left = sum(n for r, n in project.store.route_counts().items() if r != Route.REVIEWED)
    few = (
        f"{len(pairs)} calibration pairs are too few to fit (at least {MIN_PAIRS}); review "
        f"the calibration queue (about {2 * need} pairs are needed for a threshold)."
        if more <= left
        else f"{len(pairs)} calibration pairs are too few to fit, and the {left} items not "
        f"reviewed yet cannot make up the {more} more a threshold needs: this project is too "
        "small to certify one; review its items in the console (`labelloop review`)."
    )
    if question is None:
        rate = route_state.grown_rate(project, old, more if grow is None else grow)
        state = state.model_copy(update={"sample_rate": rate})
        route_state.save_calibration_state(project, model, state)
    else:
        route_state.save_question_state(project, model, question, state)
    return {
        **({"question": question} if question else {}),
        "run_id": None,
        "model": model,
        "stage": _stage(project, model),
        "threshold": None,
        "epsilon": epsilon,
        "delta": delta,
        "calibration_pairs": len(pairs),
        "coverage": 0.0,
        "skipped_calibration_items": project.store.skipped_calibration_items(),
        "more_reviews_needed": more,
        "expected_coverage": None,
        "guarantee": _of_question(few if held else f"Nothing is auto-accepted: {few}", question),
        **({"certified_in_force": held.stored()} if held else {}),
    }


def _held(
    project: Project, old: CalibrationState, epsilon: float, delta: float
) -> Certification | None:
    """The certification of an earlier look that stays in force (not in a cascade: a stage
    routes on its latest suggestions only)."""
    if project.config.routing.cascade:
        return None
    now = old.model_copy(update={"epsilon": epsilon, "delta": delta})
    return route_state.certified(now, project.guideline().version)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def plots_dir(project: Project) -> Path:
    """Where calibration plots are written."""
    return project.root / "reports"
