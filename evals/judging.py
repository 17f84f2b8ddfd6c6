"""Evaluating judges of chatbot replies: pairwise verdicts, ratings, rankings, model scores.

Conventions, shared by every function here (those of ``agreement`` hold too: ``None`` is a
missing judgment, an undefined statistic is ``None``, never NaN):

- An item has replies with ids (usually ``"a"`` and ``"b"``); each reply may name its model.
- A judgment is, by ``kind``: ``"pairwise"``, the winning reply's id or ``"tie"``;
  ``"rating"``, a dict reply id -> int on the guideline's ordinal scale; ``"ranking"``, a
  tuple of reply ids, best first.
- ``people`` maps item -> votes: a list of judgments, or a dict person -> judgment.
- The consensus of an item is the judgment most of its people gave. For pairwise, a split
  vote is ``"tie"`` when ties are allowed, and no consensus (``None``) otherwise; for ratings
  and rankings a split is no consensus. A rating is right only when it equals the consensus
  (every reply's rating), a ranking only when its order does; the distances (mean absolute
  rating gap, Kendall tau distance) are reported next to that, not certified.
- A battle is ``(model_x, model_y, outcome)``, outcome ``"x"``, ``"y"`` or ``"tie"``.
  Model scores are Bradley-Terry strengths on an Elo-like scale (see ``bradley_terry``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from labelloop.evals.aggregate import majority_vote
from labelloop.evals.agreement import (
    _present,
    cohen_kappa,
    krippendorff_alpha,
    percent_agreement,
)
from labelloop.evals.calibration import _save

TIE = "tie"
KINDS = ("pairwise", "rating", "ranking")
OUTCOMES = ("x", "y", TIE)
Battle = tuple[str, str, str]
# item -> judgments: a list, or a dict person -> judgment
People = Mapping[Any, Sequence[Any] | Mapping[Any, Any]]


# --- consensus ----------------------------------------------------------------------------------


def _votes(votes: Sequence | Mapping) -> list:
    values = votes.values() if isinstance(votes, Mapping) else votes
    return [v for v in values if _present(v)]


def _key(judgment: Any) -> Any:
    # ratings are dicts and rankings may come as lists: compare them as hashable values
    if isinstance(judgment, Mapping):
        return tuple(sorted(judgment.items(), key=lambda kv: str(kv[0])))
    if isinstance(judgment, list):
        return tuple(judgment)
    return judgment


def _majority(keys: list) -> tuple[Any, bool]:
    """(the most frequent key or None, whether the top count was split between keys)."""
    top = majority_vote({0: dict(enumerate(keys))})[0]
    return top, top is None and bool(keys)


def pairwise_consensus(votes: Sequence[str | None] | Mapping, allow_tie: bool) -> str | None:
    """The reply id (or ``"tie"``) most people chose; None without votes.

    A split at the top (``a, b``; ``a, tie``; ``a, b, tie``) is ``"tie"`` when ties are
    allowed and no consensus (None) otherwise. A ``"tie"`` vote where ties are not allowed
    raises ``ValueError``.
    """
    present = _votes(votes)
    if not allow_tie and TIE in present:
        raise ValueError("a 'tie' vote in a task without ties: pass allow_tie=True")
    top, split = _majority(present)
    return TIE if split and allow_tie else top


def consensus(votes: Sequence | Mapping) -> Any | None:
    """The judgment most people gave, compared whole (a rating dict, a ranking); None on a
    split or without votes. Rankings come back as tuples."""
    present = _votes(votes)
    keys = [_key(v) for v in present]
    top, _ = _majority(keys)
    if top is None:
        return None
    first = present[keys.index(top)]
    return tuple(first) if isinstance(first, list) else first


def _consensus_of(votes: Sequence | Mapping, kind: str, allow_tie: bool) -> Any | None:
    if kind == "pairwise":
        return pairwise_consensus(votes, allow_tie)
    return consensus(votes)


# --- position bias ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PositionBias:
    """How one judge's pairwise verdicts move when the two replies swap places.

    ``n``: items with both verdicts. ``order_agreement``: share of them whose two verdicts are
    equal (a ``"tie"`` in both counts as equal). ``position_bias``: the other share, whose
    verdicts disagree (1 - order_agreement). ``first_position_preference``: among the
    disagreements, the share where the judge chose the reply shown first both times (the
    first reply in order AB, the second in order BA); ``second_position_preference``: the
    share where it chose the reply shown second both times. A disagreement with a tie on one
    side counts in neither, so the two shares may sum to less than 1. Rates are None when
    their denominator is 0.
    """

    n: int
    n_disagree: int
    n_first: int
    n_second: int
    order_agreement: float | None
    position_bias: float | None
    first_position_preference: float | None
    second_position_preference: float | None
    disagreeing_items: tuple


def _rate(num: int, den: int) -> float | None:
    return num / den if den else None


def position_bias(
    verdicts: Iterable[tuple[Any, str | None, str | None]], replies: tuple[str, str] = ("a", "b")
) -> PositionBias:
    """Position bias of a judge from ``(item_id, verdict_in_order_AB, verdict_in_order_BA)``.

    Both verdicts are reply ids (or ``"tie"``) already mapped back from positions, so a
    consistent judge gives the same id twice. ``replies`` is ``(A, B)``: the reply shown first
    in order AB (and second in order BA), then the other. Rows with a missing verdict are
    dropped. See ``PositionBias`` for each field.
    """
    first, second = replies
    both = [(item, ab, ba) for item, ab, ba in verdicts if _present(ab) and _present(ba)]
    disagree = [(item, ab, ba) for item, ab, ba in both if ab != ba]
    n_first = sum(ab == first and ba == second for _, ab, ba in disagree)
    n_second = sum(ab == second and ba == first for _, ab, ba in disagree)
    n_agree = len(both) - len(disagree)
    return PositionBias(
        n=len(both),
        n_disagree=len(disagree),
        n_first=n_first,
        n_second=n_second,
        order_agreement=_rate(n_agree, len(both)),
        position_bias=_rate(len(disagree), len(both)),
        first_position_preference=_rate(n_first, len(disagree)),
        second_position_preference=_rate(n_second, len(disagree)),
        disagreeing_items=tuple(item for item, _, _ in disagree),
    )


# --- agreement with people ----------------------------------------------------------------------


def kendall_distance(x: Sequence[str], y: Sequence[str]) -> float | None:
    """Share of reply pairs the two rankings order differently: 0 equal, 1 reversed.

    None with fewer than two replies; ``ValueError`` when the rankings rank different replies.
    """
    from scipy.stats import kendalltau

    if sorted(x) != sorted(y) or len(set(x)) != len(x):
        raise ValueError(f"rankings must order the same replies once each: {x!r} vs {y!r}")
    if len(x) < 2:
        return None
    position = {reply: i for i, reply in enumerate(y)}
    tau = kendalltau(range(len(x)), [position[r] for r in x]).statistic
    return float((1 - tau) / 2)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _rating_units(pairs: list[tuple[Mapping, Mapping]]) -> list[tuple[int, int]]:
    return [(x[r], y[r]) for x, y in pairs for r in x if _present(x[r]) and _present(y.get(r))]


def _compare(pairs: list[tuple[Any, Any]], kind: str, scale: Sequence | None) -> dict[str, Any]:
    """Agreement of the first judgment of each pair with the second (the reference)."""
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    out: dict[str, Any] = {"n": len(pairs)}
    out["accuracy"] = percent_agreement([_key(v) for v in x], [_key(v) for v in y])
    if kind == "pairwise":
        out["kappa"] = cohen_kappa(x, y)
    elif kind == "rating":
        units = _rating_units(pairs)
        order = list(scale) if scale is not None else sorted({v for u in units for v in u})
        alpha = krippendorff_alpha(dict(enumerate(units)), "ordinal", order) if units else None
        out["alpha"] = alpha
        out["mean_abs_distance"] = _mean([abs(u - v) for u, v in units])
    else:
        distances = [kendall_distance(u, v) for u, v in pairs]
        out["mean_kendall_distance"] = _mean([d for d in distances if d is not None])
    return out


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}: valid kinds are {list(KINDS)}")


def judge_agreement(
    judge: Mapping[Any, Any],
    people: People,
    kind: str = "pairwise",
    allow_tie: bool = False,
    scale: Sequence[int] | None = None,
) -> dict[str, Any]:
    """How a judge's judgments (item -> judgment) agree with the people's consensus.

    Compares the items with both a judgment and a consensus. Returns ``n`` (those items),
    ``no_consensus`` (items the people judged without a consensus), ``accuracy`` (share equal
    to the consensus) and, by kind: pairwise ``kappa`` (Cohen's, judge vs consensus); rating
    ``alpha`` (Krippendorff's ordinal over (item, reply) units of judge and consensus rating;
    ``scale`` is the guideline's values, lowest first, else the observed ones) and
    ``mean_abs_distance``; ranking ``mean_kendall_distance`` (see ``kendall_distance``).
    """
    _check_kind(kind)
    pairs, missing = [], 0
    for item, votes in people.items():
        agreed = _consensus_of(votes, kind, allow_tie)
        missing += agreed is None and bool(_votes(votes))
        if agreed is not None and _present(judge.get(item)):
            pairs.append((judge[item], agreed))
    return {**_compare(pairs, kind, scale), "no_consensus": missing}


def _pool_alpha(people: People, kind: str, scale: Sequence | None) -> float | None:
    if kind != "rating":
        units = {item: [_key(v) for v in _votes(votes)] for item, votes in people.items()}
        return krippendorff_alpha(units) if units else None
    units: dict[Any, list] = {}
    for item, votes in people.items():
        for rating in _votes(votes):
            for reply, value in rating.items():
                if _present(value):
                    units.setdefault((item, reply), []).append(value)
    order = list(scale) if scale is not None else sorted({v for u in units.values() for v in u})
    return krippendorff_alpha(units, "ordinal", order) if units else None


def human_agreement(
    people: People,
    kind: str = "pairwise",
    allow_tie: bool = False,
    scale: Sequence[int] | None = None,
) -> dict[str, Any]:
    """How people agree with each other, on the same footing as ``judge_agreement``.

    Each vote is compared with the consensus of the item's other votes (leave one out; items
    with one vote add nothing): ``n`` counts those votes, and ``accuracy``, ``kappa``,
    ``alpha``, ``mean_abs_distance`` or ``mean_kendall_distance`` are computed over them as
    for a judge. Also ``n_items`` (items with 2+ votes), ``pair_agreement`` (share of pairs
    of votes on the same item that are equal) and ``pool_alpha``: Krippendorff's alpha over
    all votes (nominal for pairwise and whole rankings, ordinal over (item, reply) units for
    ratings).
    """
    _check_kind(kind)
    pairs, same, n_pairs, n_items = [], 0, 0, 0
    for votes in people.values():
        present = _votes(votes)
        if len(present) < 2:
            continue
        n_items += 1
        for i, vote in enumerate(present):
            others = _consensus_of(present[:i] + present[i + 1 :], kind, allow_tie)
            if others is not None:
                pairs.append((vote, others))
        for u, v in combinations(present, 2):
            same, n_pairs = same + (_key(u) == _key(v)), n_pairs + 1
    return {
        **_compare(pairs, kind, scale),
        "n_items": n_items,
        "pair_agreement": _rate(same, n_pairs),
        "pool_alpha": _pool_alpha(people, kind, scale),
    }


# --- model scores from battles ------------------------------------------------------------------


def _reply_field(reply: Any, name: str) -> Any:
    return reply.get(name) if isinstance(reply, Mapping) else getattr(reply, name, None)


def battles_from_judgments(
    items: Iterable[tuple[Sequence[Any], str | None]],
) -> tuple[list[Battle], dict[str, int]]:
    """Battles from ``(replies, verdict)`` pairs, one per pairwise item.

    ``replies`` are the item's two replies, as objects or dicts with ``id`` and ``model``;
    ``verdict`` is the winning reply's id, ``"tie"``, or None. The first reply's model is
    ``model_x``. Returns the battles and the skipped items by reason: ``no_verdict``,
    ``no_model`` (a reply without a model), ``same_model`` (both replies from one model,
    which says nothing about the ranking). A verdict naming neither reply raises
    ``ValueError``.
    """
    battles: list[Battle] = []
    skipped = dict.fromkeys(("no_verdict", "no_model", "same_model"), 0)
    for replies, verdict in items:
        if len(replies) != 2:
            raise ValueError(f"a pairwise item has two replies, got {len(replies)}")
        ids = [_reply_field(r, "id") for r in replies]
        models = [_reply_field(r, "model") for r in replies]
        if not _present(verdict):
            skipped["no_verdict"] += 1
            continue
        if verdict not in (*ids, TIE):
            raise ValueError(f"verdict {verdict!r} names no reply: valid are {[*ids, TIE]}")
        if not all(models):
            skipped["no_model"] += 1
        elif models[0] == models[1]:
            skipped["same_model"] += 1
        else:
            outcome = TIE if verdict == TIE else "x" if verdict == ids[0] else "y"
            battles.append((models[0], models[1], outcome))
    return battles, skipped


@dataclass(frozen=True)
class _Battles:
    models: list[str]
    i: np.ndarray  # the lower model index of each battle
    j: np.ndarray
    wins_i: np.ndarray  # 1, 0.5 (tie) or 0

    def pair_wins(self, counts: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """(i, j, wins of i, wins of j) per pair that met, battles weighted by ``counts``."""
        k = len(self.models)
        w = np.ones(len(self.i)) if counts is None else counts
        pair = self.i * k + self.j
        won = np.bincount(pair, w * self.wins_i, minlength=k * k)
        lost = np.bincount(pair, w * (1 - self.wins_i), minlength=k * k)
        met = np.flatnonzero(won + lost > 0)
        return met // k, met % k, won[met], lost[met]


def _encode(battles: Iterable[Battle]) -> _Battles:
    rows = [tuple(b) for b in battles]
    bad = {o for _, _, o in rows} - set(OUTCOMES)
    if bad:
        raise ValueError(f"Unknown outcome {sorted(bad)[0]!r}: valid outcomes are {OUTCOMES}")
    rows = [(x, y, o) for x, y, o in rows if x != y]  # a model against itself says nothing
    models = sorted({m for x, y, _ in rows for m in (x, y)})
    index = {m: n for n, m in enumerate(models)}
    x = np.array([index[r[0]] for r in rows], dtype=np.intp)
    y = np.array([index[r[1]] for r in rows], dtype=np.intp)
    wins_x = np.array([{"x": 1.0, "y": 0.0, TIE: 0.5}[r[2]] for r in rows])
    swap = x > y
    return _Battles(
        models, np.where(swap, y, x), np.where(swap, x, y), np.where(swap, 1 - wins_x, wins_x)
    )


def _strengths(
    k: int, i: np.ndarray, j: np.ndarray, won: np.ndarray, lost: np.ndarray, l2: float
) -> np.ndarray:
    """Bradley-Terry log-strengths: logistic regression without intercept on +1/-1 columns."""
    from sklearn.linear_model import LogisticRegression

    rows = np.zeros((len(i), k))
    rows[np.arange(len(i)), i], rows[np.arange(len(i)), j] = 1.0, -1.0
    # each pair twice, both ways round, at half weight: the same likelihood, and both classes
    # are always present for the solver
    x = np.concatenate([rows, rows, -rows, -rows])
    y = np.concatenate([np.ones(len(i)), np.zeros(len(i)), np.ones(len(i)), np.zeros(len(i))])
    w = np.concatenate([won, lost, lost, won]) / 2
    keep = w > 0
    model = LogisticRegression(C=1 / l2, fit_intercept=False, tol=1e-10, max_iter=1000)
    model.fit(x[keep], y[keep], sample_weight=w[keep])
    return model.coef_[0]


def _scale(
    log_strength: np.ndarray,
    models: list[str],
    present: np.ndarray,
    scale: float,
    base: float,
    center: float,
    anchor: tuple[str, float] | None,
) -> np.ndarray:
    scores = np.where(present, log_strength * scale / math.log(base), np.nan)
    if anchor is not None:
        return scores + anchor[1] - scores[models.index(anchor[0])]
    return scores - np.nanmean(scores) + center


def _check_anchor(anchor: tuple[str, float] | None, models: list[str]) -> None:
    if anchor is not None and anchor[0] not in models:
        raise ValueError(f"anchor model {anchor[0]!r} is in no battle: models are {models}")


def bradley_terry(
    battles: Iterable[Battle],
    scale: float = 400.0,
    base: float = 10.0,
    center: float = 1000.0,
    anchor: tuple[str, float] | None = None,
    l2: float = 1e-6,
) -> dict[str, float]:
    """Bradley-Terry scores of the models, best first, on an Elo-like scale.

    Fitted as Chatbot Arena does: a logistic regression without intercept, one row per pair of
    models, +1 in the column of one model and -1 in the other's, with their wins as sample
    weights. A tie counts as half a win for each model (the pair's weights each take 0.5).
    P(x beats y) = 1 / (1 + base ** ((score_y - score_x) / scale)): with the defaults, 400
    points more is 10:1 odds. Scores are shifted so their mean is ``center``, or so that
    ``anchor = (model, score)`` holds. A tiny L2 penalty (``l2``, the inverse of
    scikit-learn's ``C``) keeps a model that never lost (or never won) finite, if far off.
    Battles of a model against itself are ignored; models that never met another (apart,
    in a comparison graph that falls into parts) get scores that are not comparable.
    """
    data = _encode(battles)
    if not data.models:
        return {}
    _check_anchor(anchor, data.models)
    k = len(data.models)
    with threadpool_limits(1):  # small matrices: one BLAS thread
        log_strength = _strengths(k, *data.pair_wins(), l2)
    scores = _scale(log_strength, data.models, np.ones(k, bool), scale, base, center, anchor)
    ranked = sorted(zip(data.models, scores.tolist(), strict=True), key=lambda ms: -ms[1])
    return dict(ranked)


def _resampled(data: _Battles, n_boot: int, seed: int, l2: float, scaling: tuple) -> np.ndarray:
    """n_boot x models scores, each row fitted on battles resampled with replacement (NaN for
    a model absent from the resample; a row of NaN where the anchor model is absent)."""
    k, n = len(data.models), len(data.i)
    anchor = scaling[-1]
    rng = np.random.default_rng(seed)
    samples = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        counts = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        i, j, won, lost = data.pair_wins(counts)
        present = np.bincount(np.concatenate([i, j]), minlength=k) > 0
        if anchor is not None and not present[data.models.index(anchor[0])]:
            continue
        log_strength = _strengths(k, i, j, won, lost, l2)
        samples[b] = _scale(log_strength, data.models, present, *scaling)
    return samples


def bootstrap_bradley_terry(
    battles: Iterable[Battle],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    scale: float = 400.0,
    base: float = 10.0,
    center: float = 1000.0,
    anchor: tuple[str, float] | None = None,
    l2: float = 1e-6,
) -> dict[str, dict[str, Any]]:
    """Per model (best first): ``score`` (``bradley_terry`` on all battles), ``lower`` and
    ``upper`` (percentile interval at ``level`` over ``n_boot`` refits on battles resampled
    with replacement, numpy's generator seeded with ``seed``) and ``battles`` (how many it
    fought). The other arguments are ``bradley_terry``'s.

    Each resample is centred (or anchored) on its own; a model absent from a resample has no
    score there, and its interval runs over the other resamples (None if there are none;
    resamples without the anchor model are skipped).
    """
    battles = list(battles)
    point = bradley_terry(battles, scale, base, center, anchor, l2)
    data = _encode(battles)
    k = len(data.models)
    if not k:
        return {}
    fought = np.bincount(np.concatenate([data.i, data.j]), minlength=k)
    with threadpool_limits(1):  # small matrices: one BLAS thread
        samples = _resampled(data, n_boot, seed, l2, (scale, base, center, anchor))
    tail = (1 - level) / 2
    out: dict[str, dict[str, Any]] = {}
    for model, score in point.items():
        column = samples[:, data.models.index(model)]
        column = column[~np.isnan(column)]
        bounds = np.quantile(column, [tail, 1 - tail]).tolist() if len(column) else [None] * 2
        out[model] = {
            "score": score,
            "lower": bounds[0],
            "upper": bounds[1],
            "battles": int(fought[data.models.index(model)]),
        }
    return out


def win_rate_matrix(
    battles: Iterable[Battle], models: Sequence[str] | None = None
) -> tuple[list[str], list[list[float | None]]]:
    """(models, matrix): ``matrix[r][c]`` is the share of the battles between ``models[r]``
    and ``models[c]`` that ``models[r]`` won, a tie counting half; None where the two never
    met (and on the diagonal). ``models`` sets the order (default: by name); models outside
    it are left out.
    """
    data = _encode(battles)
    order = list(models) if models is not None else data.models
    won: Counter = Counter()
    met: Counter = Counter()
    for i, j, w in zip(data.i.tolist(), data.j.tolist(), data.wins_i.tolist(), strict=True):
        a, b = data.models[i], data.models[j]
        won[a, b], won[b, a] = won[a, b] + w, won[b, a] + 1 - w
        met[a, b], met[b, a] = met[a, b] + 1, met[b, a] + 1
    matrix = [[won[r, c] / met[r, c] if met[r, c] else None for c in order] for r in order]
    return order, matrix


# --- plots --------------------------------------------------------------------------------------


def _figure(title: str, width: float, height: float):
    # the object API with the Agg canvas: no pyplot, no global backend switch
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def plot_rankings(results: Mapping[str, Mapping[str, Mapping[str, Any]]], path: str | Path) -> Path:
    """Each model's score and interval per source (e.g. ``"people"``, ``"judge"``, ``"mix"``),
    from ``bootstrap_bradley_terry`` results, as a horizontal interval plot written as a PNG.

    Models are listed in the first source's order, best at the top.
    """
    models = list(dict.fromkeys(m for result in results.values() for m in result))
    fig, ax = _figure(
        "Model scores (Bradley-Terry, bootstrap interval)", 6.5, 1.5 + 0.45 * max(len(models), 1)
    )
    step = 0.8 / max(len(results), 1)
    for s, (source, result) in enumerate(results.items()):
        rows = [(r, result[m]) for r, m in enumerate(models) if m in result]
        y = [len(models) - 1 - r + 0.4 - step * (s + 0.5) for r, _ in rows]
        score = [v["score"] for _, v in rows]
        lower = [v["score"] if v["lower"] is None else v["lower"] for _, v in rows]
        upper = [v["score"] if v["upper"] is None else v["upper"] for _, v in rows]
        err = [np.maximum(np.subtract(score, lower), 0), np.maximum(np.subtract(upper, score), 0)]
        ax.errorbar(score, y, xerr=err, fmt="o", capsize=3, label=source)
    ax.set_yticks(range(len(models)), models[::-1])
    ax.set_xlabel("score")
    ax.grid(axis="x", alpha=0.3)
    if results:
        ax.legend(loc="lower right")
    return _save(fig, path)


def plot_win_rates(
    models: Sequence[str], matrix: Sequence[Sequence[float | None]], path: str | Path
) -> Path:
    """The ``win_rate_matrix`` as a heatmap (row model's win rate against the column model),
    pairs that never met in grey, written as a PNG."""
    values = np.array([[np.nan if v is None else v for v in row] for row in matrix], float)
    values = values.reshape(len(models), len(models))
    side = 2.5 + 0.5 * len(models)
    fig, ax = _figure("Win rate of row model against column model", side + 1, side)
    from matplotlib import colormaps

    cmap = colormaps["RdBu"].with_extremes(bad="0.85")  # pairs that never met: grey
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(models)), models, rotation=45, ha="right")
    ax.set_yticks(range(len(models)), models)
    if len(models) <= 15:
        for (r, c), v in np.ndenumerate(values):
            if not np.isnan(v):
                ink = "white" if abs(v - 0.5) > 0.3 else "black"
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=8, color=ink)
    fig.colorbar(image, ax=ax)
    return _save(fig, path)
