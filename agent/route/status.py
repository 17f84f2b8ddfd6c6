"""``labelloop status``: counts per route and queue, spend, calibration and audit state."""

from __future__ import annotations

from labelloop.core.types import QUEUE_ROUTES, Queue
from labelloop.label.judging import calls_per_item
from labelloop.project import Project
from labelloop.route import cascade
from labelloop.route.outlook import outlook
from labelloop.route.state import (
    audit_alarm_state,
    calibration_state,
    in_force,
    model_mismatch,
    question_states,
    routing_state,
    stage_policies,
)

#: routes where an item answered once still waits for another reviewer's answer (overlap);
#: adjudication holds items whose answers disagree, which wait for an adjudicator instead
_SECOND_ANSWER_ROUTES = tuple(
    r for q in (Queue.CALIBRATION, Queue.AUDIT, Queue.ACTIVE) for r in QUEUE_ROUTES[q]
)


def project_status(project: Project) -> dict:
    """Everything ``status`` shows, as plain data."""
    store = project.store
    guideline = project.guideline()
    routes = store.route_counts()
    state = routing_state(project)
    model = state.model
    llm = store.llm_totals_by_model()
    return {
        "project": str(project.root),
        "task": guideline.task,
        "guideline_version": guideline.version,
        "model": model,
        "items": sum(routes.values()),
        "reviews": store.count_reviews(),
        "routes": routes,
        "queues": {q.value: sum(routes.get(r, 0) for r in rs) for q, rs in QUEUE_ROUTES.items()},
        # answered once and still queued: waiting for a second reviewer (review.overlap)
        "answered_waiting": store.answered_waiting(_SECOND_ANSWER_ROUTES),
        "overlap": project.config.review.overlap,
        "failures": [{"reason": r, "items": n} for r, n in store.route_reasons("failed")],
        "suggestions": store.suggestion_totals(),
        "llm": llm,
        "calibration": calibration_state(project, model).stored()
        or {"calibrated": False, "policy": state.stored().get("policy")},
        "calibration_outlook": outlook(project, model),
        **({"questions": qs} if (qs := questions_status(project, model)) else {}),
        "cascade": cascade_status(project, llm),
        "audit_alarm": audit_alarm_state(store).stored() or {"active": False},
        "routing_note": model_mismatch(project),
    }


def questions_status(project: Project, model: str) -> dict[str, dict]:
    """Per question of a guideline that asks several: its calibration in force (pairs,
    threshold, coverage, guarantee) and the items whose answer to it is auto-accepted."""
    states = question_states(project, model)
    if not states:
        return {}
    accepted = project.store.accepted_counts()
    out = {}
    for q, cal in states.items():
        applied = in_force(project, cal)
        threshold = applied.threshold if applied else None
        out[q] = {
            "calibrated": cal.calibration_pairs is not None,
            "calibration_pairs": cal.calibration_pairs or 0,
            "threshold": threshold,
            "coverage": float(applied.coverage or 0.0) if threshold is not None else 0.0,
            "score_signal": applied.score_signal if applied else None,
            "look": cal.look,
            "run_id": cal.run_id,
            "more_reviews_needed": cal.more_reviews_needed or 0,
            "guarantee": cal.guarantee,
            "auto_accepted_items": accepted.get(q, 0),
        }
    return out


def cascade_status(project: Project, llm_totals: dict[str, dict]) -> dict | None:
    """Per stage: items reached, labeled, kept and auto-accepted; the LLM calls saved."""
    policies = stage_policies(project)
    if not policies:
        return None
    store = project.store
    walk = cascade.walk(store, policies, store.reviewed_item_ids())
    stages = [t.as_dict(k + 1) for k, t in enumerate(walk.tally)]
    # a judged item costs a call per reply order (and per simulated annotator)
    per = calls_per_item(project.guideline(), project.config.llm.simulated_annotators)
    for stage, p in zip(stages, policies, strict=True):
        stage["calls_avoided"] *= per
        cal = calibration_state(project, p.model)
        stage["calibration"] = {
            "calibrated": p.calibrated,
            "threshold": p.threshold,
            "run_id": cal.run_id,
            "coverage": cal.coverage,
            "why_not": None if p.calibrated else p.uncalibrated,
        }
    return {"stages": stages, "saved": cascade.savings(stages, llm_totals)}
