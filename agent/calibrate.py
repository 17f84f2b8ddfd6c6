"""The calibration step: learn from blind reviews how far confidences can be trusted.

Pairs (a routed suggestion and a blind human label on a uniformly drawn item) fit a
calibrator on one half and choose the auto-accept threshold on the other, with a stated
guarantee. The calibrated probability is written onto the model's suggestions, and
routing then auto-accepts only what clears the threshold.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent import calibration
from agent.config import Project
from agent.errors import LabelloopError
from agent.store.tables import CalibrationRunRow

CALIBRATION_STATE = "calibration"
ALARM_STATE = "audit_alarm"
MIN_PAIRS = 20


def current_versions(store, model: str, guideline_version: str) -> str | None:
    """The prompt version most of the model's latest suggestions were made under."""
    latest = store.latest_suggestions(model=model)
    versions = Counter(
        s.prompt_version for s in latest.values() if s.guideline_version == guideline_version
    )
    return versions.most_common(1)[0][0] if versions else None


def calibrate(
    project: Project, target_accuracy: float = 0.95, delta: float = 0.05, seed: int = 0
) -> dict[str, Any]:
    """Fit, choose the threshold, store the run, apply it to suggestions and re-route."""
    from agent import pipeline

    if not 0 < target_accuracy < 1 or not 0 < delta < 1:
        raise LabelloopError("--target-accuracy and --delta must be between 0 and 1 (exclusive)")
    store, epsilon = project.store, round(1 - target_accuracy, 10)
    model = pipeline.routing_state(project)["model"]
    guideline = project.guideline()
    prompt_version = current_versions(store, model, guideline.version)
    if prompt_version is None:
        raise LabelloopError(f"No suggestions from {model} yet: run `labelloop label` first")
    since = _fresh_since(store)
    pairs = store.calibration_pairs(model, prompt_version, guideline.version, since)
    if len(pairs) < MIN_PAIRS or len({p.correct for p in pairs}) < 2:
        return _not_enough(project, model, pairs, epsilon, delta)
    # The walk starts where the calibrated scores of the test pairs (not their labels)
    # predict a pass is likeliest, never with fewer items than a pass needs: one early
    # error at a tiny start would otherwise end the sequence. The guarantee is unchanged.
    result = calibration.fit_and_choose(
        [p.suggestion.signals for p in pairs], [p.correct for p in pairs], epsilon, delta, seed,
        start="predicted",
    )
    run_id = _save_run(store, model, prompt_version, guideline.version, pairs, result, delta)
    _apply(store, model, prompt_version, guideline.version, result.calibrator)
    report = _report(project, run_id, model, pairs, result)
    store.set_state(
        CALIBRATION_STATE,
        {k: report[k] for k in STATE_KEYS}
        | {
            "calibrated": True,
            "prompt_version": prompt_version,
            "guideline_version": guideline.version,
        },
    )
    store.set_state(ALARM_STATE, {"active": False, "cleared_at": _now()})
    report["routes"] = pipeline.route(project)
    return report


STATE_KEYS = ("run_id", "model", "threshold", "epsilon", "delta", "coverage", "guarantee")


def _fresh_since(store) -> datetime | None:
    """After an audit alarm, only calibration reviews made since it count."""
    alarm = store.get_state(ALARM_STATE) or {}
    if alarm.get("active") and alarm.get("raised_at"):
        return datetime.fromisoformat(alarm["raised_at"])
    return None


def _apply(store, model: str, prompt_version: str, guideline_version: str, calibrator) -> None:
    latest = [
        s
        for s in store.latest_suggestions(model=model).values()
        if s.prompt_version == prompt_version
        and s.guideline_version == guideline_version
        and s.value is not None
    ]
    probs = calibrator.predict([s.signals for s in latest]) if latest else []
    store.set_calibrated({s.id: float(p) for s, p in zip(latest, probs, strict=True)})


def _save_run(store, model, prompt_version, guideline_version, pairs, result, delta) -> int:
    t = result.threshold
    ids = [p.suggestion.item_id for p in pairs]
    return store.save_calibration_run(
        CalibrationRunRow(
            model=model,
            prompt_version=prompt_version,
            guideline_version=guideline_version,
            method=result.calibrator.method,
            threshold=t.threshold,
            target_accuracy=1 - t.epsilon,
            delta=delta,
            n_pairs=len(pairs),
            coverage=t.coverage,
            params={
                "calibrator": result.calibrator.to_dict(),
                "seed": result.seed,
                "fit_item_ids": [ids[i] for i in result.fit_index],
                "test_item_ids": [ids[i] for i in result.test_index],
                "sources": dict(Counter(p.source for p in pairs)),
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


def _report(project: Project, run_id: int, model: str, pairs, result) -> dict[str, Any]:
    t = result.threshold
    plots = _plots(project, run_id, result)
    return {
        "run_id": run_id,
        "model": model,
        "threshold": t.threshold,
        "epsilon": t.epsilon,
        "delta": t.delta,
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
        "guarantee": calibration.guarantee_sentence(t),
        "plots": plots,
    }


def _plots(project: Project, run_id: int, result) -> dict[str, str]:
    from evals.calibration import plot_reliability, plot_risk_coverage

    out = project.root / "reports"
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


def _not_enough(project: Project, model: str, pairs, epsilon: float, delta: float) -> dict:
    """Too few pairs to fit: nothing is auto-accepted, and we say how many are needed."""
    need = calibration.min_items_to_pass(epsilon, delta)
    project.store.set_state(
        CALIBRATION_STATE,
        {"calibrated": False, "model": model, "threshold": None, "reason": "too few pairs"},
    )
    from agent import pipeline

    routes = pipeline.route(project)
    return {
        "run_id": None,
        "model": model,
        "threshold": None,
        "epsilon": epsilon,
        "delta": delta,
        "calibration_pairs": len(pairs),
        "coverage": 0.0,
        "skipped_calibration_items": project.store.skipped_calibration_items(),
        "more_reviews_needed": max(MIN_PAIRS, 2 * need) - len(pairs),
        "guarantee": (
            f"Nothing is auto-accepted: {len(pairs)} calibration pairs (with both right and "
            f"wrong suggestions) are too few to fit; review the calibration queue "
            f"(at least about {2 * need} pairs are needed)."
        ),
        "routes": routes,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()


def plots_dir(project: Project) -> Path:
    return project.root / "reports"
