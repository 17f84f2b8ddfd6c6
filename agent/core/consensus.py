"""The people's consensus on a judged item (``kind: pairwise | rating | ranking``): what a
judgment must equal to be correct (the design contract, "Pairwise, rating and ranking items").

The majority of the people who judged it, one vote each (a person's latest); an even split is
"tie" where the pairwise task allows ties, and otherwise there is no consensus: the item is
not a calibration pair. Ratings and rankings agree only when equal as a whole. Pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from labelloop.core.types import DECISIVE, TIE, Guideline, LabelValue, Review, current_reviews


def consensus_value(values: Sequence[LabelValue], guideline: Guideline) -> LabelValue | None:
    """The majority value, or on a split "tie" (pairwise, ``allow_tie``) or None."""
    if not values:
        return None
    counts = Counter(v.key() for v in values)
    top = counts.most_common()
    if len(top) == 1 or top[0][1] > top[1][1]:
        return next(v for v in values if v.key() == top[0][0])
    if guideline.kind == "pairwise" and guideline.allow_tie:
        return LabelValue(label=TIE)
    return None


Consensus = Callable[[Sequence[Review]], LabelValue | None]


def rule_of(guideline: Guideline | None, complete: bool = False) -> Consensus | None:
    """A judging task's consensus rule over reviews; None for labeling tasks (the latest
    decision stands, ``labelloop.core.standing``). A guideline with questions merges the
    reviews question by question (``labelloop.core.questions.merged``); with ``complete``,
    only into a value that answers every question (what a calibration pair needs)."""
    if guideline is not None and guideline.asks_questions:
        from labelloop.core.questions import Merge

        return Merge(guideline, complete)
    if guideline is None or not guideline.judges:
        return None
    return lambda reviews: people_consensus(reviews, guideline)


def people_consensus(reviews: Sequence[Review], guideline: Guideline) -> LabelValue | None:
    """The consensus of the reviewers' latest decisions (``reviews`` oldest first)."""
    latest: dict[str, LabelValue] = {}
    for r in reviews:
        if r.value is not None:
            latest[r.reviewer] = r.value
    return consensus_value(list(latest.values()), guideline)


def split_items(reviews: Sequence[Review], guideline: Guideline) -> set[str]:
    """Items of a judging task whose people disagree with no consensus and no adjudication
    (``reviews``: live, oldest first): they wait for an adjudicator, as an overlap pair
    that disagrees does. None for a labeling task."""
    if not guideline.judges:
        return set()
    by_item: dict[str, list[Review]] = {}
    for r in reviews:
        by_item.setdefault(r.item_id, []).append(r)
    out = set()
    for item_id, got in by_item.items():
        decisive = [
            r
            for r in current_reviews(got)
            if r.action in DECISIVE and r.value is not None and r.queue != "gold"
        ]
        if any(r.queue == "adjudication" for r in decisive):
            continue
        if (
            len({r.reviewer for r in decisive}) > 1
            and people_consensus(decisive, guideline) is None
        ):
            out.add(item_id)
    return out
