"""The calibration sample stays a uniform draw from the unreviewed items as it grows: blind
labels pair with the current suggestions, items people reviewed elsewhere leave the
population, skipped ones count as errors, seed imports stay outside, and what nobody has
answered yet waits."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core.types import LabelValue, Suggestion
from labelloop.route.rules import uniform_draw
from labelloop.route.sample import SKIPPED, draw_sample, passed_by_active

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
    reviewed[first[34]] = "console"  # skipped blind, then decided in the item browser
    skipped = {first[33], first[34]}
    rate = (uniform_draw(first[39], SEED) + uniform_draw(DRAW[40], SEED)) / 2
    got = draw_sample(LATEST, V, pairs, reviewed, skipped, rate, SEED)
    by = {p.suggestion.item_id: p for p in got.pairs}
    assert got.answered == 30 and got.counted_wrong == 2 and got.waiting == 5
    assert got.reviewed_elsewhere == 2  # out of the population, as every reviewed item
    assert got.drawn == 37  # the seed import is outside the population too
    assert first[30] not in by and first[31] not in by and first[32] not in by
    assert by[first[33]].source == SKIPPED == by[first[34]].source
    assert not by[first[33]].correct and not by[first[34]].correct
    assert sum(not p.correct for p in got.pairs) == 2 + sum(k % 7 == 0 for k in range(30))


def test_the_active_queue_passes_a_drawn_item_only_once_it_is_behind_it():
    shadow = {"a": 0.1, "b": 0.3, "c": 0.5}
    # ahead of the item decided deepest and of every item still waiting
    assert passed_by_active(shadow, head=0.4, reached=0.35) == {"a", "b"}
    assert passed_by_active(shadow, head=0.2, reached=0.35) == {"a"}  # an earlier one waits
    assert passed_by_active(shadow, head=None, reached=0.45) == {"a", "b"}  # queue emptied
    assert passed_by_active(shadow, head=0.05, reached=None) == set()  # nothing decided


def test_passed_items_leave_the_population_blind_answer_or_not():
    first = DRAW[:20]
    pairs = [_pair(LATEST[i], correct=False) for i in first[:10]]
    passed = set(first[:4]) | {first[12]}
    pairs.append(_pair(LATEST[DRAW[-1]], source="import"))  # a sample import outside
    rate = (uniform_draw(first[19], SEED) + uniform_draw(DRAW[20], SEED)) / 2
    got = draw_sample(LATEST, V, pairs, {}, set(), rate, SEED, passed=passed | {DRAW[-1]})
    ids = {p.suggestion.item_id for p in got.pairs}
    assert got.passed_active == 5 and got.answered == 6 and got.waiting == 9
    assert got.drawn == 15 and not ids & passed
    assert DRAW[-1] not in ids  # passed by the queue: out, however it was labeled


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
    st.sets(st.integers(0, 1999), max_size=100),
)
def test_a_grown_sample_keeps_every_item_drawn_before(r1, extra, answered, active, passed):
    """Growing the rate only adds items, in draw order, whatever was reviewed meanwhile:
    every drawn item is answered, counted wrong, waiting, reviewed elsewhere or passed by
    the active queue (out of the population), never silently dropped."""
    ids = sorted(LATEST)
    pairs = [_pair(LATEST[ids[k]]) for k in answered]
    reviewed = {ids[k]: "console" for k in active} | {ids[k]: "console" for k in answered}
    passed = {ids[k] for k in passed}
    small = draw_sample(LATEST, V, pairs, reviewed, set(), r1, SEED, passed=passed)
    big = draw_sample(LATEST, V, pairs, reviewed, set(), r1 + extra, SEED, passed=passed)
    ins = {p.suggestion.item_id for p in small.pairs}
    assert ins <= {p.suggestion.item_id for p in big.pairs}
    for got, rate in ((small, r1), (big, r1 + extra)):
        n = sum(uniform_draw(i, SEED) < rate for i in ids)
        assert n == got.drawn + got.reviewed_elsewhere + got.passed_active
        assert got.drawn == got.answered + got.counted_wrong + got.waiting
    # the drawn share matches the rate (a uniform draw): within 5 binomial SDs
    sd = np.sqrt(2000 * (r1 + extra) * (1 - r1 - extra)) + 1
    drawn = big.drawn + big.reviewed_elsewhere + big.passed_active
    assert abs(drawn - 2000 * (r1 + extra)) <= 5 * sd
