"""Export labeled data with provenance, streaming a page at a time.

JSONL and CSV here; Label Studio, Hugging Face (Parquet) and CoNLL in their own modules.

An export of a blind queue (calibration, audit) is work handed to people who must label
without seeing any answer: its rows hold the items alone (text or messages, replies, meta) in
the import-row shape, the label left empty, so the labeled file imports back with
``import --sample``. No suggestion, model, confidence, rationale, route or review is written,
nor the model that wrote each reply of a judging task.

Judging tasks (``kind: pairwise | rating | ranking``) write each item's ``replies`` as an
import row holds them, and the answer under the key that imports it: ``label`` (a reply id or
``tie``), ``ratings`` or ``ranking``. Their CSV holds the conversation, the replies, the
answer and meta as JSON cells, so it imports back to the same items.

A guideline that asks several questions writes its answers keyed by question, each as a
one-question import row writes it: in JSONL ``"labels": {question: answer}`` and
``"label_source": {question: source}`` (a question the routing step auto-accepted is
"model", and never imports back as a review); the suggestion's answers the same way, its
signals as they are; reviews' values as stored (``{"answers": {question: value}}``). Its
CSV holds one column ``q:NAME`` per question (a label name, or JSON for a list or an
object) and ``label_source`` as JSON, and imports back the same way.

A CSV cell a spreadsheet would run as a formula (one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is written with a ``'`` before it, as OWASP advises
against CSV injection; labelloop's CSV import takes that ``'`` off again. JSON is strict:
a NaN a store kept from before imports refused it is written as null.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.core.consensus import rule_of
from labelloop.core.errors import LabelloopError
from labelloop.core.questions import final_answers
from labelloop.core.standing import final_label, review_json, suggestion_json
from labelloop.core.types import (
    DECISIVE,
    QUEUES,
    Guideline,
    Item,
    ItemRecord,
    current_reviews,
)
from labelloop.export import conll, huggingface, labelstudio, values
from labelloop.ingest.readers import csv_cell
from labelloop.review.views import BLIND_QUEUES

if TYPE_CHECKING:
    from labelloop.store import Store

FORMATS = ("jsonl", "csv", "labelstudio", "hf", "conll")
#: the formats ``stream`` writes as text, a row at a time
TEXT_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = [
    "id", "text", "label", "labels", "label_source", "route", "suggested",
    "confidence", "model", "rationale", "reviewers", "reviewed_at",
]  # fmt: skip
#: the columns after the answer in a judging task's CSV (its answer and body come first)
JUDGE_CSV_TAIL = CSV_COLUMNS[4:] + ["meta"]
#: the import key of each task shape's answer (``unit: turn`` answers per turn)
VALUE_KEYS = {
    "single": "label",
    "multi": "labels",
    "spans": "spans",
    "turns": "turns",
    "pairwise": "label",
    "rating": "ratings",
    "ranking": "ranking",
}


def item_json(item: Item) -> dict[str, Any]:
    """The item as an import row holds it: id, text or messages (and target turn), the
    replies of a judging task, meta."""
    row: dict[str, Any] = {"id": item.id}
    if item.text is not None:
        row["text"] = item.text
    else:
        row["messages"] = [m.as_row() for m in item.messages or ()]
        if item.target_turn is not None:
            row["target_turn"] = item.target_turn
    if item.replies is not None:
        row["replies"] = [values.reply_json(r) for r in item.replies]
    if item.meta:
        row["meta"] = item.meta
    return row


def without_models(item: Item) -> Item:
    """The item with its replies' models left out: who wrote a reply is hidden from people
    who judge it."""
    if not item.replies or all(r.model is None for r in item.replies):
        return item
    replies = tuple(r.model_copy(update={"model": None}) for r in item.replies)
    return item.model_copy(update={"replies": replies})


def record_json(record: ItemRecord, guideline: Guideline | None = None) -> dict[str, Any]:
    """One export row: the item, the suggestion, the route, the final label, the reviews."""
    if guideline is not None and guideline.asks_questions:
        return _questions_json(record, guideline)
    row = item_json(record.item)
    row["suggestion"] = suggestion_json(record)
    row["route"] = record.route
    value, source = final_label(record)
    if value is not None:
        row.update(value.as_dict())
    row["label_source"] = source
    row["reviews"] = [review_json(r) for r in record.reviews]
    return row


def _questions_json(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """An export row of a guideline with questions: answers and sources keyed by question."""
    record = values.with_questions(record, guideline)
    row = item_json(record.item)
    row["suggestion"] = values.questions_suggestion(record)
    row["route"] = record.route
    answers, sources = final_answers(record, guideline)
    if answers:
        row["labels"] = values.answers_json(answers)
    row["label_source"] = sources
    row["reviews"] = [review_json(r) for r in record.reviews]
    return row


def question_columns(guideline: Guideline) -> list[str]:
    return [values.QUESTION_COLUMN + q for q in guideline.question_names]


def judges_replies(guideline: Guideline) -> bool:
    """Whether the guideline, or one of its questions, judges an item's replies."""
    return guideline.judges or any(
        q.kind in ("pairwise", "rating", "ranking") for q in guideline.questions
    )


def csv_columns(guideline: Guideline | None) -> list[str]:
    """The CSV export's header: a judging task's holds its items whole (body, replies, meta)
    and its answer under the key that imports it; a conversation task's holds its messages
    as JSON (tool calls and names kept), and per-turn or span answers as JSON, so the file
    imports back whole; a text task's is ``CSV_COLUMNS``. A guideline with ``context:``
    adds ``meta`` (as JSON), where the context its labels were made in is kept."""
    if guideline is None:
        return CSV_COLUMNS
    if guideline.asks_questions:
        replies = ["replies"] if judges_replies(guideline) else []
        return [
            "id",
            *_body_columns(guideline),
            *replies,
            *question_columns(guideline),
            *JUDGE_CSV_TAIL,
        ]
    if guideline.judges:
        return ["id", *_body_columns(guideline), "replies", value_key(guideline), *JUDGE_CSV_TAIL]
    answer = [key for key in ("turns", "spans") if key == value_key(guideline)]
    meta = ["meta"] if guideline.context else []  # the context the labels were made in
    return ["id", *_body_columns(guideline), "label", "labels", *answer, *CSV_COLUMNS[4:], *meta]


def _body_columns(guideline: Guideline) -> list[str]:
    return ["text"] if guideline.unit == "text" else ["messages", "target_turn"]


def csv_row(record: ItemRecord, guideline: Guideline | None = None) -> dict[str, Any]:
    """One CSV export row (``csv_columns``'s cells, before formula escaping)."""
    if guideline is not None and guideline.asks_questions:
        return _questions_csv_row(record, guideline)
    if guideline is not None and guideline.judges:
        return _judge_csv_row(record, guideline)
    value, source = final_label(record)
    s = record.suggestion
    decisive = [r for r in current_reviews(record.reviews) if r.action in DECISIVE]
    body: dict[str, Any] = {"text": record.item.render_plain()}
    if guideline is not None and guideline.unit != "text":
        item = item_json(record.item)
        body = {k: _json_cell(item.get(k)) for k in _body_columns(guideline)}
    answer = value.as_dict() if value is not None else {}
    for key in ("turns", "spans"):
        if guideline is not None and value_key(guideline) == key:
            body[key] = _json_cell(answer.get(key))
    if guideline is not None and guideline.context:
        body["meta"] = _json_cell(record.item.meta or None)
    return {
        "id": record.item.id,
        **body,
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


def _judge_csv_row(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """A judging task's CSV row: the item as JSON cells, the answer, the provenance."""
    generic = csv_row(record)
    item = item_json(record.item)
    value, _ = final_label(record)
    answer = value.as_dict() if value is not None else {}
    key = value_key(guideline)
    row = {k: _json_cell(item.get(k)) for k in ("id", *_body_columns(guideline), "replies")}
    row[key] = _json_cell(answer.get(key))
    row.update({k: generic[k] for k in JUDGE_CSV_TAIL if k in generic})
    row["meta"] = _json_cell(item.get("meta"))
    return row


def _questions_csv_row(record: ItemRecord, guideline: Guideline) -> dict[str, Any]:
    """A CSV row of a guideline with questions: the item, one cell per question, the sources
    as JSON, the provenance, meta."""
    record = values.with_questions(record, guideline)
    generic = csv_row(record)
    item = item_json(record.item)
    columns = ["id", *_body_columns(guideline), *(["replies"] if judges_replies(guideline) else [])]
    row = {k: _json_cell(item.get(k)) for k in columns}
    answers, sources = final_answers(record, guideline)
    for q in guideline.question_names:
        got = answers.get(q)
        cell = values.answer_json(got) if got is not None else None
        row[values.QUESTION_COLUMN + q] = _json_cell(cell)
    row.update({k: generic[k] for k in JUDGE_CSV_TAIL if k in generic})
    row["label_source"] = values.json_text(sources) if sources else ""
    row["meta"] = _json_cell(item.get("meta"))
    return row


def _json_cell(value: Any) -> str:
    """A cell's text: a list or an object as JSON, nothing as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return values.json_text(value)
    return str(value)


def _conf(s) -> float:
    return s.calibrated if s.calibrated is not None else s.confidence


def export(
    store: Store,
    out: str | Path,
    fmt: str = "jsonl",
    queue: str | None = None,
    model: str | None = None,
    stages: Sequence[str] = (),
    guideline: Guideline | None = None,
) -> int:
    """Write every item (or one queue's) to ``out``; returns the number of rows.

    ``labelstudio`` and ``conll`` need the ``guideline`` (label names, kind); ``hf`` writes a
    folder ``out/``; ``labelstudio`` also writes its labeling config beside ``out``; ``conll``
    of a guideline with questions writes one file per span question instead of ``out``
    (``labelloop.export.conll``).

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
        labelstudio.check_labelstudio(guideline)
    elif fmt == "conll":
        conll.check_conll(guideline)
    elif fmt == "hf" and guideline is not None:
        huggingface.check_hf(guideline)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records, blind = export_records(store, fmt, queue, model, stages, guideline)
    if fmt == "hf":
        row = (
            partial(blind_hf_row, columns=huggingface.hf_schema(guideline).names)
            if blind
            else partial(huggingface.hf_row, guideline=guideline)
        )
        return huggingface.write_hf(out, records, guideline, row=row)
    if fmt == "conll" and guideline is not None and guideline.asks_questions:
        return conll.write_conll_questions(out, records, guideline, decided_only=queue is None)
    tmp = out.with_name(out.name + ".part")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            if fmt == "labelstudio":
                n = labelstudio.write_labelstudio(fh, records, guideline)
            elif fmt == "conll":
                n = conll.write_conll(fh, records, decided_only=queue is None)
            else:
                counted = _Counted(records)
                fh.writelines(text_rows(counted, fmt, guideline, blind=blind))
                n = counted.n
    except BaseException:
        tmp.unlink(missing_ok=True)  # nothing half written stays behind
        raise
    if fmt == "labelstudio":
        labelstudio_config_path(out).write_text(labelstudio.labelstudio_config(guideline), "utf-8")
    tmp.replace(out)  # a reader never sees half a file
    return n


def export_records(
    store: Store,
    fmt: str,
    queue: str | None,
    model: str | None,
    stages: Sequence[str],
    guideline: Guideline | None,
) -> tuple[Iterator[ItemRecord], bool]:
    """The records an export writes, read a page at a time, and whether they are a blind
    queue's (the items alone: whatever else a record holds could give the answer away)."""
    blind = queue in BLIND_QUEUES
    if blind and fmt == "csv" and guideline is None:
        raise LabelloopError("the csv export of a blind queue needs the project's guideline")
    records = store.iter_records(
        model=model, queue=queue, stages=stages, consensus=rule_of(guideline)
    )
    if blind:
        return (ItemRecord(item=without_models(r.item)) for r in records), True
    return (values.with_questions(r, guideline) for r in records), False


def stream(
    store: Store,
    fmt: str = "jsonl",
    queue: str | None = None,
    model: str | None = None,
    stages: Sequence[str] = (),
    guideline: Guideline | None = None,
) -> Iterator[str]:
    """A JSONL or CSV export as text, a row at a time (CSV: its header first), for a
    response that streams it; the same rows ``export`` writes to a file."""
    if fmt not in TEXT_FORMATS:
        raise LabelloopError(
            f"Format {fmt!r} cannot be streamed: use one of {', '.join(TEXT_FORMATS)} "
            "(the others are written to files: `labelloop export`)"
        )
    if queue is not None and queue not in QUEUES:
        raise LabelloopError(f"Unknown queue {queue!r}: valid queues are {', '.join(QUEUES)}")
    records, blind = export_records(store, fmt, queue, model, stages, guideline)
    return text_rows(records, fmt, guideline, blind=blind)


def text_rows(
    records: Iterable[ItemRecord], fmt: str, guideline: Guideline | None, *, blind: bool = False
) -> Iterator[str]:
    """Each record as a JSONL line or a CSV row (the CSV header first)."""
    if fmt == "jsonl":
        make = blind_row if blind else record_json
        for rec in records:
            yield values.json_text(make(rec, guideline)) + "\n"
        return
    columns = blind_csv_columns(guideline) if blind else csv_columns(guideline)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    yield _taken(buf)
    for rec in records:
        if blind:
            row = blind_row(rec, guideline)
            writer.writerow({k: _csv_cell(row.get(k)) for k in columns})
        else:
            writer.writerow({k: csv_cell(v) for k, v in csv_row(rec, guideline).items()})
        yield _taken(buf)


def _taken(buf: io.StringIO) -> str:
    text = buf.getvalue()
    buf.seek(0)
    buf.truncate()
    return text


class _Counted:
    """An iterable that counts what was taken from it."""

    def __init__(self, items: Iterable):
        self.items, self.n = items, 0

    def __iter__(self):
        for x in self.items:
            self.n += 1
            yield x


def labelstudio_config_path(out: str | Path) -> Path:
    """Where the labelstudio export writes its labeling config: ``OUT`` as ``.config.xml``."""
    return Path(out).with_suffix(".config.xml")


# -- blind queues: the items alone -----------------------------------------------------------


def value_key(guideline: Guideline) -> str:
    """The import key that holds an answer to the guideline: label, labels, spans, turns,
    ratings or ranking."""
    return VALUE_KEYS["turns" if guideline.unit == "turn" else guideline.kind]


def blind_row(record: ItemRecord, guideline: Guideline | None) -> dict[str, Any]:
    """An import row holding the item alone, its answer key (if known) left empty: with
    questions, ``"labels": {question: null, ...}``."""
    row = item_json(record.item)
    if guideline is not None and guideline.asks_questions:
        row["labels"] = dict.fromkeys(guideline.question_names)
    elif guideline is not None:
        row[value_key(guideline)] = None
    return row


def blind_csv_columns(guideline: Guideline) -> list[str]:
    replies = ["replies"] if judges_replies(guideline) else []
    if guideline.asks_questions:
        return ["id", *_body_columns(guideline), *replies, "meta", *question_columns(guideline)]
    return ["id", *_body_columns(guideline), *replies, "meta", value_key(guideline)]


def blind_hf_row(record: ItemRecord, columns: Sequence[str]) -> dict[str, Any]:
    """A Hugging Face row of the item alone: every label, suggestion and review column null."""
    row = dict.fromkeys(columns)
    item = record.item
    row.update(id=item.id, text=item.text, target_turn=item.target_turn)
    if item.messages:
        row["messages"] = [m.as_row() for m in item.messages]
    if item.replies is not None and "replies" in row:
        row["replies"] = huggingface.replies(item.replies)
    if item.meta:
        row["meta"] = values.json_text(item.meta)
    return row


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return csv_cell(values.json_text(value))
    return csv_cell(str(value))
