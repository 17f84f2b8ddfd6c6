"""Domain types: frozen pydantic models that flow between pipeline stages.

Tables live in ``labelloop.store.tables``; the store converts between the two.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Route(StrEnum):
    """Where an item stands; one vocabulary in the store, CLI, console and exports."""

    UNLABELED = "unlabeled"
    AUTO_ACCEPTED = "auto_accepted"
    CALIBRATION = "calibration"
    AUDIT = "audit"
    ACTIVE = "active"
    ADJUDICATION = "adjudication"
    FAILED = "failed"
    REVIEWED = "reviewed"


class Queue(StrEnum):
    """Where a review is made: the four queues items wait in, gold items mixed into them,
    and the item browser (a decision changed outside the queues)."""

    CALIBRATION = "calibration"
    AUDIT = "audit"
    ACTIVE = "active"
    ADJUDICATION = "adjudication"
    GOLD = "gold"
    BROWSER = "browser"


#: Queues a reviewer can be served from (and ``export --queue`` accepts).
QUEUES: tuple[Queue, ...] = (Queue.CALIBRATION, Queue.AUDIT, Queue.ACTIVE, Queue.ADJUDICATION)

#: The routes whose items wait in each queue: failed items wait in ``active`` too.
QUEUE_ROUTES: dict[Queue, tuple[Route, ...]] = {
    Queue.CALIBRATION: (Route.CALIBRATION,),
    Queue.AUDIT: (Route.AUDIT,),
    Queue.ACTIVE: (Route.ACTIVE, Route.FAILED),
    Queue.ADJUDICATION: (Route.ADJUDICATION,),
}

#: ``reopen``: the item's earlier decisions no longer hold (its label was split); people
#: decide it again. Written by ``labelloop labels split``, never by a reviewer.
#: ``undo``: takes back the review named in ``supersedes`` (the console's Backspace).
ReviewAction = Literal["accept", "fix", "reject", "skip", "import", "undo", "reopen"]
#: actions that decide a label (with a value)
DECISIVE: tuple[str, ...] = ("accept", "fix", "import")
REOPEN = "reopen"
LabelSource = Literal["human", "model", "adjudicated"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class ToolCall(Frozen):
    """A function call an assistant message asks for: ``arguments`` is the JSON text as the
    provider sent it (kept as text: it need not parse)."""

    name: str
    arguments: str = ""
    id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _wire(cls, data: Any) -> Any:
        """Read the chat-completions form, ``{"id", "type": "function", "function":
        {"name", "arguments"}}``, as well as the flat one."""
        if isinstance(data, dict) and isinstance(data.get("function"), dict):
            fn = data["function"]
            args = fn.get("arguments", "")
            if not isinstance(args, str):  # some logs keep the arguments parsed
                args = json.dumps(args, ensure_ascii=False)
            return {"id": data.get("id"), "name": fn.get("name"), "arguments": args}
        return data

    def plain(self) -> str:
        return f"[tool call {self.name}({self.arguments})]"

    def as_row(self) -> dict[str, Any]:
        """The call in the chat-completions form that exports write."""
        fn = {"name": self.name, "arguments": self.arguments}
        return {
            **({"id": self.id} if self.id is not None else {}),
            "type": "function",
            "function": fn,
        }


class Message(Frozen):
    """One message of a transcript. ``name`` is the speaker's name where the log gives one;
    an assistant message may carry ``tool_calls`` (its ``content`` then often empty), and a
    ``tool`` message answers the call named by ``tool_call_id``."""

    role: str
    content: str
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None

    @property
    def speaker(self) -> str:
        """The role, with the speaker's name where there is one: ``user (ada)``."""
        return f"{self.role} ({self.name})" if self.name else self.role

    def plain(self) -> str:
        """The content as a model reads it: the text, then one line per tool call."""
        calls = [c.plain() for c in self.tool_calls or ()]
        return "\n".join([self.content, *calls] if self.content else calls)

    def as_row(self) -> dict[str, Any]:
        """The message as import rows and exports write it, in the chat-completions form
        (fields it lacks left out)."""
        row: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            row["name"] = self.name
        if self.tool_calls is not None:
            row["tool_calls"] = [c.as_row() for c in self.tool_calls]
        if self.tool_call_id is not None:
            row["tool_call_id"] = self.tool_call_id
        return row

    def extras(self) -> dict[str, Any]:
        """What the message holds besides its role and text (empty for a plain message)."""
        return {k: v for k, v in self.as_row().items() if k not in ("role", "content")}


class Reply(Frozen):
    """One reply to judge (``kind: pairwise | rating | ranking``): its id is the answer's
    value; ``model`` names who wrote it and is never shown to a judge or a reviewer."""

    id: str
    content: str | None = None
    messages: tuple[Message, ...] | None = None
    model: str | None = None

    def render_plain(self) -> str:
        if self.content is not None:
            return self.content
        return "\n".join(f"{m.speaker}: {m.plain()}" for m in self.messages or ())


#: the pairwise answer when neither reply is better (``allow_tie: true``)
TIE = "tie"
#: guideline kinds that judge an item's replies instead of labeling the item
JUDGE_KINDS = frozenset({"pairwise", "rating", "ranking"})


def opaque_id(item_id: str) -> str:
    """The name a judge knows an item by: item ids can name the models that wrote its
    replies ("q1-gpt4-vs-llama"), and a judge must never learn them."""
    return "item-" + hashlib.sha256(item_id.encode()).hexdigest()[:16]


class Item(Frozen):
    """A unit to label: a text, or a chat transcript (optionally one target turn of it);
    with ``replies``, the replies to that conversation a judging task compares."""

    id: str
    text: str | None = None
    messages: tuple[Message, ...] | None = None
    target_turn: int | None = None
    replies: tuple[Reply, ...] | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def reply_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.replies or ())

    @property
    def is_conversation(self) -> bool:
        return self.messages is not None

    def content_hash(self) -> str:
        """Hash of what is labeled (not of meta): same id + same hash = same item."""
        return content_hash(self.text, self.messages, self.target_turn, self.replies)

    def render_plain(self) -> str:
        """The item as plain text: the text, or one ``role: content`` line per turn."""
        if self.text is not None:
            return self.text
        return "\n".join(f"{m.speaker}: {m.plain()}" for m in self.messages or ())


def content_hash(
    text: str | None,
    messages: tuple[Message, ...] | list | None,
    target_turn: int | None,
    replies: tuple[Reply, ...] | list | None = None,
) -> str:
    if text is not None:
        payload: Any = ["t", text]
    else:
        msgs = [_message_key(m) for m in messages or ()]
        payload = ["m", msgs, target_turn]
    if replies:  # the replies judged are part of what is labeled (their models are not)
        rows = [r if isinstance(r, Reply) else Reply.model_validate(r) for r in replies]
        payload.append(
            [[r.id, r.content, [_message_key(m) for m in r.messages or ()]] for r in rows]
        )
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _message_key(m: Message | dict[str, Any]) -> list:
    """What of a message its item's hash covers: role and text, and its name, tool calls
    and call id where it has them (a plain message hashes as it always has)."""
    if isinstance(m, dict):
        if m.keys() <= {"role", "content"}:
            return [m["role"], m["content"]]
        m = Message.model_validate(m)
    if m.name is None and m.tool_calls is None and m.tool_call_id is None:
        return [m.role, m.content]
    return [m.role, m.content, m.extras()]


class Span(Frozen):
    start: int
    end: int
    label: str
    text: str | None = None


def overlapping(spans: Iterable[Span]) -> tuple[Span, Span] | None:
    """The first two spans (in text order) that share a character, or None."""
    ordered = sorted(spans, key=lambda s: (s.start, s.end))
    pairs = zip(ordered, ordered[1:], strict=False)
    return next(((a, b) for a, b in pairs if b.start < a.end), None)


class LabelValue(Frozen):
    """A label decision in any task shape; exactly the field of the guideline's kind is set.

    ``turns`` maps a labeled turn's index to its label for ``unit: turn`` guidelines.
    ``abstain`` is the model saying none of the labels applies.
    """

    label: str | None = None
    labels: tuple[str, ...] | None = None
    spans: tuple[Span, ...] | None = None
    turns: dict[int, str] | None = None
    #: ``kind: rating``: reply id -> a value of the scale; ``kind: ranking``: reply ids, best first
    ratings: dict[str, int | str] | None = None
    ranking: tuple[str, ...] | None = None
    #: a guideline with ``questions``: question name -> the answer to it (answers to the
    #: questions left to people are absent from a model's value until they answer)
    answers: dict[str, LabelValue] | None = None
    abstain: bool = False

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)

    def key(self) -> str:
        """A canonical string for exact-match comparison (sets sorted, spans ordered)."""
        if self.answers is not None:
            return json.dumps(
                {"answers": {q: json.loads(v.key()) for q, v in sorted(self.answers.items())}},
                sort_keys=True,
                separators=(",", ":"),
            )
        d = self.as_dict()
        if "labels" in d:
            d["labels"] = sorted(d["labels"])
        if "spans" in d:
            d["spans"] = sorted(([s["start"], s["end"], s["label"]] for s in d["spans"]), key=tuple)
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    def names(self) -> list[str]:
        """Every label name used in this value."""
        out: list[str] = []
        if self.label:
            out.append(self.label)
        out.extend(self.labels or ())
        out.extend(s.label for s in self.spans or ())
        out.extend((self.turns or {}).values())
        out.extend(str(v) for v in (self.ratings or {}).values())
        for v in (self.answers or {}).values():
            out.extend(v.names())
        return out

    def short(self) -> str:
        """A compact human-readable form for tables and the console."""
        if self.answers is not None:
            return "; ".join(f"{q}: {v.short()}" for q, v in self.answers.items())
        if self.abstain:
            return "(none of these)"
        if self.label is not None:
            return self.label
        if self.labels is not None:
            return ", ".join(self.labels) or "(no labels)"
        if self.turns is not None:
            return "; ".join(f"turn {k}: {v}" for k, v in sorted(self.turns.items()))
        if self.spans is not None:
            return "; ".join(f"{s.label}[{s.start}:{s.end}]" for s in self.spans) or "(no spans)"
        if self.ratings is not None:
            return ", ".join(f"{k}: {v}" for k, v in sorted(self.ratings.items()))
        if self.ranking is not None:
            return " > ".join(self.ranking)
        return ""


class Suggestion(Frozen):
    """A model's proposed label with its provenance and every confidence signal."""

    item_id: str
    model: str
    value: LabelValue | None
    confidence: float | None = None
    calibrated: float | None = None
    rationale: str = ""
    signals: dict[str, float | None] = Field(default_factory=dict)
    prompt_version: str = ""
    guideline_version: str = ""
    fewshot_ids: tuple[str, ...] = ()
    cache_key: str = ""
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    raw: str | None = None
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    id: int | None = None


class Review(Frozen):
    """A person's decision on an item; append-only (a changed mind is a new review)."""

    item_id: str
    reviewer: str
    action: ReviewAction
    value: LabelValue | None = None
    queue: str | None = None
    blind: bool = False
    suggestion_id: int | None = None
    duration_ms: int | None = None
    reason: str | None = None
    comment: str | None = None
    #: ``mapping``: a copy of an earlier review with its labels renamed or merged
    source: Literal["console", "import", "mapping"] = "console"
    #: an ``undo`` takes back the review with this id
    supersedes: int | None = None
    #: recorded by a bulk accept in the item browser (``bulk_id`` names which)
    bulk: bool = False
    bulk_id: int | None = None
    #: the item's route changed while it was leased: never a calibration pair
    route_changed: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    id: int | None = None


def current_reviews(reviews: Sequence[Review]) -> list[Review]:
    """An item's reviews (oldest first) made after its last ``reopen``: those that still hold."""
    cut = max((i + 1 for i, r in enumerate(reviews) if r.action == REOPEN), default=0)
    return list(reviews[cut:])


class RouteDecision(Frozen):
    """The routing step's verdict for one item."""

    item_id: str
    route: Route
    reason: str
    suggestion_id: int | None = None


class LabelDef(Frozen):
    """One label's section of a guideline."""

    name: str
    definition: str = ""
    examples: tuple[str, ...] = ()
    #: (text, the label it belongs to instead, if the guideline names one)
    counter_examples: tuple[tuple[str, str | None], ...] = ()
    line: int = 0


class Question(Frozen):
    """One question of a guideline that asks several (``questions:`` in the front matter):
    its own kind, labels (or scale), and its ``## name`` section's text as instructions.
    ``unit: turn`` asks it of each labeled turn of a conversation."""

    name: str
    kind: Literal["single", "multi", "spans", "pairwise", "rating", "ranking"] = "single"
    labels: tuple[LabelDef, ...] = ()
    unit: Literal["item", "turn"] = "item"
    turn_role: Literal["user", "assistant", "any"] = "user"
    allow_tie: bool = False
    scale: Literal["nominal", "ordinal"] = "nominal"
    allow_abstain: bool = False
    instructions: str = ""
    line: int = 0


class Guideline(Frozen):
    """A parsed guideline file; ``version`` is the hash of its normalised text.

    A guideline that asks several questions has ``questions`` (and no labels of its own):
    ``for_question(name)`` is the one-question guideline each stage works with."""

    task: str
    unit: Literal["text", "conversation", "turn"] = "text"
    #: ``unit: turn``: whose turns are labeled (``labelloop.core.turns``)
    turn_role: Literal["user", "assistant", "any"] = "user"
    kind: Literal["single", "multi", "spans", "pairwise", "rating", "ranking"] = "single"
    #: ``kind: rating``: the scale's values, lowest first; ``pairwise``/``ranking``: none
    #: (the answer names reply ids)
    labels: tuple[LabelDef, ...]
    #: ``kind: pairwise``: "tie" is an answer
    allow_tie: bool = False
    scale: Literal["nominal", "ordinal"] = "nominal"
    allow_abstain: bool = False
    title: str = ""
    #: general instructions: every section except ``## Labels``, as Markdown
    instructions: str = ""
    #: the whole normalised file text (shown in the console)
    text: str = ""
    version: str = ""
    path: str | None = None
    questions: tuple[Question, ...] = ()
    #: ``meta`` fields shown with each item, to people and models (``labelloop.core.context``)
    context: tuple[str, ...] = ()

    @property
    def asks_questions(self) -> bool:
        return bool(self.questions)

    @property
    def question_names(self) -> list[str]:
        return [q.name for q in self.questions]

    def question(self, name: str) -> Question:
        for q in self.questions:
            if q.name == name:
                return q
        raise KeyError(name)

    def for_question(self, name: str) -> Guideline:
        """The guideline of one question: its kind, labels and unit, the general
        instructions followed by the question's own; its version names the question, so
        models fitted for one question are never used for another."""
        q = self.question(name)
        own = f"## {q.name}\n\n{q.instructions}".rstrip() if q.instructions else ""
        return self.model_copy(
            update={
                "task": f"{self.task}/{q.name}",
                "unit": "turn" if q.unit == "turn" else self.unit,
                "turn_role": q.turn_role,
                "kind": q.kind,
                "labels": q.labels,
                "allow_tie": q.allow_tie,
                "scale": q.scale,
                "allow_abstain": q.allow_abstain,
                "instructions": "\n\n".join(x for x in (self.instructions, own) if x),
                "version": f"{self.version}/{q.name}",
                "questions": (),
            }
        )

    @property
    def all_label_names(self) -> list[str]:
        """Every label name: the guideline's, or every question's for one that asks several."""
        if not self.questions:
            return self.label_names
        return list(dict.fromkeys(lab.name for q in self.questions for lab in q.labels))

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def judges(self) -> bool:
        """Whether the task judges an item's replies (pairwise, rating, ranking)."""
        return self.kind in JUDGE_KINDS

    @property
    def judges_any(self) -> bool:
        """Whether the task, or one of its questions, judges an item's replies."""
        return self.judges or any(q.kind in JUDGE_KINDS for q in self.questions)

    def choices(self, item: Item) -> list[str]:
        """The answers an item may get: the labels, or for a pairwise task its reply ids
        (and "tie" where allowed)."""
        if self.kind == "pairwise":
            return [*item.reply_ids, *((TIE,) if self.allow_tie else ())]
        return self.label_names

    def label(self, name: str) -> LabelDef:
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item with its routing suggestion, route and reviews: a plain holder of parts
    validated on their own (one per exported row, so it costs nothing to build)."""

    item: Item
    suggestion: Suggestion | None = None
    route: str = "unlabeled"
    route_reason: str = ""
    reviews: tuple[Review, ...] = ()
    #: a judging task's rule for several people's answers (``labelloop.core.consensus``)
    consensus: Callable[[Sequence[Review]], LabelValue | None] | None = None
    #: a guideline with questions: the questions the routing step auto-accepted
    accepted: frozenset[str] = frozenset()
    #: a guideline with questions: that guideline (each question is decided on its own)
    questions: Guideline | None = None
