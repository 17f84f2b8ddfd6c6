"""Streaming readers for import files: one generator per format, each yielding
``(number, row)`` where ``number`` is what a user finds in an editor (a line, a Parquet
row, a Label Studio task) and ``row`` is an import row dict (README.md, "Import formats").

Readers only decode and reshape; checking rows against a guideline is ``agent.ingest``'s job.
Memory stays bounded by one line, one Parquet batch or one Label Studio task.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

from agent.errors import ImportFileError

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
JSON_COLUMNS = ("messages", "spans", "turns", "annotations", "reviews", "meta")
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
BOM = "\ufeff"

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


def read_rows(path: str | Path, fmt: str) -> Iterator[Row]:
    """Every row of the file in order, as ``(number, row)``."""
    readers: dict[str, Callable[[str | Path], Iterator[Row]]] = {
        "jsonl": read_jsonl,
        "csv": read_csv,
        "parquet": read_parquet,
        "labelstudio": read_labelstudio,
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
        row = json.loads(text)
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


def _csv_header(header: list[str], path: str | Path, line: int) -> list[str]:
    columns = [name.strip() for name in header]
    missing = [c for c in ("id", "text") if c not in columns]
    if "messages" in columns and missing == ["text"]:
        missing = []
    if missing:
        raise row_error(
            path,
            "csv",
            line,
            f"the header has no {missing[0]!r} column (it has "
            f"{', '.join(columns)}); the first line must name the columns, e.g. "
            "id,text,label",
        )
    dup = next((c for c in columns if columns.count(c) > 1), None)
    if dup is not None:
        raise row_error(path, "csv", line, f"the header names column {dup!r} twice; rename one")
    return columns


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
    for name, value in zip(columns, record, strict=False):
        if name in ("id", "text"):
            row[name] = value
        elif value.strip():
            row[name] = _csv_value(name, value.strip(), path, line)
    return _flat_columns(row)


def _csv_value(name: str, value: str, path: str | Path, line: int) -> Any:
    if name == "labels" and not value.startswith("["):
        return [v.strip() for v in value.split("|") if v.strip()]
    if name in JSON_COLUMNS or name == "labels":
        try:
            return json.loads(value)
        except json.JSONDecodeError as e:
            raise row_error(
                path,
                "csv",
                line,
                f'column {name!r} is not valid JSON ({e.msg}); write it as JSON, e.g. ["a", "b"]',
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
        odd = [f.name for f in pf.schema_arrow if _not_json(f.type)]
        number = 0
        for batch in pf.iter_batches(batch_size=batch_size):
            for row in batch.to_pylist():
                number += 1
                yield number, _parquet_row(row, odd, path, number)


def _parquet_row(row: dict[str, Any], odd: list[str], path: str | Path, number: int) -> dict:
    for name in odd:
        row[name] = _plain(row[name], name, path, number)
    meta = row.get("meta")
    if isinstance(meta, list):  # a Parquet map arrives as (key, value) pairs
        row["meta"] = dict(meta)
    elif isinstance(meta, str) and meta.startswith("{"):  # JSON text (the hf export's)
        try:
            row["meta"] = json.loads(meta)
        except json.JSONDecodeError:
            pass  # left as it is: ingest says what meta must be
    return _flat_columns(row)


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


def read_labelstudio(path: str | Path) -> Iterator[Row]:
    """A JSON array of Label Studio tasks (or of plain import rows), read task by task."""
    with open_binary(path) as fh:
        for number, task in _JsonArray(_text_chunks(fh, path), path):
            yield number, labelstudio_row(task, path, number)


def labelstudio_row(task: Any, path: str | Path, number: int) -> dict[str, Any]:
    """A Label Studio task as an import row: ``data`` gives the item, ``annotations`` reviews.

    Predictions are never reviews, so they are dropped; cancelled annotations too.
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
        raise row_error(path, "labelstudio", number, "'data' must be an object holding the text")
    body = _ls_body_key(data, path, number)
    row: dict[str, Any] = {"id": data.get("id", task.get("id"))}
    value = data[body]
    if isinstance(value, list):
        row["messages"] = _ls_messages(value)
        if "target_turn" in data:
            row["target_turn"] = data["target_turn"]
    else:
        row["text"] = value
    moved = ("id", body, *(("target_turn",) if "messages" in row else ()))
    meta = {k: v for k, v in data.items() if k not in moved}
    if isinstance(task.get("meta"), dict):
        meta.update(task["meta"])
    if meta:
        row["meta"] = meta
    annotations = [a for a in map(_ls_annotation, task.get("annotations") or ()) if a]
    if annotations:
        row["annotations"] = annotations
    return row


def _ls_body_key(data: dict, path: str | Path, number: int) -> str:
    for key in ("text", "messages", "dialogue"):
        if key in data:
            return key
    strings = [k for k, v in data.items() if isinstance(v, str) and k != "id"]
    if len(strings) == 1:
        return strings[0]
    raise row_error(
        path,
        "labelstudio",
        number,
        f"cannot tell which field of 'data' holds the "
        f"text (fields: {', '.join(data) or 'none'}); name it 'text'",
    )


def _ls_messages(value: list) -> list:
    """Label Studio dialogues name the speaker ``author``; labelloop calls it ``role``."""
    return [
        {"role": m.get("role", m.get("author")), "content": m.get("content", m.get("text"))}
        if isinstance(m, dict)
        else m
        for m in value
    ]


def _ls_annotation(ann: Any) -> dict[str, Any] | None:
    """An annotation as ``{"reviewer", "choices"|"spans", "time"}``; an empty result (nothing
    chosen, no region) as ``{"reviewer", "empty": True, ...}``: a decision that holds no
    spans, or no labels, which ingest reads in the guideline's shape."""
    if not isinstance(ann, dict) or ann.get("was_cancelled"):
        return None
    choices: list[Any] = []
    spans: list[dict[str, Any]] = []
    other = False  # a region of another tag (a text area, a rating): not a label decision
    for result in ann.get("result") or ():
        value = result.get("value") if isinstance(result, dict) else None
        if isinstance(value, dict) and "choices" in value:
            choices.extend(value["choices"] or ())
        elif isinstance(value, dict) and "labels" in value:
            spans.extend(_ls_spans(value))
        else:
            other = True
    if not choices and not spans and other:
        return None
    out: dict[str, Any] = {"reviewer": _ls_reviewer(ann.get("completed_by"))}
    if choices:
        out["choices"] = choices
    if spans:
        out["spans"] = spans
    if not choices and not spans:
        out["empty"] = True
    time = ann.get("updated_at") or ann.get("created_at")
    return {**out, "time": time} if time else out


def _ls_spans(value: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"start": value.get("start"), "end": value.get("end")}
    if isinstance(value.get("text"), str):
        base["text"] = value["text"]
    return [{**base, "label": name} for name in value.get("labels") or ()]


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
            except json.JSONDecodeError as e:
                # a value cut off by the buffer's end fails too: read twice as much, retry
                if not _cut_off(e) or not self._more(max(CHUNK, len(self.buf) - self.pos)):
                    line = self.line_base + e.lineno
                    self._fail(
                        number,
                        f"not valid JSON ({e.msg} at line {line} column "
                        f"{e.colno}); fix the file or export it again",
                    )

    def _line(self) -> int:
        return self.line_base + self.buf.count("\n", 0, self.pos) + 1

    def _fail(self, number: int, message: str):
        raise row_error(self.path, "labelstudio", number, message)
