"""Exports for other tools: Label Studio JSON, a Hugging Face dataset (Parquet), CoNLL/BIO.

Every writer takes the store's record stream and writes as it reads, so memory stays bounded
by one record (Label Studio, CoNLL) or one Parquet batch (Hugging Face).

Label Studio: ``OUT`` is a JSON array of tasks and ``OUT`` with suffix ``.config.xml`` the
labeling config whose tag names the results use. Text items are ``data.text`` (a ``<Text>``
tag); conversations are ``data.dialogue``, a list of ``{"author", "text"}`` as Label
Studio's ``<Paragraphs layout="dialogue" nameKey="author" textKey="text">`` expects. The
routing suggestion is the task's one prediction (``model_version``, ``score``); each
reviewer's latest decisive review is an annotation, "no spans" and "no labels" included
(an empty ``result``, as Label Studio saves a submission with nothing marked). A
single-label config's ``<Choices>`` is ``required``: an empty result there would hold no
label, and the import skips it.

``completed_by`` is what Label Studio's import accepts: ``{"email": ...}``, or a user id.
Label Studio resolves either to one of its users and refuses the file if it has none
(unless ``LABEL_STUDIO_ALLOW_IMPORT_TASKS_WITH_UNKNOWN_EMAILS`` is set; it then credits
the importing user). A reviewer named by an email keeps it; one imported from Label Studio
as ``ls-user-N`` is user id N again; any other name ``NAME`` is the email
``NAME@labelloop.invalid`` (a reserved domain; ``agent.readers.ls_email`` percent-encodes
what an address cannot hold and upper-case letters, which Label Studio lower-cases), and
labelloop's Label Studio import maps such an email back to ``NAME``. So the file imports
back into labelloop, directly or through a Label Studio that has those users, with the
same reviewers and values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from agent.errors import LabelloopError
from agent.readers import ls_email
from agent.standing import final_label, review_json, suggestion_json
from agent.store import ItemRecord
from agent.types import DECISIVE, Guideline, Item, LabelValue, Review, Span, current_reviews

LS_USER = re.compile(r"ls-user-(\d+)")
FROM_NAME = "label"
TOKEN = re.compile(r"\S+")
HF_BATCH = 1000


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


# -- Label Studio --------------------------------------------------------------------------


def check_labelstudio(guideline: Guideline) -> None:
    """Refuse the shapes Label Studio's simple tags cannot hold without loss."""
    if guideline.unit == "turn":
        raise LabelloopError(
            "labelstudio export does not support unit: turn (per-turn labels); use --format jsonl"
        )
    if guideline.kind == "spans" and guideline.unit != "text":
        raise LabelloopError(
            "labelstudio export of spans needs unit: text; use --format jsonl for conversations"
        )


def labelstudio_config(guideline: Guideline) -> str:
    """The ``<View>`` labeling config matching the exported tasks' tag names."""
    to_name = _ls_to_name(guideline)
    if guideline.unit == "text":
        obj = '  <Text name="text" value="$text"/>'
    else:
        obj = (
            '  <Paragraphs name="dialogue" value="$dialogue" layout="dialogue"'
            ' nameKey="author" textKey="text"/>'
        )
    if guideline.kind == "spans":
        inner = "\n".join(f"    <Label value={quoteattr(n)}/>" for n in guideline.label_names)
        control = f'  <Labels name="{FROM_NAME}" toName="{to_name}">\n{inner}\n  </Labels>'
    else:
        # a single-label answer needs its one label ("no labels" is a multi-label answer)
        single = 'choice="single" required="true"'
        choice = single if guideline.kind == "single" else 'choice="multiple"'
        inner = "\n".join(f"    <Choice value={quoteattr(n)}/>" for n in guideline.label_names)
        control = (
            f'  <Choices name="{FROM_NAME}" toName="{to_name}" {choice}>\n{inner}\n  </Choices>'
        )
    return f"<View>\n{obj}\n{control}\n</View>\n"


def _ls_to_name(guideline: Guideline) -> str:
    return "text" if guideline.unit == "text" else "dialogue"


def ls_result(value: LabelValue | None, item: Item, to_name: str) -> list[dict[str, Any]] | None:
    """A label value as Label Studio result regions: ``[]`` for no spans or no labels, None
    for what Label Studio cannot hold (no value, a model's abstention, per-turn labels)."""
    if value is None or value.abstain:
        return None
    base = {"from_name": FROM_NAME, "to_name": to_name}
    if value.label is not None:
        return [{"id": "r0", **base, "type": "choices", "value": {"choices": [value.label]}}]
    if value.labels is not None:
        choices = {"choices": list(value.labels)}
        return [{"id": "r0", **base, "type": "choices", "value": choices}] if value.labels else []
    if value.spans is not None:
        return [
            {
                "id": f"r{i}",
                **base,
                "type": "labels",
                "value": _ls_span(s),
            }
            for i, s in enumerate(value.spans)
        ]
    return None


def _ls_span(s: Span) -> dict[str, Any]:
    # the covered text only where labelloop has one: Label Studio reads it from the offsets
    out: dict[str, Any] = {"start": s.start, "end": s.end, "labels": [s.label]}
    return {**out, "text": s.text} if s.text is not None else out


def completed_by(reviewer: str) -> int | dict[str, str]:
    """How Label Studio names a reviewer: its user id for ``ls-user-N``, else an email
    (``agent.readers`` reads each form back)."""
    m = LS_USER.fullmatch(reviewer)
    if m:
        return int(m.group(1))
    return {"email": ls_email(reviewer)}


def ls_annotations(record: ItemRecord, to_name: str) -> list[dict[str, Any]]:
    """Each reviewer's latest decisive review, in first-review order (one whose value Label
    Studio cannot hold, such as an abstention, is left out rather than an older one shown)."""
    latest: dict[str, Review] = {}
    for r in current_reviews(record.reviews):
        if r.action in DECISIVE and r.value is not None:
            latest.pop(r.reviewer, None)
            latest[r.reviewer] = r
    out = []
    for r in latest.values():
        result = ls_result(r.value, record.item, to_name)
        if result is None:
            continue
        ann: dict[str, Any] = {
            "completed_by": completed_by(r.reviewer),
            "result": result,
            "was_cancelled": False,
            "ground_truth": False,
            "created_at": r.created_at.isoformat(),
            "updated_at": r.created_at.isoformat(),
            "lead_time": r.duration_ms / 1000 if r.duration_ms is not None else None,
        }
        out.append(ann)
    return out


def ls_task(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """One Label Studio task: data, the suggestion as a prediction, reviews as annotations."""
    item = record.item
    to_name = _ls_to_name(guideline)
    data: dict[str, Any] = {"id": item.id}
    if item.text is not None:
        data["text"] = item.text
    else:
        data["dialogue"] = [{"author": m.role, "text": m.content} for m in item.messages or ()]
        if item.target_turn is not None:
            data["target_turn"] = item.target_turn
    task: dict[str, Any] = {"data": data}
    if item.meta:
        task["meta"] = item.meta
    predictions = []
    s = record.suggestion
    if s is not None and s.value is not None:
        result = ls_result(s.value, item, to_name)
        score = s.calibrated if s.calibrated is not None else s.confidence
        if result is not None:
            for region in result:
                region["score"] = score
            predictions.append({"model_version": s.model, "score": score, "result": result})
    task["predictions"] = predictions
    task["annotations"] = ls_annotations(record, to_name)
    return task


def write_labelstudio(fh, records: Iterable[ItemRecord], guideline: Guideline) -> int:
    """Stream a JSON array of tasks to ``fh``; returns the number of tasks."""
    fh.write("[")
    n = 0
    for rec in records:
        fh.write(",\n" if n else "\n")
        fh.write(json_text(ls_task(rec, guideline)))
        n += 1
    fh.write("\n]\n")
    return n


# -- Hugging Face (Parquet) ----------------------------------------------------------------


def hf_schema():
    import pyarrow as pa

    span = pa.struct(
        [("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("text", pa.string()),
            ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
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
    )


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
    return {
        "id": item.id,
        "text": item.text,
        "messages": [m.model_dump() for m in item.messages] if item.messages else None,
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
    schema = hf_schema()
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


# -- CoNLL / BIO ---------------------------------------------------------------------------


def check_conll(guideline: Guideline) -> None:
    if guideline.kind != "spans":
        raise LabelloopError(
            f"conll export needs a span guideline (kind: spans); task {guideline.task!r} "
            f"is kind: {guideline.kind}; use --format jsonl or csv"
        )


def bio_tags(text: str, spans: Iterable[Span]) -> list[tuple[str, int, int, str]]:
    """Whitespace tokens of ``text`` as ``(token, start, end, tag)``; a token in a span is
    tagged ``B-``/``I-`` its label (the earliest span wins where spans overlap)."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    out: list[tuple[str, int, int, str]] = []
    prev: Span | None = None
    for m in TOKEN.finditer(text):
        start, end = m.span()
        hit = _overlapping(ordered, start, end) if ordered else None
        if hit is None:
            tag = "O"
        else:
            tag = f"{'I' if hit is prev else 'B'}-{hit.label}"
        prev = hit
        out.append((m.group(), start, end, tag))
    return out


def _overlapping(ordered: list[Span], start: int, end: int) -> Span | None:
    return next((s for s in ordered if start < s.end and end > s.start), None)


def write_conll(fh, records: Iterable[ItemRecord]) -> int:
    """``# id = ...`` and ``# text = ...`` comments, one ``token<TAB>TAG`` line a token, a
    blank line between items. Items without a final label are written all ``O`` with
    ``# label_source = none``."""
    n = 0
    for rec in records:
        text = rec.item.render_plain()
        value, source = final_label(rec)
        spans = value.spans or () if value else ()
        lines = [
            f"# id = {rec.item.id}\n",
            f"# text = {_one_line(text)}\n",
            f"# label_source = {source or 'none'}\n",
            *(f"{token}\t{tag}\n" for token, _, _, tag in bio_tags(text, spans)),
            "\n",
        ]
        fh.write("".join(lines))  # one write an item, not one a token
        n += 1
    return n


def _one_line(text: str) -> str:
    # same length, same whitespace positions: token offsets stay valid
    return re.sub(r"\s", " ", text)


def read_conll(path: str | Path) -> Iterator[dict[str, Any]]:
    """Parse a CoNLL export back: ``{"id", "text", "label_source", "spans"}`` per item, the
    spans' offsets taken from the ``# text`` line's whitespace tokens."""
    with open(path, encoding="utf-8") as fh:
        block: list[str] = []
        for line in fh:
            line = line.rstrip("\n")
            if line:
                block.append(line)
            elif block:
                yield _conll_item(block)
                block = []
        if block:
            yield _conll_item(block)


def _conll_item(lines: list[str]) -> dict[str, Any]:
    meta = {}
    tags = []
    for line in lines:
        if line.startswith("# ") and " = " in line:
            key, _, val = line[2:].partition(" = ")
            meta[key] = val
        else:
            tags.append(line.rsplit("\t", 1)[1])
    tokens = list(TOKEN.finditer(meta.get("text", "")))
    spans: list[dict[str, Any]] = []
    for m, tag in zip(tokens, tags, strict=True):
        if tag == "O":
            continue
        kind, _, label = tag.partition("-")
        if kind == "I" and spans and spans[-1]["label"] == label:
            spans[-1]["end"] = m.end()
        else:
            spans.append({"start": m.start(), "end": m.end(), "label": label})
    return {
        "id": meta.get("id"),
        "text": meta.get("text"),
        "label_source": meta.get("label_source"),
        "spans": spans,
    }
