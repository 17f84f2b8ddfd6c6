"""The lead's dashboard: progress, reviewer throughput, agreement, calibration, cost."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import TYPE_CHECKING

from labelloop.core.types import Queue
from labelloop.evals.agreement import cohen_kappa, percent_agreement
from labelloop.learn.evaluate import comparable, dashboard_report
from labelloop.route.status import project_status

if TYPE_CHECKING:
    from labelloop.store import Store

#: throughput is measured over the reviews of this window
WINDOW = timedelta(hours=24)


def dashboard(project, gold: dict[str, tuple[int, int]]) -> dict:
    """Everything the dashboard shows, as plain data."""
    status = project_status(project)
    kind = project.guideline().kind
    reviews = list(project.store.iter_reviews())  # read once for every figure below
    evaluation, plots = dashboard_report(project, reviews)
    return {
        "routes": status["routes"],
        "queues": status["queues"],
        "items": status["items"],
        "reviews": status["reviews"],
        "throughput": throughput(reviews, datetime.now(UTC) - WINDOW),
        "agreement": agreement(project.store, reviews, kind, status["model"]),
        "gold_accuracy": {k: {"correct": c, "total": n} for k, (c, n) in gold.items()},
        "calibration": status["calibration"],
        "calibration_outlook": status["calibration_outlook"],
        "audit_alarm": status["audit_alarm"],
        "cost": {"llm": status["llm"], "suggestions": status["suggestions"]},
        # the figures of ``labelloop eval`` (without bootstrap intervals), same definitions,
        # and its plots (name -> PNG bytes)
        "evaluation": evaluation,
        "plots": plots,
    }


def throughput(reviews, since: datetime) -> dict[str, dict]:
    """Per reviewer over the window: decisions, median seconds each, decisions per hour of
    reviewing time (the sum of their durations)."""
    durations: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    for r in reviews:
        if r.source != "console" or r.bulk or r.created_at < since:
            continue
        counts[r.reviewer] = counts.get(r.reviewer, 0) + 1
        if r.duration_ms is not None:
            durations.setdefault(r.reviewer, []).append(r.duration_ms)
    out = {}
    for name, n in sorted(counts.items()):
        ms = durations.get(name, [])
        busy_hours = sum(ms) / 3_600_000
        out[name] = {
            "decisions": n,
            "median_seconds": statistics.median(ms) / 1000 if ms else None,
            "per_hour": round(len(ms) / busy_hours, 1) if busy_hours > 0 else None,
        }
    return out


def agreement(store: Store, reviews, kind: str, model: str | None) -> dict:
    """LLM-vs-human (routing model against each item's latest human label) and
    human-vs-human (every pair of reviewers on items two or more of them answered)."""
    latest: dict[str, dict[str, object]] = {}
    for r in reviews:
        if r.action in ("accept", "fix") and r.queue != Queue.ADJUDICATION and r.value is not None:
            latest.setdefault(r.item_id, {})[r.reviewer] = comparable(r.value, kind)
    pairs_a, pairs_b = [], []
    for answers in latest.values():
        for a, b in combinations(sorted(answers), 2):
            pairs_a.append(answers[a])
            pairs_b.append(answers[b])
    suggestions = store.latest_suggestions(model=model, item_ids=list(latest)) if latest else {}
    llm, human = [], []
    for item, answers in latest.items():
        s = suggestions.get(item)
        if s is not None and s.status == "ok":
            llm.append(comparable(s.value, kind))
            human.append(list(answers.values())[-1])
    return {
        "llm_vs_human": _pair_figures(llm, human),
        "human_vs_human": _pair_figures(pairs_a, pairs_b),
    }


def _pair_figures(a: list, b: list) -> dict:
    return {
        "n": len(a),
        "percent": percent_agreement(a, b),
        "cohen_kappa": cohen_kappa(a, b),
    }
