"""JSON for exports: compact UTF-8 text, never NaN or infinity; replies as rows hold them."""

from __future__ import annotations

import json
import math
from typing import Any

from labelloop.core.types import Reply


def reply_json(reply: Reply) -> dict[str, Any]:
    """A reply as an import row holds it: id, content or messages, and model where known."""
    row: dict[str, Any] = {"id": reply.id}
    if reply.content is not None:
        row["content"] = reply.content
    else:
        row["messages"] = [m.as_row() for m in reply.messages or ()]
    if reply.model is not None:
        row["model"] = reply.model
    return row


def json_text(value: Any) -> str:
    """``value`` as strict JSON: a NaN or infinity (which a store may hold from before
    imports refused them) is written as null, so every export parses as JSON."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
