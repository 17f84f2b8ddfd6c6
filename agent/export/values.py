"""JSON for exports: compact UTF-8 text, never NaN or infinity; replies as rows hold them;
answers to several questions as import rows write them."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

from labelloop.core.standing import suggestion_json
from labelloop.core.types import Guideline, ItemRecord, LabelValue, Reply

#: each question's answer in a tabular export: ``q:NAME`` (CSV), as the import reads it
QUESTION_COLUMN = "q:"


def with_questions(record: ItemRecord, guideline: Guideline | None) -> ItemRecord:
    """The record with its guideline's questions where the guideline asks several (so that
    each question's answer is decided on its own); any other record as it is."""
    if guideline is None or not guideline.asks_questions or record.questions is not None:
        return record
    return dataclasses.replace(record, questions=guideline)


def answer_json(value: LabelValue) -> Any:
    """One question's answer as an import row writes it under ``"labels": {question: ...}``:
    a label name or reply id, a list of names, spans, ``{turn: label}``, ratings or a
    ranking; an abstention as ``{"abstain": true}``; None for an empty value."""
    if value.abstain:
        return {"abstain": True}
    d = value.as_dict()
    return next(iter(d.values())) if d else None


def answers_json(answers: dict[str, LabelValue]) -> dict[str, Any]:
    """Answers keyed by question, each as ``answer_json`` writes it."""
    return {q: answer_json(v) for q, v in answers.items()}


def questions_suggestion(record: ItemRecord) -> dict[str, Any] | None:
    """The suggestion with its answers keyed by question as an import row writes them
    (``labels``), its signals and provenance as they are."""
    out = suggestion_json(record)
    s = record.suggestion
    if out is None or s is None or s.value is None or s.value.answers is None:
        return out
    out.pop("answers", None)
    return {"labels": answers_json(s.value.answers), **out}


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
