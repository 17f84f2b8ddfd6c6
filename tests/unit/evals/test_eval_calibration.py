"""Calibration and selective-labeling metrics over plain arrays, and their plots."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.evals.calibration import (
    brier,
    by_threshold,
    ece,
    oracle_coverage,
    plot_reliability,
    plot_risk_coverage,
    reliability_curve,
    risk_coverage,
)

PROBS = [0.9, 0.9, 0.1, 0.1]
CORRECT = [1, 0, 0, 0]

pairs = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.floats(0, 1), min_size=n, max_size=n),
        st.lists(st.booleans(), min_size=n, max_size=n),
    )
)


def test_ece_and_brier_by_hand():
    # bin 0.9: confidence 0.9, accuracy 0.5, weight 1/2; bin 0.1: 0.1 vs 0, weight 1/2
    assert ece(PROBS, CORRECT) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    assert brier(PROBS, CORRECT) == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)


def test_ece_zero_when_each_bin_is_calibrated_and_edges_fall_inside():
    assert ece([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0]) == 0.0
    assert ece([1.0, 1.0, 0.0], [1, 1, 0]) == 0.0  # 1.0 in the last bin, 0.0 in the first
    assert ece([0.95, 0.75], [True, True], bins=2) == pytest.approx(0.15)


def test_empty_inputs_and_bad_shapes():
    assert ece([], []) is None and brier([], []) is None
    assert reliability_curve([], []) == []
    assert oracle_coverage([], [], 0.05) == (None, 0.0)
    with pytest.raises(ValueError, match="equal length"):
        ece([0.5], [1, 0])


def test_reliability_curve_skips_empty_bins():
    curve = reliability_curve(PROBS + [0.55], CORRECT + [1])
    assert [(r["bin_lo"], r["count"]) for r in curve] == [(0.1, 2), (0.5, 1), (0.9, 2)]
    top = curve[-1]
    assert top["bin_hi"] == 1.0
    assert (top["mean_confidence"], top["accuracy"]) == (pytest.approx(0.9), 0.5)


def test_risk_coverage_groups_ties_high_to_low():
    rc = risk_coverage([0.9, 0.8, 0.8, 0.2], [1, 1, 0, 0])
    assert rc["thresholds"] == [0.9, 0.8, 0.2]
    assert rc["coverage"] == [0.25, 0.75, 1.0]
    assert rc["risk"] == pytest.approx([0.0, 1 / 3, 0.5])


def test_oracle_coverage_is_the_largest_acceptable_threshold():
    scores = np.arange(100, 0, -1) / 100  # 1.00 ... 0.01
    correct = np.ones(100, bool)
    correct[[2, 40, 41, 42, 43, 44]] = False  # 1 error in the top 40, 6 in the top 45
    threshold, coverage = oracle_coverage(scores, correct, 0.05)
    # top 40: 1/40 ok; top 100: 6/100 too many; the largest k with errors <= 0.05 k
    best = max(k for k in range(1, 101) if (~correct[:k]).sum() <= 0.05 * k)
    assert coverage == best / 100 and threshold == scores[best - 1]
    assert oracle_coverage([0.9, 0.8], [0, 0], 0.05) == (None, 0.0)


@given(pairs)
def test_metrics_stay_in_range(data):
    probs, correct = data
    assert 0.0 <= ece(probs, correct) <= 1.0
    assert 0.0 <= brier(probs, correct) <= 1.0
    assert sum(r["count"] for r in reliability_curve(probs, correct)) == len(probs)
    rc = risk_coverage(probs, correct)
    assert rc["coverage"][-1] == 1.0 and rc["thresholds"] == sorted(set(probs), reverse=True)
    assert rc["risk"][-1] == pytest.approx(1 - np.mean(correct))


@given(pairs, st.sampled_from([0.0, 0.05, 0.2]))
def test_oracle_threshold_meets_the_target(data, eps):
    probs, correct = data
    threshold, coverage = oracle_coverage(probs, correct, eps)
    thresholds, n_above, errors = by_threshold(probs, correct)
    feasible = [n for n, e in zip(n_above, errors, strict=True) if e <= eps * n]
    assert coverage == (max(feasible) / len(probs) if feasible else 0.0)
    if threshold is not None:
        accepted = np.asarray(probs) >= threshold
        assert (~np.asarray(correct)[accepted]).mean() <= eps + 1e-12


def test_plots_write_pngs(tmp_path):
    before = reliability_curve(PROBS, CORRECT)
    after = reliability_curve([0.5, 0.5, 0.2, 0.2], CORRECT)
    path = plot_reliability(before, after, tmp_path / "plots" / "reliability.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rc = risk_coverage([0.9, 0.8, 0.8, 0.2], [1, 1, 0, 0])
    for threshold in (0.8, None):
        out = plot_risk_coverage(rc, threshold, 0.05, tmp_path / f"rc-{threshold}.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
