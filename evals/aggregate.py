"""Final labels from several annotators: majority vote, Dawid-Skene, adjudication first.

``annotations`` maps item -> {annotator: label}; ``None`` (or NaN) is a missing label. An
item with no label at all gets ``None``. Annotators may be people or models alike.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labelloop.evals.agreement import _codes, _observed, _present

Label = Hashable
Annotations = Mapping[Any, Mapping[Any, Label | None]]

TIE_BREAKS = ("none", "label_order", "random")
_FLOOR = 1e-10  # keeps log(0) away when smoothing is 0


def _votes(labels: Mapping[Any, Label | None]) -> Counter:
    return Counter(v for v in labels.values() if _present(v))


def _winner(item: Any, votes: Counter, tie_break: str, labels: Sequence | None, seed: int):
    top = max(votes.values(), default=0)
    tied = [label for label, count in votes.items() if count == top]
    if len(tied) <= 1:
        return tied[0] if tied else None
    if tie_break == "label_order":
        order = {label: i for i, label in enumerate(labels)}
        return min(tied, key=lambda label: order.get(label, len(order)))
    if tie_break == "random":
        return random.Random(f"{seed}:{item}").choice(sorted(tied, key=str))
    return None


def majority_vote(
    annotations: Annotations,
    tie_break: str = "none",
    labels: Sequence | None = None,
    seed: int = 0,
) -> dict[Any, Label | None]:
    """The most frequent label per item; a tie gives None (send to adjudication) by default.

    ``tie_break="label_order"`` picks the tied label listed first in ``labels`` (the
    guideline's order); ``"random"`` picks one, reproducibly per item and ``seed``.
    """
    if tie_break not in TIE_BREAKS:
        raise ValueError(f"Unknown tie_break {tie_break!r}: valid values are {list(TIE_BREAKS)}")
    if tie_break == "label_order" and labels is None:
        raise ValueError("tie_break='label_order' needs labels: the guideline's label list")
    return {
        item: _winner(item, _votes(item_labels), tie_break, labels, seed)
        for item, item_labels in annotations.items()
    }


@dataclass(frozen=True)
class _Observations:
    items: list
    annotators: list
    labels: list
    item: np.ndarray  # one entry per (item, annotator) label
    annotator: np.ndarray
    label: np.ndarray


def _observations(annotations: Annotations, labels: Sequence | None) -> _Observations:
    rows = [
        (i, who, label)
        for i, item_labels in enumerate(annotations.values())
        for who, label in item_labels.items()
        if _present(label)
    ]
    annotators = _observed(who for _, who, _ in rows)
    labels = list(labels) if labels is not None else _observed(label for *_, label in rows)
    return _Observations(
        items=list(annotations),
        annotators=annotators,
        labels=labels,
        item=np.array([i for i, _, _ in rows], dtype=np.intp),
        annotator=_codes((who for _, who, _ in rows), annotators),
        label=_codes((label for *_, label in rows), labels),
    )


def _per_class(index: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """Sums of each column of ``weights`` grouped by ``index``: a (size, K) array."""
    return np.stack([np.bincount(index, w, minlength=size) for w in weights.T], axis=1)


def _m_step(
    d: _Observations, post: np.ndarray, rated: np.ndarray, smoothing: float
) -> tuple[np.ndarray, ...]:
    j, k = len(d.annotators), len(d.labels)
    counts = _per_class(d.annotator * k + d.label, post[d.item], j * k)  # (annotator, given), true
    confusion = np.maximum(counts.reshape(j, k, k).transpose(0, 2, 1) + smoothing, _FLOOR)
    confusion /= confusion.sum(2, keepdims=True)  # annotator, true, given
    return post[rated].mean(0), confusion


def _e_step(d: _Observations, priors: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    log_given = np.log(confusion)[d.annotator, :, d.label]  # one row per label, one col per class
    log_post = np.log(priors + 1e-300) + _per_class(d.item, log_given, len(d.items))
    post = np.exp(log_post - log_post.max(1, keepdims=True))
    return post / post.sum(1, keepdims=True)


def dawid_skene(
    annotations: Annotations,
    max_iter: int = 100,
    tol: float = 1e-6,
    labels: Sequence | None = None,
    smoothing: float = 0.01,
) -> tuple[dict[Any, Label | None], dict[Any, float], dict[Label, float]]:
    """Dawid-Skene EM from vote shares: (labels, each annotator's estimated accuracy, priors).

    An annotator's accuracy is the model's chance that their label is the true one,
    sum_k prior_k * P(says k | truth k). ``smoothing`` is a pseudo-count added to every
    confusion cell, which steadies annotators with few items. Stops when no posterior moves
    by more than ``tol``.
    """
    d = _observations(annotations, labels)
    if not len(d.item):
        return dict.fromkeys(d.items), {}, {}
    k = len(d.labels)
    post = _per_class(d.item, np.eye(k)[d.label], len(d.items))
    rated = post.sum(1) > 0
    post[~rated] = 1.0
    post /= post.sum(1, keepdims=True)
    for _ in range(max_iter):
        new = _e_step(d, *_m_step(d, post, rated, smoothing))
        moved, post = np.abs(new - post).max(), new
        if moved < tol:
            break
    priors, confusion = _m_step(d, post, rated, smoothing)
    accuracy = np.einsum("k,jkk->j", priors, confusion)
    final = [d.labels[c] if r else None for c, r in zip(post.argmax(1), rated, strict=True)]
    return (
        dict(zip(d.items, final, strict=True)),
        {who: float(a) for who, a in zip(d.annotators, accuracy, strict=True)},
        {label: float(p) for label, p in zip(d.labels, priors, strict=True)},
    )


METHODS = {
    "majority": majority_vote,
    "dawid_skene": lambda annotations: dawid_skene(annotations)[0],
}


def final_labels(
    annotations: Annotations,
    adjudicated: Mapping[Any, Label | None] | None = None,
    method: str = "majority",
) -> dict[Any, Label | None]:
    """One label per item: the adjudicated label where there is one, else ``method``'s."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}: valid methods are {list(METHODS)}")
    out = METHODS[method](annotations)
    for item, label in (adjudicated or {}).items():
        if _present(label):
            out[item] = label
    return out
