"""The first routing policy: fixed threshold plus a uniform calibration sample."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.routing import ThresholdPolicy, in_calibration_sample, route_item, uniform_draw
from agent.types import LabelValue, Route, Suggestion

POLICY = ThresholdPolicy(threshold=0.8, calibration_rate=0.0)


def sugg(conf, **kw):
    return Suggestion(
        item_id="i", model="m", value=LabelValue(label="a"), confidence=conf, id=1, **kw
    )


def test_threshold_splits_auto_and_active():
    assert route_item("i", sugg(0.81), False, POLICY).route == Route.AUTO_ACCEPTED
    assert route_item("i", sugg(0.8), False, POLICY).route == Route.AUTO_ACCEPTED
    assert route_item("i", sugg(0.79), False, POLICY).route == Route.ACTIVE


def test_calibrated_probability_wins_over_raw():
    assert route_item("i", sugg(0.99, calibrated=0.5), False, POLICY).route == Route.ACTIVE


def test_reviewed_unlabeled_failed_and_abstain():
    assert route_item("i", sugg(0.99), True, POLICY).route == Route.REVIEWED
    assert route_item("i", None, False, POLICY).route == Route.UNLABELED
    failed = Suggestion(item_id="i", model="m", value=None, status="failed", error="bad json")
    d = route_item("i", failed, False, POLICY)
    assert (d.route, d.reason) == (Route.FAILED, "bad json")
    abst = Suggestion(item_id="i", model="m", value=LabelValue(abstain=True), confidence=1.0)
    assert route_item("i", abst, False, POLICY).route == Route.ACTIVE


def test_calibration_sample_is_uniform_and_ignores_confidence():
    policy = ThresholdPolicy(threshold=0.5, calibration_rate=0.1, seed=7)
    ids = [f"item-{n}" for n in range(20000)]
    chosen = [i for i in ids if in_calibration_sample(i, policy)]
    assert 0.09 < len(chosen) / len(ids) < 0.11
    for i in chosen[:50]:
        for conf in (0.01, 0.99):
            assert route_item(i, sugg(conf), False, policy).route == Route.CALIBRATION


@given(st.text(min_size=1), st.integers(0, 10))
def test_draw_is_reproducible_and_in_unit_interval(item_id, seed):
    u = uniform_draw(item_id, seed)
    assert 0.0 <= u < 1.0 and u == uniform_draw(item_id, seed)
