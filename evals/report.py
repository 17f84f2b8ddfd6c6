"""The figures of an eval report: who agrees with whom, per label, over time, calibration.

Pure functions over plain data. Values are hashable: a label (single), a sorted tuple of
labels (multi, compared as exact sets) or a sorted tuple of ``(start, end, label)`` spans;
for judging tasks a reply id or ``"tie"`` (pairwise), a sorted tuple of ``(reply id,
value)`` (rating) or a tuple of reply ids, best first (ranking). Every headline figure comes
with a bootstrap 95% interval over items as ``{"value", "lo", "hi"}``.

Judging tasks (``kind: pairwise | rating | ranking``) add, with the metrics of
``labelloop.evals.judging``: each judge's position bias, people against the others' consensus,
and model rankings (Bradley-Terry scores and win rates) from people, the judge and the final
labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from labelloop.evals import agreement as ag
from labelloop.evals import judging as jg
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
#: bootstrap resamples of the model rankings unless told: each one is a Bradley-Terry refit
RANKING_BOOTSTRAP = 200
JUDGE_KINDS = jg.KINDS
#: the sources model rankings are computed from, in the report's order
RANKING_SOURCES = ("people", "judge", "final")


@dataclass(frozen=True)
class Prediction:
    """A model's label for one item, with its confidence (calibrated where known)."""

    value: Value | None
    confidence: float | None = None


@dataclass(frozen=True)
class JudgingInput:
    """What a judging task's report needs besides the votes and the suggestions."""

    #: item -> its replies as ``(reply id, model or None)``, in the item's order
    replies: Mapping[Any, Sequence[tuple[str, str | None]]]
    #: model -> item -> ``order_agreement`` of its latest suggestion (1.0 both orders gave
    #: the same verdict, 0.0 not, None unknown)
    order_agreement: Mapping[str, Mapping[Any, float | None]] = field(default_factory=dict)
    #: item -> its final label as exported (people's where decided, else an auto-accepted
    #: verdict)
    final: Mapping[Any, Value] = field(default_factory=dict)
    #: item -> where its final label comes from: "human", "adjudicated" or "model"
    final_source: Mapping[Any, str] = field(default_factory=dict)
    #: the model ranked as "the judge" (the routing model)
    judge: str | None = None
    #: bootstrap resamples of the model rankings
    n_boot: int = RANKING_BOOTSTRAP


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
    #: ``kind: pairwise``: "tie" is an answer (and a split vote is a tie)
    allow_tie: bool = False
    #: judging tasks only
    judging: JudgingInput | None = None


def with_ci(metric_fn: Callable[[Any], float | None], items: Sequence, n: int) -> dict:
    """A metric and its bootstrap 95% interval over items."""
    pool = items if isinstance(items, np.ndarray) else list(items)
    value, lo, hi = ag.bootstrap_ci(metric_fn, pool, n=n)
    return {"value": value, "lo": lo, "hi": hi}


def consensus(data: EvalInput) -> tuple[dict[Any, Value], int]:
    """Majority vote of the reviewers (adjudicated labels win) and the number of ties.

    Pairwise tasks that allow ties take a split vote as ``"tie"`` (see
    ``labelloop.evals.judging.pairwise_consensus``); ``ties`` counts the items left without
    a consensus."""
    if data.kind in JUDGE_KINDS:
        voted = {i: _vote_consensus(list(v.values()), data) for i, v in data.annotations.items()}
        voted.update({i: v for i, v in (data.adjudicated or {}).items() if v is not None})
    else:
        voted = final_labels(data.annotations, data.adjudicated)
    ties = sum(v is None for v in voted.values())
    return {i: v for i, v in voted.items() if v is not None}, ties


def _vote_consensus(votes: list, data: EvalInput) -> Value | None:
    """A judging item's consensus: the majority; a pairwise split is a tie where allowed."""
    if data.kind == "pairwise":
        return jg.pairwise_consensus(votes, data.allow_tie or jg.TIE in votes)
    return jg.consensus(votes)


def _method(data: EvalInput) -> str:
    if data.kind == "pairwise" and data.allow_tie:
        return "majority vote, adjudicated win, a split vote is a tie"
    return "majority vote, adjudicated win"


def build_report(data: EvalInput) -> dict:
    """Every figure of the report as plain data (JSON-ready)."""
    gold, ties = consensus(data)
    labels = _labels(data)
    reviewers = sorted({r for votes in data.annotations.values() for r in votes})
    out = {
        "kind": data.kind,
        "scale": data.scale,
        "labels": labels,
        "reviewers": reviewers,
        "routing_model": data.routing_model,
        "consensus": {"items": len(gold), "ties": ties, "method": _method(data)},
        "models": {
            model: model_figures(data, preds, gold, reviewers, labels)
            for model, preds in data.models.items()
        },
        "humans": human_figures(data, labels),
        "not_covered": _not_covered(data.kind),
    }
    if data.kind in JUDGE_KINDS:
        out["allow_tie"] = data.allow_tie
        out["humans"]["judging"] = human_judging(data, labels)
        if data.judging is not None:
            for model, m in out["models"].items():
                if data.kind == "pairwise":
                    order = data.judging.order_agreement.get(model, {})
                    m["position_bias"] = position_bias_figures(order, data.n_boot)
            out["rankings"] = ranking_figures(data, data.judging)
    return out


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
    if kind in JUDGE_KINDS:
        out = ["confusion matrix and per-label figures for judging tasks"]
        if kind != "pairwise":
            out.append(
                "the reviewers' overall figures (Fleiss, alpha, AC1) and pairs compare whole "
                f"{'ratings' if kind == 'rating' else 'rankings'} as equal or not; see "
                "'against the others' for "
                + ("the ordinal alpha" if kind == "rating" else "the Kendall distance")
            )
        return out
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
    if kind in JUDGE_KINDS:
        return {"n": len(pairs), **judging_agreement([[p] for p in pairs], kind, labels, n)}
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
    overlap = _overlap(data)
    return {
        "items": len(overlap),
        "pairs": human_pairs(data, overlap, labels),
        "overall": _overall(data, overlap, labels),
        "weekly": human_weekly(overlap, data.weeks or {}, data.n_boot),
    }


def _overlap(data: EvalInput) -> dict[Any, dict[str, Value]]:
    """The items two reviewers or more answered, with their answers."""
    return {i: dict(v) for i, v in data.annotations.items() if len(v) >= 2}


def human_pairs(data: EvalInput, overlap: Mapping[Any, Mapping[str, Value]], labels: list):
    """Per pair of reviewers with items in common: agreement and Cohen's kappa."""
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
    return pairs


def agreement_summary(data: EvalInput) -> dict:
    """The agreement a lead reads first, with ``data.n_boot`` bootstrap resamples: the
    routing model against the consensus (``compare``, and per week) and people against each
    other (share of agreeing pairs overall and per week, and per pair). The same figures as
    ``build_report``'s ``models[routing_model]`` ``vs_consensus`` and ``weekly``, and its
    ``humans`` ``overall.percent_agreement``, ``weekly`` and ``pairs``, without the costlier
    rest (Fleiss, Krippendorff and AC1 intervals, each reviewer against the model)."""
    gold, _ = consensus(data)
    labels = _labels(data)
    preds = (data.models or {}).get(data.routing_model) if data.routing_model else None
    model = None
    if preds is not None:
        vs = compare(_pairs(preds, gold), data.kind, labels, data.n_boot)
        model = {"vs_consensus": vs, "weekly": weekly(preds, gold, data.weeks or {}, data.n_boot)}
    overlap = _overlap(data)
    units = [list(v.values()) for v in overlap.values()]
    people = with_ci(_unit_agreement, units, data.n_boot) if units else None
    return {
        "routing_model": data.routing_model,
        "model": model,
        "humans": {
            "items": len(overlap),
            "percent_agreement": people,
            "pairs": human_pairs(data, overlap, labels),
            "weekly": human_weekly(overlap, data.weeks or {}, data.n_boot),
        },
    }


def human_weekly(overlap: Mapping[Any, Mapping[str, Value]], weeks: Mapping[Any, str], n: int):
    """Agreement between people (share of agreeing pairs, averaged over items) per ISO week
    of the items' last decision, oldest first."""
    by_week: dict[str, list[list]] = {}
    for item, votes in overlap.items():
        if item in weeks:
            by_week.setdefault(weeks[item], []).append(list(votes.values()))
    return [
        {"week": week, "n": len(units), "percent_agreement": with_ci(_unit_agreement, units, n)}
        for week, units in sorted(by_week.items())
    ]


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


# --- judging tasks -------------------------------------------------------------------------------


def judging_agreement(
    groups: Sequence[Sequence[tuple]], kind: str, scale: Sequence, n: int
) -> dict:
    """Agreement of (judgment, reference) pairs of a judging task, bootstrap over ``groups``
    (the pairs of one item each): ``accuracy`` (equal judgments) and, by kind, pairwise
    ``cohen_kappa``; rating ``krippendorff_alpha`` (ordinal over (item, reply) units, the
    guideline's ``scale`` lowest first) and ``mean_abs_distance`` (in steps of the scale);
    ranking ``mean_kendall_distance``. Point values are those of
    ``labelloop.evals.judging.judge_agreement``."""
    units = list(groups)
    out: dict[str, Any] = {"accuracy": with_ci(_on_flat(_exact), units, n)}
    if kind == "pairwise":
        out["cohen_kappa"] = with_ci(_on_flat(ag.on_pairs(ag.cohen_kappa)), units, n)
    elif kind == "rating":
        blocks, gaps = _rating_blocks(units, scale)
        out["krippendorff_alpha"] = with_ci(_ordinal_alpha, blocks, n)
        out["mean_abs_distance"] = with_ci(_ratio_of_sums, gaps, n)
    else:
        out["mean_kendall_distance"] = with_ci(_ratio_of_sums, _kendall_sums(units), n)
    return out


def _on_flat(metric: Callable[[list], float | None]) -> Callable[[Sequence], float | None]:
    return lambda groups: metric([p for g in groups for p in g])


def _scale_steps(scale: Sequence, groups: Sequence[Sequence[tuple]]) -> dict[str, int]:
    """Rating value (as text) -> its step on the scale; values off the scale go after it."""
    order = [str(v) for v in scale]
    seen = {str(v) for g in groups for pair in g for rating in pair for _, v in rating}
    order += sorted(seen - set(order))
    return {v: k for k, v in enumerate(order)}


def _rating_blocks(groups: Sequence[Sequence[tuple]], scale: Sequence) -> tuple[np.ndarray, ...]:
    """Per group: the value counts of its (item, reply) units (groups x units x scale, padded
    with empty units) and (sum of absolute step gaps, units)."""
    steps = _scale_steps(scale, groups)
    rows, gaps = [], np.zeros((len(groups), 2))
    for g, group in enumerate(groups):
        mine = []
        for judged, reference in group:
            ref = dict(reference)
            for reply, value in judged:
                if reply in ref:
                    x, y = steps[str(value)], steps[str(ref[reply])]
                    mine.append((x, y))
                    gaps[g] += (abs(x - y), 1)
        rows.append(mine)
    blocks = np.zeros((len(groups), max(map(len, rows), default=0), len(steps)))
    for g, mine in enumerate(rows):
        for u, (x, y) in enumerate(mine):
            blocks[g, u, x] += 1
            blocks[g, u, y] += 1
    return blocks, gaps


def _ordinal_alpha(blocks: np.ndarray) -> float | None:
    counts = blocks.reshape(-1, blocks.shape[-1])
    counts = counts[counts.sum(1) >= 2]
    if not len(counts):
        return None
    return ag.krippendorff_alpha(counts, "ordinal", list(range(counts.shape[1])))


def _kendall_sums(groups: Sequence[Sequence[tuple]]) -> np.ndarray:
    """Per group: (sum of Kendall distances, rankings compared)."""
    out = np.zeros((len(groups), 2))
    for g, group in enumerate(groups):
        for judged, reference in group:
            if sorted(judged) == sorted(reference) and len(set(judged)) == len(judged):
                d = jg.kendall_distance(judged, reference)
                if d is not None:
                    out[g] += (d, 1)
    return out


def _ratio_of_sums(rows: np.ndarray) -> float | None:
    total, count = rows.sum(0) if len(rows) else (0.0, 0.0)
    return float(total / count) if count else None


def _judgment(value: Value, kind: str) -> Any:
    """A report value as ``labelloop.evals.judging`` takes it (ratings as dicts)."""
    return dict(value) if kind == "rating" else value


def _scale_values(labels: Sequence) -> list:
    """The rating scale's values as ratings hold them (whole numbers as ints)."""
    return [int(v) if str(v).lstrip("-").isdigit() else str(v) for v in labels]


def human_judging(data: EvalInput, labels: list) -> dict:
    """People against the consensus of the others on the same item (leave one out), on the
    footing of the judge's figures (``judging_agreement``): ``n`` votes compared on
    ``items`` (items with 2+ votes), bootstrap over items; plus ``pair_agreement`` (share of
    equal pairs of votes on an item) and ``pool_alpha`` (Krippendorff's alpha over every
    vote; ordinal over (item, reply) units for ratings), as in
    ``labelloop.evals.judging.human_agreement``."""
    groups = []
    for votes in data.annotations.values():
        present = [v for v in votes.values() if v is not None]
        if len(present) < 2:
            continue
        group = []
        for i, vote in enumerate(present):
            others = _vote_consensus(present[:i] + present[i + 1 :], data)
            if others is not None:
                group.append((vote, others))
        groups.append(group)
    people = {
        item: [_judgment(v, data.kind) for v in votes.values() if v is not None]
        for item, votes in data.annotations.items()
    }
    allow_tie = data.allow_tie or any(jg.TIE in v for v in people.values())
    scale = None
    if data.kind == "rating" and labels:  # the scale, then any value off it
        scale = _scale_values(labels)
        seen = {x for votes in people.values() for rating in votes for x in rating.values()}
        scale += sorted(seen - set(scale), key=str)
    pooled = jg.human_agreement(people, data.kind, allow_tie, scale)
    return {
        "n": sum(map(len, groups)),
        "items": len(groups),
        **judging_agreement(groups, data.kind, labels, data.n_boot),
        "pair_agreement": pooled["pair_agreement"],
        "pool_alpha": pooled["pool_alpha"],
    }


def position_bias_figures(order_agreement: Mapping[Any, float | None], n: int) -> dict:
    """How often a judge's verdict changed when the two replies swapped places: ``n``
    suggestions judged in both orders, ``disagree`` of them gave two verdicts, ``rate``
    (their share, bootstrap interval over items) and ``unknown`` (suggestions whose second
    order is missing: not counted)."""
    known = np.array([v for v in order_agreement.values() if v is not None], float)
    flips = (known == 0.0).astype(float)
    return {
        "n": len(known),
        "disagree": int(flips.sum()),
        "rate": with_ci(lambda x: float(x.mean()) if len(x) else None, flips, n),
        "unknown": len(order_agreement) - len(known),
    }


def ranking_figures(data: EvalInput, j: JudgingInput) -> dict:
    """Model rankings from the verdicts on replies whose models are named, per source:
    ``people`` (each person's vote a battle), ``judge`` (the routing model's suggestions) and
    ``final`` (the final labels as exported: people's where decided, else auto-accepted
    verdicts). A rating or ranking judgment gives a battle per pair of replies. Per source:
    ``judgments``, ``battles``, ``skipped`` (reply pairs left out, by reason: ``no_verdict``,
    ``no_model``, ``same_model``), ``scores`` (``bootstrap_bradley_terry``: model ->
    ``{score, lower, upper, battles}``, best first) and ``win_rates`` (``win_rate_matrix``
    in score order). ``items_without_models``: items with a reply that names no model."""
    judge = data.models.get(j.judge, {}) if j.judge else {}
    votes = {
        "people": [(i, v) for i, by in data.annotations.items() for v in by.values()],
        "judge": [(i, p.value) for i, p in judge.items()],
        "final": list(j.final.items()),
    }
    return {
        "judge": j.judge,
        "n_boot": j.n_boot,
        "level": 0.95,
        "items": len(j.replies),
        "items_without_models": sum(not all(m for _, m in r) for r in j.replies.values()),
        "final_from": dict(Counter(j.final_source[i] for i in j.final if i in j.final_source)),
        "sources": {
            name: _ranking(votes[name], j.replies, data.kind, data.labels, j.n_boot)
            for name in RANKING_SOURCES
        },
    }


def _ranking(
    votes: list[tuple[Any, Value]], replies: Mapping, kind: str, labels: Sequence, n: int
) -> dict:
    pairs = []
    for item, value in votes:
        if item in replies:
            pairs += _reply_pairs(replies[item], value, kind, labels)
    battles, skipped = jg.battles_from_judgments(pairs)
    scores = jg.bootstrap_bradley_terry(battles, n_boot=n) if battles else {}
    models, matrix = jg.win_rate_matrix(battles, list(scores)) if battles else ([], [])
    return {
        "judgments": len(votes),
        "battles": len(battles),
        "skipped": skipped,
        "scores": scores,
        "win_rates": {"models": models, "matrix": matrix},
    }


def _reply_pairs(
    replies: Sequence[tuple[str, str | None]], value: Value, kind: str, labels: Sequence
) -> list[tuple[list[dict], str | None]]:
    """A judgment as verdicts on each pair of the item's replies (a reply id, "tie" or None)."""
    shown = [{"id": rid, "model": model} for rid, model in replies]
    ids = [r["id"] for r in shown]
    if kind == "pairwise":
        return [(shown, value if value in (*ids, jg.TIE) else None)] if len(shown) == 2 else []
    if value is None:
        return [([x, y], None) for x, y in combinations(shown, 2)]
    if kind == "rating":  # a higher step of the scale places first
        steps = {str(v): k for k, v in enumerate(labels)}
        place = {r: -steps[str(v)] for r, v in dict(value).items() if str(v) in steps}
    else:
        place = {r: k for k, r in enumerate(value)}
    out: list[tuple[list[dict], str | None]] = []
    for x, y in combinations(shown, 2):
        a, b = place.get(x["id"]), place.get(y["id"])
        if a is None or b is None:
            out.append(([x, y], None))
        else:
            out.append(([x, y], jg.TIE if a == b else x["id"] if a < b else y["id"]))
    return out


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

    Judging tasks (pairwise, rating, ranking) add, per model, ``position_bias`` (pairwise:
    the share of suggestions judged in both orders whose verdicts differ) and the kind's
    figures (``krippendorff_alpha`` and ``mean_abs_distance``; ``mean_kendall_distance``);
    ``humans.judging`` (people against the others' consensus: ``n``, ``accuracy`` and the
    kind's figures) and ``rankings``: ``{source: {model: score}}`` (Bradley-Terry, best
    first) for ``people``, ``judge`` and ``final``.
    """
    data = data if data.n_boot == 0 else no_bootstrap(data)
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
        **_judging_headline(fig),
    }


def no_bootstrap(data: EvalInput) -> EvalInput:
    """``data`` to report without bootstrap intervals."""
    from dataclasses import replace

    judging = data.judging and replace(data.judging, n_boot=0)
    return replace(data, n_boot=0, judging=judging)


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
        **{k: _point(vs[k]) for k in JUDGING_FIGURES if k in vs},
        **({"position_bias": _point(f["position_bias"]["rate"])} if "position_bias" in f else {}),
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
        **({"judging": _judging_point(h["judging"])} if "judging" in h else {}),
    }


def _judging_point(h: dict) -> dict:
    keys = ("accuracy", "cohen_kappa", *JUDGING_FIGURES)
    return {"n": h["n"], **{k: _point(h[k]) for k in keys if k in h}}


#: the kind's own figures of a judging task, beside accuracy (and Cohen's kappa)
JUDGING_FIGURES = ("krippendorff_alpha", "mean_abs_distance", "mean_kendall_distance")


def _judging_headline(fig: dict) -> dict:
    if "rankings" not in fig:
        return {}
    sources = fig["rankings"]["sources"]
    return {
        "rankings": {
            name: {model: v["score"] for model, v in source["scores"].items()}
            for name, source in sources.items()
        }
    }
