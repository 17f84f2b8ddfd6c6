"""Hugging Face export: a Parquet dataset written in batches, with a dataset card.

A judging task's dataset (``kind: pairwise | rating | ranking``) has a ``replies`` column (a
list of ``{id, content, messages, model}``), its answer as ``label`` (a reply id or ``tie``),
``ratings`` (a JSON object, reply id -> scale value: a scale may mix numbers and names) or
``ranking`` (reply ids, best first), and the suggestion's the same way; other tasks' datasets
have the columns they always had. labelloop's Parquet import reads the file back.

Memory stays bounded by one Parquet batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from labelloop.core.errors import LabelloopError
from labelloop.core.standing import final_label, review_json, suggestion_json
from labelloop.core.types import (
    Guideline,
    ItemRecord,
    LabelValue,
    Reply,
    Span,
)
from labelloop.export.values import json_text

HF_BATCH = 1000


#: a judging task's columns, each after the column it follows
JUDGE_COLUMNS = {
    "target_turn": ("replies",),
    "turns": ("ratings", "ranking"),
    "suggested_spans": ("suggested_ratings", "suggested_ranking"),
}


def hf_schema(guideline: Guideline | None = None):
    """The dataset's columns; a judging task's add its replies and answers."""
    import pyarrow as pa

    fields = _base_fields()
    if guideline is None or not guideline.judges:
        return pa.schema(fields)
    message = _message_type()
    reply = pa.struct(
        [
            ("id", pa.string()),
            ("content", pa.string()),
            ("messages", pa.list_(message)),
            ("model", pa.string()),
        ]
    )
    types = {
        "replies": pa.list_(reply),
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

    span = pa.struct(
        [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())]
    )
    return [
        ("id", pa.string()),
        ("text", pa.string()),
        ("messages", pa.list_(_message_type())),
        ("target_turn", pa.int64()),
        ("label", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("spans", pa.list_(span)),
        ("turns", pa.list_(pa.struct([("turn", pa.int64()), ("label", pa.string())]))),
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


def hf_row(record: ItemRecord) -> dict[str, Any]:
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
    row: Callable[[ItemRecord], dict[str, Any]] = hf_row,
) -> int:
    """``out/`` holds ``data.parquet``, ``dataset_info.json`` and a README card; ``row``
    makes each record's row (of ``hf_schema``'s columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if out.exists() and not out.is_dir():
        raise LabelloopError(f"{out} is a file; the hf export writes a folder, name a new one")
    out.mkdir(parents=True, exist_ok=True)
    schema = hf_schema(guideline)
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
