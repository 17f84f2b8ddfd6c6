"""Context fields: the ``meta`` values a guideline's ``context:`` names, shown with each item.

An item's label can depend on facts that are not in its text: in a booking chatbot's log,
"19" is a time or a party size depending on the slot the bot asked for. A guideline lists
those ``meta`` fields (``context: [requested_slot]``); the reviewer sees them above the
item, the LLM reads them inside the item's markers, and the local model embeds them with
the item's text. A field is a key of ``meta`` or a dotted path into nested objects
(``slot.requested``); a field the item does not have is left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from labelloop.core.types import Item

_MISSING = object()


def lookup(meta: Mapping[str, Any], field: str) -> Any:
    """The value of ``field`` in ``meta`` (a key, else a dotted path), or ``_MISSING``."""
    if field in meta:
        return meta[field]
    value: Any = meta
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def context_of(item: Item, fields: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """The item's context: (field, value) for each of ``fields`` that its ``meta`` has."""
    pairs = ((f, lookup(item.meta or {}, f)) for f in fields)
    return tuple((f, v) for f, v in pairs if v is not _MISSING)


def context_text(value: Any) -> str:
    """A context value as text: a string as it is, anything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def context_lines(item: Item, fields: Sequence[str]) -> list[str]:
    """The item's context as ``field: value`` lines (values on one line each)."""
    return [f"{f}: {one_line(context_text(v))}" for f, v in context_of(item, fields)]


def one_line(text: str) -> str:
    """``text`` with its line breaks as spaces, so a value cannot pose as another field."""
    return " ".join(text.splitlines())
