"""``labelloop eval``: gather reviews and suggestions from the store, report, write files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from labelloop.core.consensus import rule_of
from labelloop.core.errors import LabelloopError
from labelloop.core.questions import reviews_of
from labelloop.core.standing import final_label
from labelloop.core.types import DECISIVE, REOPEN, Guideline, LabelValue, Queue, Review, Suggestion
from labelloop.evals.aggregate import final_labels
from labelloop.evals.report import (
    RANKING_BOOTSTRAP,
    EvalInput,
    JudgingInput,
    Prediction,
    agreement_summary,
    build_report,
    dashboard_figures,
    no_bootstrap,
)
from labelloop.evals.report_render import to_html, to_markdown, write_plots
from labelloop.label.judging import ORDER_AGREEMENT
from labelloop.project import Project
from labelloop.route.questions import question_suggestion
from labelloop.route.state import routing_model

ADJUDICATION = Queue.ADJUDICATION


def eval_kind(guideline: Guideline) -> str:
    """The kind ``comparable`` reads a guideline's values as: ``turns`` for ``unit: turn``
    (one label per labeled turn), else the guideline's kind."""
    return "turns" if guideline.unit == "turn" and not guideline.judges else guideline.kind


def comparable(value: LabelValue | None, kind: str):
    """A hashable form of a label value for the guideline's kind (None when it has none)."""
    if value is None or value.abstain:
        return None
    if kind == "turns":
        return tuple(sorted(value.turns.items())) if value.turns else None
    if kind == "multi":
        return tuple(sorted(value.labels or ()))
    if kind == "spans":
        return tuple(sorted((s.start, s.end, s.label) for s in value.spans or ()))
    if kind == "rating":
        return tuple(sorted(value.ratings.items())) if value.ratings else None
    if kind == "ranking":
        return tuple(value.ranking) if value.ranking else None
    return value.label


def gather(
    project: Project,
    n_boot: int = 1000,
    reviews=None,
    rank_boot: int | None = None,
    question: str | None = None,
) -> EvalInput:
    """Each reviewer's latest decisive review per item, adjudications, each model's labels;
    for a judging task also the items' replies, the judges' order agreement and the final
    labels (see ``gather_judging``).

    ``reviews``: every review, oldest first, when the caller has read them already.
    ``rank_boot``: bootstrap resamples of the model rankings (default: ``n_boot``, at most
    ``RANKING_BOOTSTRAP``). ``question``: one question of a guideline that asks several,
    measured as a task of its own."""
    guideline: Guideline = project.guideline()
    store = project.store
    reviews = store.iter_reviews() if reviews is None else reviews
    latest = {model: store.latest_suggestions(model=model) for model in store.suggestion_totals()}
    if question is not None:  # one question of several: its answers, as a task of its own
        guideline = guideline.for_question(question)
        reviews = reviews_of(list(reviews), question)
        latest = {
            m: {i: question_suggestion(s, question) for i, s in made.items()}
            for m, made in latest.items()
        }
    kind = eval_kind(guideline)
    annotations, adjudicated, weeks = _reviews(reviews, kind)
    models = {model: _predictions(latest[model], kind) for model in sorted(latest)}
    if kind == "turns":  # agreement is measured turn by turn: each labeled turn is a unit
        annotations = {
            u: votes for i, by in annotations.items() for u, votes in _per_turn(i, by).items()
        }
        adjudicated = {u: v for i, lab in adjudicated.items() for u, v in _turn_units(i, lab)}
        weeks = {u: weeks[u.split(TURN_SEP)[0]] for u in annotations.keys() | adjudicated.keys()}
        models = {
            m: {
                u: Prediction(v, p.confidence)
                for i, p in preds.items()
                for u, v in _turn_units(i, p.value)
            }
            for m, preds in models.items()
        }
        kind = guideline.kind
    router = routing_model(project)
    judging = None
    if guideline.judges:
        rank_boot = min(n_boot, RANKING_BOOTSTRAP) if rank_boot is None else rank_boot
        judging = gather_judging(project, latest, router, rank_boot)
    return EvalInput(
        labels=guideline.label_names,
        kind=kind,
        scale=guideline.scale,
        annotations=annotations,
        adjudicated=adjudicated,
        models=models,
        weeks=weeks,
        routing_model=router,
        n_boot=n_boot,
        allow_tie=guideline.allow_tie,
        judging=judging,
    )


def gather_judging(
    project: Project, latest: dict[str, dict[str, Suggestion]], judge: str, n_boot: int
) -> JudgingInput:
    """A judging task's replies (and their models), each model's ``order_agreement`` per
    item (from its latest suggestions) and the final labels as the export writes them
    (``final_label`` over the items' records, on ``judge``'s suggestions)."""
    guideline = project.guideline()
    kind = guideline.kind
    stages = project.config.routing.cascade or ()
    replies, final, source = {}, {}, {}
    records = project.store.iter_records(model=judge, stages=stages, consensus=rule_of(guideline))
    for record in records:
        item = record.item
        replies[item.id] = tuple((r.id, r.model) for r in item.replies or ())
        value, origin = final_label(record)
        if comparable(value, kind) is not None:
            final[item.id], source[item.id] = comparable(value, kind), origin
    order = {
        model: {i: s.signals.get(ORDER_AGREEMENT) for i, s in made.items() if s.status == "ok"}
        for model, made in latest.items()
    }
    return JudgingInput(replies, order, final, source, judge, n_boot)


#: joins an item id and a turn index into the id of one turn as eval counts it
TURN_SEP = " · turn "


def _turn_units(item_id: str, value) -> list[tuple[str, str]]:
    """(unit id, label) for each turn of a ``comparable`` turns value."""
    return [(f"{item_id}{TURN_SEP}{t}", lab) for t, lab in value or ()]


def _per_turn(item_id: str, votes: dict[str, tuple]) -> dict[str, dict[str, str]]:
    """One item's votes (reviewer -> turns value) as votes per turn."""
    out: dict[str, dict[str, str]] = {}
    for who, value in votes.items():
        for unit, lab in _turn_units(item_id, value):
            out.setdefault(unit, {})[who] = lab
    return out


def decisions(reviews, kind: str) -> tuple[dict[str, dict[str, Review]], dict[str, Review]]:
    """Per item, each reviewer's latest decisive review and the latest adjudication.

    Reviews come oldest first; a ``reopen`` (a split label) forgets the item's earlier ones.
    """
    annotations: dict[str, dict[str, Review]] = {}
    adjudicated: dict[str, Review] = {}
    for r in reviews:
        if r.action == REOPEN:
            annotations.pop(r.item_id, None)
            adjudicated.pop(r.item_id, None)
            continue
        if r.action not in DECISIVE or comparable(r.value, kind) is None:
            continue
        if r.queue == ADJUDICATION:
            adjudicated[r.item_id] = r
        else:
            annotations.setdefault(r.item_id, {})[r.reviewer] = r
    return annotations, adjudicated


def consensus_reviews(reviews, kind: str) -> dict[str, Review]:
    """Per item, the review that carries its consensus label: the adjudication when it
    agrees, else the latest review agreeing with the majority (tied items are left out)."""
    by_reviewer, adjudications = decisions(reviews, kind)
    voted = final_labels(*_values(by_reviewer, adjudications, kind))
    out = {}
    for i, v in voted.items():
        if v is None:
            continue
        made = list(by_reviewer.get(i, {}).values())
        made += [adjudications[i]] if i in adjudications else []
        agreeing = [r for r in made if comparable(r.value, kind) == v]
        out[i] = max(agreeing, key=lambda r: (r.queue == ADJUDICATION, r.id or 0))
    return out


def _values(by_reviewer: dict, adjudications: dict, kind: str) -> tuple[dict, dict]:
    annotations = {
        i: {who: comparable(r.value, kind) for who, r in votes.items()}
        for i, votes in by_reviewer.items()
    }
    return annotations, {i: comparable(r.value, kind) for i, r in adjudications.items()}


def _reviews(reviews, kind: str) -> tuple[dict, dict, dict]:
    by_reviewer, adjudications = decisions(reviews, kind)
    annotations, adjudicated = _values(by_reviewer, adjudications, kind)
    weeks = {}
    for i in annotations.keys() | adjudicated.keys():
        made = list(by_reviewer.get(i, {}).values())
        made += [adjudications[i]] if i in adjudications else []
        weeks[i] = _week(max(made, key=lambda r: r.id or 0))
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


def evaluate(project: Project, n_boot: int = 1000, rank_boot: int | None = None) -> dict:
    """The agreement and calibration report's figures, as plain data; for a judging task
    also position bias and model rankings (``rank_boot`` resamples, default ``n_boot`` at
    most ``RANKING_BOOTSTRAP``: each is a Bradley-Terry refit)."""
    guideline = project.guideline()
    if guideline.asks_questions:  # each question measured on its own
        reviews = list(project.store.iter_reviews())
        per = {
            q: build_report(gather(project, n_boot, reviews, rank_boot, question=q))
            for q in guideline.question_names
        }
        return {"task": guideline.task, "questions": per}
    figures = build_report(gather(project, n_boot, rank_boot=rank_boot))
    return {"task": guideline.task, **figures}


def write_report(figures: dict, out: Path) -> dict[str, Path]:
    """report.md, report.html and the PNG plots in ``out``; returns what was written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabelloopError(
            f"Cannot write the report to {out}: {exc}; pick another --out"
        ) from exc
    if "questions" in figures:  # one report per question, in a folder of its own
        written: dict[str, Path] = {}
        for q, part in figures["questions"].items():
            got = write_report({"task": f"{figures['task']}/{q}", **part}, out / q)
            written.update({f"{q}/{name}": path for name, path in got.items()})
        (out / "report.json").write_text(json.dumps(figures, indent=2, default=str), "utf-8")
        written["report.json"] = out / "report.json"
        return written
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


def headline_figures(project: Project) -> dict:
    """The report's headline figures for a project, without bootstrap intervals (see
    ``labelloop.evals.report.dashboard_figures``); with questions, the first question's."""
    return dashboard_figures(_gather_first(project), project.guideline().task)


def _gather_first(project: Project, reviews=None, n_boot: int = 0) -> EvalInput:
    """``gather`` for the whole task, or the first question of a guideline with several."""
    g = project.guideline()
    first = g.question_names[0] if g.asks_questions else None
    return gather(project, n_boot=n_boot, reviews=reviews, question=first)


def dashboard_figures_of(
    project: Project, reviews=None, n_boot: int = 200, question: str | None = None
) -> tuple[dict, dict]:
    """For the console dashboard, from one pass over the store: the report's figures
    without intervals, and ``agreement_summary`` with ``n_boot`` resamples (the same
    figures ``evaluate`` gives with as many). ``question``: one question of a guideline
    that asks several (default: the whole task, or its first question)."""
    data = (
        _gather_first(project, reviews, n_boot)
        if question is None
        else gather(project, n_boot=n_boot, reviews=reviews, question=question)
    )
    return build_report(no_bootstrap(data)), agreement_summary(data)


def dashboard_questions_of(
    project: Project, reviews=None, n_boot: int = 200
) -> dict[str, tuple[dict, dict]]:
    """``dashboard_figures_of`` for each question of a guideline that asks several, as
    ``evaluate`` measures them (each a task of its own), question name -> (figures,
    agreement); the reviews are read once for all (none when the caller gives them)."""
    names = project.guideline().question_names
    reviews = list(project.store.iter_reviews() if reviews is None else reviews)
    return {q: dashboard_figures_of(project, reviews, n_boot, question=q) for q in names}


def report_plots(figures: dict) -> dict[str, bytes]:
    """The report's plots of ``figures`` as PNG bytes (name -> image)."""
    with tempfile.TemporaryDirectory(prefix="labelloop-plots-") as d:
        files = write_plots(figures, Path(d))
        return {name: (Path(d) / f).read_bytes() for name, f in files.items()}
