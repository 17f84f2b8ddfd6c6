"""Import: rows read from a file, checked against the guideline, stored all or nothing.

Checking (``parse_rows``) is pure; ``import_file`` stages the checked rows batch by batch,
applying the import rules, then stores them in one short transaction (README.md, "Import
formats"): reviewers' decisions never wait for the reading and checking.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import pydantic

from labelloop.core.errors import ImportFileError
from labelloop.core.turns import article, labeled_turns, turn_noun
from labelloop.core.types import (
    Frozen,
    Guideline,
    Item,
    LabelValue,
    Message,
    Review,
    ReviewAction,
    Span,
    ToolCall,
    utcnow,
)
from labelloop.ingest.chatlogs import completion_row
from labelloop.ingest.checks import RowError, check_id, check_row, shown
from labelloop.ingest.readers import (
    ROW_EXAMPLE,
    JsonLimitError,
    detect_format,
    json_kind,
    json_loads,
    open_binary,
    read_rows,
    row_error,
    where,
)
from labelloop.ingest.replies import (
    contract_row,
    pairwise_value,
    parse_replies,
    ranking_value,
    rating_value,
    reply_chars,
)
from labelloop.store.base import item_to_values, review_to_values

if TYPE_CHECKING:
    from labelloop.store import Store

BATCH = 2000
LISTED_LABELS = 12
#: the default of ``max_item_chars`` in labelloop.toml: larger items are refused
MAX_ITEM_CHARS = 100_000
VALUE_KEYS = ("label", "labels", "spans", "turns", "choices", "ratings", "ranking", "abstain")
#: which value keys each task shape takes (``choices`` comes from Label Studio)
ACCEPTS = {
    "single": ("label", "choices"),
    "multi": ("labels", "choices"),
    "spans": ("spans",),
    "turns": ("turns", "label"),
    "pairwise": ("label", "choices"),
    "rating": ("ratings",),
    "ranking": ("ranking",),
}
#: what a Label Studio annotation with an empty result decides, by task shape; in a
#: single-label or per-turn task it holds no label and is not imported
EMPTY_RESULT = {"multi": LabelValue(labels=()), "spans": LabelValue(spans=())}
SPAN_EXAMPLE = '{"start": 0, "end": 5, "label": "NAME"}'
EXAMPLES = {
    "single": '"label": "NAME"',
    "multi": '"labels": ["NAME", ...]',
    "spans": f'"spans": [{SPAN_EXAMPLE}]',
    "turns": '"turns": {"0": "NAME"} (index of a user message: label)',
    "pairwise": '"label": "a" (the better reply\'s id)',
    "rating": '"ratings": {"a": 4, "b": 2}',
    "ranking": '"ranking": ["b", "a"] (reply ids, best first)',
}
#: a guideline with questions: each answer in ``"labels": {question: answer}`` is written
#: as a one-question row writes its value, by task shape: the value key it stands for, an
#: example, and the JSON types it may be
QUESTION_KEYS = {
    "single": "label",
    "multi": "labels",
    "spans": "spans",
    "turns": "turns",
    "pairwise": "label",
    "rating": "ratings",
    "ranking": "ranking",
}
QUESTION_EXAMPLES = {
    "single": '"NAME"',
    "multi": '["NAME", ...]',
    "spans": f"[{SPAN_EXAMPLE}]",
    "turns": '{"0": "NAME"}',
    "pairwise": '"a"',
    "rating": '{"a": 4, "b": 2}',
    "ranking": '["b", "a"]',
}
QUESTION_TYPES: dict[str, tuple[type, ...]] = {
    "single": (str,),
    "multi": (list,),
    "spans": (list,),
    "turns": (dict, str),
    "pairwise": (str,),
    "rating": (dict,),
    "ranking": (list,),
}
#: tabular files (CSV, Parquet) hold each question's answer in a column ``q:NAME``
QUESTION_COLUMN = "q:"
#: the sources of a final label that are people's: such a label without its reviews imports
HUMAN_SOURCES = ("human", "adjudicated")
#: what an empty file of each format must hold instead
EMPTY_HINTS = {
    "jsonl": f"one JSON object a line, such as {ROW_EXAMPLE}",
    "csv": "a header line naming the columns (id,text[,label]) and one row a line",
    "parquet": "one row per item, with the JSONL fields as columns",
    "labelstudio": 'a JSON array of tasks, such as [{"data": {"text": "..."}}]',
}
META_EXAMPLE = '{"source": "web"}'
MESSAGE_EXAMPLE = '[{"role": "user", "content": "..."}]'
TOOL_CALL_FIX = (
    'write it as a list such as [{"id": "call_1", "type": "function", "function": '
    '{"name": "lookup_order", "arguments": "{\\"order\\": 42}"}}]'
)
MESSAGE_LABEL_EXAMPLE = '{"role": "user", "content": "...", "label": "NAME"}'
ITEM_KEYS = frozenset({"id", "text", "messages", "conversations", "target_turn", "replies", "meta"})
#: ShareGPT speakers (``{"from", "value"}`` messages) as chat roles; others are kept as given
SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "chatgpt": "assistant", "bard": "assistant"}
REVIEW_KEYS = frozenset({*VALUE_KEYS, "annotations", "reviews", "label_source"})
KNOWN_KEYS = ITEM_KEYS | REVIEW_KEYS
#: fields of a labelloop export (JSONL or CSV, told by ``label_source``) that are
#: recomputed, never imported
EXPORT_KEYS = frozenset(
    {"suggestion", "route", "suggested", "confidence", "model", "rationale", "reviewers"}
    | {"reviewed_at"}
)
ACTIONS = get_args(ReviewAction)


@dataclass(frozen=True)
class ParsedRow:
    """A checked row: its line, its item, and the human reviews it carries."""

    line: int
    item: Item
    reviews: list[Review]


class ImportResult(Frozen):
    """What an import did: rows read, items and reviews added or already there (the same
    reviewer's same answer)."""

    rows: int
    items_added: int
    items_existing: int
    reviews_added: int
    reviews_existing: int
    #: of the reviews added, those that change their reviewer's earlier answer
    reviews_changed: int = 0
    seconds: float
    import_id: int
    #: items the import answered that its routing left queued: a reviewer holds them, or
    #: they wait for answers given in the console (overlap, adjudication)
    still_queued: tuple[str, ...] = ()

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RowContext:
    """What checking a row needs: the guideline, and who the file's own labels are by.

    A guideline with questions has shape ``questions`` and one context per question
    (``questions``), built on its one-question guideline: each answer is checked as a
    one-question task checks its label."""

    guideline: Guideline
    reviewer: str
    now: datetime
    labels: frozenset[str]
    shape: str  # single | multi | spans | turns | pairwise | rating | ranking | questions
    max_chars: int = MAX_ITEM_CHARS
    questions: dict[str, RowContext] = field(default_factory=dict)
    #: the file's format (a Parquet file may name a column by a question)
    fmt: str = "jsonl"

    @classmethod
    def of(
        cls,
        guideline: Guideline,
        reviewer: str,
        max_chars: int = MAX_ITEM_CHARS,
        *,
        fmt: str = "jsonl",
        now: datetime | None = None,
    ) -> RowContext:
        now = now or utcnow()
        if guideline.asks_questions:
            parts = {
                q: cls.of(guideline.for_question(q), reviewer, max_chars, fmt=fmt, now=now)
                for q in guideline.question_names
            }
            return cls(guideline, reviewer, now, frozenset(), "questions", max_chars, parts, fmt)
        shape = "turns" if guideline.unit == "turn" else guideline.kind
        labels = frozenset(guideline.label_names)
        return cls(guideline, reviewer, now, labels, shape, max_chars, fmt=fmt)


# -- the whole file ------------------------------------------------------------------------


def import_file(
    store: Store,
    guideline: Guideline,
    path: str | Path,
    fmt: str | None = None,
    reviewer: str | None = None,
    *,
    sample: bool = False,
    batch_size: int = BATCH,
    progress: Callable[[int], None] | None = None,
    max_item_chars: int = MAX_ITEM_CHARS,
) -> ImportResult:
    """Import a file's items and human labels all or nothing: every row is read, checked
    and staged first (no write lock held), then stored in one short transaction."""
    started = time.perf_counter()
    fmt = detect_format(path, fmt)
    # a file name may hold bytes that are not UTF-8: the store keeps them as U+FFFD
    reviewer = printable(reviewer or Path(path).stem)
    digest = file_sha256(path)
    read = read_rows(path, fmt, by_question=guideline.asks_questions)
    rows = parse_rows(read, guideline, path, fmt, reviewer, max_item_chars=max_item_chars)
    counts = _Counts()
    stored_path = printable(str(path))
    with store.import_session(stored_path, fmt, digest, reviewer, sample) as writer:
        for batch in _batches(rows, batch_size):
            _stage_batch(writer, batch, counts, str(path), fmt)
            if progress is not None:
                progress(counts.rows)
        stored = writer.commit(counts.rows)
    counts.reviews_existing += counts.reviews_staged - stored.reviews_added
    seconds = time.perf_counter() - started
    return counts.result(seconds, stored)


def printable(text: str) -> str:
    """``text`` as a store keeps it: bytes of a file name that are not UTF-8 (Python's
    surrogate escapes) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_rows(
    rows: Iterable[tuple[int, dict[str, Any]]],
    guideline: Guideline,
    path: str | Path,
    fmt: str,
    reviewer: str,
    *,
    max_item_chars: int = MAX_ITEM_CHARS,
) -> Iterator[ParsedRow]:
    """Check each raw row against the guideline; the first bad one raises ImportFileError,
    and so does a file without rows."""
    ctx = RowContext.of(guideline, reviewer, max_item_chars, fmt=fmt)
    empty = True
    for number, raw in rows:
        empty = False
        try:
            item, reviews = parse_row(raw, ctx)
        except RowError as e:
            raise row_error(path, fmt, number, str(e)) from None
        except pydantic.ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            message = f"invalid {field}: {err['msg']}; fix the value"
            raise row_error(path, fmt, number, message) from None
        yield ParsedRow(number, item, reviews)
    if empty:
        message = f"no rows to import; the file must hold {EMPTY_HINTS[fmt]}"
        raise ImportFileError(message, path=str(path))


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256, read in chunks."""
    digest = hashlib.sha256()
    with open_binary(path) as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class _Counts:
    rows: int = 0
    reviews_staged: int = 0
    reviews_existing: int = 0
    reviews_changed: int = 0

    def result(self, seconds: float, stored) -> ImportResult:
        return ImportResult(
            rows=self.rows,
            items_added=stored.items_added,
            items_existing=self.rows - stored.items_added,
            reviews_added=stored.reviews_added,
            reviews_existing=self.reviews_existing,
            reviews_changed=self.reviews_changed,
            seconds=round(seconds, 3),
            import_id=stored.import_id,
        )


def _batches(rows: Iterator[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    batch: list[ParsedRow] = []
    try:
        for row in rows:
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
    except ImportFileError:
        if batch:  # the rows before a bad one are checked first: errors come in file order
            yield batch
        raise
    if batch:
        yield batch


def _stage_batch(writer, batch: list[ParsedRow], counts: _Counts, path: str, fmt: str) -> None:
    """Apply the import rules to a batch and stage it."""
    ids = [p.item.id for p in batch]
    earlier = writer.staged_lines(ids) if counts.rows else {}  # the first batch: none staged
    stored = writer.stored_hashes(ids)
    lines: dict[str, int] = {}
    items = []
    for p in batch:  # in file order, so the first problem is the one reported
        first = earlier.get(p.item.id) or lines.get(p.item.id)
        if first is not None:
            message = (
                f"id {p.item.id!r} is also on {where(fmt, first)}; ids must be unique "
                "within a file: remove the repeated row or give it another id"
            )
            raise row_error(path, fmt, p.line, message)
        lines[p.item.id] = p.line
        values = item_to_values(p.item, None, p.line)
        if p.item.id in stored and stored[p.item.id] != values["content_hash"]:
            raise row_error(path, fmt, p.line, _changed_item(p.item))
        items.append({**values, "is_new": p.item.id not in stored})
    reviews = _new_reviews(writer, batch, stored, counts)
    writer.stage(items, reviews)
    counts.rows += len(batch)
    counts.reviews_staged += len(reviews)


def _changed_item(item: Item) -> str:
    what = "text" if item.text is not None else "conversation"
    return (
        f"id {item.id!r} is already in the project with a different {what}; give this "
        f"item a new id, or make its {what} match the one imported before"
    )


def _new_reviews(writer, batch: list[ParsedRow], stored: dict, counts: _Counts) -> list[dict]:
    """Reviews to add: all of a new item's; of a stored item, those by a new reviewer and
    those that change their reviewer's latest answer (a changed mind is a new review). The
    same answer again is already there."""
    has_reviews = [p.item.id for p in batch if p.reviews and p.item.id in stored]
    latest = writer.latest_answers(has_reviews) if has_reviews else {}
    out = []
    for p in batch:
        for r in p.reviews:
            before = latest.get((r.item_id, r.reviewer))
            changes = before is not None and _answer(*before) != _answer(r.action, r.value)
            if before is not None and not changes:
                counts.reviews_existing += 1
                continue
            counts.reviews_changed += changes
            values = review_to_values(r)
            out.append({**values, "item_new": r.item_id not in stored, "changes": changes})
    return out


def _answer(action: str, value: LabelValue | dict | None) -> str:
    """What a review answers, for comparing two: its value, or its action without one."""
    if value is None:
        return action
    return (value if isinstance(value, LabelValue) else LabelValue.model_validate(value)).key()


# -- one row -------------------------------------------------------------------------------


def parse_row(raw: dict[str, Any], ctx: RowContext) -> tuple[Item, list[Review]]:
    """The item a raw row describes and the human reviews it carries; RowError if bad."""
    check_row(raw)  # first: what follows may assume text a store can keep
    raw = completion_row(raw)
    item_id = _item_id(raw.get("id"))
    if ctx.shape == "questions":
        raw = _question_columns(raw, ctx)
    if ctx.guideline.judges:
        raw = contract_row(raw, ctx.guideline)
    body = _body(raw, ctx.guideline)
    judge = _judging(ctx)
    if judge is not None:
        body["replies"] = parse_replies(raw.get("replies"), judge)
    elif raw.get("replies") is not None:
        kind = f"is kind: {ctx.guideline.kind}"
        if ctx.shape == "questions":
            kind = "asks no question that judges them"
        raise RowError(
            f"the row has 'replies' but task {ctx.guideline.task!r} {kind}; judging "
            "replies needs kind: pairwise, rating or ranking"
        )
    _check_size(item_id, body, ctx.max_chars)
    item = Item(id=item_id, **body, meta=_meta(raw))
    raw = _with_message_labels(raw, item, ctx)
    if raw.keys().isdisjoint(REVIEW_KEYS):
        return item, []
    return item, _reviews(raw, item, ctx)


def _judging(ctx: RowContext) -> Guideline | None:
    """The guideline an item's replies are checked against: the task's own where it judges
    replies; with questions, a pairwise question's (two replies), else another judging
    question's; None where nothing judges replies."""
    if ctx.guideline.judges:
        return ctx.guideline
    judging = [c.guideline for c in ctx.questions.values() if c.guideline.judges]
    pairwise = [g for g in judging if g.kind == "pairwise"]
    return (pairwise or judging or [None])[0]


def _check_size(item_id: str, body: dict[str, Any], limit: int) -> None:
    """Refuse an item over ``max_item_chars``: one such item can exhaust a labeler's memory."""
    if body.get("text") is not None:
        what, size = "text", len(body["text"])
    else:
        what, size = "messages", sum(len(m.plain()) for m in body["messages"])
    if body.get("replies"):
        what, size = f"{what} and replies", size + reply_chars(body["replies"])
    if size > limit:
        raise RowError(
            f"item {item_id!r} has {size:,} characters of {what}, over the limit of "
            f"{limit:,} (max_item_chars); split it into smaller items, or raise "
            "max_item_chars in labelloop.toml"
        )


def _item_id(value: Any) -> str:
    if value is None:
        raise RowError(f"missing 'id'; every row needs a unique id, e.g. {ROW_EXAMPLE}")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RowError(f"'id' is a JSON {json_kind(value)}; write it as a string or an integer")
    item_id = str(value)
    if not item_id.strip():
        raise RowError("'id' is empty; give every row a unique id")
    check_id(item_id)
    return item_id


def _body(raw: dict[str, Any], g: Guideline) -> dict[str, Any]:
    text, messages = raw.get("text"), raw.get("messages")
    if raw.get("conversations") is not None:  # the ShareGPT layout
        if messages is not None:
            raise RowError("the row has both 'messages' and 'conversations'; keep one")
        messages = raw["conversations"]
    if text is not None and messages is not None:
        raise RowError("the row has both 'text' and 'messages'; keep one")
    if g.unit == "text":
        if messages is not None:
            raise RowError(
                f"the row has 'messages' but task {g.task!r} labels texts (unit: text); "
                "give 'text', or use a guideline with unit: conversation"
            )
        if raw.get("target_turn") is not None:
            raise RowError("'target_turn' only applies to 'messages'; remove it")
        return {"text": _text(text)}
    if messages is None:
        hint = "the row has 'text' but" if text is not None else "missing 'messages':"
        raise RowError(
            f"{hint} task {g.task!r} labels conversations (unit: {g.unit}); "
            f"give 'messages': {MESSAGE_EXAMPLE}"
        )
    msgs = _messages(messages)
    return {"messages": msgs, "target_turn": _target_turn(raw.get("target_turn"), msgs)}


def _text(value: Any) -> str:
    if value is None:
        raise RowError(f"missing 'text'; every row needs the text to label, e.g. {ROW_EXAMPLE}")
    if not isinstance(value, str):
        raise RowError(f"'text' must be a string, not a JSON {json_kind(value)}; quote it")
    if not value.strip():
        raise RowError("empty 'text'; fill in the text to label, or remove the row")
    return value


def _messages(value: Any) -> tuple[Message, ...]:
    if not isinstance(value, list) or not value:
        raise RowError(f"'messages' is not a non-empty list; write it as {MESSAGE_EXAMPLE}")
    return tuple(_message(m if isinstance(m, dict) else {}, i) for i, m in enumerate(value))


def _message(m: dict[str, Any], i: int) -> Message:
    """One message: role and content (a string or content parts), and where the log has
    them the speaker's ``name``, an assistant's ``tool_calls`` and a tool's ``tool_call_id``."""
    role, content = m.get("role"), m.get("content")
    if role is None and "from" in m and "value" in m:  # ShareGPT: {"from", "value"}
        role, content = SHAREGPT_ROLES.get(m["from"], m["from"]), m["value"]
    if content is None:
        content = m.get("text")
    if isinstance(content, list):  # content parts: text joined, others named
        content = _parts_text(content, i)
    calls = _tool_calls(m.get("tool_calls"), i)
    if content is None and calls:  # an assistant turn that only calls tools
        content = ""
    if not isinstance(role, str) or not role or not isinstance(content, str):
        raise RowError(
            f"message {i} needs a 'role' and a 'content' (or 'text') string; "
            f"write each message as {MESSAGE_EXAMPLE[1:-1]}"
        )
    extra: dict[str, Any] = {}
    for key in ("name", "tool_call_id"):
        if m.get(key) is not None:
            if not isinstance(m[key], str) or not m[key].strip():
                raise RowError(
                    f"message {i}: {key!r} is {shown(m[key])}; write it as a non-empty string "
                    "or leave it out"
                )
            extra[key] = m[key]
    return Message(role=role, content=content, tool_calls=calls, **extra)


def _tool_calls(value: Any, i: int) -> tuple[ToolCall, ...] | None:
    """An assistant message's tool calls, in the chat-completions form or flat."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise RowError(f"message {i}: 'tool_calls' is a JSON {json_kind(value)}; {TOOL_CALL_FIX}")
    out = []
    for n, call in enumerate(value):
        try:
            out.append(ToolCall.model_validate(call))
        except pydantic.ValidationError:
            raise RowError(
                f"message {i}: tool call {n} has no function name; {TOOL_CALL_FIX}"
            ) from None
    return tuple(out)


def _parts_text(parts: list, i: int) -> str:
    """A message's content parts as one text: text parts joined by blank lines, any other
    part (an image, audio, a file) as a placeholder naming its type."""
    out = []
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RowError(
                f"message {i}: a content part is not an object with a 'type'; write parts "
                'as {"type": "text", "text": "..."}'
            )
        if part["type"] == "text":
            if not isinstance(part.get("text"), str):
                raise RowError(f"message {i}: a text part needs a 'text' string")
            out.append(part["text"])
        else:
            out.append(f"[{part['type']}]")
    return "\n\n".join(out)


def _target_turn(value: Any, messages: tuple[Message, ...]) -> int | None:
    if value is None:
        return None
    n = len(messages)
    if not _is_int(value) or not 0 <= value < n:
        raise RowError(
            f"'target_turn' is {shown(value)} but must be the index of a message, 0 to {n - 1}; "
            "fix it or remove it"
        )
    return value


def _meta(raw: dict[str, Any]) -> dict[str, Any]:
    meta = raw.get("meta")
    if meta is not None and not isinstance(meta, dict):
        kind = json_kind(meta)
        raise RowError(f"'meta' is a JSON {kind}; write it as an object such as {META_EXAMPLE}")
    extra = raw.keys() - KNOWN_KEYS
    if extra and "label_source" in raw:
        extra -= EXPORT_KEYS
    if not extra:
        return meta or {}
    for key in extra:
        if (close := _close_key(key)) is not None:
            raise RowError(
                f"unknown field {shown(key)} (did you mean {close!r}?); rename it, or put extra "
                "fields under 'meta'"
            )
    # other fields are kept, as Label Studio keeps a task's extra data
    return {**{k: raw[k] for k in sorted(extra)}, **(meta or {})}


@lru_cache(maxsize=256)
def _close_key(key: str) -> str | None:
    close = difflib.get_close_matches(key, sorted(KNOWN_KEYS), n=1, cutoff=0.8)
    return close[0] if close else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _labeled_turns(item: Item, ctx: RowContext) -> list[int]:
    """Indices of the messages a per-turn task labels (its guideline's ``turn_role``)."""
    return labeled_turns(item.messages, ctx.guideline.turn_role)


def _noun(ctx: RowContext) -> str:
    return turn_noun(ctx.guideline.turn_role).replace("turn", "message")


# -- labels written on messages ------------------------------------------------------------


def _with_message_labels(raw: dict[str, Any], item: Item, ctx: RowContext) -> dict[str, Any]:
    """The row with labels written on its messages as its ``turns`` (unit: turn only):
    a label on a message is never dropped without a word."""
    found = _message_values(raw.get("messages"))
    if not found:
        return raw
    g = ctx.guideline
    if ctx.shape != "turns":
        index, key = found[0]
        raise RowError(
            f"message {index} has {key!r}, but task {g.task!r} labels whole conversations "
            f"(unit: {g.unit}); put the label on the row instead: {_example(ctx, item)}"
        )
    other = [(i, k) for i, k in found if k != "label"]
    if other:
        index, key = other[0]
        raise RowError(
            f"message {index} has {key!r}; task {g.task!r} (unit: turn) takes one 'label' "
            f"on each user message, e.g. {MESSAGE_LABEL_EXAMPLE}"
        )
    given = [k for k in VALUE_KEYS if raw.get(k) is not None]
    if given:
        raise RowError(f"the row has both {given[0]!r} and labels on its messages; keep one")
    return {**raw, "turns": _message_turns(raw["messages"], {i for i, _ in found}, item, ctx)}


def _message_values(messages: Any) -> list[tuple[int, str]]:
    """(index, key) of each label value written on a message."""
    if not isinstance(messages, list):
        return []
    return [
        (i, k)
        for i, m in enumerate(messages)
        if isinstance(m, dict)
        for k in VALUE_KEYS
        if m.get(k) is not None
    ]


def _message_turns(
    messages: list[dict[str, Any]], labeled: set[int], item: Item, ctx: RowContext
) -> dict[int, str]:
    """Per-turn labels from the messages: every user message labeled, no other one."""
    users, noun = _labeled_turns(item, ctx), _noun(ctx)
    stray = sorted(labeled - set(users))
    if stray:
        role = item.messages[stray[0]].role if item.messages else "?"
        raise RowError(
            f"message {stray[0]} ({role}) has a 'label', but only {noun}s are "
            f"labeled (unit: turn, turn_role: {ctx.guideline.turn_role}); remove it"
        )
    missing = [i for i in users if i not in labeled]
    if missing:
        raise RowError(
            f"only {len(labeled)} of the {len(users)} {noun}s have a 'label' "
            f"(message {missing[0]} has none); give every {noun} a 'label', "
            "or leave them all out"
        )
    turns = {}
    for i in users:
        try:
            turns[i] = _label(messages[i]["label"], ctx)
        except RowError as e:
            raise RowError(f"message {i}: {e}") from None
    return turns


# -- the reviews a row carries -------------------------------------------------------------


def _reviews(raw: dict[str, Any], item: Item, ctx: RowContext) -> list[Review]:
    if "label_source" in raw or "reviews" in raw:
        out = [_export_review(r, i, item, ctx) for i, r in _listed(raw, "reviews")]
        # an export's final label is a model's, or restates its reviews: only a human
        # label without the reviews behind it is news
        if not out and ctx.shape == "questions":
            out = _human_answers(raw, item, ctx)
        elif not out and raw.get("label_source") in HUMAN_SOURCES:
            out = _own_review(raw, item, ctx)
    else:
        out = _own_review(raw, item, ctx)
    return out + _annotations(raw, item, ctx)


def _own_review(raw: dict[str, Any], item: Item, ctx: RowContext) -> list[Review]:
    value = _value(raw, item, ctx)
    if value is None:
        return []
    return [_review(item, ctx.reviewer, value, ctx.now)]


def _human_answers(raw: dict[str, Any], item: Item, ctx: RowContext) -> list[Review]:
    """An export row's final answers that people gave (``label_source`` per question, or
    one source for all), as one review; a model's answers never import."""
    sources = _sources(raw.get("label_source"))
    value = _value(raw, item, ctx)
    if value is None or value.answers is None:
        return []
    if isinstance(sources, dict):
        kept = {q: v for q, v in value.answers.items() if sources.get(q) in HUMAN_SOURCES}
    else:
        kept = value.answers if sources in HUMAN_SOURCES else {}
    return [_review(item, ctx.reviewer, LabelValue(answers=kept), ctx.now)] if kept else []


def _sources(value: Any) -> Any:
    """An export's ``label_source``: one source, or ``{question: source}`` (a CSV or Parquet
    cell holds it as JSON text)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json_loads(value)
        except (json.JSONDecodeError, JsonLimitError):
            raise RowError(
                "'label_source' is not valid JSON; write it as an object such as "
                '{"category": "human"}, or leave it empty'
            ) from None
    if isinstance(value, dict) or value is None or isinstance(value, str):
        return value
    raise RowError(
        f"'label_source' is a JSON {json_kind(value)}; write it as an object such as "
        '{"category": "human"}, or leave it empty'
    )


def _review(item: Item, reviewer: str, value: LabelValue | None, at: datetime, **kw) -> Review:
    kw.setdefault("action", "import")
    return Review(
        item_id=item.id, reviewer=reviewer, value=value, source="import", created_at=at, **kw
    )


def _listed(raw: dict[str, Any], key: str) -> Iterator[tuple[int, Any]]:
    value = raw.get(key)
    if value is None:
        return iter(())
    if not isinstance(value, list):
        raise RowError(f"'{key}' is a JSON {json_kind(value)}; write it as a list of objects")
    return enumerate(value, 1)


def _annotations(raw: dict[str, Any], item: Item, ctx: RowContext) -> list[Review]:
    out: list[Review] = []
    for i, a in _listed(raw, "annotations"):
        what = f"annotation {i}"
        if not isinstance(a, dict):
            example = f'{{"reviewer": "ann1", {_example(ctx, item)}}}'
            raise RowError(f"{what} is not an object; write it as {example}")
        reviewer = _reviewer(a.get("reviewer"), what)
        if any(r.reviewer == reviewer for r in out):
            raise RowError(f"{what}: {shown(reviewer)} has two annotations in this row; keep one")
        value = _value(a, item, ctx, nested=True)
        if value is None and a.get("empty") is True:
            if ctx.shape not in EMPTY_RESULT:
                continue
            value = EMPTY_RESULT[ctx.shape]
        if value is None:
            raise RowError(f"{what} by {shown(reviewer)} has no label; give {_example(ctx, item)}")
        out.append(_review(item, reviewer, value, _time(a.get("time"), what, ctx.now)))
    return out


def _export_review(r: Any, i: int, item: Item, ctx: RowContext) -> Review:
    """A review from a labelloop export: reviewer, action, value and time are kept."""
    what = f"review {i}"
    if not isinstance(r, dict):
        raise RowError(f"{what} is not an object; write it with reviewer, action, value and time")
    action = r.get("action", "import")
    if action not in ACTIONS:
        raise RowError(
            f"{what} has unknown action {shown(action)}; use one of {', '.join(ACTIONS)}"
        )
    value = r.get("value")
    if value is not None and not isinstance(value, dict):
        example = _example(ctx, item)
        raise RowError(f"{what}: 'value' is not an object; write it as {{{example}}}")
    extra = {k: r[k] for k in ("queue", "reason", "comment", "duration_ms") if r.get(k) is not None}
    return _review(
        item,
        _reviewer(r.get("reviewer"), what),
        _value(value, item, ctx, nested=True) if value else None,
        _time(r.get("time"), what, ctx.now),
        action=action,
        blind=bool(r.get("blind", False)),
        **extra,
    )


def _reviewer(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RowError(f'{what} has no \'reviewer\'; name who made it, e.g. "reviewer": "ann1"')
    return value


def _time(value: Any, what: str, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise RowError(
            f"{what}: 'time' {shown(value)} is not an ISO 8601 time; "
            "write it like 2024-05-01T12:00:00Z"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- label values --------------------------------------------------------------------------


def _value(
    d: dict[str, Any], item: Item, ctx: RowContext, nested: bool = False
) -> LabelValue | None:
    """The label value in ``d`` in the guideline's shape, checked; None if it has none.
    ``nested``: ``d`` is a review's value or an annotation, which may hold ``answers`` (a
    value written by a labelloop export, or a Label Studio annotation's per-control answers)."""
    if ctx.shape == "questions":
        return _answers(d, item, ctx, nested)
    given = [k for k in VALUE_KEYS if d.get(k) is not None]
    accepted = ACCEPTS[ctx.shape]
    wrong = [k for k in given if k not in accepted and k != "abstain"]
    # a Label Studio annotation may carry choices beside its spans
    if wrong and not (wrong == ["choices"] and len(given) > 1):
        raise RowError(_shape_error(wrong[0], item, ctx))
    keys = [k for k in given if k in accepted]
    if len(keys) > 1:
        raise RowError(f"both {keys[0]!r} and {keys[1]!r} are given; keep one")
    if not keys:
        return LabelValue(abstain=True) if d.get("abstain") is True else None
    return _parse_value(keys[0], d[keys[0]], item, ctx)


def _parse_value(key: str, value: Any, item: Item, ctx: RowContext) -> LabelValue:
    if ctx.shape == "pairwise":
        if key == "choices":
            if not isinstance(value, list) or len(value) != 1:
                raise RowError("a pairwise answer is one reply id (or tie); keep one choice")
            value = value[0]
        return pairwise_value(value, item, ctx.guideline)
    if ctx.shape == "rating":
        return rating_value(value, item, ctx.guideline)
    if ctx.shape == "ranking":
        return ranking_value(value, item, ctx.guideline)
    if key == "label" and ctx.shape == "turns":
        if item.target_turn is None:
            raise RowError(f"'label' needs a 'target_turn' here; or give {_example(ctx, item)}")
        return LabelValue(turns={item.target_turn: _label(value, ctx)})
    if key == "label":
        return LabelValue(label=_label(value, ctx))
    if key == "choices" and ctx.shape == "single":
        names = _names(value, key, ctx)
        if len(names) != 1:
            raise RowError(f"{len(names)} choices for a single-label task; keep one")
        return LabelValue(label=names[0])
    if key in ("labels", "choices"):
        return LabelValue(labels=tuple(dict.fromkeys(_names(value, key, ctx))))
    if key == "spans":
        return LabelValue(spans=_spans(value, item.render_plain(), ctx))
    return LabelValue(turns=_turns(value, item, ctx))


def _shape_error(key: str, item: Item, ctx: RowContext) -> str:
    g = ctx.guideline
    shape = f"kind: {g.kind}" + (", unit: turn" if ctx.shape == "turns" else "")
    return f"{key!r} does not fit task {g.task!r} ({shape}); give {_example(ctx, item)}"


def _example(ctx: RowContext, item: Item) -> str:
    """How to write a label in the guideline's shape; per turn, with this row's turns."""
    if ctx.shape == "questions":
        return _questions_example(ctx)
    users = _labeled_turns(item, ctx)[:2]
    if ctx.shape != "turns" or not users:
        return EXAMPLES[ctx.shape]
    pairs = ", ".join(f'"{i}": "NAME"' for i in users)
    return f'"turns": {{{pairs}}} (index of {article(_noun(ctx))}: label)'


def _label(name: Any, ctx: RowContext) -> str:
    if not isinstance(name, str):
        raise RowError(f"a label is a JSON {json_kind(name)}; write label names as strings")
    if name not in ctx.labels:
        raise RowError(unknown_label(name, ctx.guideline))
    return name


def unknown_label(name: str, g: Guideline) -> str:
    """'unknown label ...; use one of ...', listing a long label set only in part."""
    names = g.label_names
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listing = ", ".join(names[:8]) + f", ... ({len(names)} in all, see the guideline)"
    if len(names) <= LISTED_LABELS:
        listing = ", ".join(names)
    version = f" (guideline {g.version[:6]})" if g.version else ""
    return f"unknown label {shown(name)}{hint} for task {g.task!r}{version}; use one of {listing}"


def _names(value: Any, key: str, ctx: RowContext) -> list[str]:
    if not isinstance(value, list):
        raise RowError(f"{key!r} is a JSON {json_kind(value)}; write it as a list of label names")
    return [_label(v, ctx) for v in value]


def _spans(value: Any, text: str, ctx: RowContext) -> tuple[Span, ...]:
    if not isinstance(value, list):
        raise RowError(f"'spans' is not a list; write it as [{SPAN_EXAMPLE}]")
    return tuple(_span(s, i, text, ctx) for i, s in enumerate(value))


def _span(s: Any, i: int, text: str, ctx: RowContext) -> Span:
    if not isinstance(s, dict):
        raise RowError(f"span {i} is not an object; write it as {SPAN_EXAMPLE}")
    start, end = s.get("start"), s.get("end")
    if not _is_int(start) or not _is_int(end):
        raise RowError(
            f"span {i} has start {shown(start)} and end {shown(end)}; give both as integers "
            "(character offsets into the text, counting from 0)"
        )
    if start >= end:
        raise RowError(
            f"span {i} [{start}:{end}] ends where or before it starts; give 'start' as the "
            "offset of its first character and 'end' as one past its last (start < end)"
        )
    if not 0 <= start < end <= len(text):
        raise RowError(
            f"span {i} [{start}:{end}] does not lie within the text (length {len(text)}); "
            "offsets count characters from 0, with start < end <= length"
        )
    if "label" not in s:
        raise RowError(f"span {i} [{start}:{end}] has no 'label'; write it as {SPAN_EXAMPLE}")
    covered = s.get("text") if isinstance(s.get("text"), str) else None
    if covered is not None and covered != text[start:end]:
        raise RowError(
            f"span {i} [{start}:{end}] says its text is {shown(covered)}, but the text there is "
            f"{shown(text[start:end])}; fix the offsets, or leave 'text' out (it is optional)"
        )
    try:
        label = _label(s.get("label"), ctx)
    except RowError as exc:
        raise RowError(f"span {i} [{start}:{end}]: {exc}") from None
    return Span(start=start, end=end, label=label, text=covered)


def _turns(value: Any, item: Item, ctx: RowContext) -> dict[int, str]:
    if not isinstance(value, dict):
        raise RowError(f"'turns' is not an object; write it as {_example(ctx, item)}")
    users, noun = _labeled_turns(item, ctx), _noun(ctx)
    out: dict[int, str] = {}
    for key, name in value.items():
        turn = int(key) if isinstance(key, str) and key.isdigit() else key
        if not _is_int(turn) or turn not in users:
            here = ", ".join(map(str, users)) or "none"
            raise RowError(
                f"'turns' names turn {shown(key)}, which is not {article(noun)}; use the index "
                f"of {article(noun)} in 'messages', counting from 0 (here: {here})"
            )
        out[turn] = _label(name, ctx)
    return out


# -- answers to several questions ----------------------------------------------------------


def _question_columns(raw: dict[str, Any], ctx: RowContext) -> dict[str, Any]:
    """The row with answers held in columns gathered under ``labels``: ``q:NAME`` (a CSV
    export's columns), and in a Parquet file a column named by a question (the hf export's).
    An empty cell answers nothing."""
    columns: dict[str, str] = {}
    for key in raw:
        if key.startswith(QUESTION_COLUMN):
            columns[key] = key[len(QUESTION_COLUMN) :]
        elif ctx.fmt == "parquet" and key in ctx.questions and key not in KNOWN_KEYS:
            columns[key] = key
    if not columns:
        return raw
    if raw.get("labels") is not None:
        first = next(iter(columns))
        raise RowError(
            f"the row has both 'labels' and the answer column {first!r}; keep one: "
            "'labels' with every answer keyed by its question, or one column per question"
        )
    answers = {}
    for key, name in columns.items():
        answer = _cell_answer(raw[key], key)
        if answer is not None and answer != "":
            answers[name] = answer
    rest = {k: v for k, v in raw.items() if k not in columns}
    return {**rest, "labels": answers} if answers else rest


def _cell_answer(value: Any, column: str) -> Any:
    """One answer as a column holds it: text, JSON text for a list or an object (CSV, or a
    Parquet rating), a list of ``{turn, label}`` (a Parquet per-turn question)."""
    if isinstance(value, str) and value.lstrip().startswith(("[", "{")):
        try:
            return json_loads(value)
        except JsonLimitError as e:
            raise RowError(f"column {column!r}: {e}") from None
        except json.JSONDecodeError as e:
            raise RowError(
                f"column {column!r} is not valid JSON ({e.msg} at column {e.colno} of the "
                'cell); write a label name, or JSON such as ["NAME", ...]'
            ) from None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        if all(v.keys() == {"turn", "label"} for v in value):
            return {str(v["turn"]): v["label"] for v in value}
        return [{k: x for k, x in v.items() if x is not None} for v in value]
    return value


def _answers(d: dict[str, Any], item: Item, ctx: RowContext, nested: bool) -> LabelValue | None:
    """Answers keyed by question: ``"labels": {question: answer}`` (each answer as a
    one-question row writes it), or in a review's value ``"answers": {question: value}``;
    a question left out is not answered. None if nothing is answered."""
    given = [k for k in VALUE_KEYS if d.get(k) is not None and not (k == "abstain" and not d[k])]
    if nested and d.get("answers") is not None:
        given.append("answers")
    wrong = [k for k in given if k not in ("labels", "answers")]
    if wrong:
        raise RowError(
            f"{wrong[0]!r} does not fit task {ctx.guideline.task!r}, which asks several "
            f"questions ({', '.join(ctx.questions)}); key each answer by its question: "
            f"{_questions_example(ctx)}"
        )
    if len(given) > 1:
        raise RowError("both 'labels' and 'answers' are given; keep one")
    if not given:
        return None
    key = given[0]
    value = d[key]
    if not isinstance(value, dict):
        raise RowError(
            f"{key!r} is a JSON {json_kind(value)}, but task {ctx.guideline.task!r} asks "
            f"several questions; key each answer by its question: {_questions_example(ctx)}"
        )
    answers: dict[str, LabelValue] = {}
    for name, answer in value.items():
        qctx = _question(name, ctx)
        if answer is None:
            continue
        read = _stored_answer if key == "answers" else _row_answer
        try:
            got = read(answer, item, qctx)
        except RowError as e:
            raise RowError(f"question {name!r}: {e}") from None
        if got is not None:
            answers[name] = got
    return LabelValue(answers=answers) if answers else None


def _question(name: Any, ctx: RowContext) -> RowContext:
    if name in ctx.questions:
        return ctx.questions[name]
    names = list(ctx.questions)
    close = difflib.get_close_matches(str(name), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise RowError(
        f"unknown question {shown(name)}{hint} for task {ctx.guideline.task!r}; "
        f"use one of {', '.join(names)}"
    )


def _row_answer(answer: Any, item: Item, ctx: RowContext) -> LabelValue | None:
    """One question's answer as an import row writes it: a label name (or reply id), a
    list of names, spans, ``{turn: label}``, ratings or a ranking; ``{"abstain": true}``."""
    if isinstance(answer, dict) and answer.keys() == {"abstain"}:
        return LabelValue(abstain=True) if answer["abstain"] is True else None
    if not isinstance(answer, QUESTION_TYPES[ctx.shape]):
        raise RowError(
            f"the answer is a JSON {json_kind(answer)}; write it as "
            f"{QUESTION_EXAMPLES[ctx.shape]} ({_shape_name(ctx)})"
        )
    key = QUESTION_KEYS[ctx.shape]
    if ctx.shape == "turns" and isinstance(answer, str):
        key = "label"  # one label, for the row's target turn
    return _value({key: answer}, item, ctx)


def _stored_answer(answer: Any, item: Item, ctx: RowContext) -> LabelValue | None:
    """One question's answer as a labelloop value writes it: ``{"label": ...}``,
    ``{"spans": [...]}``, ..., or a Label Studio control's ``{"choices": [...]}``."""
    if not isinstance(answer, dict):
        raise RowError(
            f"the answer is a JSON {json_kind(answer)}; write it as an object such as "
            f"{{{_example(ctx, item)}}}"
        )
    return _value(answer, item, ctx)


def _shape_name(ctx: RowContext) -> str:
    g = ctx.guideline
    return f"kind: {g.kind}" + (", unit: turn" if ctx.shape == "turns" else "")


def _questions_example(ctx: RowContext) -> str:
    """How to write answers keyed by question, for the first few questions."""
    pairs = [f'"{q}": {QUESTION_EXAMPLES[c.shape]}' for q, c in list(ctx.questions.items())[:3]]
    more = ", ..." if len(ctx.questions) > 3 else ""
    return f'"labels": {{{", ".join(pairs)}{more}}}'
