"""Export labeled data with provenance (JSONL, CSV), streaming a page at a time."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.errors import LabelloopError
from agent.store import ItemRecord
from agent.types import QUEUES, LabelValue, Review

FORMATS = ("jsonl", "csv")
DECISIVE = ("accept", "fix", "import")
CSV_COLUMNS = [
    "id", "text", "label", "labels", "label_source", "route", "suggested",
    "confidence", "model", "rationale", "reviewers", "reviewed_at",
]  # fmt: skip


def final_label(record: ItemRecord) -> tuple[LabelValue | None, str | None]:
    """The item's final value and its source: the latest human decision, else an auto-accept."""
    decisive = [r for r in record.reviews if r.action in DECISIVE and r.value is not None]
    if decisive:
        return decisive[-1].value, "human"
    if record.route == "auto_accepted" and record.suggestion and record.suggestion.value:
        return record.suggestion.value, "model"
    return None, None


def suggestion_json(record: ItemRecord) -> dict[str, Any] | None:
    s = record.suggestion
    if s is None:
        return None
    out: dict[str, Any] = s.value.as_dict() if s.value is not None else {}
    out.update(
        confidence=s.calibrated if s.calibrated is not None else s.confidence,
        raw_confidence=s.confidence,
        rationale=s.rationale,
        model=s.model,
        prompt_version=s.prompt_version,
        guideline_version=s.guideline_version,
        fewshot_ids=list(s.fewshot_ids),
        signals=s.signals,
        status=s.status,
        created_at=s.created_at.isoformat(),
    )
    if s.error:
        out["error"] = s.error
    return out


def review_json(r: Review) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reviewer": r.reviewer,
        "action": r.action,
        "value": r.value.as_dict() if r.value is not None else None,
        "time": r.created_at.isoformat(),
    }
    for key in ("queue", "reason", "comment", "duration_ms"):
        if getattr(r, key) is not None:
            out[key] = getattr(r, key)
    if r.blind:
        out["blind"] = True
    return out


def record_json(record: ItemRecord) -> dict[str, Any]:
    """One export row: the item, the suggestion, the route, the final label, the reviews."""
    item = record.item
    row: dict[str, Any] = {"id": item.id}
    if item.text is not None:
        row["text"] = item.text
    else:
        row["messages"] = [m.model_dump() for m in item.messages or ()]
        if item.target_turn is not None:
            row["target_turn"] = item.target_turn
    if item.meta:
        row["meta"] = item.meta
    row["suggestion"] = suggestion_json(record)
    row["route"] = record.route
    value, source = final_label(record)
    if value is not None:
        row.update(value.as_dict())
    row["label_source"] = source
    row["reviews"] = [review_json(r) for r in record.reviews]
    return row


def csv_row(record: ItemRecord) -> dict[str, Any]:
    value, source = final_label(record)
    s = record.suggestion
    decisive = [r for r in record.reviews if r.action in DECISIVE]
    return {
        "id": record.item.id,
        "text": record.item.render_plain(),
        "label": value.label if value and value.label else "",
        "labels": json.dumps(list(value.labels)) if value and value.labels is not None else "",
        "label_source": source or "",
        "route": record.route,
        "suggested": s.value.short() if s and s.value else "",
        "confidence": "" if s is None or s.confidence is None else f"{_conf(s):.4f}",
        "model": s.model if s else "",
        "rationale": s.rationale if s else "",
        "reviewers": "|".join(sorted({r.reviewer for r in decisive})),
        "reviewed_at": decisive[-1].created_at.isoformat() if decisive else "",
    }


def _conf(s) -> float:
    return s.calibrated if s.calibrated is not None else s.confidence


def export(
    store,
    out: str | Path,
    fmt: str = "jsonl",
    queue: str | None = None,
    model: str | None = None,
    stages: Sequence[str] = (),
) -> int:
    """Write every item (or one queue's) to ``out``; returns the number of rows.

    The suggestion shown is ``model``'s latest or, in a cascade (``stages``), the one each
    item was routed on.
    """
    if fmt not in FORMATS:
        raise LabelloopError(
            f"Unknown export format {fmt!r}: valid formats are {', '.join(FORMATS)}"
        )
    if queue is not None and queue not in QUEUES:
        raise LabelloopError(f"Unknown queue {queue!r}: valid queues are {', '.join(QUEUES)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = store.iter_records(model=model, queue=queue, stages=stages)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        n = _write_jsonl(fh, records) if fmt == "jsonl" else _write_csv(fh, records)
    tmp.replace(out)  # a reader never sees half a file
    return n


def _write_jsonl(fh, records) -> int:
    n = 0
    for rec in records:
        fh.write(json.dumps(record_json(rec), ensure_ascii=False) + "\n")
        n += 1
    return n


def _write_csv(fh, records) -> int:
    writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    n = 0
    for rec in records:
        writer.writerow(csv_row(rec))
        n += 1
    return n
