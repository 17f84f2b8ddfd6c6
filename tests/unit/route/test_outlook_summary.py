"""The calibration outlook's sentence says what the last look counts: items waiting in the
calibration queue that no longer calibrate are not called ones that "still count"."""

from __future__ import annotations

import pytest

from labelloop.route.outlook import summary

LOOKED = {
    "model": "local",
    "calibrated": True,
    "threshold": None,
    "coverage": 0.0,
    "held_from_look": None,
    "calibration_pairs": 60,
    "more_needed": 0,
    "expected_coverage": None,
    "calibration_rate": 0.2,
    "rate_fixed": False,
}


@pytest.mark.parametrize(
    ("waiting", "counted", "says", "never"),
    [
        (3, 3, "they still count: answer them", "the last look counts"),
        (3, None, "they still count: answer them", "the last look counts"),
        (3, 1, "the last look counts 1 of them", "they still count"),
        (1, 0, "the last look counts none of them (they no longer", "they still count"),
        (0, 0, "no more blind reviews are expected to pay off", "they still count"),
    ],
)
def test_waiting_items_are_said_to_count_only_when_the_look_counts_them(
    waiting, counted, says, never
):
    text = summary({**LOOKED, "waiting": waiting, "counted_waiting": counted})
    assert says in text and never not in text
    noun = "review" if waiting == 1 else "reviews"
    assert f"{waiting} blind {noun} waiting in the calibration queue" in text
