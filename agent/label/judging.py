"""Judging replies in both orders: positions shown to a judge, mapped back to reply ids, and
the two orders' verdicts combined into one suggestion.

A judge sees "Reply 1" and "Reply 2", never ids or models, and answers with a position. Each
pairwise item is judged twice, in the item's order and reversed; both answers are mapped back
to reply ids, so a consistent judge gives the same id both times. When it does not (position
bias), ``order_agreement`` is 0 and the confidence drops: each order's probability of the
final verdict is averaged, and an order that chose the other reply gives the final verdict
only what it left over. The final verdict is the one given in the item's own order.
Pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from labelloop.core.types import Guideline, Item, LabelValue
from labelloop.label.providers.base import Example

#: the probability signals that are averaged across the two orders
ORDER_AVERAGED = ("logprob_renorm", "logprob_prob", "verbalized")
#: the signal saying whether the two orders gave the same verdict (1.0) or not (0.0)
ORDER_AGREEMENT = "order_agreement"
#: the share of simulated annotators whose answer is the verdict
SIMULATED = "simulated_agreement"


def by_reviewer(examples: Sequence[Example], k: int) -> list[list[Example]]:
    """The reviewed examples of the k reviewers with the most, one list each: a simulated
    annotator sees one reviewer's examples only."""
    if k <= 0:
        return []
    groups: dict[str, list[Example]] = {}
    for e in examples:
        groups.setdefault(e.reviewer or "", []).append(e)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [group for _, group in ranked[:k]]


def orders(item: Item) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The two orders a pairwise item is shown in: its own, then reversed."""
    ids = item.reply_ids
    return ids, tuple(reversed(ids))


def answer_space(kind: str, replies: int, choices: int) -> int:
    """How many answers a judge could give: the choices of a pairwise task, every rating
    of every reply, every order of the replies."""
    if kind == "rating":
        return choices**replies
    if kind == "ranking":
        return math.factorial(replies)
    return choices


def combine(
    first: LabelValue,
    first_signals: Mapping[str, float | None],
    second: LabelValue | None,
    second_signals: Mapping[str, float | None] | None,
    n_choices: int,
) -> tuple[LabelValue, dict[str, float | None]]:
    """The verdict of both orders (answers already mapped to reply ids) and its signals.

    ``second`` None: the reversed order failed; the first order's signals stand and
    ``order_agreement`` is missing (None), so a calibrator never reads it as agreement.
    """
    signals: dict[str, float | None] = dict(first_signals)
    if second is None or second_signals is None:
        signals[ORDER_AGREEMENT] = None
        return first, signals
    agree = first.key() == second.key()
    signals[ORDER_AGREEMENT] = 1.0 if agree else 0.0
    for name in ORDER_AVERAGED:
        p1, p2 = first_signals.get(name), second_signals.get(name)
        if p1 is None or p2 is None:
            continue
        # the second order's probability of the final verdict: its own if it agrees, else
        # an even share of what it left to the other answers
        p2_final = p2 if agree else (1.0 - p2) / max(1, n_choices - 1)
        signals[name] = (p1 + p2_final) / 2
    return first, signals


def calls_per_item(guideline: Guideline, annotators: int = 0) -> int:
    """Calls one item costs before re-asks: a judged item is judged in both reply orders,
    and once more per simulated annotator."""
    return 2 + annotators if guideline.judges else 2 if guideline.judges_any else 1
