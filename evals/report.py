"""The figures of an eval report: who agrees with whom, per label, over time, calibration.

Pure functions over plain data. Values are hashable: a label (single), a sorted tuple of
labels (multi, compared as exact sets) or a sorted tuple of ``(start, end, label)`` spans.
Every headline figure comes with a bootstrap 95% interval over items as
``{"value", "lo", "hi"}``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

from labelloop.evals import agreement as ag
from labelloop.evals.aggregate import final_labels
from labelloop.evals.calibration import (
    brier,
    ece,
    oracle_coverage,
    reliability_curve,
    risk_coverage,
)

Value = Hashable
#: accuracy the selective-labeling coverage is reported at
TARGET_ACCURACY = 0.95
BOOTSTRAP = 1000


@dataclass(frozen=True)
class Prediction:
    """A model's label for one item, with its confidence (calibrated where known)."""

    value: Value | None
    confidence: float | None = None


@dataclass(frozen=True)
class EvalInput:
    """Everything the report needs, gathered from the store."""

    labels: Sequence[str]
    kind: str = "single"  # single | multi | spans
    scale: str = "nominal"  # nominal | ordinal
    #: item -> {reviewer: value}: each reviewer's latest decisive review
    annotations: Mapping[Any, Mapping[str, Value]] = None  # type: ignore[assignment]
    #: item -> value decided in the adjudication queue (always wins)
    adjudicated: Mapping[Any, Value] | None = None
    #: model -> item -> prediction
    models: Mapping[str, Mapping[Any, Prediction]] = None  # type: ignore[assignment]
    #: item -> ISO week ("2024-W07") when its consensus was last decided
    weeks: Mapping[Any, str] | None = None
    routing_model: str | None = None
    n_boot: int = BOOTSTRAP


def with_ci(metric_fn: Callable[[Any], float | None], items: Sequence, n: int) -> dict:
    """A metric and its bootstrap 95% interval over items."""
    pool = items if isinstance(items, np.ndarray) else list(items)
    value, lo, hi = ag.bootstrap_ci(metric_fn, pool, n=n)
    return {"value": value, "lo": lo, "hi": hi}


def consensus(data: EvalInput) -> tuple[dict[Any, Value], int]:
    """Majority vote of the reviewers (adjudicated labels win) and the number of ties."""
    voted = final_labels(data.annotations, data.adjudicated)
    ties = sum(v is None for v in voted.values())
    return {i: v for i, v in voted.items() if v is not None}, ties


def build_report(data: EvalInput) -> dict:
    """Every figure of the report as plain data (JSON-ready)."""
    gold, ties = consensus(data)
    labels = _labels(data)
    reviewers = sorted({r for votes in data.annotations.values() for r in votes})
    return {
        "kind": data.kind,
        "scale": data.scale,
        "labels": labels,
        "reviewers": reviewers,
        "routing_model": data.routing_model,
        "consensus": {"items": len(gold), "ties": ties, "method": "majority vote, adjudicated win"},
        "models": {
            model: model_figures(data, preds, gold, reviewers, labels)
            for model, preds in data.models.items()
        },
        "humans": human_figures(data, labels),
        "not_covered": _not_covered(data.kind),
    }


def _labels(data: EvalInput) -> list:
    """The guideline's labels, then any label the data uses outside them (single only)."""
    labels = list(data.labels)
    if data.kind != "single":
        return labels
    seen = {v for votes in data.annotations.values() for v in votes.values()}
    seen |= {p.value for preds in data.models.values() for p in preds.values()}
    return labels + sorted(v for v in seen - set(labels) if v is not None)


def _not_covered(kind: str) -> list[str]:
    if kind == "spans":
        return [
            "chance-corrected agreement (kappa, alpha) for spans: humans are compared by "
            "exact-match agreement only",
            "confusion matrix and per-label figures for spans",
        ]
    if kind == "multi":
        return ["confusion matrix for multi-label (per-label P/R/F1 is given instead)"]
    return []


# --- model vs people -----------------------------------------------------------------------------


def _pairs(preds: Mapping[Any, Prediction], gold: Mapping[Any, Value]) -> list[tuple]:
    return [
        (preds[i].value, g) for i, g in gold.items() if i in preds and preds[i].value is not None
    ]


def _exact(pairs: Sequence[tuple]) -> float | None:
    return sum(p == g for p, g in pairs) / len(pairs) if pairs else None


def compare(pairs: list[tuple], kind: str, labels: list, n: int) -> dict:
    """Agreement of (predicted, gold) pairs: exact accuracy and the kind's own figures."""
    out: dict[str, Any] = {"n": len(pairs), "accuracy": with_ci(_exact, pairs, n)}
    if kind == "single":
        out["cohen_kappa"] = with_ci(ag.on_pairs(ag.cohen_kappa, labels=labels), pairs, n)
        out["macro_f1"] = ag.macro_f1(*_unzip(pairs), labels) if pairs else None
    elif kind == "multi":
        out["micro_f1"] = with_ci(ag.on_pairs(ag.multilabel_f1, labels=labels), pairs, n)
        out["macro_f1"] = ag.multilabel_f1(*_unzip(pairs), labels, "macro") if pairs else None
    else:
        out["span_exact_f1"] = with_ci(_span_f1(ag.span_exact_prf), pairs, n)
        out["span_overlap_f1"] = with_ci(_span_f1(ag.span_overlap_prf), pairs, n)
    return out


def _unzip(pairs: Sequence[tuple]) -> tuple[list, list]:
    return [p for p, _ in pairs], [g for _, g in pairs]


def _span_f1(prf: Callable) -> Callable[[Sequence], float | None]:
    return lambda pairs: prf(*_unzip(pairs))["f1"] if pairs else None


def model_figures(
    data: EvalInput,
    preds: Mapping[Any, Prediction],
    gold: Mapping[Any, Value],
    reviewers: list[str],
    labels: list,
) -> dict:
    """One model against the consensus, each reviewer, per label, per week; its calibration."""
    pairs = _pairs(preds, gold)
    out: dict[str, Any] = {
        "suggestions": len(preds),
        "vs_consensus": compare(pairs, data.kind, labels, data.n_boot),
        "vs_reviewers": {},
    }
    for who in reviewers:
        theirs = {i: votes[who] for i, votes in data.annotations.items() if who in votes}
        out["vs_reviewers"][who] = compare(_pairs(preds, theirs), data.kind, labels, data.n_boot)
    if data.kind == "single" and pairs:
        out["per_label"] = ag.per_label_prf(*_unzip(pairs), labels)
        matrix = ag.confusion_matrix(*_unzip(pairs), labels)
        out["confusion_matrix"] = {"labels": labels, "matrix": matrix.tolist()}
    elif data.kind == "multi" and pairs:
        out["per_label"] = ag.multilabel_prf(*_unzip(pairs), labels)
    out["weekly"] = weekly(preds, gold, data.weeks or {}, data.n_boot)
    out["calibration"] = calibration_figures(preds, gold)
    return out


def weekly(
    preds: Mapping[Any, Prediction], gold: Mapping[Any, Value], weeks: Mapping[Any, str], n: int
) -> list[dict]:
    """Model-vs-consensus accuracy per ISO week of the consensus decision, oldest first."""
    by_week: dict[str, list[tuple]] = {}
    for pair, item in zip(_pairs(preds, gold), _paired_items(preds, gold), strict=True):
        if item in weeks:
            by_week.setdefault(weeks[item], []).append(pair)
    return [
        {"week": week, "n": len(p), "accuracy": with_ci(_exact, p, n)}
        for week, p in sorted(by_week.items())
    ]


def _paired_items(preds: Mapping[Any, Prediction], gold: Mapping[Any, Value]) -> list:
    return [i for i in gold if i in preds and preds[i].value is not None]


def calibration_figures(preds: Mapping[Any, Prediction], gold: Mapping[Any, Value]) -> dict:
    """ECE, Brier, reliability and risk-coverage of confidence vs consensus correctness."""
    scored = [
        (preds[i].confidence, preds[i].value == g)
        for i, g in gold.items()
        if i in preds and preds[i].confidence is not None and preds[i].value is not None
    ]
    probs, correct = [p for p, _ in scored], [c for _, c in scored]
    threshold, coverage = oracle_coverage(probs, correct, 1 - TARGET_ACCURACY)
    return {
        "n": len(scored),
        "ece": ece(probs, correct),
        "brier": brier(probs, correct),
        "reliability": reliability_curve(probs, correct),
        "risk_coverage": risk_coverage(probs, correct),
        "target_accuracy": TARGET_ACCURACY,
        "coverage_at_target": coverage if scored else None,
        "threshold_at_target": threshold,
    }


# --- people vs people ----------------------------------------------------------------------------


def human_figures(data: EvalInput, labels: list) -> dict:
    """Agreement per reviewer pair (Cohen's kappa) and overall (Fleiss, Krippendorff, AC1)."""
    overlap = {i: dict(v) for i, v in data.annotations.items() if len(v) >= 2}
    reviewers = sorted({r for votes in overlap.values() for r in votes})
    n = data.n_boot
    pairs = []
    for a, b in combinations(reviewers, 2):
        both = [(v[a], v[b]) for v in overlap.values() if a in v and b in v]
        if not both:
            continue
        row: dict[str, Any] = {"a": a, "b": b, "n": len(both)}
        row["percent_agreement"] = with_ci(_exact, both, n)
        if data.kind != "spans":
            kappa_labels = labels if data.kind == "single" else None
            row["cohen_kappa"] = with_ci(ag.on_pairs(ag.cohen_kappa, labels=kappa_labels), both, n)
        pairs.append(row)
    return {"items": len(overlap), "pairs": pairs, "overall": _overall(data, overlap, labels)}


def _overall(data: EvalInput, overlap: dict, labels: list) -> dict:
    if not overlap:
        return {}
    units = [list(v.values()) for v in overlap.values()]
    out: dict[str, Any] = {"percent_agreement": with_ci(_unit_agreement, units, data.n_boot)}
    if data.kind == "spans":
        return out
    order = labels if data.kind == "single" else sorted({x for u in units for x in u})
    table = ag.count_table(dict(enumerate(units)), order)
    level = "ordinal" if data.scale == "ordinal" and data.kind == "single" else "nominal"
    alpha = lambda t: ag.krippendorff_alpha(t, level, value_order=order)  # noqa: E731
    out["fleiss_kappa"] = with_ci(ag.fleiss_kappa, table, data.n_boot)
    out["krippendorff_alpha"] = with_ci(alpha, table, data.n_boot)
    out["alpha_level"] = level
    out["gwet_ac1"] = with_ci(ag.gwet_ac1_multi, table, data.n_boot)
    return out


def _unit_agreement(units: Sequence[list]) -> float | None:
    """Share of agreeing rater pairs, averaged over items."""
    shares = [
        sum(x == y for x, y in combinations(u, 2)) / (len(u) * (len(u) - 1) / 2) for u in units
    ]
    return sum(shares) / len(shares) if shares else None


# --- console dashboard ---------------------------------------------------------------------------


def dashboard_figures(data: EvalInput, task: str | None = None) -> dict:
    """The report's headline figures, without bootstrap intervals, for the console dashboard.

    ``data``: what ``labelloop.learn.evaluate.gather`` collects from a project (its bootstrap,
    if any, is left out); ``task``: the guideline's task name. Returns plain data (JSON-ready; a
    figure is None when there is nothing to compute it on)::

        {
          "task": str | None, "kind": "single" | "multi" | "spans", "labels": [str],
          "routing_model": str | None,
          "consensus_items": int,            # items with a consensus human label
          "models": {model: {
              "n": int,                      # items with both a suggestion and consensus
              "accuracy": float, "cohen_kappa": float, "macro_f1": float,
              "ece": float,                  # confidence vs consensus correctness
              "per_label_f1": {label: float},
          }},
          "humans": {
              "items": int,                  # items labeled by two reviewers or more
              "percent_agreement": float, "fleiss_kappa": float,
              "krippendorff_alpha": float, "gwet_ac1": float,
              "pairs": [{"a": str, "b": str, "n": int,
                         "percent_agreement": float, "cohen_kappa": float}],
          },
        }
    """
    data = data if data.n_boot == 0 else _no_bootstrap(data)
    return headline(build_report(data), task)


def headline(fig: dict, task: str | None = None) -> dict:
    """``dashboard_figures`` of a report already built (see there for the shape)."""
    return {
        "task": task,
        "kind": fig["kind"],
        "labels": fig["labels"],
        "routing_model": fig["routing_model"],
        "consensus_items": fig["consensus"]["items"],
        "models": {m: _model_headline(f) for m, f in fig["models"].items()},
        "humans": _human_headline(fig["humans"]),
    }


def _no_bootstrap(data: EvalInput) -> EvalInput:
    from dataclasses import replace

    return replace(data, n_boot=0)


def _point(x: Any) -> float | None:
    return x.get("value") if isinstance(x, dict) else x


def _model_headline(f: dict) -> dict:
    vs = f["vs_consensus"]
    first_f1 = vs.get("micro_f1") or vs.get("span_exact_f1")
    return {
        "n": vs["n"],
        "accuracy": _point(vs["accuracy"]),
        "cohen_kappa": _point(vs.get("cohen_kappa")),
        "macro_f1": _point(vs.get("macro_f1", first_f1)),
        "ece": f["calibration"]["ece"],
        "per_label_f1": {str(k): v.get("f1") for k, v in (f.get("per_label") or {}).items()},
    }


def _human_headline(h: dict) -> dict:
    overall = h["overall"] or {}
    return {
        "items": h["items"],
        **{
            k: _point(overall.get(k))
            for k in ("percent_agreement", "fleiss_kappa", "krippendorff_alpha", "gwet_ac1")
        },
        "pairs": [
            {
                "a": p["a"],
                "b": p["b"],
                "n": p["n"],
                "percent_agreement": _point(p["percent_agreement"]),
                "cohen_kappa": _point(p.get("cohen_kappa")),
            }
            for p in h["pairs"]
        ],
    }
