"""Calibration: a suggestion's signals -> P(label correct), and an auto-accept threshold
with a guarantee. Pure functions over plain data: no I/O, no store.

The guarantee (Learn-then-Test, fixed-sequence testing with one-sided Clopper-Pearson
bounds): with probability >= 1-δ over the draw of the calibration pairs, at most ε of the
labels at or above the threshold are wrong, provided the pairs are a uniform random sample
of the same stream as the items routed, labeled blind.

* One ordering signal (a provider with one probability, such as the local model's): the
  order of items does not depend on any fit, so every pair tests the threshold. Candidate
  thresholds are quantiles of the unlabeled stream's scores, fixed before any label is read,
  and walked from high confidence down.
* Several signals: a combiner is fitted on some pairs and the threshold tested on the others;
  the fit gets what it needs (``fit_pairs``) and the test everything else.
* The loop looks again and again as pairs grow: look k is tested at δ·2^-k, so all looks
  together spend at most δ (``look_delta``).

``correct`` is item-level exact match: for multi-label and spans the whole answer must equal
the human's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from scipy import special  # scipy.stats (~0.35 s to import) only where it is used

from labelloop.evals.calibration import brier, by_threshold, ece, reliability_curve, risk_coverage

Signals = Mapping[str, Any]

#: signals a calibrator may use, all in [0, 1]
SIGNALS = (
    "logprob_renorm",
    "logprob_prob",
    "verbalized",
    "self_consistency",
    "local_prob",
    "margin",
    "agreement",
    "order_agreement",
    "simulated_agreement",
)
#: the model's own probability, first available wins (the "before calibration" score)
RAW_PROBABILITY = ("logprob_renorm", "logprob_prob", "local_prob", "verbalized")
PROBABILITIES = frozenset(SIGNALS)
CLIP = 1e-4
ISOTONIC_MIN_PAIRS = 1000
METHODS = ("auto", "platt", "isotonic")
STARTS = ("min_items", "predicted")
#: signals that re-express the top probability (same order of items): never a second signal
DERIVED = frozenset({"margin"})
#: candidate thresholds: the stream's scores at this many coverage steps
CANDIDATES = 200
#: pairs a combiner of several signals is fitted on: at least this many, or this many per column
FIT_MIN, FIT_PER_COLUMN = 100, 30
#: smallest top share whose error rate the "more reviews" estimate trusts
_PREFIX_MIN = 10
_REVIEWS_CAP = 1_000_000


# --- features ---------------------------------------------------------------------------------


def _column(signals_list: Sequence[Signals], name: str) -> np.ndarray:
    """One signal as floats, NaN where missing (absent, None or not finite)."""
    col = np.array([s.get(name) for s in signals_list], dtype=float)
    col[~np.isfinite(col)] = np.nan
    return col


def _transformed(signals_list: Sequence[Signals], name: str) -> np.ndarray:
    col = _column(signals_list, name)
    return special.logit(np.clip(col, CLIP, 1 - CLIP)) if name in PROBABILITIES else col


@dataclass(frozen=True)
class FeatureSpec:
    """Which signals become columns, their imputed values and which get missing indicators."""

    names: tuple[str, ...]
    fill: tuple[float, ...]
    indicate: tuple[str, ...]

    @classmethod
    def learn(cls, signals_list: Sequence[Signals], names: Sequence[str]) -> FeatureSpec:
        """Means (after the logit) for imputation; indicators for signals missing somewhere."""
        cols = [_transformed(signals_list, n) for n in names]
        fill = tuple(float(np.nanmean(c)) if np.isfinite(c).any() else 0.0 for c in cols)
        indicate = tuple(n for n, c in zip(names, cols, strict=True) if np.isnan(c).any())
        return cls(tuple(names), fill, indicate)

    def matrix(self, signals_list: Sequence[Signals]) -> np.ndarray:
        """The design matrix: one column per signal, then one per missing indicator."""
        cols, missing = [], {}
        for name, fill in zip(self.names, self.fill, strict=True):
            col = _transformed(signals_list, name)
            missing[name] = np.isnan(col)
            cols.append(np.where(missing[name], fill, col))
        cols += [missing[n].astype(float) for n in self.indicate]
        return np.column_stack(cols) if cols else np.zeros((len(signals_list), 0))


def features(signals_list: Sequence[Signals], names: Sequence[str]) -> np.ndarray:
    """Logit-transformed signal columns plus missing indicators, imputed with column means."""
    return FeatureSpec.learn(signals_list, names).matrix(signals_list)


def usable_signals(
    signals_list: Sequence[Signals], min_share: float = 0.2, min_rows: int = 10
) -> tuple[str, ...]:
    """The SIGNALS present in enough rows and not constant where present."""
    need = max(min_rows, min_share * len(signals_list))
    keys = set().union(*signals_list)
    out = []
    for name in (n for n in SIGNALS if n in keys):
        col = _column(signals_list, name)
        present = col[np.isfinite(col)]
        if len(present) >= need and np.ptp(present) > 0:
            out.append(name)
    return tuple(out)


def raw_probability(signals_list: Sequence[Signals]) -> np.ndarray:
    """The model's own probability per row (first available of RAW_PROBABILITY), else NaN."""
    out = np.full(len(signals_list), np.nan)
    keys = set().union(*signals_list)
    for name in (n for n in RAW_PROBABILITY if n in keys):
        out = np.where(np.isnan(out), _column(signals_list, name), out)
    return out


# --- the calibrator ---------------------------------------------------------------------------


def _platt(x: np.ndarray, y: np.ndarray) -> tuple[tuple[float, ...], float]:
    """Logistic regression weights; a constant (smoothed base rate) when it cannot be fitted."""
    if x.shape[1] == 0 or len(np.unique(y)) < 2:
        rate = (y.sum() + 0.5) / (len(y) + 1)
        return (0.0,) * x.shape[1], float(special.logit(rate))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=100).fit(x, y)
    return tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0])


@dataclass(frozen=True)
class Calibrator:
    """Maps signals to P(label correct): Platt scaling, optionally followed by isotonic."""

    method: str
    spec: FeatureSpec
    coef: tuple[float, ...]
    intercept: float
    iso_x: tuple[float, ...] = ()
    iso_y: tuple[float, ...] = ()
    n_fit: int = 0

    @classmethod
    def fit(
        cls,
        signals_list: Sequence[Signals],
        correct: Sequence[bool] | np.ndarray,
        method: str = "auto",
        names: Sequence[str] | None = None,
    ) -> Calibrator:
        """Fit on calibration pairs; "auto" is isotonic from ISOTONIC_MIN_PAIRS pairs on."""
        if method not in METHODS:
            raise ValueError(f"Unknown calibration method {method!r}: valid are {METHODS}")
        y = np.asarray(correct, dtype=int)
        spec = FeatureSpec.learn(
            signals_list, usable_signals(signals_list) if names is None else names
        )
        coef, intercept = _platt(spec.matrix(signals_list), y)
        platt = cls("platt", spec, coef, intercept, n_fit=len(y))
        if method == "platt" or (method == "auto" and len(y) < ISOTONIC_MIN_PAIRS):
            return platt
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(platt.predict(signals_list), y)
        xs, ys = iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()
        return replace(platt, method="isotonic", iso_x=tuple(xs), iso_y=tuple(ys))

    def predict(self, signals_list: Sequence[Signals]) -> np.ndarray:
        """P(label correct) for each suggestion's signals."""
        z = self.spec.matrix(signals_list) @ np.asarray(self.coef, dtype=float) + self.intercept
        p = special.expit(z)
        return np.interp(p, self.iso_x, self.iso_y) if self.method == "isotonic" else p

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stored with the calibration run)."""
        return {"version": 1, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        """The calibrator ``to_dict`` wrote."""
        spec = data["spec"]
        return cls(
            method=data["method"],
            spec=FeatureSpec(tuple(spec["names"]), tuple(spec["fill"]), tuple(spec["indicate"])),
            coef=tuple(data["coef"]),
            intercept=float(data["intercept"]),
            iso_x=tuple(data.get("iso_x", ())),
            iso_y=tuple(data.get("iso_y", ())),
            n_fit=int(data.get("n_fit", 0)),
        )


# --- bounds -----------------------------------------------------------------------------------


def clopper_pearson_upper(k, n, delta: float):
    """One-sided (1-δ) upper confidence bound on an error rate: k errors in n items."""
    from scipy import stats

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    safe = np.where(k < n, n - k, 1.0)
    out = np.where(k < n, stats.beta.ppf(1 - delta, k + 1, safe), 1.0)
    return float(out) if out.ndim == 0 else out


def clopper_pearson_lower(k, n, delta: float):
    """One-sided (1-δ) lower confidence bound on an error rate: k errors in n items."""
    from scipy import stats

    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    out = np.where(k > 0, stats.beta.ppf(delta, np.maximum(k, 1.0), n - k + 1), 0.0)
    return float(out) if out.ndim == 0 else out


def _passes(k, n, epsilon: float, delta: float) -> np.ndarray:
    """Whether the Clopper-Pearson upper bound is <= ε: P(Binomial(n, ε) <= k) <= δ."""
    return special.bdtr(np.asarray(k, dtype=float), np.asarray(n, dtype=float), epsilon) <= delta


def min_items_to_pass(epsilon: float, delta: float) -> int:
    """The fewest items whose upper bound with no error is <= ε (59 for ε = δ = 0.05)."""
    n = max(1, math.ceil(math.log(delta) / math.log1p(-epsilon)) - 1)
    while not _passes(0, n, epsilon, delta):
        n += 1
    return n


def look_delta(delta: float, look: int) -> float:
    """The δ the k-th look of the loop (1-based) is tested at: δ·2^-k, so that every look
    the loop will ever take spends at most δ in all."""
    if look < 1:
        raise ValueError(f"looks are counted from 1, got {look}")
    return delta * 0.5**look


def calibration_sample_size(
    epsilon: float,
    delta: float,
    expected_coverage: float,
    fit_share: float = 0.0,
    error_rate: float = 0.0,
) -> int:
    """Calibration reviews for a threshold covering ``expected_coverage`` to pass when the
    items above it are ``error_rate`` wrong (0: the zero-error best case, min_items_to_pass
    items above it)."""
    if not 0 < expected_coverage <= 1:
        raise ValueError(f"expected_coverage must be in (0, 1], got {expected_coverage}")
    if not 0 <= error_rate < epsilon:
        raise ValueError(f"error_rate must be in [0, epsilon), got {error_rate}")
    above = min_items_to_pass(epsilon, delta)
    if error_rate > 0:
        above = max(above, int(_items_needed(np.array([error_rate]), epsilon, delta)[0]))
    return math.ceil(above / expected_coverage / (1 - fit_share))


def audit_alarm(n_audited: int, n_errors: int, epsilon: float, delta: float) -> bool:
    """True on evidence that the auto-accepted error is above ε (its lower bound exceeds ε)."""
    return n_audited > 0 and clopper_pearson_lower(n_errors, n_audited, delta) > epsilon


# --- the threshold ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdResult:
    """The auto-accept threshold (None: accept nothing) and the evidence for it."""

    threshold: float | None
    n_pairs: int
    n_above: int
    errors_above: int
    observed_accuracy: float | None
    upper_bound: float | None
    coverage: float
    epsilon: float
    delta: float
    tested: int
    min_items: int
    more_reviews_needed: int | None
    reason: str
    #: the coverage expected once the more_reviews_needed are in (None: no estimate)
    expected_coverage: float | None = None
    #: the look of the loop this test is (1-based) and the δ all looks share; ``delta`` is
    #: then this look's part, δ·2^-look (None: a test on its own, at ``delta``)
    look: int | None = None
    loop_delta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _check(epsilon: float, delta: float) -> None:
    for name, v in (("epsilon", epsilon), ("delta", delta)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be strictly between 0 and 1, got {v}")


def choose_threshold(
    scores,
    correct,
    epsilon: float,
    delta: float,
    pair_share: float = 1.0,
    start_items: int | None = None,
    stream_items: int | None = None,
    candidates=None,
    delta_next: float | None = None,
) -> ThresholdResult:
    """The lowest threshold reached by fixed-sequence testing before its first failure."""
    # The walk starts at the highest threshold with at least min_items_to_pass items above
    # it (or start_items, when larger: any start chosen without the test labels keeps the
    # guarantee). pair_share: the share of new calibration reviews that land in this set.
    # stream_items: the unreviewed items a threshold would apply to; with it, more reviews
    # are asked for only while the items they are expected to gain exceed their number.
    # candidates: the thresholds to walk (see ``candidate_thresholds``), fixed before any
    # label is read; by default every distinct pair score. delta_next: the δ the next look
    # will be tested at, for the estimate of the reviews still needed (default δ).
    _check(epsilon, delta)
    if candidates is None:
        thresholds, n_above, errors = by_threshold(scores, correct)
    else:
        thresholds, n_above, errors = at_candidates(scores, correct, candidates)
    plan = delta if delta_next is None else delta_next
    n_pairs, need = len(np.asarray(scores)), min_items_to_pass(epsilon, delta)
    start = int(np.searchsorted(n_above, max(need, start_items or 0)))  # n_above grows
    ok = _passes(errors[start:], n_above[start:], epsilon, delta)
    n_pass = len(ok) if ok.all() else int(np.argmin(ok))
    base = dict(n_pairs=n_pairs, epsilon=epsilon, delta=delta, min_items=need)
    base["tested"] = min(n_pass + 1, len(ok))
    if n_pass == 0:
        more, expected, why = _more_reviews(
            n_above, errors, n_pairs, epsilon, plan, pair_share, 0.0, stream_items
        )
        if len(ok):
            why = _first_failure(n_above[start], errors[start], epsilon, delta) + why
        nothing = dict(n_above=0, errors_above=0, observed_accuracy=None, upper_bound=None)
        return ThresholdResult(
            None,
            **nothing,
            coverage=0.0,
            more_reviews_needed=more,
            reason=why,
            expected_coverage=expected,
            **base,
        )
    i = start + n_pass - 1
    n, k = int(n_above[i]), int(errors[i])
    ub = clopper_pearson_upper(k, n, delta)
    why = (
        f"{n} of {n_pairs} test pairs at or above {thresholds[i]:.4f}, {k} wrong: upper bound "
        f"{ub:.3f} <= ε = {epsilon:g} ({base['tested']} thresholds tested)"
    )
    found = dict(n_above=n, errors_above=k, observed_accuracy=1 - k / n, upper_bound=ub)
    more, expected = 0, n / n_pairs
    if stream_items is not None:  # a higher coverage the pairs suggest is worth reaching
        more, expected = _growth(
            n_above, errors, n_pairs, epsilon, plan, pair_share, n / n_pairs, stream_items
        ) or (0, n / n_pairs)
    return ThresholdResult(
        float(thresholds[i]),
        **found,
        coverage=n / n_pairs,
        more_reviews_needed=more,
        reason=why,
        expected_coverage=expected,
        **base,
    )


def candidate_thresholds(stream_scores, n: int = CANDIDATES) -> np.ndarray:
    """Thresholds to walk, high to low: the unlabeled stream's scores at coverage 1/n, 2/n,
    ..., 1 (distinct values). They depend on no label, so choosing among them by a test on
    labeled pairs keeps the test's guarantee."""
    s = np.sort(np.asarray(stream_scores, dtype=float))[::-1]
    s = s[np.isfinite(s)]
    if not len(s):
        return s
    at = np.ceil(np.arange(1, n + 1) / n * len(s)).astype(int) - 1
    return np.unique(s[np.clip(at, 0, len(s) - 1)])[::-1]


def at_candidates(scores, correct, candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds high to low with the pairs and errors at or above each (those
    with no pair above are left out); a NaN score is above no threshold."""
    s = np.asarray(scores, dtype=float)
    wrong = 1.0 - np.asarray(correct, dtype=float)
    t = np.sort(np.asarray(candidates, dtype=float))[::-1]
    order = np.argsort(-np.where(np.isnan(s), -np.inf, s), kind="stable")
    sorted_s, cum = s[order], np.r_[0.0, np.cumsum(wrong[order])]
    # pairs with score >= t: sorted_s is descending, so count via the negated ascending copy
    n_above = np.searchsorted(-np.where(np.isnan(sorted_s), -np.inf, sorted_s), -t, "right")
    keep = n_above > 0
    return t[keep], n_above[keep], cum[n_above[keep]]


def predicted_start_items(scores, epsilon: float, delta: float) -> int:
    """Where the walk is likeliest to pass, judged from calibrated scores alone (no labels)."""
    from scipy import stats

    _, n_above, _ = by_threshold(scores, np.ones(len(np.asarray(scores))))
    expected = np.cumsum(1.0 - np.sort(np.asarray(scores, dtype=float))[::-1])[n_above - 1]
    k0 = stats.binom.ppf(delta, n_above, epsilon)  # smallest k with cdf >= δ
    kmax = np.where(special.bdtr(k0, n_above, epsilon) <= delta, k0, k0 - 1)
    rate = np.clip(expected / n_above, 0.0, 1.0)
    chance = np.where(kmax >= 0, special.bdtr(np.maximum(kmax, 0), n_above, rate), 0.0)
    return int(n_above[np.argmax(chance)]) if len(chance) else 0


def _first_failure(n: float, k: float, epsilon: float, delta: float) -> str:
    n, k = int(n), int(k)
    ub = clopper_pearson_upper(k, n, delta)
    return (
        f"the {n} most confident test pairs have {k} wrong (upper bound {ub:.3f} > {epsilon:g}); "
    )


def _items_needed(rate: np.ndarray, epsilon: float, delta: float) -> np.ndarray:
    """Items above a threshold for the bound to clear ε, errors one SD above ``rate``."""
    lo, hi = np.zeros_like(rate), np.full_like(rate, math.log(_REVIEWS_CAP))
    for _ in range(30):  # bisection on log(items), all rates at once
        mid = (lo + hi) / 2
        m = np.exp(mid)
        k = np.minimum(rate * m + np.sqrt(rate * m), m - 1e-9)
        ok = special.betainc(m - k, k + 1, 1 - epsilon) <= delta
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return np.ceil(np.exp(hi))


def _shares(n_above, errors, n_pairs, epsilon, delta, pair_share):
    """Top shares of the pairs seen under ε (smoothed), with the reviews each would need."""
    need = min_items_to_pass(epsilon, delta)
    keep = np.flatnonzero(n_above >= _PREFIX_MIN)
    keep = keep[np.unique(np.geomspace(1, len(keep), 40).astype(int) - 1)]  # a few shares
    n, e = n_above[keep], errors[keep]
    rate = (e + 0.5) / (n + 1)  # smoothed: a few items without error do not mean zero error
    good = rate < epsilon
    total = np.maximum(_items_needed(rate[good], epsilon, delta), need) * n_pairs / n[good]
    more = np.ceil(np.maximum(total - n_pairs, need) / pair_share)
    return n, e, n[good] / n_pairs, rate[good], more, total < _REVIEWS_CAP


def _growth(n_above, errors, n_pairs, epsilon, delta, pair_share, coverage, stream_items):
    """(more reviews, expected coverage) where the items gained most exceed the reviews
    spent; None when no share gains more items than it costs reviews."""
    shares = _shares(n_above, errors, n_pairs, epsilon, delta, pair_share)
    best = _best_gain(shares, coverage, stream_items)
    return None if best is None else (int(shares[4][best]), float(shares[2][best]))


def _best_gain(shares, coverage: float, stream_items: int) -> int | None:
    """The index of the share whose expected gain most exceeds its reviews, if any does."""
    _, _, share, _, more, ok = shares
    # the reviewed items come out of the stream: they are labeled by hand either way
    gained = (share - coverage) * np.maximum(stream_items - more, 0)
    net = np.where(ok, gained - more, -np.inf)
    return int(np.argmax(net)) if len(net) and net.max() > 0 else None


def _more_reviews(
    n_above, errors, n_pairs, epsilon, delta, pair_share, coverage=0.0, stream_items=None
) -> tuple[int | None, float | None, str]:
    """An estimate of the calibration reviews still needed, the coverage expected once they
    are in, and why (or why none would do).

    Without ``stream_items`` the fewest reviews that would likely pass; with it, the number
    whose expected gain in auto-accepted items most exceeds it (0 when none gains more).
    """
    need = min_items_to_pass(epsilon, delta)
    if n_pairs < _PREFIX_MIN:
        more = math.ceil((need - n_pairs) / pair_share)
        why = f"only {n_pairs} test pairs: at least {need} are needed above a threshold"
        return more, None, why
    shares = _shares(n_above, errors, n_pairs, epsilon, delta, pair_share)
    n, e, share, rate, more, ok = shares
    if ok.any():
        if stream_items is None:
            best = int(np.argmin(np.where(ok, more, np.inf)))
        else:
            best = _best_gain(shares, coverage, stream_items)
            if best is None:
                why = (
                    f"more calibration reviews would cost more than the {stream_items} "
                    "unreviewed items they could auto-accept: label the rest by hand"
                )
                return 0, coverage, why
        m = int(more[best])
        why = (
            f"about {m} more calibration reviews would likely be needed (if the top "
            f"{share[best]:.0%} of items stays {rate[best]:.1%} wrong)"
        )
        return m, float(share[best]), why
    top, wrong = int(n[0]), int(e[0])
    if clopper_pearson_lower(wrong, top, delta) > epsilon:  # evidence, not a small sample
        why = (
            f"even the {top} most confident test pairs are {wrong / top:.1%} wrong, above "
            f"ε = {epsilon:g}: the signals cannot support the target, so zero coverage is "
            "the honest answer"
        )
        return 0, 0.0, why
    more = math.ceil(max(n_pairs, need) / pair_share)  # twice the evidence
    why = (
        f"the {top} most confident test pairs ({wrong} wrong) are too few to tell whether "
        f"ε = {epsilon:g} is reachable: about {more} more calibration reviews will tell"
    )
    return more, None, why


def _pct(x: float) -> str:
    return f"{100 * x:.2f}".rstrip("0").rstrip(".") + "%"


def guarantee_sentence(result: ThresholdResult, judging: bool = False) -> str:
    """The guarantee in one sentence: its population, its assumption and, in a loop of
    looks, how δ is shared between them. ``judging``: the labels are judgments of replies,
    wrong when they differ from the people's consensus."""
    assumption = (
        "provided the calibration reviews are a uniform random draw from those items (and "
        "were labeled without seeing the suggestion)."
    )
    conf = result.delta if result.loop_delta is None else result.loop_delta
    looks = ""
    if result.look is not None:
        looks = (
            f" over every look the calibration loop takes (this is look {result.look}, "
            f"tested at δ·2^-{result.look} = {_pct(result.delta)})"
        )
    population = (
        "of the labels at or above the threshold on the items people have not reviewed (those "
        "auto-acceptance can reach; calibration items a reviewer skipped count as errors)"
    )
    if judging:
        population = (
            "of the judgments at or above the threshold on the items people have not judged "
            "(those auto-acceptance can reach; calibration items a reviewer skipped count as "
            "errors), against the consensus of the people who would judge them (their "
            "majority; an even split is a tie where ties are allowed)"
        )
    if result.threshold is None:
        return (
            f"Nothing is auto-accepted: no threshold could be shown, with probability >= "
            f"{_pct(1 - conf)}{looks}, to keep at most {_pct(result.epsilon)} {population} "
            f"wrong, {assumption}"
        )
    return (
        f"With probability >= {_pct(1 - conf)}{looks}, at most {_pct(result.epsilon)} "
        f"{population} are wrong, {assumption}"
    )


# --- the whole step ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationResult:
    """A calibrator, its threshold, the pairs it was fitted and tested on, and metrics.

    With one ordering signal (``score_signal``) the threshold is on that signal and every
    pair tests it: ``fit_index`` and ``test_index`` are then both every pair (the calibrator,
    a monotone map, only turns the signal into a probability for people to read).
    """

    calibrator: Calibrator
    threshold: ThresholdResult
    fit_index: tuple[int, ...]
    test_index: tuple[int, ...]
    ece_before: float | None
    ece_after: float | None
    brier_before: float | None
    brier_after: float | None
    seed: int
    fit_share: float
    start: str = "min_items"
    reliability_before: list[dict] = field(default_factory=list)
    reliability_after: list[dict] = field(default_factory=list)
    risk_coverage: dict[str, list[float]] = field(default_factory=dict)
    score_signal: str | None = None

    @property
    def n_pairs(self) -> int:
        return len(set(self.fit_index) | set(self.test_index))

    def scores(self, signals_list: Sequence[Signals]) -> np.ndarray:
        """What the threshold is compared with: the ordering signal, or the calibrated
        probability when several signals were combined."""
        if self.score_signal is not None:
            return signal_scores(signals_list, self.score_signal)
        return self.calibrator.predict(signals_list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["calibrator"] = self.calibrator.to_dict()
        return {"n_pairs": self.n_pairs, **out}


def split_pairs(n: int, seed: int, fit_share: float) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of n pair positions into (fit, test), each sorted."""
    if not 0 < fit_share < 1:
        raise ValueError(f"fit_share must be strictly between 0 and 1, got {fit_share}")
    perm = np.random.default_rng(seed).permutation(n)
    n_fit = int(round(n * fit_share))
    return np.sort(perm[:n_fit]), np.sort(perm[n_fit:])


def ordering_signals(signals_list: Sequence[Signals]) -> tuple[str, ...]:
    """The signals that order items, judged from the signals alone (no label is read): the
    usable ones, less those that only re-express another (``DERIVED``)."""
    usable = usable_signals(signals_list)
    return tuple(n for n in usable if n not in DERIVED) or usable


def fit_pairs(n_pairs: int, n_columns: int) -> int:
    """Pairs a combiner of several signals is fitted on: what the fit needs (FIT_MIN, or
    FIT_PER_COLUMN per column), never more than half; the test gets the rest."""
    return min(n_pairs // 2, max(FIT_MIN, FIT_PER_COLUMN * (n_columns + 1)))


def signal_scores(signals_list: Sequence[Signals], name: str) -> np.ndarray:
    """One signal per row; NaN (above no threshold) where missing."""
    return _column(signals_list, name)


def _cross_fitted(signals_list, y: np.ndarray, method: str, names, seed: int) -> np.ndarray:
    """Each pair's calibrated probability from a calibrator fitted on the other half."""
    out = np.empty(len(y))
    a, b = split_pairs(len(y), seed, 0.5)
    for fit, rest in ((a, b), (b, a)):
        if len(rest):
            part = Calibrator.fit([signals_list[i] for i in fit], y[fit], method, names)
            out[rest] = part.predict([signals_list[i] for i in rest])
    return out


def fit_and_choose(
    signals_list: Sequence[Signals],
    correct: Sequence[bool] | np.ndarray,
    epsilon: float,
    delta: float,
    seed: int = 0,
    fit_share: float | None = None,
    method: str = "auto",
    start: str = "min_items",
    stream_items: int | None = None,
    stream_signals: Sequence[Signals] | None = None,
    look: int | None = None,
) -> CalibrationResult:
    """Choose the auto-accept threshold on the pairs (and fit the calibrator).

    One ordering signal: every pair tests a threshold on it. Several: a combiner is fitted
    on ``fit_pairs`` of them (or ``fit_share``, when given) and the threshold tested on the
    rest. ``stream_signals``: the unlabeled stream's signals, whose score quantiles are the
    candidate thresholds. ``look``: the loop's look this is (tested at ``look_delta``).
    """
    # start: "min_items" walks from the highest threshold with min_items_to_pass pairs
    # above it; "predicted" from where the test scores (not their labels) predict the best
    # chance of passing: fewer walks end on one early error.
    _check(epsilon, delta)
    if start not in STARTS:
        raise ValueError(f"Unknown start {start!r}: valid are {STARTS}")
    y = np.asarray(correct, dtype=bool)
    if len(y) != len(signals_list):
        raise ValueError(f"{len(signals_list)} signal rows but {len(y)} outcomes")
    d_look = delta if look is None else look_delta(delta, look)
    d_next = None if look is None else look_delta(delta, look + 1)
    names = ordering_signals(stream_signals if stream_signals else signals_list)
    single = len(names) == 1 and fit_share is None
    if single:
        fit = test = np.arange(len(y))
        cal = Calibrator.fit(signals_list, y, method=method, names=names)
        scores, share = signal_scores(signals_list, names[0]), 0.0
        stream = None if stream_signals is None else signal_scores(stream_signals, names[0])
    else:
        share = fit_share
        if share is None:
            share = fit_pairs(len(y), len(names)) / max(len(y), 1)
        fit, test = split_pairs(len(y), seed, min(max(share, 1e-9), 1 - 1e-9))
        cal = Calibrator.fit([signals_list[i] for i in fit], y[fit], method=method)
        scores = cal.predict([signals_list[i] for i in test])
        stream = None if stream_signals is None else cal.predict(stream_signals)
    test_signals = [signals_list[i] for i in test]
    # the metrics "after" are out of sample: with one signal the calibrator saw every pair,
    # so each half is predicted by a calibrator fitted on the other
    after = (
        _cross_fitted(signals_list, y, method, names, seed) if single else cal.predict(test_signals)
    )
    finite = scores[np.isfinite(scores)]
    first = predicted_start_items(finite, epsilon, d_look) if start == "predicted" else None
    result = choose_threshold(
        scores,
        y[test],
        epsilon,
        d_look,
        pair_share=1 - share,
        start_items=first,
        stream_items=stream_items,
        candidates=None if stream is None else candidate_thresholds(stream),
        delta_next=d_next,
    )
    if look is not None:
        result = replace(result, look=look, loop_delta=delta)
    raw = raw_probability(test_signals)
    has_raw = np.isfinite(raw)
    before, y_raw = raw[has_raw], y[test][has_raw]
    return CalibrationResult(
        calibrator=cal,
        threshold=result,
        fit_index=tuple(fit.tolist()),
        test_index=tuple(test.tolist()),
        ece_before=ece(before, y_raw),
        ece_after=ece(after, y[test]),
        brier_before=brier(before, y_raw),
        brier_after=brier(after, y[test]),
        seed=seed,
        fit_share=share,
        start=start,
        reliability_before=reliability_curve(before, y_raw),
        reliability_after=reliability_curve(after, y[test]),
        risk_coverage=risk_coverage(after, y[test]),
        score_signal=names[0] if single else None,
    )
