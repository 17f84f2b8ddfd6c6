"""The calibration sample stays a uniform draw from the labeled stream as it grows: blind
labels pair with the current suggestions, items people reviewed before they were drawn count
as errors, seed imports stay outside, and what nobody has answered yet waits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.calibration_sample import REVIEWED_BEFORE, SKIPPED, draw_sample
from agent.routing import uniform_draw
from agent.types import LabelValue, Suggestion

V = ("p2", "g1")
SEED = 0


def _sugg(i: int, version=V, value="a", abstain=False) -> Suggestion:
    label = LabelValue(label=value) if not abstain else LabelValue(abstain=True)
    return Suggestion(
        item_id=f"i{i:04d}",
        model="local",
        value=label,
        signals={"local_prob": 0.5 + (i % 50) / 100},
        prompt_version=version[0],
        guideline_version=version[1],
    )


def _pair(s: Suggestion, correct: bool = True, source: str = "calibration"):
    return SimpleNamespace(suggestion=s, correct=correct, source=source)


LATEST = {s.item_id: s for s in (_sugg(i) for i in range(2000))}
DRAW = sorted(LATEST, key=lambda i: uniform_draw(i, SEED))


def test_answered_reviewed_imported_skipped_and_waiting():
    first = DRAW[:40]
    pairs = [_pair(LATEST[i], correct=k % 7 != 0) for k, i in enumerate(first[:30])]
    reviewed = {first[30]: "console", first[31]: "import", first[32]: "console"}
    skipped = {first[33]}
    rate = (uniform_draw(first[39], SEED) + uniform_draw(DRAW[40], SEED)) / 2
    got = draw_sample(LATEST, V, pairs, reviewed, skipped, rate, SEED)
    by = {p.suggestion.item_id: p for p in got.pairs}
    assert got.answered == 30 and got.counted_wrong == 3 and got.waiting == 6
    assert got.drawn == 39  # the seed import is outside the population
    assert first[31] not in by
    assert by[first[30]].source == REVIEWED_BEFORE and by[first[33]].source == SKIPPED
    assert not by[first[30]].correct and not by[first[33]].correct
    assert sum(not p.correct for p in got.pairs) == 3 + sum(k % 7 == 0 for k in range(30))


def test_outdated_failed_and_abstained_items():
    latest = dict(LATEST)
    a, b, c = DRAW[:3]
    latest[a] = _sugg(int(a[1:]), version=("p1", "g1"))
    latest[b] = _sugg(int(b[1:]), abstain=True)
    latest[c] = _sugg(int(c[1:])).model_copy(update={"status": "failed", "value": None})
    rate = uniform_draw(DRAW[3], SEED)
    got = draw_sample(latest, V, [], {}, set(), rate, SEED)
    assert (got.outdated, got.drawn, got.waiting) == (1, 0, 0)


def test_sample_imports_outside_the_draw_still_count():
    outside = LATEST[DRAW[-1]]
    got = draw_sample(LATEST, V, [_pair(outside, source="import")], {}, set(), 0.0, SEED)
    assert [p.suggestion.item_id for p in got.pairs] == [outside.item_id]
    assert got.imported_outside == 1
    audit = draw_sample(LATEST, V, [_pair(outside, source="audit")], {}, set(), 0.0, SEED)
    assert audit.pairs == []  # an audit label outside the draw is not a uniform sample


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.0, 0.6),
    st.floats(0.0, 0.4),
    st.sets(st.integers(0, 1999), max_size=300),
    st.sets(st.integers(0, 1999), max_size=300),
)
def test_a_grown_sample_keeps_every_item_drawn_before(r1, extra, answered, active):
    """Growing the rate only adds items, in draw order, whatever was reviewed meanwhile:
    every drawn item is answered, counted wrong or waiting, never silently dropped."""
    ids = sorted(LATEST)
    pairs = [_pair(LATEST[ids[k]]) for k in answered]
    reviewed = {ids[k]: "console" for k in active} | {ids[k]: "console" for k in answered}
    small = draw_sample(LATEST, V, pairs, reviewed, set(), r1, SEED)
    big = draw_sample(LATEST, V, pairs, reviewed, set(), r1 + extra, SEED)
    ins = {p.suggestion.item_id for p in small.pairs}
    assert ins <= {p.suggestion.item_id for p in big.pairs}
    for got, rate in ((small, r1), (big, r1 + extra)):
        n = sum(uniform_draw(i, SEED) < rate for i in ids)
        assert got.drawn == n == got.answered + got.counted_wrong + got.waiting
    # the drawn share matches the rate (a uniform draw): within 5 binomial SDs
    sd = np.sqrt(2000 * (r1 + extra) * (1 - r1 - extra)) + 1
    assert abs(big.drawn - 2000 * (r1 + extra)) <= 5 * sd
