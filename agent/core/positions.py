"""Answers of judging tasks by position: the reply shown first is "1", the next "2", ...

A judge and a reviewer both answer by the position a reply was shown at, never by its id;
these functions turn such positional values into reply ids (and back) given the order the
replies were shown in, so an answer means the same whatever order was seen. Positional
values are ``LabelValue`` objects whose reply ids are replaced by positions written as
strings: pairwise ``label="2"`` (or "tie"), rating ``ratings={"1": 4, "2": 2}``, ranking
``ranking=("2", "1")``. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

from labelloop.core.errors import LabelloopError
from labelloop.core.types import TIE, LabelValue

#: the name a reply has on screen, by position from 1
REPLY = "Reply {}"


def position_of(rid: str, order: Sequence[str]) -> str:
    try:
        return str(list(order).index(rid) + 1)
    except ValueError:
        raise LabelloopError(f"{rid!r} is not a reply of this item") from None


def reply_at(pos: object, order: Sequence[str]) -> str:
    text = str(pos).strip()
    if not text.isdigit() or not 1 <= int(text) <= len(order):
        raise LabelloopError(
            f"There is no {REPLY.format(text)} on this item: use a position from 1 to {len(order)}"
        )
    return order[int(text) - 1]


def to_shown(value: LabelValue | None, order: Sequence[str]) -> LabelValue | None:
    """A value naming reply ids as the page sees it: positions in ``order``."""
    if value is None or value.abstain:
        return value
    if value.ratings is not None:
        return LabelValue(ratings={position_of(k, order): v for k, v in value.ratings.items()})
    if value.ranking is not None:
        return LabelValue(ranking=tuple(position_of(k, order) for k in value.ranking))
    if value.label is not None and value.label != TIE:
        return LabelValue(label=position_of(value.label, order))
    return value


def from_shown(value: LabelValue | None, order: Sequence[str]) -> LabelValue | None:
    """A value the page sent, naming positions in ``order``, as reply ids (the inverse of
    :func:`to_shown`); ``LabelloopError`` for a position the item does not have."""
    if value is None or value.abstain:
        return value
    if value.ratings is not None:
        ratings = {reply_at(k, order): scale_value(v) for k, v in value.ratings.items()}
        return LabelValue(ratings=ratings)
    if value.ranking is not None:
        return LabelValue(ranking=tuple(reply_at(k, order) for k in value.ranking))
    if value.label is not None and value.label.strip().lower() != TIE:
        return LabelValue(label=reply_at(value.label, order))
    if value.label is not None:
        return LabelValue(label=TIE)
    return value


def scale_value(v: int | str) -> int | str:
    """A rating as it is stored: an int when the scale value is a number, else the text."""
    text = str(v).strip()
    return int(text) if text.lstrip("-").isdigit() else text
