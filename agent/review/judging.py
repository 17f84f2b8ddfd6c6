"""Judging items (``kind: pairwise | rating | ranking``) as people see them in the console.

Each reviewer sees an item's replies in an order of their own, drawn from the reviewer's name
and the item's id (:func:`shown_order`): the same person always sees the same order, two
people usually see different ones, and the order can be recomputed later to report it. The
page names replies by position only ("Reply 1", "Reply 2", ...), never by id or by the model
that wrote them; what the page sends back names positions too, and is turned into reply ids
here (:func:`from_shown`) before anything is saved, so a vote means the same whatever order
its reviewer saw.

Positional values are ``LabelValue`` objects whose reply ids are replaced by positions
written as strings from "1": pairwise ``label="2"`` (or "tie"), rating
``ratings={"1": 4, "2": 2}``, ranking ``ranking=("2", "1")``. Pure functions.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from labelloop.core.errors import LabelloopError
from labelloop.core.positions import REPLY, position_of, reply_at, to_shown
from labelloop.core.types import TIE, Guideline, Item, LabelValue

TIE_TEXT = "Tie"
_POSITION_WORDS = re.compile(r"\b(reply|response)(\s+#?)([1-9])\b", re.IGNORECASE)


def shown_order(item_id: str, reviewer: str, reply_ids: Sequence[str]) -> tuple[str, ...]:
    """The order in which ``reviewer`` sees the replies ``reply_ids`` of item ``item_id``.

    The seed is the SHA-256 of the reviewer's name and the item's id (joined by a newline,
    so that no two pairs of names give the same text); each reply is placed by the SHA-256
    of the seed and its id. Deterministic, the same on every machine and in any language,
    and a uniformly drawn permutation for each (reviewer, item).
    """
    seed = hashlib.sha256(f"{reviewer}\n{item_id}".encode()).digest()
    return tuple(sorted(reply_ids, key=lambda rid: hashlib.sha256(seed + rid.encode()).digest()))


def reply_name(position: int | str) -> str:
    """ "Reply 1", "Reply 2", ... for a position from 1."""
    return REPLY.format(position)


def describe(value: LabelValue | None, order: Sequence[str]) -> str:
    """A judging answer in words, by position in ``order``: "Reply 2", "Tie",
    "Reply 1: 4 · Reply 2: 2", "Reply 2 > Reply 1"; "—" for none."""
    if value is None:
        return "—"
    if value.abstain:
        return value.short()
    try:
        shown = to_shown(value, order)
    except LabelloopError:
        return "(not a reply of this item)"
    assert shown is not None
    if shown.ratings is not None:
        rated = sorted(shown.ratings.items(), key=lambda kv: int(kv[0]))
        return " · ".join(f"{reply_name(k)}: {v}" for k, v in rated)
    if shown.ranking is not None:
        return " > ".join(reply_name(k) for k in shown.ranking)
    if shown.label == TIE:
        return TIE_TEXT
    if shown.label is not None:
        return reply_name(shown.label)
    return shown.short()


def pick_choices(guideline: Guideline, n: int = 2) -> list[str]:
    """A pairwise answer by name, as a form offers it: "Reply 1", "Reply 2" (and "Tie")."""
    return [reply_name(i) for i in range(1, n + 1)] + ([TIE_TEXT] if guideline.allow_tie else [])


def from_choice(choice: str, order: Sequence[str]) -> LabelValue:
    """A name offered by :func:`pick_choices` as the value it stands for (reply ids)."""
    text = choice.strip()
    if text.lower() == TIE:
        return LabelValue(label=TIE)
    m = re.fullmatch(r"reply\s+(\d+)", text, re.IGNORECASE)
    if m is None:
        raise LabelloopError(f"Choose one of the replies (Reply 1, Reply 2, ...), not {choice!r}")
    return LabelValue(label=reply_at(m.group(1), order))


def rationale_shown(text: str, item: Item, order: Sequence[str]) -> str:
    """A judge's rationale with the positions it names ("Reply 1", in the item's own order,
    the order the judge read) rewritten to the positions in ``order``."""
    own = item.reply_ids
    if tuple(own) == tuple(order):
        return text

    def swap(m: re.Match) -> str:
        n = int(m.group(3))
        if n > len(own):
            return m.group(0)
        return f"{m.group(1)}{m.group(2)}{position_of(own[n - 1], order)}"

    return _POSITION_WORDS.sub(swap, text)


def check_answer(guideline: Guideline, item: Item, value: LabelValue) -> None:
    """Refuse a judging answer that does not answer the item: a pairwise answer that names
    no reply of it (or a tie the guideline does not allow), ratings that leave a reply out
    or leave the scale, a ranking that is not every reply once."""
    ids = item.reply_ids
    if guideline.kind == "pairwise":
        if value.label == TIE and not guideline.allow_tie:
            raise LabelloopError("This task has no ties: pick the better reply")
        if value.label not in guideline.choices(item):
            raise LabelloopError("Pick the better reply first (1 or 2)")
    elif guideline.kind == "rating":
        ratings = value.ratings or {}
        stray = [k for k in ratings if k not in ids]
        if stray:
            raise LabelloopError(f"{stray[0]!r} is not a reply of this item")
        missing = [i + 1 for i, rid in enumerate(ids) if rid not in ratings]
        if value.ratings is None or missing:
            raise LabelloopError("Rate every reply first")
        scale = guideline.label_names
        off = [v for v in ratings.values() if str(v) not in scale]
        if off:
            raise LabelloopError(f"{off[0]!r} is not on the scale: use one of {', '.join(scale)}")
    elif guideline.kind == "ranking":
        ranking = value.ranking or ()
        if sorted(ranking) != sorted(ids) or len(set(ranking)) != len(ranking):
            raise LabelloopError("Rank every reply once, best first")
