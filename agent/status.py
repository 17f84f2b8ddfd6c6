"""``labelloop status``: counts per route and queue, spend, calibration and audit state."""

from __future__ import annotations

from agent.config import Project
from agent.pipeline import routing_state
from agent.types import QUEUE_ROUTES


def project_status(project: Project) -> dict:
    """Everything ``status`` shows, as plain data."""
    store = project.store
    guideline = project.guideline()
    routes = store.route_counts()
    state = routing_state(project)
    return {
        "project": str(project.root),
        "task": guideline.task,
        "guideline_version": guideline.version,
        "model": state.get("model", project.model()),
        "items": sum(routes.values()),
        "reviews": store.count_reviews(),
        "routes": routes,
        "queues": {q: sum(routes.get(r, 0) for r in rs) for q, rs in QUEUE_ROUTES.items()},
        "failures": [{"reason": r, "items": n} for r, n in store.route_reasons("failed")],
        "suggestions": store.suggestion_totals(),
        "llm": store.llm_totals_by_model(),
        "calibration": store.get_state("calibration")
        or {"calibrated": False, "policy": state.get("policy")},
        "audit_alarm": store.get_state("audit_alarm") or {"active": False},
    }
