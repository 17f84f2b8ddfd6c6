"""The calibration loop simulated whole, to check that its guarantee holds over every look.

A stream of items whose model is retrained between rounds (each round its own signals and
KNOWN P(suggestion correct) per item); a calibration sample that is the prefix of one
uniform draw order over the stream, growing round by round (by a schedule, or by what the
last look asked for); blind labels re-paired each round with the current model's
suggestion; each round a look of ``fit_and_choose`` whose threshold is deployed (a look
that certifies nothing leaves the last certified one deployed, on its own version's
labels); optionally an active queue that takes the least confident items out of the
population after each look, with the shadow that passes drawn items. A draw fails when any
round's deployed threshold has a true error above ε: the mean of 1 - P(correct) over the
items of the population outside the sample at or above it (the expectation over the
population, not one realisation of it).

The stream is fixed per setting and only the draw (order and outcomes) varies: the guarantee
holds for any stream, so it must hold for each one.

Used by ``tests/flows/test_loop_guarantee.py`` (fast settings) and
``benchmarks/bench_loop_guarantee.py`` (full ones).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from labelloop.evals.calibration import oracle_coverage
from labelloop.route.calibrator import (
    candidate_thresholds,
    choose_threshold,
    fit_and_choose,
    look_delta,
    predicted_start_items,
)

#: how a round's pairs are judged: through ``fit_and_choose`` itself, or (one ordering
#: signal only, a few times faster) the walk ``fit_and_choose`` runs for one signal
VIAS = ("fit_and_choose", "walk")


# --- streams ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    """A stream over rounds: per round, each item's signals and P(suggestion correct)."""

    p: np.ndarray  # (rounds, items)
    signals: tuple[list[dict], ...]  # per round, one dict of signals per item
    #: the one ordering signal per round and item (NaN when several signals are combined)
    scores: np.ndarray
    #: what the oracle orders by: the ordering signal, or P(correct) itself
    oracle_scores: np.ndarray

    @property
    def rounds(self) -> int:
        return len(self.p)

    @property
    def size(self) -> int:
        return self.p.shape[1]

    @property
    def single(self) -> bool:
        return bool(np.isfinite(self.scores).all())


def _one_signal(scores: np.ndarray, p: np.ndarray) -> Population:
    """A local-model-like provider: ``local_prob`` orders, ``margin`` only re-expresses it."""
    signals = tuple(
        [{"local_prob": float(v), "margin": float(max(2 * v - 1, 0.0))} for v in row]
        for row in scores
    )
    return Population(np.clip(p, 0, 1), signals, scores, scores)


def _retrained(base: np.ndarray, rounds: int, shift: float, noise: float, rng) -> np.ndarray:
    """Scores of successive model versions: round 0 is ``base``; each later one is more
    confident by ``shift`` on the logit scale and reorders items by ``noise``."""
    z = special.logit(np.clip(base, 1e-6, 1 - 1e-6))
    out = [base]
    for r in range(1, rounds):
        out.append(special.expit(z + shift * r + noise * rng.normal(size=len(base))))
    return np.array(out)


def flat(
    error: float, size: int = 3000, rounds: int = 1, seed: int = 0, claims: Any = None
) -> Population:
    """Wrong ``error`` of the time whatever the score; each retrained round reorders items.
    Scores are uniform, or drawn from ``claims`` (a scipy distribution: scores near 1 make
    the "predicted" start begin deep, where the scores promise a pass)."""
    rng = np.random.default_rng(seed)
    scores = rng.random((rounds, size))
    if claims is not None:
        scores = claims.ppf(scores)
    return _one_signal(scores, np.full((rounds, size), 1 - error))


def calibrated(s: np.ndarray) -> np.ndarray:
    """Right exactly as often as it claims."""
    return s


def curve(
    accuracy: Callable[[np.ndarray], np.ndarray],
    scores: Any,
    size: int = 3000,
    rounds: int = 1,
    shift: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> Population:
    """One signal: round 0 scores at the quantiles of ``scores`` (a scipy distribution),
    later rounds retrained (see ``_retrained``); P(correct) = accuracy(score) every round."""
    rng = np.random.default_rng(seed)
    base = scores.ppf(rng.permutation((np.arange(size) + 0.5) / size))
    s = _retrained(base, rounds, shift, noise, rng)
    return _one_signal(s, accuracy(s))


def persistent(
    size: int = 3000, rounds: int = 3, noise: float = 0.8, bias: float = 3.0, seed: int = 0
) -> Population:
    """Hard items stay hard: P(correct) = expit(2·ease + ``bias``) is the item's own, and
    each retrained round sees the ease through fresh noise. An item the active queue found
    uncertain once may look sure after a retrain and still be wrong as often as before:
    the case where the items the queue took out differ from those left at every score."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=size)
    scores = special.expit(1.5 * z + 2.5 + noise * rng.normal(size=(rounds, size)))
    p = np.broadcast_to(special.expit(2 * z + bias), (rounds, size)).copy()
    return _one_signal(scores, p)


def two_signals(
    size: int = 3000, rounds: int = 1, gain: float = 0.0, seed: int = 0, flat_error=None
) -> Population:
    """An LLM with a logprob and a coarse verbalized confidence, missing for 40% of items.

    Each retrained round is ``gain`` better (logit scale) and draws its own signal noise.
    ``flat_error``: the signals carry no information and the labels are wrong that often
    everywhere (a fitted combiner can only fit noise).
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=size)  # the item's true ease, kept over rounds
    has_verbal = rng.random(size) >= 0.4
    p, signals = [], []
    for r in range(rounds):
        ease = z if flat_error is None else rng.normal(size=size)
        logprob = special.expit(1.2 * ease + 2.5 + gain * r + rng.normal(0, 0.8, size))
        verbal = special.expit(ease + 1 + gain * r + rng.normal(0, 0.5, size))
        verbal = np.clip(np.round(verbal, 1), 0.1, 1.0)
        rows = [
            {"logprob_prob": float(a), **({"verbalized": float(v)} if h else {})}
            for a, v, h in zip(logprob, verbal, has_verbal, strict=True)
        ]
        signals.append(rows)
        if flat_error is None:
            p.append(special.expit(2.5 * z + 3 + 2 * gain * r))
        else:
            p.append(np.full(size, 1 - flat_error))
    p = np.array(p)
    return Population(p, tuple(signals), np.full_like(p, np.nan), p)


# --- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Growth:
    """The sample grows by what the last look asked for (``more_reviews_needed``), at most
    ``cap`` a round and ``most`` in all, from ``first`` pairs, over ``looks`` rounds."""

    first: int
    cap: int
    most: int
    looks: int


@dataclass(frozen=True)
class Setting:
    """One simulated loop: a stream, how its calibration sample grows, ε and δ."""

    name: str
    population: Callable[[], Population]
    sizes: tuple[int, ...] | Growth  # pairs at each look, or growth by the estimate
    epsilon: float = 0.05
    delta: float = 0.05
    #: "item": an item's outcome in round r is U < p_r with U fixed over rounds (hard items
    #: stay hard); "round": each round draws its outcomes anew (the looks less alike)
    coupling: str = "item"
    #: look k is tested at δ·2^-k (True) or every look at δ (False: the contrast)
    split: bool = True
    #: where the walk starts (``fit_and_choose``'s ``start``; ``calibrate`` uses "predicted")
    start: str = "predicted"
    #: items the active queue gives people after each look: the least confident undrawn
    #: items not auto-accepted leave the population, and drawn items whose shadow place
    #: the queue has passed leave the sample (``labelloop.route.sample``)
    active: int = 0

    @property
    def looks(self) -> int:
        return self.sizes.looks if isinstance(self.sizes, Growth) else len(self.sizes)

    @property
    def most_pairs(self) -> int:
        return self.sizes.most if isinstance(self.sizes, Growth) else max(self.sizes)


_ARRAYS = ("error", "coverage", "pairs", "threshold")


@dataclass
class Outcome:
    """Per draw and look: the deployed threshold's true error, its coverage of the items not
    in the sample, the pairs it was tested on, and the threshold itself (NaN: none)."""

    setting: Setting
    error: np.ndarray
    coverage: np.ndarray
    pairs: np.ndarray
    threshold: np.ndarray
    oracle: float = 0.0
    seconds: float = 0.0  # CPU time, summed over the processes that ran it

    @property
    def draws(self) -> int:
        return len(self.error)

    @property
    def failed(self) -> np.ndarray:
        """Draws in which some look deployed a threshold whose true error exceeds ε."""
        return (self.error > self.setting.epsilon).any(axis=1)


def margin(draws: int, delta: float) -> float:
    """δ plus three binomial standard deviations: the most failing draws allowed."""
    return delta + 3 * np.sqrt(delta * (1 - delta) / draws)


def _look(pop: Population, r: int, idx, y, s: Setting, k: int, d: int, via: str, cands, reviewed):
    """One look: (threshold result, stream scores it is compared with)."""
    delta = look_delta(s.delta, k) if s.split else s.delta
    # the unreviewed items only size the next growth (the threshold does not depend on them),
    # and estimating that costs more than the walk: only a loop grown by it passes them
    left = pop.size - len(idx) - int(reviewed.sum())
    unreviewed = left if isinstance(s.sizes, Growth) else None
    if via == "walk":
        scores = pop.scores[r][idx]
        first = None
        if s.start == "predicted":
            first = predicted_start_items(scores[np.isfinite(scores)], s.epsilon, delta)
        result = choose_threshold(
            scores,
            y,
            s.epsilon,
            delta,
            start_items=first,
            stream_items=unreviewed,
            candidates=cands[r],
            delta_next=look_delta(s.delta, k + 1) if s.split else None,
        )
        return result, pop.scores[r]
    rows = pop.signals[r]
    fitted = fit_and_choose(
        [rows[i] for i in idx],
        y,
        s.epsilon,
        s.delta,
        seed=d,
        stream_items=unreviewed,
        stream_signals=rows,
        look=k if s.split else None,
        start=s.start,
    )
    if fitted.score_signal is not None and pop.single:
        return fitted.threshold, pop.scores[r]  # the same column, already as an array
    return fitted.threshold, fitted.scores(rows)


def _deployed(pop: Population, r: int, scores, threshold, out) -> tuple[float, float]:
    """(true error, coverage) of a threshold over the population left outside the sample
    (``out``: the drawn and the reviewed items)."""
    if threshold is None:
        return 0.0, 0.0
    accepted = scores >= threshold
    accepted[out] = False
    n = int(accepted.sum())
    if not n:
        return 0.0, 0.0
    return float(np.mean(1 - pop.p[r][accepted])), n / (pop.size - int(out.sum()))


def _active_round(scores, accepted, drawn, reviewed, passed, active: int) -> None:
    """The active queue after a look: people review the ``active`` least confident undrawn
    items not auto-accepted (``reviewed``); drawn items, never in the queue, whose shadow
    place lies ahead of the last item reviewed are passed (``passed``). In place."""
    queue = np.flatnonzero(~accepted & ~reviewed & ~drawn)
    order = queue[np.argsort(np.nan_to_num(scores[queue], nan=-np.inf), kind="stable")]
    served = order[:active]
    if not len(served):
        return
    reviewed[served] = True
    reached = np.nan_to_num(scores[served], nan=-np.inf).max()
    shadow = ~accepted & drawn & ~reviewed & ~passed
    head = np.nan_to_num(scores[order[active:]], nan=-np.inf).min(initial=np.inf)
    ahead = np.nan_to_num(scores, nan=-np.inf) < min(reached, head)
    passed[shadow & ahead] = True


def one_draw(pop: Population, s: Setting, d: int, seed: int, via: str, cands) -> np.ndarray:
    """One whole loop; rows: error, coverage, pairs, threshold; a column per look.

    A look that certifies nothing leaves the last certified threshold deployed, on the
    scores and outcomes of the model version it was tested on (``calibrate`` keeps the
    last certification in force); its true error is taken over the population as it is
    at each later look."""
    rng = np.random.default_rng([seed, d])
    order = rng.permutation(pop.size)[: s.most_pairs]
    u = rng.random((s.looks if s.coupling == "round" else 1, len(order)))
    out = np.zeros((4, s.looks))
    reviewed, passed = np.zeros(pop.size, bool), np.zeros(pop.size, bool)
    held = None  # (round, scores, threshold) of the last certified look
    n = s.sizes.first if isinstance(s.sizes, Growth) else s.sizes[0]
    for k in range(s.looks):
        if not isinstance(s.sizes, Growth):
            n = s.sizes[k]
        r = min(k, pop.rounds - 1)  # the model version this round
        keep = ~reviewed[order[:n]] & ~passed[order[:n]]  # still in the population
        idx = order[:n][keep]
        y = u[k if s.coupling == "round" else 0, :n][keep] < pop.p[r][idx]
        result, scores = _look(pop, r, idx, y, s, k + 1, d, via, cands, reviewed)
        if result.threshold is not None:
            held = (r, scores, result.threshold)
        drawn = np.zeros(pop.size, bool)
        drawn[order[:n]] = True
        if held is None:
            deployed, accepted = (0.0, 0.0), np.zeros(pop.size, bool)
        else:
            hr, hs, ht = held
            deployed = _deployed(pop, hr, hs, ht, drawn | reviewed)
            accepted = np.nan_to_num(hs, nan=-np.inf) >= ht
        out[:, k] = (*deployed, len(idx), np.nan if held is None else held[2])
        if s.active:
            _active_round(scores, accepted, drawn, reviewed, passed, s.active)
        if isinstance(s.sizes, Growth):
            n = min(n + min(result.more_reviews_needed or 0, s.sizes.cap), s.sizes.most)
    return out


def simulate(
    s: Setting,
    draws: int,
    seed: int = 0,
    via: str = "fit_and_choose",
    first: int = 0,
    population: Population | None = None,
) -> Outcome:
    """Draws ``first`` .. ``first + draws - 1`` of a setting (each seeded by its index, so
    chunks run apart add up to the same draws)."""
    if via not in VIAS:
        raise ValueError(f"Unknown via {via!r}: valid are {VIAS}")
    pop = population or s.population()
    if via == "walk" and not pop.single:
        raise ValueError(f"{s.name}: the walk alone needs one ordering signal")
    cands = [candidate_thresholds(pop.scores[r]) for r in range(pop.rounds)] if pop.single else []
    runs = np.array([one_draw(pop, s, d, seed, via, cands) for d in range(first, first + draws)])
    last = min(s.looks, pop.rounds) - 1
    oracle = oracle_coverage(pop.oracle_scores[last], pop.p[last], s.epsilon)[1]
    return Outcome(s, *np.moveaxis(runs, 1, 0), oracle=oracle)


def summary(o: Outcome) -> dict[str, Any]:
    """The figures a setting is judged by."""
    s = o.setting
    return {
        "setting": s.name,
        "epsilon": s.epsilon,
        "delta": s.delta,
        "looks": s.looks,
        "delta_split": s.split,
        "coupling": s.coupling,
        "start": s.start,
        "draws": o.draws,
        "failing": float(o.failed.mean()),
        "bound": float(margin(o.draws, s.delta)),
        "failing_per_look": o.error.__gt__(s.epsilon).mean(axis=0).round(4).tolist(),
        "certified_last": float(np.isfinite(o.threshold[:, -1]).mean()),
        "coverage_last": float(o.coverage[:, -1].mean()),
        "coverage_mean": float(o.coverage.mean()),
        "oracle_last": float(o.oracle),
        "pairs_last": float(o.pairs[:, -1].mean()),
        "seconds": round(o.seconds, 2),
    }


# --- accuracy curves (module-level, so that settings pickle to worker processes) ----------------


def overconfident(s: np.ndarray) -> np.ndarray:
    """Claims s, is right s^1.5 of the time."""
    return s**1.5


def underconfident(s: np.ndarray) -> np.ndarray:
    """Claims s, is right far more often."""
    return 1 - 0.4 * (1 - s) ** 3


def slope(s: np.ndarray) -> np.ndarray:
    """Wrong 2% at the top, 10% at the bottom: with uniform scores the accepted error
    crosses ε = 5% at 75% coverage, so only a threshold that reaches too far fails."""
    return 0.98 - 0.08 * (1 - s)


def non_monotone(s: np.ndarray) -> np.ndarray:
    """Mostly overconfident, and its most confident items hide a band of errors."""
    return s**3 - 0.3 * np.exp(-(((s - 0.985) / 0.008) ** 2))


# --- running many draws -----------------------------------------------------------------------


def _chunk(task: tuple) -> tuple[tuple[np.ndarray, ...], float, float]:
    s, first, draws, seed, via = task
    start = time.process_time()
    o = simulate(s, draws, seed=seed, via=via, first=first)
    return tuple(getattr(o, a) for a in _ARRAYS), o.oracle, time.process_time() - start


def run_settings(
    settings: Sequence[Setting],
    draws: int,
    seed: int = 0,
    via: Callable[[Setting], str] | str = "fit_and_choose",
    workers: int = 1,
) -> list[Outcome]:
    """Each setting's draws, split into chunks over ``workers`` processes (fresh ones:
    OpenMP in a forked child can hang); the same draws whatever the number of workers."""
    pick = via if callable(via) else (lambda _s: via)
    size = max(1, -(-draws // max(1, 2 * workers)))
    tasks = [
        (s, first, min(size, draws - first), seed, pick(s))
        for s in settings
        for first in range(0, draws, size)
    ]
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            done = list(pool.map(_chunk, tasks))
    else:
        done = [_chunk(t) for t in tasks]
    out, at = [], 0
    for s in settings:
        n = sum(1 for t in tasks if t[0] is s)
        parts = done[at : at + n]
        at += n
        arrays = [np.concatenate([p[0][i] for p in parts]) for i in range(len(_ARRAYS))]
        seconds = sum(p[2] for p in parts)
        out.append(Outcome(s, *arrays, oracle=parts[0][1], seconds=seconds))
    return out
