"""What any import row may hold, whatever the store: one check shared by SQLite and PostgreSQL.

SQLite keeps nearly anything; PostgreSQL refuses a NUL character in text, a lone surrogate,
NaN in JSON and an index entry over a few kilobytes. So that both stores accept exactly the
same files, every string, number and nesting level of a row is checked here, before any
store sees it (README.md, "Import formats").
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: longest item id, in characters: a key PostgreSQL can index (4 bytes a character at most)
MAX_ID_CHARS = 256
#: deepest nesting of objects and lists in a row (the row itself is level 1)
MAX_DEPTH = 64
#: what no text may hold: NUL (PostgreSQL text cannot) and lone surrogates (not Unicode)
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


class RowError(ValueError):
    """What is wrong with a row and how to fix it; the caller adds the file and line."""


def check_row(raw: dict[str, Any]) -> None:
    """Refuse a row holding what a store cannot keep as it is; RowError names where."""
    stack: list[tuple[Any, str, int]] = [(raw, "", 1)]
    while stack:  # a loop, not recursion: the nesting is the attacker's to choose
        value, where, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value, where)
        elif isinstance(value, float) and not math.isfinite(value):
            raise RowError(
                f"{_field(where)} is {json.dumps(value)} (JSON has no NaN or Infinity; a "
                "number past 1.8e308 reads as Infinity); write a finite number, or null"
            )
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise RowError(
                    f"{_field(where)} is nested more than {MAX_DEPTH} levels deep; "
                    "flatten it (meta holds plain values, lists and shallow objects)"
                )
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, inner in pairs:
                if isinstance(key, str):
                    _check_text(key, f"{where}.{key}" if where else key, name=True)
                path = f"{where}[{key}]" if isinstance(value, list) else _join(where, key)
                stack.append((inner, path, depth + 1))


def check_id(item_id: str) -> None:
    """An id a key of either store can hold."""
    if len(item_id) > MAX_ID_CHARS:
        raise RowError(
            f"'id' has {len(item_id):,} characters, over the limit of {MAX_ID_CHARS}; "
            "give the item a shorter id (keep long references under 'meta')"
        )


def _check_text(text: str, where: str, name: bool = False) -> None:
    m = _BAD_CHAR.search(text)
    if m is None:
        return
    what = "the name of field " if name else ""
    at = f"{what}{_field(where)} at character {m.start()}"
    if m.group() == "\x00":
        raise RowError(f"{at} holds a NUL character (\\u0000), which no text may; remove it")
    raise RowError(
        f"{at} holds a lone surrogate ({m.group().encode('unicode_escape').decode()}), "
        "which is not Unicode text; fix the file's escapes, or re-export it as UTF-8"
    )


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message quoting a row stays short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _field(where: str) -> str:
    return shown(where) if where else "the row"
