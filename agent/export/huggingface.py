"""Hugging Face export: a Parquet dataset written in batches, with a dataset card.

A judging task's dataset (``kind: pairwise | rating | ranking``) has a ``replies`` column (a
list of ``{id, content, messages, model}``), its answer as ``label`` (a reply id or ``tie``),
``ratings`` (a JSON object, reply id -> scale value: a scale may mix numbers and names) or
``ranking`` (reply ids, best first), and the suggestion's the same way; other tasks' datasets
have the columns they always had. labelloop's Parquet import reads the file back.

A guideline that asks several questions has one column per question, named by the
question, in place of ``label``/``labels``/``spans``/``turns`` and the suggested ones: a
string for a single-label or pairwise question, a list of strings (multi), of ``{start,
end, label, text}`` (spans) or of ``{turn, label}`` (a question asked of each turn), JSON
text for a rating or a ranking (an abstention is null, or ``{"abstain": true}`` there);
``label_source`` is ``{question: source}`` as JSON text, and the suggestion's answers are
``labels`` in the ``suggestion`` JSON, keyed by question as in the JSONL export. A question
named like another column is refused: it could not be told apart on import.

Memory stays bounded by one Parquet batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from labelloop.core.errors import LabelloopError
from labelloop.core.questions import final_answers
from labelloop.core.standing import final_label, review_json, suggestion_json
from labelloop.core.types import (
    Guideline,
    ItemRecord,
    LabelValue,
    Reply,
    Span,
)
from labelloop.export.values import answer_json, json_text, questions_suggestion, with_questions

HF_BATCH = 1000


#: a judging task's columns, each after the column it follows
JUDGE_COLUMNS = {
    "target_turn": ("replies",),
    "turns": ("ratings", "ranking"),
    "suggested_spans": ("suggested_ratings", "suggested_ranking"),
}


#: the single-value columns a guideline with questions writes per question instead
ONE_QUESTION_COLUMNS = frozenset(
    {"label", "labels", "spans", "turns", "suggested_label", "suggested_labels", "suggested_spans"}
)


def check_hf(guideline: Guideline) -> None:
    """Refuse a question named like a column the import reads otherwise."""
    from labelloop.ingest.importer import KNOWN_KEYS
    from labelloop.ingest.readers import HF_SUGGESTION_COLUMNS

    taken = {*_base_names(), "replies", *KNOWN_KEYS, *HF_SUGGESTION_COLUMNS}
    for q in guideline.question_names:
        if q in taken:
            raise LabelloopError(
                f"question {q!r} has the name of a column of the hf export, so it would not "
                "import back as an answer; rename the question in the guideline, or use "
                "--format jsonl or csv"
            )


def _base_names() -> list[str]:
    return [name for name, _ in _base_fields()]


def hf_schema(guideline: Guideline | None = None):
    """The dataset's columns; a judging task's add its replies and answers; a guideline
    with questions has one column per question."""
    import pyarrow as pa

    fields = _base_fields()
    if guideline is not None and guideline.asks_questions:
        return _questions_schema(guideline)
    if guideline is None or not guideline.judges:
        return pa.schema(fields)
    types = {
        "replies": pa.list_(_reply_type()),
        "ratings": pa.string(),
        "ranking": pa.list_(pa.string()),
        "suggested_ratings": pa.string(),
        "suggested_ranking": pa.list_(pa.string()),
    }
    out = []
    for name, type_ in fields:
        out.append((name, type_))
        out.extend((extra, types[extra]) for extra in JUDGE_COLUMNS.get(name, ()))
    return pa.schema(out)


def _reply_type():
    import pyarrow as pa

    return pa.struct(
        [
            ("id", pa.string()),
            ("content", pa.string()),
            ("messages", pa.list_(_message_type())),
            ("model", pa.string()),
        ]
    )


def _questions_schema(guideline: Guideline):
    """The base columns less the one-question value columns, the replies where a question
    judges them, and one column per question before ``label_source``."""
    import pyarrow as pa

    judging = any(q.kind in ("pairwise", "rating", "ranking") for q in guideline.questions)
    out = []
    for name, type_ in _base_fields():
        if name in ONE_QUESTION_COLUMNS:
            continue
        if name == "label_source":
            out.extend((q, _question_type(_shape(guideline, q))) for q in guideline.question_names)
        out.append((name, type_))
        if name == "target_turn" and judging:
            out.append(("replies", pa.list_(_reply_type())))
    return pa.schema(out)


def _shape(guideline: Guideline, name: str) -> str:
    q = guideline.question(name)
    return "turns" if q.unit == "turn" else q.kind


def _question_type(shape: str):
    import pyarrow as pa

    types = {
        "single": pa.string(),
        "pairwise": pa.string(),
        "multi": pa.list_(pa.string()),
        "spans": pa.list_(_span_type()),
        "turns": pa.list_(_turn_type()),
        "rating": pa.string(),
        "ranking": pa.string(),
    }
    return types[shape]


def _span_type():
    import pyarrow as pa

    return pa.struct(
        [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())]
    )


def _turn_type():
    import pyarrow as pa

    return pa.struct([("turn", pa.int64()), ("label", pa.string())])


def _message_type():
    """A message: role and content, and the speaker's name, tool calls (in the
    chat-completions form) and tool call id, null where a message has none."""
    import pyarrow as pa

    function = pa.struct([("name", pa.string()), ("arguments", pa.string())])
    call = pa.struct([("id", pa.string()), ("type", pa.string()), ("function", function)])
    return pa.struct(
        [
            ("role", pa.string()),
            ("content", pa.string()),
            ("name", pa.string()),
            ("tool_calls", pa.list_(call)),
            ("tool_call_id", pa.string()),
        ]
    )


def _base_fields() -> list:
    import pyarrow as pa

    span = _span_type()
    return [
        ("id", pa.string()),
        ("text", pa.string()),
        ("messages", pa.list_(_message_type())),
        ("target_turn", pa.int64()),
        ("label", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("spans", pa.list_(span)),
        ("turns", pa.list_(_turn_type())),
        ("label_source", pa.string()),
        ("route", pa.string()),
        ("suggested_label", pa.string()),
        ("suggested_labels", pa.list_(pa.string())),
        ("suggested_spans", pa.list_(span)),
        ("confidence", pa.float64()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("guideline_version", pa.string()),
        ("rationale", pa.string()),
        ("suggestion", pa.string()),
        ("reviews", pa.string()),
        ("meta", pa.string()),
    ]


def replies(items: tuple[Reply, ...]) -> list[dict[str, Any]]:
    """Replies as ``replies`` column values (a field a reply lacks is null)."""
    return [
        {
            "id": r.id,
            "content": r.content,
            "messages": [m.as_row() for m in r.messages] if r.messages else None,
            "model": r.model,
        }
        for r in items
    ]


def _judging(value: LabelValue | None, prefix: str = "") -> dict[str, Any]:
    """The ``ratings`` and ``ranking`` columns of a value (named with ``prefix``)."""
    ratings = value.ratings if value is not None else None
    ranking = value.ranking if value is not None else None
    return {
        f"{prefix}ratings": json_text(ratings) if ratings is not None else None,
        f"{prefix}ranking": list(ranking) if ranking is not None else None,
    }


def _spans(spans: tuple[Span, ...] | None) -> list[dict] | None:
    if spans is None:
        return None
    return [{"start": s.start, "end": s.end, "label": s.label, "text": s.text} for s in spans]


def hf_row(record: ItemRecord, guideline: Guideline | None = None) -> dict[str, Any]:
    if guideline is not None and guideline.asks_questions:
        return _questions_row(record, guideline)
    item = record.item
    value, source = final_label(record)
    s = record.suggestion
    sv = s.value if s is not None else None
    suggestion = suggestion_json(record)
    row = {
        "id": item.id,
        "text": item.text,
        "messages": [m.as_row() for m in item.messages] if item.messages else None,
        "target_turn": item.target_turn,
        "label": value.label if value else None,
        "labels": list(value.labels) if value and value.labels is not None else None,
        "spans": _spans(value.spans) if value else None,
        "turns": (
            [{"turn": k, "label": v} for k, v in sorted(value.turns.items())]
            if value and value.turns is not None
            else None
        ),
        "label_source": source,
        "route": record.route,
        "suggested_label": sv.label if sv else None,
        "suggested_labels": list(sv.labels) if sv and sv.labels is not None else None,
        "suggested_spans": _spans(sv.spans) if sv else None,
        "confidence": suggestion["confidence"] if suggestion is not None else None,
        "model": s.model if s else None,
        "prompt_version": s.prompt_version if s else None,
        "guideline_version": s.guideline_version if s else None,
        "rationale": s.rationale if s else None,
        "suggestion": json_text(suggestion) if s else None,
        "reviews": json_text([review_json(r) for r in record.reviews]),
        "meta": json_text(item.meta) if item.meta else None,
    }
    if item.replies is None:
        return row  # a judging task's columns stay null (or absent: other tasks' schema)
    return {
        **row,
        "replies": replies(item.replies),
        **_judging(value),
        **_judging(sv, "suggested_"),
    }


def _questions_row(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """A row of a guideline with questions: each question's final answer in its column,
    ``label_source`` as ``{question: source}`` JSON text."""
    record = with_questions(record, guideline)
    row = {k: v for k, v in hf_row(record).items() if k not in ONE_QUESTION_COLUMNS}
    for key in ("ratings", "ranking", "suggested_ratings", "suggested_ranking"):
        row.pop(key, None)
    answers, sources = final_answers(record, guideline)
    for q in guideline.question_names:
        row[q] = _answer_cell(answers.get(q), _shape(guideline, q))
    row["label_source"] = json_text(sources) if sources else None
    suggestion = questions_suggestion(record)
    row["suggestion"] = json_text(suggestion) if suggestion is not None else None
    return row


def _answer_cell(value: LabelValue | None, shape: str) -> Any:
    """One answer as its question's column holds it (``_question_type``)."""
    if value is None:
        return None
    if shape in ("rating", "ranking"):
        return json_text(answer_json(value))
    if value.abstain:
        return None
    if shape in ("single", "pairwise"):
        return value.label
    if shape == "multi":
        return list(value.labels) if value.labels is not None else None
    if shape == "spans":
        return _spans(value.spans)
    return [{"turn": k, "label": v} for k, v in sorted((value.turns or {}).items())]


def _batches(
    records: Iterable[ItemRecord], size: int, row: Callable[[ItemRecord], dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for rec in records:
        batch.append(row(rec))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def write_hf(
    out: Path,
    records: Iterable[ItemRecord],
    guideline: Guideline | None,
    row: Callable[[ItemRecord], dict[str, Any]] | None = None,
) -> int:
    """``out/`` holds ``data.parquet``, ``dataset_info.json`` and a README card; ``row``
    makes each record's row (of ``hf_schema``'s columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and not out.is_dir():
        raise LabelloopError(f"{out} is a file; the hf export writes a folder, name a new one")
    out.mkdir(parents=True, exist_ok=True)
    schema = hf_schema(guideline)
    if row is None:
        row = partial(hf_row, guideline=guideline)
    tmp = out / "data.parquet.part"
    n = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in _batches(records, HF_BATCH, row):
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            n += len(batch)
    tmp.replace(out / "data.parquet")
    task = guideline.task if guideline else "labelloop"
    info = {
        "description": f"labelloop export of task {task!r}",
        "features": {f.name: str(f.type) for f in schema},
        "label_names": list(guideline.label_names) if guideline else None,
        "kind": guideline.kind if guideline else None,
        "unit": guideline.unit if guideline else None,
        "num_rows": n,
    }
    if guideline is not None and guideline.asks_questions:
        info["questions"] = {
            q.name: {"kind": q.kind, "unit": q.unit, "label_names": [lab.name for lab in q.labels]}
            for q in guideline.questions
        }
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    (out / "README.md").write_text(_card(task, n), encoding="utf-8")
    return n


def _card(task: str, n: int) -> str:
    return (
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        "    path: data.parquet\n---\n"
        f"# {task}\n\nExported by labelloop: {n} items with the final label, its source "
        "(`label_source`: human, model or adjudicated), the route, the routing model's "
        "suggestion and the human reviews (`reviews`, a JSON string).\n\n"
        "```python\nfrom datasets import load_dataset\n"
        'ds = load_dataset("parquet", data_files="data.parquet")\n```\n'
    )
