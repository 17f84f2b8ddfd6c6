"""Two runs on the same eval set, compared item by item: pure functions over plain data.

Each run is scored against the frozen gold labels; the difference between two runs is
measured on the items both answered for (paired), with a paired bootstrap interval (both
runs' answers on the same resampled items) and McNemar's exact test on the items where
exactly one run is right. A failed answer counts as wrong.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import binomtest

from labelloop.evals import agreement as ag
from labelloop.evals.report import BOOTSTRAP, compare

Value = Hashable


def run_figures(
    answers: Mapping[Any, Value | None], gold: Mapping[Any, Value], kind: str, labels: list
) -> dict:
    """One run against gold: items, failures, accuracy (with CI) and the kind's F1 figures."""
    pairs = [(answers.get(i), g) for i, g in gold.items()]
    out = compare(pairs, kind, labels, BOOTSTRAP)
    out["failed"] = sum(p is None for p, _ in pairs)
    return out


def paired_difference(
    gold: Mapping[Any, Value],
    a: Mapping[Any, Value | None],
    b: Mapping[Any, Value | None],
    kind: str = "single",
    labels: Sequence = (),
    n_boot: int = BOOTSTRAP,
    seed: int = 0,
) -> dict:
    """Run B minus run A on the items both runs answered for: accuracy (and macro-F1 for
    single-label tasks) with paired bootstrap 95% intervals, and McNemar's exact p-value."""
    items = sorted((i for i in gold if i in a and i in b), key=str)
    n = len(items)
    ok_a = np.array([a[i] == gold[i] for i in items], dtype=bool)
    ok_b = np.array([b[i] == gold[i] for i in items], dtype=bool)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n)) if n else np.zeros((0, 0), int)
    out: dict[str, Any] = {
        "items": items,
        "n": n,
        "accuracy_a": float(ok_a.mean()) if n else None,
        "accuracy_b": float(ok_b.mean()) if n else None,
        "accuracy_difference": _interval(
            float(ok_b.mean() - ok_a.mean()) if n else None,
            ok_b[idx].mean(axis=1) - ok_a[idx].mean(axis=1) if n else np.zeros(0),
        ),
        "mcnemar": mcnemar_exact(int((ok_a & ~ok_b).sum()), int((ok_b & ~ok_a).sum())),
    }
    if kind == "single" and n:
        out["macro_f1_difference"] = _f1_difference(gold, a, b, items, idx, list(labels))
    return out


def mcnemar_exact(a_only: int, b_only: int) -> dict:
    """McNemar's exact test: two-sided binomial p-value of the discordant pairs at 1/2."""
    n = a_only + b_only
    p = binomtest(a_only, n, 0.5).pvalue if n else 1.0
    return {"a_only_correct": a_only, "b_only_correct": b_only, "p_value": float(p)}


def _f1_difference(gold, a, b, items: list, idx: np.ndarray, labels: list) -> dict:
    g = np.array([gold[i] for i in items], dtype=object)
    pa = np.array([a[i] for i in items], dtype=object)
    pb = np.array([b[i] for i in items], dtype=object)

    def diff(rows: np.ndarray) -> float | None:
        fa = ag.macro_f1(pa[rows].tolist(), g[rows].tolist(), labels)
        fb = ag.macro_f1(pb[rows].tolist(), g[rows].tolist(), labels)
        return None if fa is None or fb is None else fb - fa

    point = diff(np.arange(len(items)))
    stats = [d for d in (diff(row) for row in idx) if d is not None]
    return _interval(point, np.array(stats, dtype=float))


def _interval(point: float | None, resampled: np.ndarray) -> dict:
    if point is None or not len(resampled):
        return {"value": point, "lo": None, "hi": None}
    lo, hi = np.quantile(resampled, [0.025, 0.975])
    return {"value": point, "lo": float(lo), "hi": float(hi)}


def to_markdown(result: dict) -> str:
    """The runs side by side and the comparison of two of them, as Markdown."""
    es = result["evalset"]
    lines = [
        f"# Eval set {es['name']} v{es['version']} ({es['items']} items)",
        "",
        "| run | model | prompt | guideline | items | failed | accuracy [95% CI] | macro-F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['id']} | {r['model']} | {r['prompt_version']} | {r['guideline_version']} "
            f"| {r['n']} | {r['failed']} | {_ci(r['accuracy'])} | {_num(r.get('macro_f1'))} |"
        )
    c = result.get("comparison")
    if c:
        m = c["mcnemar"]
        lines += [
            "",
            f"## Run {c['b']} vs run {c['a']} (paired, {c['n']} items)",
            "",
            f"- accuracy: {_num(c['accuracy_b'])} vs {_num(c['accuracy_a'])}, difference "
            f"{_ci(c['accuracy_difference'], signed=True)}",
        ]
        if "macro_f1_difference" in c:
            lines.append(f"- macro-F1 difference {_ci(c['macro_f1_difference'], signed=True)}")
        lines.append(
            f"- McNemar exact p = {m['p_value']:.4g} (only run {c['a']} right: "
            f"{m['a_only_correct']}, only run {c['b']} right: {m['b_only_correct']})"
        )
    return "\n".join(lines) + "\n"


def _num(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ci(d: dict | float | None, signed: bool = False) -> str:
    if not isinstance(d, dict):
        return _num(d, signed)
    if d.get("lo") is None:
        return _num(d.get("value"), signed)
    return f"{_num(d['value'], signed)} [{_num(d['lo'], signed)}, {_num(d['hi'], signed)}]"
