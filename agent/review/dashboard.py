"""The lead's dashboard: progress and burndown, reviewers' pace, agreement, the certified
coverage and its guarantee, the audit alarm and cost on top; the details below. A guideline
that asks several questions has its agreement, eval figures and plots per question, each
measured on its own as ``labelloop eval`` does."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from labelloop.core.types import QUEUE_ROUTES
from labelloop.evals.report import headline
from labelloop.label.providers import LOCAL
from labelloop.learn.evaluate import dashboard_figures_of, dashboard_questions_of, report_plots
from labelloop.route.status import project_status

if TYPE_CHECKING:
    from labelloop.core.types import Review
    from labelloop.store import Store

#: throughput is measured over the reviews of this window
WINDOW = timedelta(hours=24)
#: days of the reviewers' pace
PACE_DAYS = 14
#: bootstrap resamples behind the agreement intervals (seeded: the same figures as
#: ``labelloop eval`` computes with as many)
BOOT = 200
#: what counts as a reviewer's decision in the pace
PACE_ACTIONS = ("accept", "fix", "reject")
#: joins a question's name and a plot's: "category: confusion matrix"
PLOT_SEP = ": "


def dashboard(project, gold: dict[str, tuple[int, int]]) -> dict:
    """Everything the dashboard shows, as plain data: ``top`` (the ten-second read),
    ``details`` (folded below) and ``plots`` (the eval report's, name -> PNG bytes)."""
    status = project_status(project)
    guideline = project.guideline()
    reviews = list(project.store.iter_reviews())  # read once for every figure below
    if guideline.asks_questions:  # each question measured on its own, as eval does
        per = dashboard_questions_of(project, reviews, n_boot=BOOT)
        agreed, evaluation, plots = by_question(per, guideline.task)
    else:
        figures, summary = dashboard_figures_of(project, reviews, n_boot=BOOT)
        agreed, evaluation = agreement(summary), headline(figures, guideline.task)
        plots = report_plots(figures)
    now = datetime.now(UTC)
    top = {
        "progress": progress(project.store, status, now),
        "pace": pace(reviews, now),
        "agreement": agreed,
        "certified": certified(status),
        "audit_alarm": status["audit_alarm"],
        "cost": cost(status["llm"]),
    }
    details = {
        "routes": status["routes"],
        "queues": status["queues"],
        "throughput": throughput(reviews, now - WINDOW),
        "gold_accuracy": {k: {"correct": c, "total": n} for k, (c, n) in gold.items()},
        "calibration": status["calibration"],
        "calibration_outlook": status["calibration_outlook"],
        "cost": {"llm": status["llm"], "suggestions": status["suggestions"]},
        # the figures of ``labelloop eval``, same definitions, as points (per question:
        # ``{"questions": {name: figures}}``)
        "evaluation": evaluation,
    }
    return {
        "task": guideline.task,
        "labels": list(guideline.label_names),  # as the guideline writes them
        "top": top,
        "details": details,
        "plots": plots,
    }


def by_question(
    per: Mapping[str, tuple[dict, dict]], task: str
) -> tuple[dict, dict, dict[str, bytes]]:
    """A guideline's questions, each measured on its own (question name -> the report's
    figures and ``agreement_summary``, see ``dashboard_questions_of``): the agreement
    (``questions_agreement``), the eval figures per question (``{"questions": {name:
    headline}}``) and the plots, each named after its question (``plot_name``)."""
    agreed = questions_agreement({q: summary for q, (_, summary) in per.items()})
    evaluation = {"questions": {q: headline(f, f"{task}/{q}") for q, (f, _) in per.items()}}
    plots = {
        plot_name(q, name): png
        for q, (figures, _) in per.items()
        for name, png in report_plots(figures).items()
    }
    return agreed, evaluation, plots


def questions_agreement(summaries: Mapping[str, dict]) -> dict:
    """Per question of a guideline that asks several, its own ``agreement`` (question name
    as written -> the figures a single task gives), under the routing model they share."""
    router = next((s["routing_model"] for s in summaries.values()), None)
    return {
        "model": router,
        "model_name": model_name(router),
        "questions": {q: agreement(s) for q, s in summaries.items()},
    }


def plot_name(question: str, name: str) -> str:
    """A plot's name with the question it belongs to: "category: confusion matrix"."""
    return f"{question}{PLOT_SEP}{name}"


def model_name(model: str | None) -> str:
    """The routing model as people call it: "local model", or the LLM's own name."""
    if not model:
        return "no model yet"
    return "local model" if model == LOCAL else model


def queues_of(routes: dict[str, int]) -> dict[str, int]:
    """Items waiting in each review queue, from items per route."""
    return {q.value: sum(routes.get(r.value, 0) for r in rs) for q, rs in QUEUE_ROUTES.items()}


def progress(store: Store, status: dict, now: datetime) -> dict:
    """Items per route and queue now, and the burndown: the route history's records and
    the counts now, oldest first; ``since``: where the history starts (None: no record)."""
    history = store.route_history()
    points = [*history, (now, status["routes"])]
    return {
        "items": status["items"],
        "reviews": status["reviews"],
        "routes": status["routes"],
        "queues": status["queues"],
        "since": history[0][0] if history else None,
        "burndown": [
            {"at": at, "routes": dict(counts), "queues": queues_of(counts)} for at, counts in points
        ],
    }


def pace(reviews: list[Review], now: datetime, days: int = PACE_DAYS) -> dict:
    """Decisions per reviewer per day (UTC) over the last ``days`` days, oldest first:
    accepts, fixes and rejects in the console (bulk accepts and imports aside)."""
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    dates = [first + timedelta(days=k) for k in range(days)]
    per: dict[str, Counter[date]] = {}
    for r in reviews:
        if r.source != "console" or r.bulk or r.action not in PACE_ACTIONS:
            continue
        day = _utc(r.created_at).date()
        if day >= first:
            per.setdefault(r.reviewer, Counter())[day] += 1
    return {
        "days": [d.isoformat() for d in dates],
        "reviewers": {who: [c[d] for d in dates] for who, c in sorted(per.items())},
    }


def agreement(summary: dict) -> dict:
    """The routing model against the people's consensus, and people against each other,
    overall and per week, with 95% intervals: ``labelloop eval``'s figures as they are
    (``labelloop.evals.report.agreement_summary``)."""
    model, humans = summary["model"], summary["humans"]
    vs = model["vs_consensus"] if model else None
    return {
        "model": summary["routing_model"],
        "model_name": model_name(summary["routing_model"]),
        "model_vs_people": None
        if vs is None
        else {"n": vs["n"], "accuracy": vs.get("accuracy"), "cohen_kappa": vs.get("cohen_kappa")},
        "model_weekly": model["weekly"] if model else [],
        "people": {
            "items": humans["items"],
            "percent_agreement": humans["percent_agreement"],
            "pairs": humans["pairs"],
        },
        "people_weekly": humans["weekly"],
    }


def certified(status: dict) -> dict:
    """The calibration in force: coverage it certifies, its threshold and guarantee."""
    cal, look = status["calibration"], status["calibration_outlook"]
    return {
        "calibrated": bool(cal.get("calibrated")),
        "coverage": look.get("coverage") or 0.0,
        "threshold": look.get("threshold"),
        "epsilon": cal.get("epsilon"),
        "delta": cal.get("delta"),
        "pairs": cal.get("calibration_pairs") or 0,
        "guarantee": cal.get("guarantee") or look.get("summary"),
        "auto_accepted": status["routes"].get("auto_accepted", 0),
    }


def cost(llm: dict[str, dict]) -> dict:
    """Spend, calls and tokens, in all and per model."""
    return {
        "usd": sum(m["cost_usd"] for m in llm.values()),
        "calls": sum(m["calls"] for m in llm.values()),
        "tokens": sum(m["prompt_tokens"] + m["completion_tokens"] for m in llm.values()),
        "by_model": {name: m["cost_usd"] for name, m in sorted(llm.items())},
    }


def throughput(reviews, since: datetime) -> dict[str, dict]:
    """Per reviewer over the window: decisions, median seconds each, decisions per hour of
    reviewing time (the sum of their durations)."""
    durations: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    for r in reviews:
        if r.source != "console" or r.bulk or _utc(r.created_at) < since:
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


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
