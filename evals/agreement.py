"""Classification and agreement metrics: pure functions over plain Python / numpy data.

Conventions, shared by every function here:

- Labels are hashable values (strings in this project); ``None`` (or a float NaN) is a
  missing rating. Two-sequence metrics drop every pair with a missing side.
- ``labels`` is the guideline's label list. A value outside it raises ``ValueError``
  naming the valid labels; where ``labels`` is optional, the observed labels are used.
- A statistic that is undefined returns ``None``, never NaN: no pairs, all ratings missing,
  or a chance-corrected coefficient whose expected agreement is 1 (one class only), since
  (p_o - p_e) / (1 - p_e) is then 0 / 0.
- Confusion matrices have gold labels as rows and predicted labels as columns (as in
  scikit-learn). Precision, recall or F1 with a zero denominator is 0.0 (scikit-learn's
  ``zero_division=0``), and macro averages run over every label passed.
- Multi-rater inputs (``ratings``) are either a mapping item -> labels (a list, or a dict
  annotator -> label) or an items x labels matrix of counts (``count_table``); the matrix
  is the fast input for ``bootstrap_ci``.
- The kappa paradox: with very skewed marginals, kappa can be near 0 (or negative) while
  raw agreement is high, because chance agreement is high too; Gwet's AC1 uses a chance
  term that shrinks as the marginals skew, so it stays close to the raw agreement.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import krippendorff
import numpy as np

Label = Hashable
Span = tuple[int, int, Label]
# item -> labels (a list, or a dict annotator -> label), or an items x labels counts matrix
Ratings = Mapping[Any, Iterable[Label | None] | Mapping[Any, Label | None]] | np.ndarray | Sequence


# --- shared helpers ---------------------------------------------------------------------------


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _may_miss(values: Iterable) -> bool:
    # a C-level scan of the types: only None and floats (NaN) can be missing
    types = set(map(type, values))
    return type(None) in types or float in types or bool(types - _PLAIN)


_PLAIN = {str, int, bool, tuple, frozenset, list, set}


def _pairs(a: Sequence, b: Sequence) -> tuple[list, list]:
    if len(a) != len(b):
        raise ValueError(f"length mismatch: {len(a)} vs {len(b)} ratings; align them by item")
    if not (_may_miss(a) or _may_miss(b)):
        return list(a), list(b)
    kept = [(x, y) for x, y in zip(a, b, strict=True) if _present(x) and _present(y)]
    return [x for x, _ in kept], [y for _, y in kept]


def _observed(*groups: Iterable) -> list:
    seen = {v for v in set().union(*groups) if _present(v)}
    return sorted(seen, key=lambda v: (str(type(v)), str(v)))


def _codes(values: Iterable, labels: Sequence) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    try:
        return np.fromiter(map(index.__getitem__, values), dtype=np.intp)
    except KeyError as err:
        raise ValueError(
            f"Unknown label {err.args[0]!r}: valid labels are {list(labels)}; "
            "pass the guideline's full label list"
        ) from None


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _prf(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> tuple[np.ndarray, ...]:
    return _ratio(tp, n_pred), _ratio(tp, n_gold), _ratio(2 * tp, n_pred + n_gold)


def _prf_rows(labels: Sequence, tp, n_pred, n_gold) -> dict[Label, dict[str, float]]:
    precision, recall, f1 = _prf(tp, n_pred, n_gold)
    return {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(n_gold[i]),
        }
        for i, label in enumerate(labels)
    }


def _chance_corrected(p_o: float, p_e: float) -> float | None:
    if p_e >= 1 - 1e-12:
        return None
    return float((p_o - p_e) / (1 - p_e))


# --- single-label classification ----------------------------------------------------------------


def _table(rows: Sequence, cols: Sequence, labels: Sequence) -> np.ndarray:
    k = len(labels)
    cells = _codes(rows, labels) * k + _codes(cols, labels)
    return np.bincount(cells, minlength=k * k).reshape(k, k)


def confusion_matrix(pred: Sequence, gold: Sequence, labels: Sequence) -> np.ndarray:
    """Counts with gold labels as rows and predicted labels as columns (missing pairs dropped)."""
    p, g = _pairs(pred, gold)
    return _table(g, p, labels)


def _label_counts(pred: Sequence, gold: Sequence, labels: Sequence) -> tuple[np.ndarray, ...]:
    matrix = confusion_matrix(pred, gold, labels)
    return np.diag(matrix), matrix.sum(0), matrix.sum(1)


def per_label_prf(
    pred: Sequence, gold: Sequence, labels: Sequence
) -> dict[Label, dict[str, float]]:
    """Precision, recall, F1 and gold support for each label."""
    return _prf_rows(labels, *_label_counts(pred, gold, labels))


def macro_f1(pred: Sequence, gold: Sequence, labels: Sequence) -> float | None:
    """Unweighted mean of the per-label F1 over ``labels``; None without pairs."""
    tp, n_pred, n_gold = _label_counts(pred, gold, labels)
    return float(_prf(tp, n_pred, n_gold)[2].mean()) if n_gold.sum() else None


def micro_f1(pred: Sequence, gold: Sequence, labels: Sequence) -> float | None:
    """F1 of the pooled counts (equals accuracy for single-label data); None without pairs."""
    tp, n_pred, n_gold = _label_counts(pred, gold, labels)
    return float(_prf(tp.sum(), n_pred.sum(), n_gold.sum())[2]) if n_gold.sum() else None


# --- multi-label classification -----------------------------------------------------------------


def _indicators(
    pred_sets: Sequence, gold_sets: Sequence, labels: Sequence
) -> tuple[np.ndarray, np.ndarray]:
    p, g = _pairs(pred_sets, gold_sets)

    def matrix(sets: list) -> np.ndarray:
        sets = [set(s) for s in sets]
        out = np.zeros((len(sets), len(labels)), bool)
        rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
        out[rows, _codes(chain.from_iterable(sets), labels)] = True
        return out

    return matrix(p), matrix(g)


def per_label_accuracy(
    pred_sets: Sequence, gold_sets: Sequence, labels: Sequence
) -> dict[Label, float | None]:
    """For each label, the share of items where its presence or absence is right."""
    p, g = _indicators(pred_sets, gold_sets, labels)
    hits = (p == g).mean(0) if len(p) else [None] * len(labels)
    return {label: None if h is None else float(h) for label, h in zip(labels, hits, strict=True)}


def exact_set_accuracy(pred_sets: Sequence, gold_sets: Sequence) -> float | None:
    """Share of items whose predicted label set equals the gold set exactly."""
    p, g = _pairs(pred_sets, gold_sets)
    return sum(set(x) == set(y) for x, y in zip(p, g, strict=True)) / len(g) if g else None


def multilabel_prf(
    pred_sets: Sequence, gold_sets: Sequence, labels: Sequence
) -> dict[Label, dict[str, float]]:
    """Precision, recall, F1 and support of each label over label sets."""
    p, g = _indicators(pred_sets, gold_sets, labels)
    return _prf_rows(labels, (p & g).sum(0), p.sum(0), g.sum(0))


def multilabel_f1(
    pred_sets: Sequence, gold_sets: Sequence, labels: Sequence, average: str = "micro"
) -> float | None:
    """Micro (pooled) or macro (mean per label) F1 over label sets; None without pairs."""
    if average not in ("micro", "macro"):
        raise ValueError(f"Unknown average {average!r}: valid values are 'micro', 'macro'")
    p, g = _indicators(pred_sets, gold_sets, labels)
    if not len(g):
        return None
    tp, n_pred, n_gold = (p & g).sum(0), p.sum(0), g.sum(0)
    if average == "macro":
        return float(_prf(tp, n_pred, n_gold)[2].mean())
    return float(_prf(tp.sum(), n_pred.sum(), n_gold.sum())[2])


# --- spans --------------------------------------------------------------------------------------


def _span_scores(docs: int, tp: int, n_pred: int, n_gold: int) -> dict[str, float | None]:
    scores = [float(x) for x in _prf(np.array(tp), n_pred, n_gold)] if docs else [None] * 3
    return dict(zip(("precision", "recall", "f1"), scores, strict=True))


def span_exact_prf(pred_docs: Sequence, gold_docs: Sequence) -> dict[str, float | None]:
    """Micro precision/recall/F1 of (start, end, label) spans that match exactly, per document."""
    p, g = _pairs(pred_docs, gold_docs)
    tp = sum(((Counter(x) & Counter(y)).total() for x, y in zip(p, g, strict=True)), 0)
    return _span_scores(len(g), tp, sum(map(len, p)), sum(map(len, g)))


def _covered(spans: Iterable[Span], tokens: Sequence[tuple[int, int]] | None) -> set:
    if tokens is None:
        return {(label, i) for start, end, label in spans for i in range(start, end)}
    return {
        (label, t)
        for start, end, label in spans
        for t, (t_start, t_end) in enumerate(tokens)
        if t_start < end and start < t_end
    }


def span_overlap_prf(
    pred_docs: Sequence, gold_docs: Sequence, tokens: Sequence | None = None
) -> dict[str, float | None]:
    """Micro precision/recall/F1 over covered positions with the same label.

    Spans are half-open ``(start, end, label)``. Without ``tokens`` each offset position
    (a character, or a token when offsets are token indices) counts once; with ``tokens``
    (per document, a list of ``(start, end)`` character offsets) a token counts when it
    overlaps the span.
    """
    p, g = _pairs(pred_docs, gold_docs)
    toks = tokens if tokens is not None else [None] * len(pred_docs)
    toks = [
        t for t, x, y in zip(toks, pred_docs, gold_docs, strict=True) if _present(x) and _present(y)
    ]
    tp = n_pred = n_gold = 0
    for x, y, t in zip(p, g, toks, strict=True):
        cp, cg = _covered(x, t), _covered(y, t)
        tp, n_pred, n_gold = tp + len(cp & cg), n_pred + len(cp), n_gold + len(cg)
    return _span_scores(len(g), tp, n_pred, n_gold)


# --- agreement between raters --------------------------------------------------------------------


def percent_agreement(a: Sequence, b: Sequence) -> float | None:
    """Share of items both raters labeled on which they agree; None without pairs."""
    x, y = _pairs(a, b)
    return sum(u == v for u, v in zip(x, y, strict=True)) / len(x) if x else None


def cohen_kappa(a: Sequence, b: Sequence, labels: Sequence | None = None) -> float | None:
    """Cohen's kappa of two raters; None without pairs or when both use one same class only."""
    x, y = _pairs(a, b)
    if not x:
        return None
    table = _table(x, y, labels or _observed(x, y)) / len(x)
    return _chance_corrected(np.trace(table), table.sum(0) @ table.sum(1))


def _unit_values(ratings: Mapping) -> list:
    return [r.values() if isinstance(r, Mapping) else r for r in ratings.values()]


def count_table(ratings: Ratings, labels: Sequence | None = None) -> np.ndarray:
    """Items x labels counts of a mapping item -> labels; a counts matrix passes through.

    Multi-rater metrics on this array need no label lookups: bootstrap over its rows for speed.
    """
    if not isinstance(ratings, Mapping):
        table = np.asarray(ratings, float)
        if table.ndim != 2 or (labels is not None and table.shape[1] != len(labels)):
            raise ValueError(
                f"a counts matrix must be items x labels ({len(labels or ())} labels given), "
                f"got shape {table.shape}"
            )
        return table
    units = _unit_values(ratings)
    flat = list(chain.from_iterable(units))
    rows = np.repeat(np.arange(len(units)), np.fromiter(map(len, units), np.intp, len(units)))
    if _may_miss(flat):
        keep = np.fromiter(map(_present, flat), bool, len(flat))
        flat, rows = [v for v, k in zip(flat, keep, strict=True) if k], rows[keep]
    labels = labels or _observed(flat)
    if not labels:
        return np.zeros((len(units), 0))
    cells = rows * len(labels) + _codes(flat, labels)
    return np.bincount(cells, minlength=len(units) * len(labels)).reshape(-1, len(labels))


def fleiss_kappa(ratings: Ratings, labels: Sequence | None = None) -> float | None:
    """Fleiss' kappa over items with 2+ ratings (any number of raters per item).

    With a varying number of raters, item agreement is averaged over items and the category
    shares pool all ratings; with a constant number this is exactly Fleiss (1971).
    """
    counts = count_table(ratings, labels)
    n = counts.sum(1)
    counts, n = counts[n >= 2], n[n >= 2]
    if not len(n):
        return None
    p_item = (counts * (counts - 1)).sum(1) / (n * (n - 1))
    shares = counts.sum(0) / n.sum()
    return _chance_corrected(p_item.mean(), shares @ shares)


def _ac1(p_a: float, pi: np.ndarray) -> float | None:
    if len(pi) < 2:
        return None
    return _chance_corrected(p_a, (pi * (1 - pi)).sum() / (len(pi) - 1))


def gwet_ac1_multi(ratings: Ratings, labels: Sequence | None = None) -> float | None:
    """Gwet's AC1 for any number of raters (Gwet 2008); pass all guideline labels as ``labels``.

    The number of categories enters the chance term, so unused guideline labels matter.
    """
    counts = count_table(ratings, labels)
    n = counts.sum(1)
    pairable = n >= 2
    if not pairable.any():
        return None
    c, m = counts[pairable], n[pairable]
    p_a = ((c * (c - 1)).sum(1) / (m * (m - 1))).mean()
    return _ac1(p_a, (counts[n > 0] / n[n > 0, None]).mean(0))


def gwet_ac1(a: Sequence, b: Sequence, labels: Sequence | None = None) -> float | None:
    """Gwet's AC1 of two raters (pairs with a missing rating dropped); see ``gwet_ac1_multi``."""
    x, y = _pairs(a, b)
    if not x:
        return None
    table = _table(x, y, labels or _observed(x, y)) / len(x)
    return _ac1(np.trace(table), (table.sum(0) + table.sum(1)) / 2)


def krippendorff_alpha(
    reliability_data: Ratings, level: str = "nominal", value_order: Sequence | None = None
) -> float | None:
    """Krippendorff's alpha, nominal or ordinal (ordinal needs the guideline's label order).

    ``reliability_data`` is like ``ratings`` elsewhere: a mapping item -> labels, or a counts
    matrix with columns in ``value_order``. Krippendorff's coders x units layout converts with
    ``dict(enumerate(zip(*rows)))``. None when fewer than two values occur in units with 2+
    ratings.
    """
    if level not in ("nominal", "ordinal"):
        raise ValueError(f"Unknown level {level!r}: valid levels are 'nominal', 'ordinal'")
    if level == "ordinal" and value_order is None:
        raise ValueError("ordinal alpha needs value_order: the guideline's labels, lowest first")
    counts = count_table(reliability_data, value_order)
    pairable = counts[counts.sum(1) >= 2]
    if np.count_nonzero(pairable.sum(0)) < 2:
        return None
    domain = np.arange(counts.shape[1])
    return float(
        krippendorff.alpha(value_counts=counts, value_domain=domain, level_of_measurement=level)
    )


# --- confidence intervals ------------------------------------------------------------------------


def on_pairs(metric_fn: Callable[..., float | None], **kwargs: Any) -> Callable:
    """Adapt ``metric_fn(a, b, **kwargs)`` to take one list of (a, b) pairs, for bootstrap_ci."""

    def metric(pairs: Sequence) -> float | None:
        return metric_fn([p[0] for p in pairs], [p[1] for p in pairs], **kwargs)

    return metric


def _object_array(values: Iterable) -> np.ndarray:
    # element by element: numpy would turn equal-length tuples into a 2-d array
    values = list(values)
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _resampler(items: Any) -> Callable[[np.ndarray], Any]:
    if isinstance(items, np.ndarray):
        return lambda idx: items[idx]
    if isinstance(items, Mapping):
        values = _object_array(items.values())
        return lambda idx: dict(enumerate(values[idx].tolist()))
    pool = _object_array(items)
    return lambda idx: pool[idx].tolist()


def bootstrap_ci(
    metric_fn: Callable[[Any], float | None],
    items: Sequence | Mapping | np.ndarray,
    n: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float | None, float | None, float | None]:
    """(point, lo, hi): the metric and its percentile interval over resampled items.

    ``items`` is a list (resampled as a list), an array (fancy-indexed) or a mapping (resampled
    into a dict keyed 0..len-1, so repeated items stay distinct). Resamples where the metric is
    None are skipped; lo and hi are None when every resample is.
    """
    point = metric_fn(items)
    if point is None or not len(items):
        return point, None, None
    rng, take = np.random.default_rng(seed), _resampler(items)
    stats = (metric_fn(take(rng.integers(0, len(items), len(items)))) for _ in range(n))
    values = np.array([s for s in stats if s is not None], float)
    if not len(values):
        return point, None, None
    lo, hi = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return point, float(lo), float(hi)
