"""Streaming readers for import files: one generator per format, each yielding
``(number, row)`` where ``number`` is what a user finds in an editor (a line, a Parquet
row, a Label Studio task) and ``row`` is an import row dict (README.md, "Import formats").

Readers only decode and reshape; checking rows against a guideline is
``labelloop.ingest.importer``'s job.
Memory stays bounded by one line, one Parquet batch or one Label Studio task.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from labelloop.core.errors import ImportFileError
from labelloop.ingest.checks import MAX_DEPTH, shown

FORMATS = ("jsonl", "csv", "parquet", "labelstudio")
ALIASES = {"ndjson": "jsonl", "json": "labelstudio", "label-studio": "labelstudio", "pq": "parquet"}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "labelstudio",
}
#: what the number a reader yields counts, per format
UNITS = {"jsonl": "line", "csv": "line", "parquet": "row", "labelstudio": "task"}
#: CSV columns holding JSON (``labels`` may also be ``a|b|c``)
JSON_COLUMNS = (
    "messages",
    "conversations",
    "spans",
    "turns",
    "annotations",
    "reviews",
    "meta",
    "replies",
    "ratings",
    "ranking",
    "human_judgments",
)
#: how to write a JSON column that is not a list of names
JSON_EXAMPLES = {
    "replies": '[{"id": "a", "content": "..."}, {"id": "b", "content": "..."}]',
    "ratings": '{"a": 4, "b": 2}',
    "ranking": '["b", "a"]',
    "meta": '{"source": "web"}',
    "messages": '[{"role": "user", "content": "..."}]',
}
#: columns of labelloop's hf export that say what a model suggested and how the item was
#: routed: recomputed, never imported (its file is known by ``label_source`` and ``reviews``)
HF_SUGGESTION_COLUMNS = frozenset(
    {
        "suggestion",
        "suggested_label",
        "suggested_labels",
        "suggested_spans",
        "suggested_ratings",
        "suggested_ranking",
        "confidence",
        "model",
        "prompt_version",
        "guideline_version",
        "rationale",
        "route",
    }
)
#: Parquet columns that may hold JSON text (labelloop's hf export writes them so), with the
#: character such text starts with
PARQUET_JSON_TEXT = {"meta": "{", "ratings": "{", "reviews": "[", "replies": "["}
#: Label Studio data fields that show two replies to compare, first and second
LS_PAIRS = (("answer1", "answer2"), ("left", "right"))
#: data fields labelloop's Label Studio export writes beside ``data.replies`` to show them
LS_SHOWN = ("answer1", "answer2", "answers")
#: Label Studio result types that judge replies
LS_JUDGING = ("pairwise", "ranker")
ROW_EXAMPLE = '{"id": "1", "text": "..."}'
#: Label Studio knows annotators by email: a reviewer name that is no email travels as an
#: address at this domain (``.invalid`` is reserved, so it is nobody's real address)
LS_DOMAIN = "labelloop.invalid"
#: what stays as it is in the address's local part; the rest is percent-encoded, so the
#: address survives Label Studio lower-casing emails at sign-up and sign-in
LS_LOCAL_SAFE = frozenset(string.ascii_lowercase + string.digits + "_-.")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CHUNK = 1 << 20
CSV_FIELD_LIMIT = 1 << 24
#: most columns a CSV header or a Parquet file may name (extra fields belong under meta)
MAX_COLUMNS = 1000
BOM = "\ufeff"
#: what a spreadsheet would read as a formula at the start of a cell (OWASP, CSV injection);
#: labelloop's CSV export puts a ``'`` before such a cell, and the CSV reader takes it off
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_FORMULA = re.compile("'+[=+\\-@\t\r]")

Row = tuple[int, dict[str, Any]]


def detect_format(path: str | Path, explicit: str | None = None) -> str:
    """The import format: ``explicit`` if given (checked), else from the file's extension."""
    valid = ", ".join(FORMATS)
    if explicit is not None:
        fmt = ALIASES.get(explicit.lower(), explicit.lower())
        if fmt not in FORMATS:
            raise ImportFileError(
                f"unknown format {explicit!r}; pass --format with one of {valid}", path=str(path)
            )
        return fmt
    fmt = EXTENSIONS.get(Path(path).suffix.lower())
    if fmt is None:
        raise ImportFileError(
            f"cannot tell the format from the extension {Path(path).suffix or '(none)'!r}; "
            f"pass --format with one of {valid}",
            path=str(path),
        )
    return fmt


def where(fmt: str, number: int) -> str:
    """How a user finds a row: 'line 3', 'row 3' (Parquet) or 'task 3' (Label Studio)."""
    return f"{UNITS[fmt]} {number}"


def row_error(path: str | Path, fmt: str, number: int, message: str) -> ImportFileError:
    """An error at one row: ``FILE:N: message``, saying 'row N' / 'task N' where N is no line."""
    if UNITS[fmt] != "line":
        message = f"{where(fmt, number)}: {message}"
    return ImportFileError(message, path=str(path), line=number)


def read_rows(path: str | Path, fmt: str, *, by_question: bool = False) -> Iterator[Row]:
    """Every row of the file in order, as ``(number, row)``. ``by_question``: the guideline
    asks several questions, and a Label Studio annotation's answers are kept apart by the
    control (``from_name``) that gave them."""
    if fmt == "labelstudio":
        return read_labelstudio(path, by_question=by_question)
    readers: dict[str, Callable[[str | Path], Iterator[Row]]] = {
        "jsonl": read_jsonl,
        "csv": read_csv,
        "parquet": read_parquet,
    }
    return readers[fmt](path)


# -- shared --------------------------------------------------------------------------------


def open_binary(path: str | Path) -> BinaryIO:
    """The file opened for reading bytes; a missing or unreadable file is an ImportFileError."""
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ImportFileError("file not found; check the path", path=str(path)) from None
    except IsADirectoryError:
        raise ImportFileError("is a folder, not a file; name one file", path=str(path)) from None
    except PermissionError:
        raise ImportFileError("cannot be read (permission denied)", path=str(path)) from None


def utf8_error(path: str | Path, line: int, offset: int, byte: int) -> ImportFileError:
    """Bad encoding: where the first bad byte is and how to fix it."""
    return ImportFileError(
        f"not UTF-8 text: byte 0x{byte:02x} at offset {offset} of the file; "
        "re-save the file as UTF-8 (in Excel: Save As > CSV UTF-8)",
        path=str(path),
        line=line,
    )


def _decoded_lines(fh: BinaryIO, path: str | Path) -> Iterator[tuple[int, str]]:
    """The file's physical lines, decoded one at a time (a bad byte names its line)."""
    offset = 0
    for number, raw in enumerate(fh, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise utf8_error(path, number, offset + e.start, raw[e.start]) from None
        offset += len(raw)
        yield number, text.removeprefix(BOM) if number == 1 else text


class JsonLimitError(ValueError):
    """JSON Python's reader will not take: nested too deep, or a number too long."""


def json_loads(text: str) -> Any:
    """``json.loads``; beyond what it can read, a JsonLimitError saying what to change."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JsonLimitError(too_deep()) from None
    except ValueError:  # an integer over the digit limit of int(str)
        raise JsonLimitError(too_long_number()) from None


def too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; flatten it"


def too_long_number() -> str:
    return (
        f"a number has more than {sys.get_int_max_str_digits():,} digits; "
        "write long numbers as strings"
    )


def csv_cell(value: str) -> str:
    """A CSV cell as written: a spreadsheet formula starting it is defused with a ``'``
    (as is a ``'`` already before one, so that ``csv_value`` gives back what was written)."""
    if value.startswith(FORMULA_START) or _ESCAPED_FORMULA.match(value):
        return "'" + value
    return value


def csv_value(cell: str) -> str:
    """What a CSV cell holds: one ``'`` before a formula's first character is a
    spreadsheet's text marker (and what ``csv_cell`` adds), not part of the value."""
    return cell[1:] if _ESCAPED_FORMULA.match(cell) else cell


def json_kind(value: Any) -> str:
    """What a JSON value is, in JSON's words ('array', not 'list')."""
    kinds = {dict: "object", list: "array", str: "string", bool: "true/false", type(None): "null"}
    return kinds.get(type(value), "number")


def _flat_columns(row: dict[str, Any]) -> dict[str, Any]:
    """Tabular rows: null cells are absent, ``meta.x`` columns go into ``meta``."""
    out: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if key.startswith("meta."):
            meta[key[5:]] = value
        else:
            out[key] = value
    if meta:
        base = out.get("meta")
        out["meta"] = {**base, **meta} if isinstance(base, dict) else meta
    return out


# -- JSON Lines ----------------------------------------------------------------------------


def read_jsonl(path: str | Path) -> Iterator[Row]:
    """One JSON object a line; blank lines are skipped."""
    with open_binary(path) as fh:
        for number, text in _decoded_lines(fh, path):
            if not text or text.isspace():
                continue
            yield number, _json_object(text, path, number)


def _json_object(text: str, path: str | Path, number: int) -> dict[str, Any]:
    try:
        row = json_loads(text)
    except JsonLimitError as e:
        raise row_error(path, "jsonl", number, str(e)) from None
    except json.JSONDecodeError as e:
        hint = f"each line must be one JSON object such as {ROW_EXAMPLE}"
        if number == 1 and text.lstrip().startswith("["):
            hint = "this is a JSON array, not JSON Lines: pass --format labelstudio"
        raise row_error(
            path, "jsonl", number, f"not valid JSON ({e.msg} at column {e.colno}); {hint}"
        ) from None
    if not isinstance(row, dict):
        raise row_error(
            path,
            "jsonl",
            number,
            f"a JSON {json_kind(row)} is not a row; "
            f"each line must be one JSON object such as {ROW_EXAMPLE}",
        )
    return row


# -- CSV -----------------------------------------------------------------------------------


def read_csv(path: str | Path) -> Iterator[Row]:
    """``id,text[,label]`` with a header line; the number is the line a record starts on."""
    # transcripts exceed the 128 KiB default; a stray quote must not swallow a whole file
    csv.field_size_limit(CSV_FIELD_LIMIT)
    with open_binary(path) as fh:
        reader = csv.reader((text for _, text in _decoded_lines(fh, path)), strict=True)
        records = _csv_records(reader, path)
        header_line, header = next(records, (1, None))
        if header is None:
            return
        columns = _csv_header(header, path, header_line)
        for number, record in records:
            yield number, _csv_row(columns, record, path, number)


def _csv_records(reader, path: str | Path) -> Iterator[tuple[int, list[str]]]:
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise row_error(
                path,
                "csv",
                start,
                f"broken CSV ({e}); put double quotes around "
                "fields that hold commas, quotes or line breaks",
            ) from None
        if any(field.strip() for field in record):
            yield start, record


#: columns that hold what a row labels besides ``text``: a conversation, or the prompt of a
#: judging row (``labelloop.ingest.replies``)
BODY_COLUMNS = frozenset({"messages", "conversations", "prompt"})


def _csv_header(header: list[str], path: str | Path, line: int) -> list[str]:
    if len(header) > MAX_COLUMNS:
        raise row_error(path, "csv", line, too_many_columns(len(header)))
    columns = [csv_value(name.strip()) for name in header]
    names = set(columns)
    missing = [c for c in ("id", "text") if c not in names]
    if names & BODY_COLUMNS and missing == ["text"]:
        missing = []  # a conversation, or a judging row's prompt (checked row by row)
    if missing:
        listed = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        raise row_error(
            path,
            "csv",
            line,
            f"the header has no {missing[0]!r} column (it has "
            f"{listed}); the first line must name the columns, e.g. "
            "id,text,label",
        )
    if len(names) < len(columns):
        seen: set[str] = set()
        dup = next(c for c in columns if c in seen or seen.add(c))
        message = f"the header names column {dup[:60]!r} twice; rename one"
        raise row_error(path, "csv", line, message)
    return columns


def too_many_columns(n: int) -> str:
    return (
        f"{n:,} columns, over the limit of {MAX_COLUMNS:,}; "
        "put extra fields in one 'meta' column holding a JSON object"
    )


def _csv_row(columns: list[str], record: list[str], path: str | Path, line: int) -> dict:
    if len(record) > len(columns):
        raise row_error(
            path,
            "csv",
            line,
            f"the row has {len(record)} fields but the header names "
            f"{len(columns)}; put double quotes around fields that hold commas",
        )
    row: dict[str, Any] = {}
    for name, cell in zip(columns, record, strict=False):
        value = csv_value(cell)
        if name in ("id", "text"):
            row[name] = value
        elif name == "label_source":  # marks a labelloop export, even where it is empty
            row[name] = value.strip()
        elif value.strip():
            row[name] = _csv_value(name, value.strip(), path, line)
    return _flat_columns(row)


def _csv_value(name: str, value: str, path: str | Path, line: int) -> Any:
    if name == "labels" and not value.startswith("["):
        return [v.strip() for v in value.split("|") if v.strip()]
    if name in JSON_COLUMNS or name == "labels":
        try:
            return json_loads(value)
        except JsonLimitError as e:
            raise row_error(path, "csv", line, f"column {name!r}: {e}") from None
        except json.JSONDecodeError as e:
            example = JSON_EXAMPLES.get(name, '["a", "b"]')
            raise row_error(
                path,
                "csv",
                line,
                f"column {name!r} is not valid JSON ({e.msg} at column {e.colno} of the "
                f"cell); write it as JSON, e.g. {example}",
            ) from None
    if name == "target_turn":
        try:
            return int(value)
        except ValueError:
            return value  # ingest says what target_turn must be
    return value


# -- Parquet -------------------------------------------------------------------------------


def read_parquet(path: str | Path, batch_size: int = 2048) -> Iterator[Row]:
    """Rows read a batch at a time; the number is the 1-based row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    open_binary(path).close()  # the same not-found message as other formats
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise ImportFileError(
            f"not a Parquet file ({e}); check the file, or pass --format", path=str(path)
        ) from None
    with pf:
        if len(pf.schema_arrow) > MAX_COLUMNS:
            raise ImportFileError(
                f"the file has {too_many_columns(len(pf.schema_arrow))}", path=str(path)
            )
        odd = [f.name for f in pf.schema_arrow if _not_json(f.type)]
        names = set(pf.schema_arrow.names)
        hf_export = {"label_source", "reviews"} <= names
        number = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                number += 1
                yield number, _parquet_row(row, odd, path, number, hf_export)


def _parquet_row(
    row: dict[str, Any], odd: list[str], path: str | Path, number: int, hf_export: bool = False
) -> dict:
    """A Parquet row as an import row; one of labelloop's hf export without the columns
    that say what a model suggested (its reviews carry the people's answers)."""
    for name in odd:
        row[name] = _plain(row[name], name, path, number)
    for name in ("meta", "ratings"):
        if isinstance(row.get(name), list):  # a Parquet map arrives as (key, value) pairs
            row[name] = _pairs(row[name])
    for name, start in PARQUET_JSON_TEXT.items():
        value = row.get(name)
        if isinstance(value, str) and value.lstrip().startswith(start):
            row[name] = _parquet_json(value, name, path, number)
    for name in ("replies", "ratings"):  # structs: a field a reply lacks is null
        if isinstance(row.get(name), list | dict):
            row[name] = _no_nulls(row[name])
    if hf_export:
        row = {k: v for k, v in row.items() if k not in HF_SUGGESTION_COLUMNS}
    return _flat_columns(row)


def _pairs(value: list) -> Any:
    """A Parquet map's (key, value) pairs as a dict; any other list as it is."""
    if all(isinstance(p, tuple) and len(p) == 2 for p in value):
        return dict(value)
    return value


def _parquet_json(text: str, name: str, path: str | Path, number: int) -> Any:
    try:
        return json_loads(text)
    except JsonLimitError as e:
        raise row_error(path, "parquet", number, f"column {name!r}: {e}") from None
    except json.JSONDecodeError as e:
        if name == "meta":
            return text  # left as it is: ingest says what meta must be
        example = JSON_EXAMPLES.get(name, "[]")
        raise row_error(
            path,
            "parquet",
            number,
            f"column {name!r} is not valid JSON ({e.msg}); write it as JSON, e.g. {example}",
        ) from None


def _no_nulls(value: Any) -> Any:
    """A struct's fields without the null ones (nested structs too)."""
    if isinstance(value, dict):
        return {k: _no_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_no_nulls(v) for v in value]
    return value


def _not_json(t) -> bool:
    """Column types whose values JSON cannot hold as they are (times, decimals, bytes)."""
    import pyarrow as pa

    return pa.types.is_temporal(t) or pa.types.is_decimal(t) or _is_bytes(t)


def _is_bytes(t) -> bool:
    import pyarrow as pa

    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _plain(value: Any, column: str, path: str | Path, number: int) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            message = f"column {column!r} is not UTF-8 text; write it as a string column"
            raise row_error(path, "parquet", number, message) from None
    if value is None or isinstance(value, str | int | float):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return float(value)  # a Decimal


# -- Label Studio --------------------------------------------------------------------------


def read_labelstudio(path: str | Path, *, by_question: bool = False) -> Iterator[Row]:
    """A JSON array of Label Studio tasks (or of plain import rows), read task by task."""
    with open_binary(path) as fh:
        for number, task in _JsonArray(_text_chunks(fh, path), path):
            yield number, labelstudio_row(task, path, number, by_question=by_question)


def labelstudio_row(
    task: Any, path: str | Path, number: int, *, by_question: bool = False
) -> dict[str, Any]:
    """A Label Studio task as an import row: ``data`` gives the item, ``annotations`` reviews.

    Predictions are never reviews, so they are dropped; cancelled annotations too.

    A judging task's replies are ``data.replies`` as an import row holds them (labelloop's
    export writes them so), or, in a task marked as judging (a Pairwise or Ranker result, or
    a ``data.prompt``), two texts ``data.answer1``/``data.answer2`` (or ``left``/``right``:
    replies ``a`` and ``b``) or a ``<List>``'s items ``[{"id", "title", "body"}]``. The
    conversation is ``data.prompt`` (one user message), ``data.dialogue`` or ``data.text``.
    A Pairwise result's ``left`` is the first reply, ``right`` the second.

    ``by_question`` (a guideline with several questions, one control each): an annotation's
    answers are ``"answers": {from_name: {"choices"|"spans"|"label"|"ranking": ...}}``, each
    control's results apart, for the import to read as the answer to the question the
    control is named after.
    """
    if not isinstance(task, dict):
        raise row_error(
            path,
            "labelstudio",
            number,
            f"a JSON {json_kind(task)} is not a "
            "task; the file must be a JSON array of task objects",
        )
    data = task.get("data")
    if data is None:
        return task  # a plain import row in a JSON array
    if not isinstance(data, dict):
        message = (
            f"'data' is a JSON {json_kind(data)}; a task holds its item in an object, "
            'e.g. {"data": {"text": "..."}}'
        )
        raise row_error(path, "labelstudio", number, message)
    replies, shown_in = _ls_replies(data, task)
    rest = {k: v for k, v in data.items() if k not in shown_in}
    body = _ls_body_key(rest, path, number, judging=replies is not None)
    row: dict[str, Any] = {"id": data.get("id", task.get("id"))}
    value = data[body]
    if isinstance(value, list):
        row["messages"] = _ls_messages(value)
        if "target_turn" in data:
            row["target_turn"] = data["target_turn"]
    elif body == "prompt" and replies is not None:
        row["prompt"] = value  # the import makes it the conversation's user message
    else:
        row["text"] = value
    if replies is not None:
        row["replies"] = replies
    moved = ("id", body, *shown_in, *(("target_turn",) if "messages" in row else ()))
    if body == "messages" and isinstance(data.get("dialogue"), list):
        moved += ("dialogue",)  # labelloop's export: the view of the messages kept beside them
    meta = {k: v for k, v in data.items() if k not in moved}
    if isinstance(task.get("meta"), dict):
        meta.update(task["meta"])
    if meta:
        row["meta"] = meta
    reply_ids = [str(r.get("id")) for r in replies] if replies is not None else None
    try:
        annotations = _ls_annotations(task, reply_ids, by_question)
    except _ShapeError as e:
        raise row_error(path, "labelstudio", number, str(e)) from None
    if annotations:
        row["annotations"] = annotations
    return row


class _ShapeError(ValueError):
    """A Label Studio annotation not in the shape Label Studio exports."""


def _ls_replies(data: dict[str, Any], task: dict[str, Any]) -> tuple[list | None, tuple]:
    """A judging task's replies (None for any other task) and the data fields that held or
    showed them."""
    replies = data.get("replies")
    if _reply_rows(replies):
        return replies, ("replies", *(k for k in LS_SHOWN if k in data))
    if "prompt" not in data and not _ls_judged(task):
        return None, ()  # fields such as answer1/answer2 of another kind of task stay meta
    for first, second in LS_PAIRS:
        if isinstance(data.get(first), str) and isinstance(data.get(second), str):
            pair = [{"id": "a", "content": data[first]}, {"id": "b", "content": data[second]}]
            return pair, (first, second)
    for key, value in data.items():
        if _list_items(value):
            items = [{"id": str(v["id"]), "content": v.get("body", v.get("title"))} for v in value]
            return items, (key,)
    return None, ()


def _reply_rows(value: Any) -> bool:
    """Whether ``value`` is replies as an import row holds them: objects with an id and a
    content or messages."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(r, dict) and "id" in r and ("content" in r or "messages" in r) for r in value
        )
    )


def _list_items(value: Any) -> bool:
    """Whether ``value`` is the items of a Label Studio ``<List>``: ``{"id", "title", "body"}``."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(v, dict)
            and v.get("id") is not None
            and isinstance(v.get("body", v.get("title")), str)
            for v in value
        )
    )


def _ls_judged(task: dict[str, Any]) -> bool:
    """Whether an annotation or a prediction of the task holds a Pairwise or Ranker result."""
    for key in ("annotations", "completions", "predictions"):
        listed = task.get(key)
        for ann in listed if isinstance(listed, list) else ():
            results = ann.get("result") if isinstance(ann, dict) else None
            for r in results if isinstance(results, list) else ():
                if isinstance(r, dict) and r.get("type") in LS_JUDGING:
                    return True
    return False


def _ls_annotations(
    task: dict[str, Any], reply_ids: list[str] | None, by_question: bool = False
) -> list[dict[str, Any]]:
    """The task's annotations (``completions`` in exports before Label Studio 1.0)."""
    key = "annotations" if "annotations" in task or "completions" not in task else "completions"
    listed = task.get(key)
    if listed is None:
        return []
    if not isinstance(listed, list):
        raise _ShapeError(
            f"{key!r} is a JSON {json_kind(listed)}; Label Studio exports it as a list of "
            "annotation objects: export the tasks from Label Studio again, or fix it"
        )
    out = []
    for i, ann in enumerate(listed, 1):
        if not isinstance(ann, dict):
            raise _ShapeError(
                f"annotation {i} is a JSON {json_kind(ann)}, not an object with a 'result' "
                "list; export the tasks from Label Studio again, or fix it"
            )
        converted = _ls_annotation(ann, i, reply_ids, by_question)
        if converted is not None:
            out.append(converted)
    return out


def _ls_body_key(data: dict, path: str | Path, number: int, judging: bool = False) -> str:
    for key in ("text", "messages", "dialogue", *(("prompt",) if judging else ())):
        if key in data:
            return key
    strings = [k for k, v in data.items() if isinstance(v, str) and k != "id"]
    if len(strings) == 1:
        return strings[0]
    what = "prompt the replies answer" if judging else "text"
    name = "'prompt' (or 'text')" if judging else "'text'"
    raise row_error(
        path,
        "labelstudio",
        number,
        f"cannot tell which field of 'data' holds the "
        f"{what} (fields: {', '.join(data) or 'none'}); name it {name}",
    )


def _ls_messages(value: list) -> list:
    """Label Studio dialogues name the speaker ``author``; labelloop calls it ``role``."""
    return [
        {
            **{k: v for k, v in m.items() if k not in ("author", "text")},
            "role": m.get("role", m.get("author")),
            "content": m.get("content", m.get("text")),
        }
        if isinstance(m, dict)
        else m
        for m in value
    ]


def _ls_annotation(
    ann: dict[str, Any], i: int, reply_ids: list[str] | None = None, by_question: bool = False
) -> dict[str, Any] | None:
    """An annotation as ``{"reviewer", "choices"|"spans"|"label"|"ranking", "time"}`` (a
    Pairwise result is ``label``, the reply id of the side chosen in ``reply_ids``; a Ranker
    result is ``ranking``); an empty result (nothing chosen, no region) as ``{"reviewer",
    "empty": True, ...}``: a decision that holds no spans, or no labels, which ingest reads
    in the guideline's shape. A cancelled one, and one holding only regions of other tags (a
    text area, a rating), is no label: None. ``by_question``: the answers are kept apart by
    control, ``{"reviewer", "answers": {from_name: {...}}, "time"}``."""
    if ann.get("was_cancelled"):
        return None
    results = ann.get("result")
    if results is None:
        results = []
    if not isinstance(results, list):
        raise _ShapeError(
            f"annotation {i}: 'result' is a JSON {json_kind(results)}; Label Studio "
            'exports it as a list of regions such as {"value": {"choices": ["NAME"]}}'
        )
    choices: list[Any] = []
    spans: list[dict[str, Any]] = []
    judged: dict[str, Any] = {}  # a Pairwise result's label, a Ranker result's ranking
    controls: dict[str, dict[str, Any]] = {}  # by_question: each control's answer
    other = False  # a region of another tag (a text area, a rating): not a label decision
    for j, result in enumerate(results, 1):
        value = result.get("value") if isinstance(result, dict) else None
        if _other_region(result):  # a relation between regions has no value
            other = True
            continue
        if not isinstance(value, dict):
            raise _ShapeError(
                f"annotation {i}, result {j} has no 'value' object; Label Studio writes "
                'each region as {"value": {"choices": ["NAME"]}} or {"value": {"start": 0, '
                '"end": 5, "labels": ["NAME"]}}'
            )
        name = result.get("from_name")
        control = controls.setdefault(name if isinstance(name, str) else "", {})
        if "choices" in value:
            found = _ls_names(value["choices"], "choices", i, j)
            choices.extend(found)
            control.setdefault("choices", []).extend(found)
        elif "labels" in value:
            found = _ls_spans(value, i, j)
            spans.extend(found)
            control.setdefault("spans", []).extend(found)
        elif result.get("type") == "pairwise" or "selected" in value:
            side = _ls_side(value.get("selected"), reply_ids, i, j)
            _judged(judged, "label", side, i)
            _judged(control, "label", side, i)
        elif result.get("type") == "ranker" or "ranker" in value:
            ranked = _ls_ranking(value.get("ranker"), result, i, j)
            _judged(judged, "ranking", ranked, i)
            _judged(control, "ranking", ranked, i)
        else:
            other = True
    if not choices and not spans and not judged and other:
        return None
    out: dict[str, Any] = {"reviewer": _ls_reviewer(ann.get("completed_by"))}
    if by_question:
        answers = {name: got for name, got in controls.items() if got}
        if answers:
            out["answers"] = answers
    else:
        if choices:
            out["choices"] = choices
        if spans:
            out["spans"] = spans
        out.update(judged)
    if not choices and not spans and not judged:
        out["empty"] = True
    time = ann.get("updated_at") or ann.get("created_at")
    return {**out, "time": time} if time else out


def _other_region(result: Any) -> bool:
    """A region of a tag that holds no label and has no ``value`` (a relation)."""
    return (
        isinstance(result, dict)
        and "value" not in result
        and result.get("type") not in (None, "choices", "labels", *LS_JUDGING)
    )


def _judged(judged: dict[str, Any], key: str, value: Any, i: int) -> None:
    if key in judged and judged[key] != value:
        tag = "Pairwise" if key == "label" else "Ranker"
        raise _ShapeError(f"annotation {i} has two {tag} results that differ; keep one")
    judged[key] = value


def _ls_side(selected: Any, reply_ids: list[str] | None, i: int, j: int) -> str:
    """The reply id a Pairwise result chose: ``left`` is the first reply, ``right`` the second."""
    if reply_ids is None or len(reply_ids) != 2:
        raise _ShapeError(
            f"annotation {i}, result {j} is a Pairwise choice, but the task does not hold two "
            "replies: put them in data.answer1 and data.answer2 (or data.replies)"
        )
    if selected not in ("left", "right"):
        raise _ShapeError(
            f"annotation {i}, result {j}: the Pairwise choice is {shown(selected)}; Label "
            'Studio writes {"selected": "left"} or {"selected": "right"}'
        )
    return reply_ids[0] if selected == "left" else reply_ids[1]


def _ls_ranking(ranker: Any, result: dict[str, Any], i: int, j: int) -> list[str]:
    """The reply ids a Ranker result orders, best first: its list under the tag's name."""
    example = '{"ranker": {"NAME": ["b", "a"]}}'
    if not isinstance(ranker, dict):
        raise _ShapeError(
            f"annotation {i}, result {j}: the Ranker value is a JSON {json_kind(ranker)}; "
            f"Label Studio writes {example}"
        )
    name = result.get("from_name")
    if isinstance(name, str) and name in ranker:
        ranked = ranker[name]
    elif len(ranker) == 1:
        ranked = next(iter(ranker.values()))
    else:
        raise _ShapeError(
            f"annotation {i}, result {j}: the Ranker result sorts the replies into buckets "
            f"({', '.join(map(str, ranker))}), not one order; use a Ranker without <Bucket> "
            "tags, whose result is one list of reply ids, best first"
        )
    if not isinstance(ranked, list):
        raise _ShapeError(
            f"annotation {i}, result {j}: the Ranker's order is a JSON {json_kind(ranked)}; "
            f"Label Studio writes {example}"
        )
    return [str(r) for r in ranked]


def _ls_names(value: Any, key: str, i: int, j: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _ShapeError(
            f"annotation {i}, result {j}: {key!r} is a JSON {json_kind(value)}; Label Studio "
            f'writes it as a list of names, e.g. "{key}": ["NAME"]'
        )
    return value


def _ls_spans(value: dict[str, Any], i: int, j: int) -> list[dict[str, Any]]:
    base = {"start": value.get("start"), "end": value.get("end")}
    if isinstance(value.get("text"), str):
        base["text"] = value["text"]
    return [{**base, "label": name} for name in _ls_names(value["labels"], "labels", i, j)]


def _ls_reviewer(completed_by: Any) -> str | None:
    """Label Studio names annotators by user id, or by a user object in some exports."""
    if isinstance(completed_by, dict):
        for key in ("email", "username", "id"):
            if completed_by.get(key) not in (None, ""):
                return _ls_reviewer(completed_by[key])
        return None
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"ls-user-{completed_by}"
    if isinstance(completed_by, str) and completed_by:
        return reviewer_of_email(completed_by)
    return None


def ls_email(reviewer: str) -> str:
    """The email Label Studio knows a reviewer by: an email stays as it is; any other name
    is ``NAME@labelloop.invalid``, NAME percent-encoded where it is not a-z, 0-9, ``_``,
    ``-`` or a dot inside it (``Ann B`` is ``%41nn%20%42@labelloop.invalid``)."""
    if EMAIL.fullmatch(reviewer):
        return reviewer
    local = "".join(
        c if c in LS_LOCAL_SAFE and not _stray_dot(reviewer, i) else _percent(c)
        for i, c in enumerate(reviewer)
    )
    return f"{local}@{LS_DOMAIN}"


def reviewer_of_email(email: str) -> str:
    """The reviewer an email names: ``NAME@labelloop.invalid`` is NAME, any other email
    itself (``ls_email`` the other way round)."""
    local, at, domain = email.rpartition("@")
    if at and local and domain.lower() == LS_DOMAIN:
        return unquote(local)
    return email


def _stray_dot(name: str, i: int) -> bool:
    """A dot an email's local part cannot hold: first, last, or right after another."""
    return name[i] == "." and (i == 0 or i == len(name) - 1 or name[i - 1] == ".")


def _percent(c: str) -> str:
    # lower-case hex: the whole address is lower case, as Label Studio stores it
    return "".join(f"%{b:02x}" for b in c.encode("utf-8"))


def _text_chunks(fh: BinaryIO, path: str | Path) -> Iterator[str]:
    """The file as UTF-8 text in chunks; a bad byte is reported with its line."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    done = lines = 0
    first = True
    while True:
        raw = fh.read(CHUNK)
        try:
            text = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as e:
            pending = len(e.object) - len(raw)
            line = lines + e.object.count(b"\n", 0, e.start) + 1
            raise utf8_error(path, line, done - pending + e.start, e.object[e.start]) from None
        if first:
            text, first = text.removeprefix(BOM), False
        if text:
            yield text
        if not raw:
            return
        done += len(raw)
        lines += raw.count(b"\n")


def _cut_off(e: json.JSONDecodeError) -> bool:
    """Whether a decode error may just be the end of the buffer rather than broken JSON."""
    return e.pos >= len(e.doc) - 8 or e.msg.startswith("Unterminated string")


_NONSPACE = re.compile(r"\S")
_DECODER = json.JSONDecoder()


class _JsonArray:
    """Decodes the values of a top-level JSON array one at a time from text chunks."""

    def __init__(self, chunks: Iterator[str], path: str | Path):
        self.chunks, self.path = chunks, path
        self.buf, self.pos, self.line_base = "", 0, 0

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        first = self._peek()
        if first == "{":  # a single task
            yield 1, self._value(1)
            if self._peek():
                self._fail(
                    1, "more than one JSON value: this looks like JSON Lines; pass --format jsonl"
                )
            return
        if first and first != "[":
            self._fail(
                1,
                "not a JSON array of tasks; export tasks from Label Studio as JSON, "
                "or pass --format jsonl for one object a line",
            )
        self.pos += 1
        number = 0
        while first and (c := self._peek()) != "]":
            if number:
                if c != ",":
                    self._fail(
                        number,
                        f"expected ',' or ']' after task {number} "
                        f"(line {self._line()}); the JSON is broken",
                    )
                self.pos += 1
                self._peek()  # raw_decode does not skip leading whitespace
            number += 1
            yield number, self._value(number)

    def _more(self, want: int = 1) -> bool:
        """Append at least ``want`` characters of text (fewer at the end); False at EOF."""
        if self.pos > CHUNK:
            self.line_base += self.buf.count("\n", 0, self.pos)
            self.buf, self.pos = self.buf[self.pos :], 0
        added = 0
        for chunk in self.chunks:
            self.buf += chunk
            added += len(chunk)
            if added >= want:
                break
        return added > 0

    def _peek(self) -> str:
        """The next non-space character ('' at the end), leaving ``pos`` on it."""
        while True:
            m = _NONSPACE.search(self.buf, self.pos)
            if m:
                self.pos = m.start()
                return m.group()
            self.pos = len(self.buf)
            if not self._more():
                return ""

    def _value(self, number: int) -> Any:
        while True:
            try:
                value, self.pos = _DECODER.raw_decode(self.buf, self.pos)
                return value
            except RecursionError:
                self._fail(number, too_deep())
            except json.JSONDecodeError as e:
                # a value cut off by the buffer's end fails too: read twice as much, retry
                if not _cut_off(e) or not self._more(max(CHUNK, len(self.buf) - self.pos)):
                    line = self.line_base + e.lineno
                    self._fail(
                        number,
                        f"not valid JSON ({e.msg} at line {line} column "
                        f"{e.colno}); fix the file or export it again",
                    )
            except ValueError:  # an integer over the digit limit of int(str)
                self._fail(number, too_long_number())

    def _line(self) -> int:
        return self.line_base + self.buf.count("\n", 0, self.pos) + 1

    def _fail(self, number: int, message: str):
        raise row_error(self.path, "labelstudio", number, message)
