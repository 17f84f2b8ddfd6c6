"""Export labeled data with provenance, streaming a page at a time.

JSONL and CSV here; Label Studio, Hugging Face (Parquet) and CoNLL in ``agent.ecosystem``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent import ecosystem as eco
from agent.errors import LabelloopError
from agent.store import ItemRecord
from agent.types import DECISIVE, QUEUES, Guideline, LabelValue, Review, current_reviews

FORMATS = ("jsonl", "csv", "labelstudio", "hf", "conll")
CSV_COLUMNS = [
    "id", "text", "label", "labels", "label_source", "route", "suggested",
    "confidence", "model", "rationale", "reviewers", "reviewed_at",
]  # fmt: skip


def final_label(record: ItemRecord) -> tuple[LabelValue | None, str | None]:
    """The item's final value and its source: an adjudication, else the latest human
    decision (since the item was last reopened), else an auto-accept."""
    current = current_reviews(record.reviews)
    decisive = [r for r in current if r.action in DECISIVE and r.value is not None]
    adjudicated = [r for r in decisive if r.queue == "adjudication"]
    if adjudicated:
        return adjudicated[-1].value, "adjudicated"
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
    decisive = [r for r in current_reviews(record.reviews) if r.action in DECISIVE]
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
    guideline: Guideline | None = None,
) -> int:
    """Write every item (or one queue's) to ``out``; returns the number of rows.

    ``labelstudio`` and ``conll`` need the ``guideline`` (label names, kind); ``hf`` writes a
    folder ``out/``; ``labelstudio`` also writes its labeling config beside ``out``.

    The suggestion shown is ``model``'s latest or, in a cascade (``stages``), the one each
    item was routed on.
    """
    if fmt not in FORMATS:
        raise LabelloopError(
            f"Unknown export format {fmt!r}: valid formats are {', '.join(FORMATS)}"
        )
    if queue is not None and queue not in QUEUES:
        raise LabelloopError(f"Unknown queue {queue!r}: valid queues are {', '.join(QUEUES)}")
    if fmt in ("labelstudio", "conll") and guideline is None:
        raise LabelloopError(f"the {fmt} export needs the project's guideline")
    if fmt == "labelstudio":
        eco.check_labelstudio(guideline)
    elif fmt == "conll":
        eco.check_conll(guideline)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = store.iter_records(model=model, queue=queue, stages=stages)
    if fmt == "hf":
        return eco.write_hf(out, records, guideline)
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "labelstudio":
            n = eco.write_labelstudio(fh, records, guideline)
        elif fmt == "conll":
            n = eco.write_conll(fh, records)
        else:
            n = _write_jsonl(fh, records) if fmt == "jsonl" else _write_csv(fh, records)
    if fmt == "labelstudio":
        labelstudio_config_path(out).write_text(eco.labelstudio_config(guideline), "utf-8")
    tmp.replace(out)  # a reader never sees half a file
    return n


def labelstudio_config_path(out: str | Path) -> Path:
    """Where the labelstudio export writes its labeling config: ``OUT`` as ``.config.xml``."""
    return Path(out).with_suffix(".config.xml")


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
