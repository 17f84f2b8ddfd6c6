"""A local OpenAI-compatible chat-completions server with scripted answers and faults.

It also serves OpenAI's Files and Batches endpoints (``stub_batches``): a batch's lines are
answered by the same script as live requests.

Tests run it in-process with ``StubServer``; benchmarks run it as a process::

    python -m labelloop.testing.stub_llm --port 0 --latency 1.0 --script script.yaml
    # prints: READY http://127.0.0.1:PORT/v1

Each request is about one item: the ``<item id="...">text</item>`` in the last user message
that has one (a re-ask comes after it), or the whole last user message when none has a tag;
an item's ``<context>`` block is not part of its text (``item_body``).
A script maps an item id, its exact text or its ``text_key`` to an entry (see
``ENTRY_KEYS``); the ``"*"`` entry applies to every item. With no entry, the stub picks
a label from the request's JSON schema deterministically.

A judge's recorded verdict: ``{"replies": {"a": TEXT, "b": TEXT}, "verdict": "a"}`` (a reply
id or "tie"), or one verdict per order shown, ``"verdict": {"ab": "a", "ba": "b"}``. The stub
finds the replies' texts in the prompt, so it knows the order they were shown in, and
answers with the position ("1", "2") where the verdict's reply was shown. Recorded ratings
(``"ratings": {"a": 4, "b": 2}``) and rankings (``"ranking": ["b", "a"]``) are answered
the same way, by the positions the replies were shown at.

An answer keyed by question (a guideline that asks several questions) is answered one
question at a time: ``{"answers": {"q1": {"label": "x", "confidence": 0.9}, "q2":
{"labels": [...]}}}`` scripts some questions (each one's entry takes the keys of
``QUESTION_KEYS``; ``"answer"`` there is that question's raw answer object, and
``confidence``, ``logprob_confidence`` and the ``out_of_set`` fault given for the whole
item apply to every question), and each question left out gets a label picked from its
own schema; a question asked of each turn labels the ``[turn N]`` lines of the turns its
schema names (user, assistant, or any turn). ``"answer"`` for the whole item is sent as
it is. The label tokens of each question's member carry that question's logprobs.
Attempts are counted per item, so ``{"fail": [429, 429]}`` means two rate limits, then OK.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import json
import math
import re
import signal
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from labelloop.core.turns import is_labeled
from labelloop.core.types import opaque_id

DEFAULT_ITEM_PATTERN = r'<item\s+id="(?P<id>[^"]*)"[^>]*>(?P<text>.*?)</item>'
DEFAULT_ENTRY = "*"
_CONTEXT_BLOCK = re.compile(r"\n(<context>\n.*?\n</context>\n)", re.S)
_TEXT_BLOCK = re.compile(r"\n<text>(.*)</text>\n", re.S)
ANSWER_KEYS = frozenset(
    {"label", "labels", "spans", "answer", "confidence", "logprob_confidence", "label_probs"}
    | {"rationale", "abstain", "as_tool", "verdict", "replies", "ratings", "ranking"}
    | {"answers"}
)
#: what the entry of one question under ``answers`` may hold
QUESTION_KEYS = frozenset(
    {"label", "labels", "spans", "turns", "answer", "confidence", "logprob_confidence"}
    | {"label_probs", "rationale", "abstain", "out_of_set", "out_of_set_attempts"}
)
#: keys of an item's entry that apply to each of its questions unless a question's says
INHERITED_KEYS = frozenset(
    {"confidence", "logprob_confidence", "label_probs", "out_of_set", "out_of_set_attempts"}
)
FAULT_KEYS = frozenset(
    {"latency", "fail", "retry_after", "timeout", "timeout_seconds", "malformed"}
    | {"out_of_set", "drop_connection"}
    | {f"{f}_attempts" for f in ("timeout", "malformed", "out_of_set", "drop_connection")}
)
ENTRY_KEYS = ANSWER_KEYS | FAULT_KEYS
FAIL_STEPS = ("context_length_exceeded", "timeout", "drop_connection", "malformed")
MAX_TOP_LOGPROBS = 20
DEFAULT_CONFIDENCE = 0.7
RATIONALE_KEYS = frozenset({"rationale", "reasoning", "explanation"})

# Crude tokens: runs of letters, runs of digits, runs of whitespace, any other single char.
_TOKEN = re.compile(r"[^\W\d_]+|\d+|\s+|.", re.S)
_STRING = r'"((?:[^"\\]|\\.)*)"'
_LABEL_VALUE = re.compile(r'"label"\s*:\s*' + _STRING)
_LABELS_ARRAY = re.compile(r'"labels"\s*:\s*\[([^\]]*)\]')
_STRING_RE = re.compile(_STRING)

_SORRY = "The server had an error while processing your request. Sorry about that!"
_KEY_HELP = "You can find your API key at https://platform.openai.com/account/api-keys."
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request (injected by the stub LLM)."),
    401: ("invalid_request_error", "invalid_api_key", f"Incorrect API key. {_KEY_HELP}"),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached. Try again in {retry}s."),
    500: ("server_error", None, _SORRY),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


class ScriptError(ValueError):
    """A script entry the stub cannot follow."""


# --- state ----------------------------------------------------------------------------


@dataclass
class Call:
    """One request the stub received; ``outcome`` is "ok" or the fault it answered with."""

    key: str
    item_id: str | None
    text: str
    attempt: int
    body: dict[str, Any]
    outcome: str = "pending"
    #: when the request arrived (``time.time()``, comparable across processes)
    at: float = field(default_factory=time.time)


def most_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (arrivals, in seconds) that fall in any ``window`` seconds,
    the window sliding over them: what a rate limit counted that way sees."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


class CallLog:
    """Thread-safe record of received requests and per-item attempt counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._attempts: Counter[str] = Counter()

    def record(self, item: ItemRef, body: dict[str, Any]) -> Call:
        """Count one more attempt for the item and log the request."""
        with self._lock:
            self._attempts[item.key] += 1
            call = Call(item.key, item.item_id, item.text, self._attempts[item.key], body)
            self._calls.append(call)
            return call

    def attempts(self, key: str) -> int:
        """How many requests the item with this key has made."""
        with self._lock:
            return self._attempts[key]

    def for_item(self, key: str) -> list[Call]:
        """The requests about one item, oldest first."""
        return [c for c in self if c.key == key]

    def counts(self) -> dict[str, int]:
        """Attempts per item key."""
        with self._lock:
            return dict(self._attempts)

    def clear(self) -> None:
        """Forget every request and attempt count."""
        with self._lock:
            self._calls.clear()
            self._attempts.clear()

    def __len__(self) -> int:
        return len(self._calls)

    def __iter__(self) -> Iterator[Call]:
        with self._lock:
            return iter(list(self._calls))

    def __getitem__(self, index: int) -> Call:
        with self._lock:
            return self._calls[index]


@dataclass
class StubState:
    """What the server reads on every request; tests may change it while it runs."""

    script: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency: float = 0.0
    retry_after: float = 1.0
    timeout_seconds: float = 60.0
    labels: list[str] = field(default_factory=list)
    item_pattern: str = DEFAULT_ITEM_PATTERN
    item_role: str = "user"
    model: str = "stub-model"
    context_window: int = 128_000
    calls: CallLog = field(default_factory=CallLog)
    #: batches (``stub_batches``): seconds until one is answered, and whether each fails
    batch_seconds: float = 0.0
    batch_fail: bool = False
    #: seconds the answer to a batch's creation takes (the batch exists from the start)
    batch_create_delay: float = 0.0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)


def load_script(source: Mapping | list | str | Path | None) -> dict[str, dict[str, Any]]:
    """A script from a dict, a list of entries with ``id``/``text``, or a JSON/YAML file."""
    if source is None:
        return {}
    if isinstance(source, str | Path):
        source = _read_script_file(Path(source))
    if isinstance(source, list):
        return {str(e.get("id") or e["text"]): _without(e, "id", "text") for e in source}
    return {str(k): dict(v) for k, v in source.items()}


def _read_script_file(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def _without(d: Mapping, *keys: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


# --- the item a request is about -------------------------------------------------------


@dataclass(frozen=True)
class ItemRef:
    """The item a request is about: its id when tagged, its text, and its script key."""

    key: str
    item_id: str | None
    text: str


def text_key(text: str) -> str:
    """The key of an untagged item: a short hash of its text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def find_item(
    messages: list[dict], pattern: str = DEFAULT_ITEM_PATTERN, role: str = "user"
) -> ItemRef:
    """The item: the pattern's ``id``/``text`` in the last ``role`` message that has it
    (a re-ask follows the item's message), else the whole last ``role`` message."""
    contents = [_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == role]
    for content in contents:
        match = re.search(pattern, content, re.S)
        if match:
            groups = match.groupdict()
            text = item_body(html.unescape(groups.get("text") or match.group(0)))
            item_id = groups.get("id")
            return ItemRef(item_id if item_id is not None else text_key(text), item_id, text)
    content = contents[0] if contents else ""
    return ItemRef(text_key(content), None, content)


def item_body(text: str) -> str:
    """The item's text without the ``<context>`` block a guideline's ``context:`` adds (and
    a plain text out of its ``<text>`` markers): what the v1 prompt shows between the item
    markers, so scripts and span offsets mean the same with context."""
    block = _CONTEXT_BLOCK.match(text)
    if block is None:
        return text
    rest = text[: block.start(1)] + text[block.end() :]
    plain = _TEXT_BLOCK.fullmatch(rest)
    return plain[1] if plain else rest


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


@lru_cache(maxsize=4)
def _opaque_keys(keys: tuple[str, ...]) -> dict[str, str]:
    return {opaque_id(k): k for k in keys}


def resolved(item: ItemRef, script: Mapping[str, dict]) -> ItemRef:
    """The item under the script's id when the prompt names it opaquely, as a judging
    prompt does (``labelloop.core.types.opaque_id``)."""
    if item.item_id is None or item.item_id in script or not item.item_id.startswith("item-"):
        return item
    known = _opaque_keys(tuple(script)).get(item.item_id)
    return item if known is None else ItemRef(known, known, item.text)


def script_entry(script: Mapping[str, dict], item: ItemRef) -> dict[str, Any]:
    """The item's entry (by id, exact text or text key) over the ``*`` default entry."""
    keys = (item.item_id, item.text, item.key)
    own = next((script[k] for k in keys if k is not None and k in script), {})
    entry = {**script.get(DEFAULT_ENTRY, {}), **own}
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        valid = ", ".join(sorted(ENTRY_KEYS))
        raise ScriptError(f"Unknown script key(s) {unknown} for item {item.key!r}: valid: {valid}")
    bad = [s for s in entry.get("fail") or [] if not _valid_step(s)]
    if bad:
        raise ScriptError(
            f"Unknown fail step(s) {bad} for item {item.key!r}: use HTTP statuses, null "
            f"(answer) or one of {', '.join(FAIL_STEPS)}"
        )
    return entry


def _valid_step(step: Any) -> bool:
    return step is None or step in FAIL_STEPS or (isinstance(step, int) and 400 <= step < 600)


# --- what the client asked for ----------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Where the answer goes ("json_schema", "json_object", "text" or "tool") and its schema."""

    kind: str
    schema: dict[str, Any] | None
    tool_name: str | None = None


def request_shape(body: dict[str, Any]) -> Shape:
    """How the client wants the answer, from ``tools``/``tool_choice`` or ``response_format``."""
    tool = _chosen_tool(body)
    if tool is not None:
        return Shape("tool", tool.get("parameters") or {}, tool.get("name") or "answer")
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return Shape("json_schema", (fmt.get("json_schema") or {}).get("schema"))
    kind = "json_object" if fmt.get("type") == "json_object" else "text"
    return Shape(kind, schema_in_messages(body.get("messages") or []))


def _chosen_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t.get("function") or {} for t in body.get("tools") or []]
    choice = body.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == name), tools[0])
    return tools[0]


def schema_in_messages(messages: list[dict], tries: int = 50) -> dict[str, Any] | None:
    """A JSON schema pasted into the prompt (as instructor's JSON modes do), if any."""
    decoder = json.JSONDecoder()
    for message in messages:
        text = _text_of(message.get("content"))
        if '"properties"' not in text:
            continue
        start = text.find("{")
        while start != -1 and tries > 0:
            tries -= 1
            try:
                found, _ = decoder.raw_decode(text, start)
                if isinstance(found, dict) and "properties" in found:
                    return found
            except ValueError:
                pass
            start = text.find("{", start + 1)
    return None


# --- JSON schema helpers ---------------------------------------------------------------


def _deref(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    for _ in range(5):
        if not isinstance(node, dict) or "$ref" not in node:
            break
        node = _pointer(root, node["$ref"])
    return node if isinstance(node, dict) else {}


def _pointer(root: dict[str, Any], ref: str) -> Any:
    node: Any = root if ref.startswith("#") else {}
    for part in ref.lstrip("#/").split("/") if ref.strip("#/") else ():
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node


def _option(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The first non-null branch of an anyOf/oneOf/allOf, or the node itself."""
    options = node.get("anyOf") or node.get("oneOf") or node.get("allOf")
    if not options:
        return node
    real = [o for o in options if _deref(o, root).get("type") != "null"]
    return _option(_deref((real or options)[0], root), root)


def _type(node: dict[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None and "properties" in node:
        return "object"
    return kind


def enum_values(node: Any, root: dict[str, Any], depth: int = 0) -> list[str]:
    """Every string an enum-like node allows (through $ref, anyOf, items and a label field)."""
    node = _deref(node, root)
    if depth > 4:
        return []
    if "enum" in node:
        return [str(v) for v in node["enum"] if v is not None]
    if "const" in node:
        return [str(node["const"])]
    subs = [*node.get("anyOf", ()), *node.get("oneOf", ()), *node.get("allOf", ())]
    if "items" in node:
        subs.append(node["items"])
    if "label" in node.get("properties", {}):
        subs.append(node["properties"]["label"])
    return list(dict.fromkeys(v for s in subs for v in enum_values(s, root, depth + 1)))


def schema_labels(schema: dict[str, Any] | None) -> list[str]:
    """The label set a schema allows: the enum of its label, labels or spans field."""
    return _labels_in(schema, schema, 0) if schema else []


def _labels_in(node: Any, root: dict[str, Any], depth: int) -> list[str]:
    node = _option(_deref(node, root), root)
    props = node.get("properties", {})
    for name in ("label", "labels", "spans"):
        found = enum_values(props[name], root) if name in props else []
        if found:
            return found
    children = [*props.values(), *([node["items"]] if "items" in node else [])]
    for child in children if depth < 3 else ():
        found = _labels_in(child, root, depth + 1)
        if found:
            return found
    return []


# --- the answer --------------------------------------------------------------------------


@dataclass
class Draft:
    """The decision the stub expresses in whatever schema the client asked for."""

    label: str
    labels: list[str]
    spans: list[dict[str, Any]]
    confidence: float
    token_confidence: float
    label_probs: dict[str, float]
    rationale: str
    abstain: bool
    text: str


def default_label(labels: list[str], text: str) -> str:
    """The first label whose name words all occur in the text, else one picked by hash."""
    if not labels:
        return "unknown"
    words = set(re.findall(r"[^\W_]+", text.lower()))
    for label in labels:
        parts = [w for w in re.split(r"[\W_]+", label.lower()) if len(w) > 2]
        if parts and all(w in words for w in parts):
            return label
    digest = hashlib.sha256(text.encode()).hexdigest()
    return labels[int(digest, 16) % len(labels)]


_REPLY_MARK = re.compile(r"^\[Reply (\d+)\] ?", re.M)


def shown_order(replies: Mapping[str, str], text: str) -> list[str]:
    """The reply ids in the order the prompt shows their texts: the ``[Reply N]`` sections
    matched to the replies' texts (whitespace ignored), else where each text first occurs."""
    norm = {rid: " ".join(reply.split()) for rid, reply in replies.items()}
    marks = list(_REPLY_MARK.finditer(text))
    if marks:
        ends = [m.start() for m in marks[1:]] + [text.find("</item>", marks[-1].end())]
        shown = [
            " ".join(text[m.end() : e if e >= 0 else None].split())
            for m, e in zip(marks, ends, strict=True)
        ]
        order = [next((rid for rid, t in norm.items() if t == seg), None) for seg in shown]
        if None not in order and sorted(order) == sorted(norm):
            return order  # type: ignore[return-value]
    flat = " ".join(text.split())
    at = {}
    for rid, reply in norm.items():
        pos = flat.find(reply)
        if pos < 0:
            raise ScriptError(f"reply {rid!r} of the script is not in the prompt")
        at[rid] = pos
    return sorted(at, key=at.__getitem__)


def verdict_position(entry: dict[str, Any], text: str) -> str:
    """A recorded verdict (a reply id, or one per order) as the position it was shown at."""
    order = shown_order(entry.get("replies") or {}, text)
    verdict = entry["verdict"]
    if isinstance(verdict, Mapping):
        verdict = verdict.get("".join(order))
        if verdict is None:
            raise ScriptError(f"no verdict recorded for the order {''.join(order)!r}")
    if verdict == "tie":
        return "tie"
    return str(order.index(verdict) + 1)


def judged_answer(entry: dict[str, Any], text: str) -> dict[str, Any]:
    """A recorded rating or ranking, by reply id, as the answer by positions shown."""
    order = shown_order(entry.get("replies") or {}, text)
    at = {rid: str(n) for n, rid in enumerate(order, 1)}
    tail = {
        "guideline_section": "",
        "rationale": entry.get("rationale", "Recorded judgment (stub answer)."),
        "confidence": round(100 * float(entry.get("confidence", DEFAULT_CONFIDENCE))),
    }
    if "ratings" in entry:
        rated = [{"reply": at[r], "rating": str(v)} for r, v in entry["ratings"].items()]
        return {"ratings": sorted(rated, key=lambda r: r["reply"]), **tail}
    return {"ranking": [at[r] for r in entry["ranking"]], **tail}


def make_draft(entry: dict[str, Any], labels: list[str], item: ItemRef, answer_no: int) -> Draft:
    """The item's decision: scripted where the entry says so, deterministic defaults otherwise."""
    label = entry.get("label") or next(iter(entry.get("labels") or []), None)
    if label is None and entry.get("verdict") is not None:
        label = verdict_position(entry, item.text)
    label = label or default_label(labels, item.text)
    chosen = list(entry.get("labels") or [label])
    spans = [dict(s) for s in entry.get("spans") or []]
    if fault_active(entry, "out_of_set", answer_no):
        wrong = entry["out_of_set"] if isinstance(entry["out_of_set"], str) else "not_a_label"
        label, chosen = wrong, [wrong, *chosen[1:]]
        spans = [{**s, "label": wrong} for s in spans]
    confidence = float(entry.get("confidence", DEFAULT_CONFIDENCE))
    return Draft(
        label=label,
        labels=chosen,
        spans=spans,
        confidence=confidence,
        token_confidence=float(entry.get("logprob_confidence", confidence)),
        label_probs=dict(entry.get("label_probs") or {}),
        rationale=entry.get("rationale", f"The text fits '{label}' best (stub answer)."),
        abstain=bool(entry.get("abstain", False)),
        text=item.text,
    )


def build_answer(entry: dict[str, Any], schema: dict[str, Any] | None, draft: Draft) -> Any:
    """The answer object: the raw scripted one, one that fits the schema, or a plain one."""
    if "answer" in entry:
        return entry["answer"]
    if schema:
        return fill_schema(schema, draft)
    if "spans" in entry:
        out: dict[str, Any] = {"spans": draft.spans}
    elif "labels" in entry:
        out = {"labels": draft.labels}
    else:
        out = {"label": draft.label}
    return {**out, "confidence": draft.confidence, "rationale": draft.rationale}


def fill_schema(schema: dict[str, Any], draft: Draft) -> Any:
    """A value valid for the schema, with the draft's label, confidence and rationale in it."""
    return _fill(schema, schema, draft, 0)


_EMPTY: dict[str | None, Any] = {"string": "", "number": 0.0, "integer": 0, "boolean": False}


def _fill(node: Any, root: dict[str, Any], draft: Draft, depth: int) -> Any:
    node = _option(_deref(node, root), root)
    if depth > 6:
        return None
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    kind = _type(node)
    if kind == "object":
        props = node.get("properties", {})
        return {k: _field(k, v, root, draft, depth + 1) for k, v in props.items()}
    if kind == "array":
        return [
            _fill(node.get("items"), root, draft, depth + 1) for _ in range(node.get("minItems", 0))
        ]
    return _EMPTY.get(kind)


def _field(name: str, node: Any, root: dict[str, Any], draft: Draft, depth: int) -> Any:
    key = name.lower()
    if key == "label":
        return _as_enum_value(draft.label, node, root)
    if key == "labels":
        items = _deref(node, root).get("items")
        return [_as_enum_value(v, items, root) for v in draft.labels]
    if key == "spans":
        return _spans(node, root, draft)
    if key == "confidence":
        return _scaled(draft.confidence, _option(_deref(node, root), root))
    if key in RATIONALE_KEYS:
        return draft.rationale
    if key == "abstain":
        return draft.abstain
    return _fill(node, root, draft, depth)


def _as_enum_value(label: str, node: Any, root: dict[str, Any]) -> Any:
    """The enum member whose text is the label (ordinal scales may use integers)."""
    allowed = _option(_deref(node, root), root).get("enum") or []
    return next((v for v in allowed if str(v) == label), label)


def _scaled(confidence: float, node: dict[str, Any]) -> Any:
    top = node.get("maximum")
    if _type(node) == "integer":
        return round(confidence * (top or 100))
    if _type(node) == "string":
        return f"{confidence:.2f}"
    return round(confidence * top, 4) if top and top > 1 else confidence


def _spans(node: Any, root: dict[str, Any], draft: Draft) -> list[dict[str, Any]]:
    item = _option(_deref(_deref(node, root).get("items"), root), root)
    props = item.get("properties")
    if not props:
        return draft.spans
    return [
        {k: _span_field(k, v, span, root, draft) for k, v in props.items()} for span in draft.spans
    ]


def _span_field(name: str, node: Any, span: dict, root: dict[str, Any], draft: Draft) -> Any:
    if name in span:
        return span[name]
    if name == "text" and "start" in span and "end" in span:
        return draft.text[span["start"] : span["end"]]
    return _fill(node, root, draft, 5)


# --- answers keyed by question -----------------------------------------------------------


def question_schemas(schema: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The members of an answer keyed by question (each an object with its own
    confidence), by name; empty for any other schema."""
    if not schema:
        return {}
    root = _option(_deref(schema, schema), schema)
    props = root.get("properties") or {}
    if not props or "confidence" in props:
        return {}
    out = {}
    for name, node in props.items():
        member = _option(_deref(node, schema), schema)
        if _type(member) != "object" or "confidence" not in member.get("properties", {}):
            return {}
        out[name] = member
    return out


def question_entries(entry: dict[str, Any], names: list[str], item: ItemRef) -> dict[str, dict]:
    """Each question's script entry: its own under ``answers``, over the item's keys that
    apply to every question."""
    scripted = entry.get("answers") or {}
    if not isinstance(scripted, Mapping):
        raise ScriptError(f"`answers` for item {item.key!r} must map question names to entries")
    unknown = sorted(set(scripted) - set(names))
    if unknown:
        raise ScriptError(
            f"`answers` for item {item.key!r} names unknown question(s) {unknown}: the "
            f"schema asks {', '.join(names)}"
        )
    shared = {k: v for k, v in entry.items() if k in INHERITED_KEYS}
    out = {}
    for name in names:
        own = {**shared, **(scripted.get(name) or {})}
        bad = sorted(set(own) - QUESTION_KEYS)
        if bad:
            valid = ", ".join(sorted(QUESTION_KEYS))
            raise ScriptError(
                f"Unknown key(s) {bad} in the answer to {name!r} for item {item.key!r}: "
                f"valid: {valid}"
            )
        out[name] = own
    return out


def questions_answer(
    entry: dict[str, Any],
    schema: dict[str, Any],
    questions: Mapping[str, dict[str, Any]],
    item: ItemRef,
    answer_no: int,
) -> tuple[dict[str, Any], dict[str, tuple[Draft, list[str]]]]:
    """The answer object keyed by question, and each question's draft and labels."""
    entries = question_entries(entry, list(questions), item)
    answer: dict[str, Any] = {}
    drafts: dict[str, tuple[Draft, list[str]]] = {}
    for name, node in questions.items():
        own = entries[name]
        labels = _labels_in(node, schema, 0)
        draft = make_draft(own, labels, item, answer_no)
        drafts[name] = (draft, labels)
        if "answer" in own:
            answer[name] = own["answer"]
            continue
        filled = _fill(node, schema, draft, 1)
        if isinstance(filled, dict) and "turns" in filled:
            wrong = draft.label if fault_active(own, "out_of_set", answer_no) else None
            filled["turns"] = _turns(node, schema, own, labels, item.text, wrong)
        answer[name] = filled
    return answer, drafts


_TURN_LINE = re.compile(r"^\[turn (\d+)\] ([^:\n]*): ?(.*)$", re.M)


def _turns(
    node: dict[str, Any],
    root: dict[str, Any],
    own: dict[str, Any],
    labels: list[str],
    text: str,
    wrong: str | None,
) -> list[dict[str, Any]]:
    """A question's turns: the scripted ones (a dict turn -> label, or a list of {turn,
    label}), else one per ``[turn N]`` line the question labels, its label picked from the
    turn's text."""
    scripted = own.get("turns")
    if isinstance(scripted, Mapping):
        got = [{"turn": int(t), "label": lab} for t, lab in scripted.items()]
    elif scripted is not None:
        got = [dict(t) for t in scripted]
    else:
        role = _turn_role(node, root)
        got = [
            {"turn": int(m[1]), "label": default_label(labels, m[3])}
            for m in _TURN_LINE.finditer(text)
            if is_labeled(m[2].split(" (")[0].strip(), role)
        ]
    return [{**t, "label": wrong} for t in got] if wrong is not None else got


def _turn_role(node: dict[str, Any], root: dict[str, Any]) -> str:
    """Whose turns a turns schema labels, read from its turn field's description."""
    items = _option(_deref(_deref(node.get("properties", {}).get("turns"), root), root), root)
    entry = _option(_deref(items.get("items"), root), root)
    said = str((entry.get("properties", {}).get("turn") or {}).get("description", "")).lower()
    for role in ("assistant", "user"):
        if f"{role} turn" in said:
            return role
    return "any"


def _questions_completion(
    body: dict,
    shape: Shape,
    entry: dict,
    questions: Mapping[str, dict[str, Any]],
    item: ItemRef,
    answer_no: int,
    malformed: bool,
    state: StubState,
) -> dict[str, Any]:
    answer, drafts = questions_answer(entry, shape.schema or {}, questions, item, answer_no)
    text = json.dumps(answer, ensure_ascii=False)
    if malformed:
        text = text[: max(1, len(text) // 2)]
    logprobs = None
    if body.get("logprobs") and shape.kind != "tool":
        top_n = int(body.get("top_logprobs") or 0)
        scored = questions_token_logprobs(text, drafts, top_n)
        logprobs = {"content": scored, "refusal": None}
    return chat_completion(body, shape, text, logprobs, state.model)


# --- faults ------------------------------------------------------------------------------


def fault_active(entry: dict[str, Any], name: str, answer_no: int) -> bool:
    """Whether a fault flag applies to this answer (all answers, or the first N)."""
    if not entry.get(name):
        return False
    limit = entry.get(f"{name}_attempts")
    return limit is None or answer_no <= limit


def fail_step(entry: dict[str, Any], attempt: int) -> tuple[Any, int]:
    """The ``fail`` step for this attempt (None: answer) and the answer's number so far."""
    steps = list(entry.get("fail") or [])
    step = steps[attempt - 1] if attempt <= len(steps) else None
    failed = sum(s is not None for s in steps[:attempt])
    return step, attempt - failed


def error_body(message: str, kind: str, code: str | None, param: str | None = None) -> dict:
    """An error in OpenAI's JSON shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def status_error(status: int, retry_after: float) -> JSONResponse:
    """An injected HTTP error; 429s carry a ``Retry-After`` header in seconds."""
    default = ("server_error" if status >= 500 else "invalid_request_error", None, "")
    kind, code, message = _ERRORS.get(status, default)
    seconds = f"{retry_after:g}"
    message = message.format(retry=seconds) or f"Injected HTTP {status} (stub LLM)."
    headers = {"retry-after": seconds} if status == 429 else None
    return JSONResponse(error_body(message, kind, code), status_code=status, headers=headers)


def context_error(prompt_tokens: int, window: int) -> JSONResponse:
    """The 400 OpenAI answers when the prompt does not fit the model's context window."""
    message = (
        f"This model's maximum context length is {window} tokens. However, your messages "
        f"resulted in {prompt_tokens} tokens. Please reduce the length of the messages."
    )
    body = error_body(message, "invalid_request_error", "context_length_exceeded", "messages")
    return JSONResponse(body, status_code=400)


class DroppedResponse(Response):
    """Starts a response and closes the connection halfway through the body."""

    async def __call__(self, scope, receive, send) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1024")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"id": "chatcm', "more_body": True})
        # Returning without the rest makes uvicorn close the transport: a dropped connection.


async def sleep_unless_gone(request: Request, seconds: float) -> None:
    """Sleep, but stop early once the client has hung up (as after its own timeout)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(left, 0.1))
        if await request.is_disconnected():
            return


# --- the wire format ----------------------------------------------------------------------


def count_words(messages: list[dict]) -> int:
    """A rough prompt token count: words in all messages."""
    return sum(_words(_text_of(m.get("content"))) for m in messages)


@lru_cache(maxsize=256)  # the static prefix and few-shot examples recur in every request
def _words(text: str) -> int:
    return len(text.split())


def tokenize(text: str) -> list[str]:
    """Crude tokens: words, numbers, whitespace runs and single other characters."""
    return _TOKEN.findall(text)


def label_ranges(content: str) -> list[tuple[int, int, str]]:
    """Character ranges of label values in JSON text: after ``"label":`` and in ``"labels"``."""
    out = [(m.start(1), m.end(1), m.group(1)) for m in _LABEL_VALUE.finditer(content)]
    for array in _LABELS_ARRAY.finditer(content):
        base = array.start(1)
        out += [
            (base + s.start(1), base + s.end(1), s.group(1))
            for s in _STRING_RE.finditer(array.group(1))
        ]
    return out


def token_logprobs(content: str, draft: Draft, labels: list[str], top_n: int) -> list[dict]:
    """Per-token logprobs: a label's first token carries its probability, the rest are sure."""
    return _scored_tokens(content, lambda _at: (draft, labels), top_n)


def questions_token_logprobs(
    content: str, drafts: Mapping[str, tuple[Draft, list[str]]], top_n: int
) -> list[dict]:
    """``token_logprobs`` of an answer keyed by question: a label in a question's member
    carries that question's probability, against that question's labels."""
    ranges = member_ranges(content)

    def pick(at: int) -> tuple[Draft, list[str]] | None:
        for name, (start, end) in ranges.items():
            if start <= at < end and name in drafts:
                return drafts[name]
        return None

    return _scored_tokens(content, pick, top_n)


def _scored_tokens(content: str, pick, top_n: int) -> list[dict]:
    """Per-token logprobs; ``pick(offset)``: the draft and labels of the label value that
    starts at that offset (None: a sure token)."""
    starts = {start: value for start, _end, value in label_ranges(content)}
    out, pos = [], 0
    for token in tokenize(content):
        value = starts.get(pos)
        got = pick(pos) if value is not None else None
        if got is None:
            out.append(_token_entry(token, 1.0, [], top_n))
        else:
            draft, labels = got
            prob = draft.label_probs.get(value, draft.token_confidence)
            out.append(_token_entry(token, prob, _first_tokens(tuple(labels)), top_n))
        pos += len(token)
    return out


_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


def member_ranges(content: str) -> dict[str, tuple[int, int]]:
    """Where each member's value of a JSON object's text lies: name -> (start, end)."""
    out: dict[str, tuple[int, int]] = {}
    at = content.find("{")
    if at < 0:
        return out
    i = _SPACE.match(content, at + 1).end()
    try:
        while content.startswith('"', i):
            name, i = json.decoder.scanstring(content, i + 1)
            i = _SPACE.match(content, i).end()
            if not content.startswith(":", i):
                break
            start = _SPACE.match(content, i + 1).end()
            end = _DECODER.raw_decode(content, start)[1]
            out[name] = (start, end)
            i = _SPACE.match(content, end).end()
            if not content.startswith(",", i):
                break
            i = _SPACE.match(content, i + 1).end()
    except ValueError:
        pass
    return out


@lru_cache(maxsize=16)
def _first_tokens(labels: tuple[str, ...]) -> list[str]:
    """The distinct first tokens of the labels' JSON strings (once per label set)."""
    return list(dict.fromkeys(tokenize(json.dumps(lab)[1:-1])[0] for lab in labels if lab))


def _token_entry(token: str, prob: float, firsts: list[str], top_n: int) -> dict[str, Any]:
    logprob = math.log(max(prob, 1e-12))
    alternatives = [t for t in firsts if t != token]
    top = [(token, logprob)]
    if alternatives:
        rest = math.log(max(1.0 - prob, 1e-12) / len(alternatives))
        top += [(t, rest) for t in alternatives]
    top.sort(key=lambda pair: -pair[1])
    return {**_logprob(token, logprob), "top_logprobs": [_logprob(*p) for p in top[:top_n]]}


def _logprob(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_completion(body: dict, shape: Shape, text: str, logprobs: dict | None, model: str):
    """A ``chat.completion`` object carrying the answer text as content or tool arguments."""
    if shape.kind == "tool":
        call = {"name": shape.tool_name, "arguments": text}
        tool_calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function", "function": call}]
        message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": tool_calls}
    else:
        message = {"role": "assistant", "content": text, "refusal": None}
    finish = "tool_calls" if shape.kind == "tool" else "stop"
    choices = [
        {"index": i, "message": message, "logprobs": logprobs, "finish_reason": finish}
        for i in range(max(1, int(body.get("n") or 1)))
    ]
    prompt, completion = count_words(body["messages"]), len(tokenize(text)) * len(choices)
    return {
        "id": f"chatcmpl-stub{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or model,
        "system_fingerprint": "fp_stub",
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def completion_for(
    state: StubState,
    body: dict,
    entry: dict,
    item: ItemRef,
    answer_no: int,
    *,
    malformed: bool = False,
) -> dict[str, Any]:
    """The full completion for one request that gets an answer."""
    shape = request_shape(body)
    if entry.get("as_tool") and shape.kind != "tool":
        # a server that answers through a tool call whatever the request asked for
        shape = Shape("tool", shape.schema, str(entry["as_tool"]))
    questions = question_schemas(shape.schema) if "answer" not in entry else {}
    if questions:
        return _questions_completion(
            body, shape, entry, questions, item, answer_no, malformed, state
        )
    labels = schema_labels(shape.schema) or list(state.labels)
    if ("ratings" in entry or "ranking" in entry) and "answer" not in entry:
        entry = {**entry, "answer": judged_answer(entry, item.text)}
    draft = make_draft(entry, labels, item, answer_no)
    text = json.dumps(build_answer(entry, shape.schema, draft), ensure_ascii=False)
    if malformed:
        text = text[: max(1, len(text) // 2)]
    logprobs = None
    if body.get("logprobs") and shape.kind != "tool":
        top_n = int(body.get("top_logprobs") or 0)
        logprobs = {"content": token_logprobs(text, draft, labels, top_n), "refusal": None}
    return chat_completion(body, shape, text, logprobs, state.model)


# --- the server --------------------------------------------------------------------------


def invalid_request(body: Any) -> JSONResponse | None:
    """A 400 like OpenAI's for a request the stub (or OpenAI) would refuse."""
    problem, param = None, None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        problem, param = "Missing required parameter: 'messages'.", "messages"
    elif body.get("stream"):
        problem, param = "The stub LLM does not stream: call without stream=True.", "stream"
    elif int(body.get("top_logprobs") or 0) > MAX_TOP_LOGPROBS:
        problem, param = (
            f"Invalid 'top_logprobs': integer above maximum value. Expected a value <= "
            f"{MAX_TOP_LOGPROBS}, but got {body['top_logprobs']} instead.",
            "top_logprobs",
        )
    if problem is None:
        return None
    body = error_body(problem, "invalid_request_error", "invalid_request_error", param)
    return JSONResponse(body, status_code=400)


async def chat_completions(request: Request) -> Response:
    """POST /v1/chat/completions: find the item, follow its script entry, answer or fail."""
    state: StubState = request.app.state.stub
    arrived = time.monotonic()
    try:
        body = await request.json()
    except ValueError:
        body = None
    refused = invalid_request(body)
    if refused is not None:
        return refused
    item = resolved(find_item(body["messages"], state.item_pattern, state.item_role), state.script)
    try:
        entry = script_entry(state.script, item)
    except ScriptError as exc:
        return JSONResponse(error_body(str(exc), "stub_script_error", None), status_code=500)
    call = state.calls.record(item, body)
    call.outcome, response = await respond(request, state, body, entry, item, call.attempt, arrived)
    return response


async def respond(
    request: Request,
    state: StubState,
    body: dict,
    entry: dict,
    item: ItemRef,
    attempt: int,
    arrived: float,
) -> tuple[str, Response]:
    """The outcome name and the response for one attempt, faults first.

    The latency counts from the request's arrival and the answer is built before the wait,
    so a burst of requests is answered ``latency`` after each arrived, not later by the
    stub's own work on the burst."""
    latency = float(entry.get("latency", state.latency))
    try:
        outcome, response, stall = decide(state, body, entry, item, attempt)
    except ScriptError as exc:  # the script does not fit this request (a verdict, say)
        body_ = error_body(str(exc), "stub_script_error", None)
        return "script_error", JSONResponse(body_, status_code=500)
    if latency > 0:
        await asyncio.sleep(max(0.0, arrived + latency - time.monotonic()))
    if stall:
        await sleep_unless_gone(request, float(entry.get("timeout_seconds", state.timeout_seconds)))
    return outcome, response


def decide(
    state: StubState, body: dict, entry: dict, item: ItemRef, attempt: int
) -> tuple[str, Response, bool]:
    """What one attempt gets: a fault from the script, or an answer; and whether it stalls
    first (the `timeout` fault)."""
    step, n = fail_step(entry, attempt)
    prompt_tokens = count_words(body["messages"])
    if isinstance(step, int):
        status = status_error(step, float(entry.get("retry_after", state.retry_after)))
        return str(step), status, False
    if step == "context_length_exceeded" or prompt_tokens > state.context_window:
        return "context_length_exceeded", context_error(prompt_tokens, state.context_window), False
    if step == "drop_connection" or fault_active(entry, "drop_connection", n):
        return "drop_connection", DroppedResponse(), False
    outcome = "ok"
    stall = step == "timeout" or fault_active(entry, "timeout", n)
    if stall:
        outcome = "timeout"
    malformed = step == "malformed" or fault_active(entry, "malformed", n)
    outcome = "malformed" if malformed else outcome
    if outcome == "ok" and _out_of_set(entry, n):
        outcome = "out_of_set"
    answer = completion_for(state, body, entry, item, n, malformed=malformed)
    return outcome, JSONResponse(answer), stall


def _out_of_set(entry: dict, answer_no: int) -> bool:
    """Whether this answer has an out-of-set label: the item's, or one question's."""
    if fault_active(entry, "out_of_set", answer_no):
        return True
    scripted = entry.get("answers")
    own = scripted.values() if isinstance(scripted, Mapping) else ()
    return any(isinstance(q, Mapping) and fault_active(q, "out_of_set", answer_no) for q in own)


async def list_models(request: Request) -> JSONResponse:
    """GET /v1/models: the one model the stub serves."""
    model = request.app.state.stub.model
    data = [{"id": model, "object": "model", "created": 0, "owned_by": "labelloop-stub"}]
    return JSONResponse({"object": "list", "data": data})


async def stub_calls(request: Request) -> JSONResponse:
    """GET /stub/calls: request count and attempts per item; DELETE resets them."""
    calls: CallLog = request.app.state.stub.calls
    if request.method == "DELETE":
        calls.clear()
    return JSONResponse({"count": len(calls), "attempts": calls.counts()})


async def stub_script(request: Request) -> JSONResponse:
    """GET /stub/script shows the script; PUT replaces it (for a stub in another process)."""
    state: StubState = request.app.state.stub
    if request.method == "PUT":
        state.script = load_script(await request.json())
    return JSONResponse(state.script)


def create_app(state: StubState) -> Starlette:
    """The ASGI app serving one stub state."""
    from labelloop.testing import stub_batches  # it builds on this module's answers

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            *stub_batches.ROUTES,
            Route("/stub/calls", stub_calls, methods=["GET", "DELETE"]),
            Route("/stub/script", stub_script, methods=["GET", "PUT"]),
        ]
    )
    app.state.stub = state
    return app


class StubServer:
    """The stub served from a background thread; ``with StubServer(script) as stub: ...``."""

    def __init__(
        self,
        script: Any = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        **options: Any,
    ) -> None:
        self.state = StubState(script=load_script(script), **options)
        self.host, self.port, self.log_level = host, port, log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The URL to give a client as ``base_url`` / ``api_base``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def script(self) -> dict[str, dict[str, Any]]:
        """Script entries by item id, exact text or text key; edit it while the server runs."""
        return self.state.script

    @script.setter
    def script(self, source: Any) -> None:
        self.state.script = load_script(source)

    @property
    def calls(self) -> CallLog:
        """Every request received, with its item key, attempt number, body and outcome."""
        return self.state.calls

    def reset(self) -> None:
        """Forget requests and attempt counts, and empty the script."""
        self.state.calls.clear()
        self.state.script.clear()

    def start(self) -> StubServer:
        """Bind the port, start serving in a thread and wait until it accepts requests."""
        # proto given: asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP,
        # and without it Nagle holds each response body until the client's delayed ACK
        # (40 ms on every keep-alive request after the first)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="stub-llm"
        )
        self._thread.start()
        self._wait_started(sock)
        return self

    def _wait_started(self, sock: socket.socket, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"Stub LLM failed to start on {self.host}:{self.port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Ask the server to exit and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


# --- command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Local OpenAI-compatible stub LLM for tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--script", help="JSON or YAML file: item id or text -> entry")
    p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After of 429s")
    p.add_argument("--timeout-seconds", type=float, default=60.0, help="sleep of `timeout`")
    p.add_argument("--labels", default="", help="comma-separated labels for schema-less asks")
    p.add_argument(
        "--item-pattern",
        default=DEFAULT_ITEM_PATTERN,
        help="regex with optional named groups id and text",
    )
    p.add_argument("--model", default="stub-model")
    p.add_argument(
        "--batch-seconds", type=float, default=0.0, help="seconds until a batch is answered"
    )
    p.add_argument("--log-level", default="warning")
    return p


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM, after printing ``READY <base_url>``."""
    args = _parser().parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    options = vars(args)
    options["labels"] = [s.strip() for s in args.labels.split(",") if s.strip()]
    stub = StubServer(options.pop("script"), **options)
    with stub:
        print(f"READY {stub.base_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
