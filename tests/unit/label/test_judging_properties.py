"""Invariants of judging, explored with generated replies, orders and votes:

1. A judge's positional answer, mapped back through the order it was shown, is the same
   reply-id answer whatever that order was.
2. A reviewer's answer in their own shown order means the same reply ids in any order, and
   the same reviewer always sees the same order of the same item.
3. The people's consensus does not depend on the order the votes came in, and one
   person's repeated votes count once (their latest).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core.consensus import consensus_value, people_consensus
from labelloop.core.guideline import parse_guideline
from labelloop.core.positions import from_shown, to_shown
from labelloop.core.types import LabelValue, Review
from labelloop.review.judging import shown_order

PAIRWISE = parse_guideline("---\ntask: t\nkind: pairwise\nallow_tie: true\n---\n", "g")
NO_TIE = parse_guideline("---\ntask: t\nkind: pairwise\n---\n", "g")

ids = st.lists(st.text("abcdefghij", min_size=1, max_size=3), min_size=2, max_size=5, unique=True)


@st.composite
def answers(draw):
    """Reply ids, an answer in reply ids (a winner, ratings or a ranking), and an order."""
    replies = draw(ids)
    kind = draw(st.sampled_from(["label", "ratings", "ranking"]))
    if kind == "label":
        value = LabelValue(label=draw(st.sampled_from([*replies, "tie"])))
    elif kind == "ratings":
        value = LabelValue(ratings={r: draw(st.integers(1, 5)) for r in replies})
    else:
        value = LabelValue(ranking=tuple(draw(st.permutations(replies))))
    order = tuple(draw(st.permutations(replies)))
    return replies, value, order


def positional(value: LabelValue, order) -> LabelValue:
    """The answer as a judge shown ``order`` writes it: by positions "1", "2", ..."""
    at = {rid: str(n) for n, rid in enumerate(order, 1)}
    if value.ratings is not None:
        return LabelValue(ratings={at[r]: v for r, v in value.ratings.items()})
    if value.ranking is not None:
        return LabelValue(ranking=tuple(at[r] for r in value.ranking))
    return value if value.label == "tie" else LabelValue(label=at[value.label])


@settings(max_examples=200, deadline=None)
@given(answers())
def test_a_judges_positions_map_back_to_the_same_reply_ids_in_any_order(case):
    _, value, order = case
    assert from_shown(positional(value, order), order) == value


@settings(max_examples=200, deadline=None)
@given(answers(), st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=12))
def test_a_reviewers_answer_means_the_same_whatever_order_they_saw(case, reviewer, item_id):
    replies, value, _ = case
    order = shown_order(item_id, reviewer, replies)
    assert sorted(order) == sorted(replies)
    assert shown_order(item_id, reviewer, replies) == order  # the same every time
    assert from_shown(to_shown(value, order), order) == value


votes = st.lists(
    st.tuples(st.sampled_from("uvwxyz"), st.sampled_from(["a", "b", "tie"])),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(votes, st.randoms(use_true_random=False))
def test_the_consensus_is_the_same_in_any_order_of_distinct_people(cast, rnd):
    latest = dict(cast)  # one vote per person
    values = [LabelValue(label=v) for v in latest.values()]
    shuffled = values[:]
    rnd.shuffle(shuffled)
    for g in (PAIRWISE, NO_TIE):
        assert consensus_value(values, g) == consensus_value(shuffled, g)
        got = consensus_value(values, g)
        if got is not None and got.label != "tie":
            top = sum(v.label == got.label for v in values)
            assert all(
                sum(v.label == o for v in values) < top for o in {"a", "b", "tie"} - {got.label}
            )


@settings(max_examples=200, deadline=None)
@given(votes)
def test_a_persons_repeated_votes_count_once_their_latest(cast):
    reviews = [
        Review(item_id="i", reviewer=who, action="fix", value=LabelValue(label=v))
        for who, v in cast
    ]
    latest = [LabelValue(label=v) for v in dict(cast).values()]
    assert people_consensus(reviews, PAIRWISE) == consensus_value(latest, PAIRWISE)
