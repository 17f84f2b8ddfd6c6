"""Routing: calibration sample, calibrated threshold, audits, alarms and never-auto cases."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.types import LabelValue, Route, Suggestion
from labelloop.route.rules import RoutingPolicy, in_calibration_sample, route_item, uniform_draw

POLICY = RoutingPolicy(threshold=0.8, calibration_rate=0.0, audit_rate=0.0)


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
    policy = RoutingPolicy(threshold=0.5, calibration_rate=0.1, seed=7)
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


def test_injection_flag_is_never_auto_accepted():
    flagged = sugg(1.0, signals={"verbalized": 1.0, "injection": 0.95})
    d = route_item("i", flagged, False, POLICY)
    assert d.route == Route.ACTIVE and "prompt injection" in d.reason
    assert route_item("i", sugg(1.0, signals={"verbalized": 1.0}), False, POLICY).route == (
        Route.AUTO_ACCEPTED
    )


@given(
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
    st.floats(0.01, 1.0),
    st.text(min_size=1, max_size=8),
)
def test_flagged_items_never_auto_accept_under_any_policy(conf, threshold, rate, score, item_id):
    policy = RoutingPolicy(threshold=threshold, calibration_rate=rate)
    s = sugg(conf, signals={"injection": score})
    assert route_item(item_id, s, False, policy).route in (Route.ACTIVE, Route.CALIBRATION)


CAL = RoutingPolicy(
    threshold=0.8,
    calibrated=True,
    prompt_version="p1",
    guideline_version="g1",
    calibration_rate=0.0,
    audit_rate=0.0,
)


def vsugg(calibrated, prompt="p1", guideline="g1"):
    return sugg(0.99, calibrated=calibrated).model_copy(
        update={"prompt_version": prompt, "guideline_version": guideline}
    )


def test_nothing_is_auto_accepted_before_calibration():
    d = route_item("i", sugg(0.999), False, RoutingPolicy(calibration_rate=0.0))
    assert d.route == Route.ACTIVE and "not calibrated" in d.reason


def test_calibrated_threshold_applies_to_its_versions_only():
    assert route_item("i", vsugg(0.9), False, CAL).route == Route.AUTO_ACCEPTED
    assert route_item("i", vsugg(0.7), False, CAL).route == Route.ACTIVE
    assert route_item("i", vsugg(0.9, prompt="p2"), False, CAL).route == Route.ACTIVE
    assert route_item("i", vsugg(0.9, guideline="g2"), False, CAL).route == Route.ACTIVE
    assert route_item("i", vsugg(None), False, CAL).route == Route.ACTIVE


def test_alarm_stops_auto_accepting():
    alarmed = CAL.model_copy(update={"alarm": True})
    d = route_item("i", vsugg(0.99), False, alarmed)
    assert d.route == Route.ACTIVE and "alarm" in d.reason


def test_audit_takes_a_uniform_share_of_would_be_auto_accepted():
    policy = CAL.model_copy(update={"audit_rate": 0.2})
    routes = [route_item(f"x{n}", vsugg(0.95), False, policy).route for n in range(5000)]
    share = routes.count(Route.AUDIT) / len(routes)
    assert 0.17 < share < 0.23
    assert set(routes) == {Route.AUDIT, Route.AUTO_ACCEPTED}
    low = [route_item(f"x{n}", vsugg(0.5), False, policy).route for n in range(500)]
    assert Route.AUDIT not in low  # only what would be auto-accepted is audited


def test_active_queue_puts_split_signals_before_agreeing_ones():
    from labelloop.route.rules import priority

    agree = sugg(0.8, signals={"logprob_prob": 0.8, "verbalized": 0.8})
    split = sugg(0.8, signals={"logprob_prob": 0.95, "verbalized": 0.4})
    d = route_item("i", agree, False, POLICY)
    assert priority(d, split) < priority(d, agree) == 0.8
    failed = Suggestion(item_id="i", model="m", value=None, status="failed")
    assert priority(route_item("i", failed, False, POLICY), failed) < priority(d, split)
