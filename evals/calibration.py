"""Calibration and selective-labeling metrics: pure functions over plain arrays, plus plots.

``probs`` / ``scores`` are a model's probabilities that its label is correct; ``correct``
says whether it was (1/0 or booleans). Bins are equal-width on [0, 1]; a probability of
exactly 1 falls in the last bin. A threshold ``t`` accepts every item scored ``>= t``, so
tied scores are accepted or refused together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

ArrayLike = Sequence[float] | Sequence[bool] | np.ndarray


def _pair(probs: ArrayLike, correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(probs, dtype=float), np.asarray(correct, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"probs and correct must be 1-d and equal length: {p.shape}, {y.shape}")
    return p, y


def _bins(p: np.ndarray, bins: int) -> np.ndarray:
    return np.minimum((np.clip(p, 0.0, 1.0) * bins).astype(int), bins - 1)


def ece(probs: ArrayLike, correct: ArrayLike, bins: int = 10) -> float | None:
    """Expected calibration error: bin-weighted |accuracy - mean confidence|; None when empty."""
    p, y = _pair(probs, correct)
    if not len(p):
        return None
    b = _bins(p, bins)
    gap = np.bincount(b, weights=p - y, minlength=bins)
    return float(np.abs(gap).sum() / len(p))


def brier(probs: ArrayLike, correct: ArrayLike) -> float | None:
    """Mean squared difference between probability and outcome; None when empty."""
    p, y = _pair(probs, correct)
    return float(np.mean((p - y) ** 2)) if len(p) else None


def reliability_curve(probs: ArrayLike, correct: ArrayLike, bins: int = 10) -> list[dict]:
    """One row per non-empty bin: its bounds, mean confidence, accuracy and count."""
    p, y = _pair(probs, correct)
    b = _bins(p, bins)
    count = np.bincount(b, minlength=bins)
    conf = np.bincount(b, weights=p, minlength=bins)
    hits = np.bincount(b, weights=y, minlength=bins)
    return [
        {
            "bin_lo": i / bins,
            "bin_hi": (i + 1) / bins,
            "mean_confidence": float(conf[i] / count[i]),
            "accuracy": float(hits[i] / count[i]),
            "count": int(count[i]),
        }
        for i in range(bins)
        if count[i]
    ]


def by_threshold(
    scores: ArrayLike, correct: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct scores high to low, with the count of items and of errors at or above each."""
    s, y = _pair(scores, correct)
    order = np.argsort(-s, kind="stable")
    s, wrong = s[order], 1.0 - y[order]
    last = np.r_[s[1:] != s[:-1], True] if len(s) else np.zeros(0, bool)
    ends = np.flatnonzero(last)
    return s[ends], ends + 1, np.cumsum(wrong)[ends]


def risk_coverage(scores: ArrayLike, correct: ArrayLike) -> dict[str, list[float]]:
    """Coverage and error (risk) of each distinct score threshold, from high to low."""
    thresholds, n_above, errors = by_threshold(scores, correct)
    total = max(len(np.asarray(scores)), 1)
    return {
        "coverage": (n_above / total).tolist(),
        "risk": (errors / np.maximum(n_above, 1)).tolist(),
        "thresholds": thresholds.tolist(),
    }


def oracle_coverage(
    scores: ArrayLike, correct: ArrayLike, epsilon: float
) -> tuple[float | None, float]:
    """The largest coverage of a threshold whose accepted items err <= epsilon, knowing labels."""
    thresholds, n_above, errors = by_threshold(scores, correct)
    ok = np.flatnonzero(errors <= epsilon * n_above + 1e-12)
    if not len(ok):
        return None, 0.0
    best = ok[-1]  # coverage grows as the threshold falls
    return float(thresholds[best]), float(n_above[best] / len(np.asarray(scores)))


# --- plots ------------------------------------------------------------------------------------


def _figure(title: str):
    # the object API with the Agg canvas: no pyplot, no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig, ax


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def plot_reliability(curve_before: list[dict], curve_after: list[dict], path: str | Path) -> Path:
    """A reliability diagram of two ``reliability_curve`` results, written as a PNG."""
    fig, ax = _figure("Reliability: accuracy per confidence bin")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for curve, name, marker in ((curve_before, "before", "o"), (curve_after, "after", "s")):
        if curve:
            x = [r["mean_confidence"] for r in curve]
            y = [r["accuracy"] for r in curve]
            n = sum(r["count"] for r in curve)
            ax.plot(x, y, marker=marker, label=f"{name} calibration (n={n})")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence", ylabel="accuracy")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_risk_coverage(
    curve: dict[str, list[float]], threshold: float | None, epsilon: float, path: str | Path
) -> Path:
    """A risk-coverage curve with the target error and the chosen threshold, as a PNG."""
    fig, ax = _figure("Risk-coverage: error of accepted items vs share accepted")
    ax.plot(curve["coverage"], curve["risk"], drawstyle="steps-post", label="observed error")
    ax.axhline(epsilon, color="red", linestyle="--", linewidth=1, label=f"target ε = {epsilon:g}")
    pairs = zip(curve["coverage"], curve["thresholds"], strict=True)
    at = [c for c, t in pairs if threshold is not None and t >= threshold]
    if at:
        ax.axvline(max(at), color="green", linewidth=1, label=f"threshold {threshold:.3f}")
    ax.set(xlim=(0, 1), ylim=(0, max([epsilon * 2, *curve["risk"], 0.01])))
    ax.set(xlabel="coverage (share auto-accepted)", ylabel="error among accepted")
    ax.legend(loc="upper left")
    return _save(fig, path)
