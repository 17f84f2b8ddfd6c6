"""``labelloop eval``: gather reviews and suggestions from the store, report, write files."""

from __future__ import annotations

import json
from pathlib import Path

from agent.config import Project
from agent.errors import LabelloopError
from agent.pipeline import routing_state
from agent.types import Guideline, LabelValue, Review, Suggestion
from evals.report import EvalInput, Prediction, build_report
from evals.report_render import to_html, to_markdown, write_plots

DECISIVE = ("accept", "fix", "import")
ADJUDICATION = "adjudication"


def comparable(value: LabelValue | None, kind: str):
    """A hashable form of a label value for the guideline's kind (None when it has none)."""
    if value is None or value.abstain:
        return None
    if kind == "multi":
        return tuple(sorted(value.labels or ()))
    if kind == "spans":
        return tuple(sorted((s.start, s.end, s.label) for s in value.spans or ()))
    return value.label


def gather(project: Project, n_boot: int = 1000) -> EvalInput:
    """Each reviewer's latest decisive review per item, adjudications, each model's labels."""
    guideline: Guideline = project.guideline()
    store = project.store
    annotations, adjudicated, weeks = _reviews(store.iter_reviews(), guideline.kind)
    models = {
        model: _predictions(store.latest_suggestions(model=model), guideline.kind)
        for model in sorted(store.suggestion_totals())
    }
    return EvalInput(
        labels=guideline.label_names,
        kind=guideline.kind,
        scale=guideline.scale,
        annotations=annotations,
        adjudicated=adjudicated,
        models=models,
        weeks=weeks,
        routing_model=routing_state(project).get("model"),
        n_boot=n_boot,
    )


def _reviews(reviews, kind: str) -> tuple[dict, dict, dict]:
    annotations: dict[str, dict[str, object]] = {}
    adjudicated: dict[str, object] = {}
    weeks: dict[str, str] = {}
    for r in reviews:  # oldest first: a later review replaces the reviewer's earlier one
        value = comparable(r.value, kind) if r.action in DECISIVE else None
        if value is None:
            continue
        if r.queue == ADJUDICATION:
            adjudicated[r.item_id] = value
        else:
            annotations.setdefault(r.item_id, {})[r.reviewer] = value
        weeks[r.item_id] = _week(r)
    return annotations, adjudicated, weeks


def _week(r: Review) -> str:
    year, week, _ = r.created_at.isocalendar()
    return f"{year}-W{week:02d}"


def _predictions(suggestions: dict[str, Suggestion], kind: str) -> dict[str, Prediction]:
    return {
        item: Prediction(
            comparable(s.value, kind), s.calibrated if s.calibrated is not None else s.confidence
        )
        for item, s in suggestions.items()
        if s.status == "ok"
    }


def evaluate(project: Project, n_boot: int = 1000) -> dict:
    """The agreement and calibration report's figures, as plain data."""
    figures = build_report(gather(project, n_boot))
    return {"task": project.guideline().task, **figures}


def write_report(figures: dict, out: Path) -> dict[str, Path]:
    """report.md, report.html and the PNG plots in ``out``; returns what was written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabelloopError(
            f"Cannot write the report to {out}: {exc}; pick another --out"
        ) from exc
    plots = write_plots(figures, out)
    written = {name: out / file for name, file in plots.items()}
    for name, text in (
        ("report.md", to_markdown(figures, plots)),
        ("report.html", to_html(figures, plots)),
        ("report.json", json.dumps(figures, indent=2, default=str)),
    ):
        (out / name).write_text(text, encoding="utf-8")
        written[name] = out / name
    return written
