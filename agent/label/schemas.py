"""Output schemas: the pydantic models an LLM fills in, built from a guideline.

One model per task shape (see ``shape``)::

    single  {"label": L, ...}                        L: a label, or "none_of_these"
    multi   {"labels": [L, ...], ...}                empty only when abstaining is allowed
    spans   {"spans": [{"text", "label", "start", "end"}], ...}
    turns   {"turns": [{"turn", "label"}], ...}      unit: turn, one label per user turn

Every model then has ``guideline_section``, ``rationale`` and ``confidence`` (0-100).

A guideline that asks several questions (``questions:``) has the shape "questions": one
object keyed by question name, each member the answer to that question in the fields of
the one-question model of ``Guideline.for_question(name)`` (label, labels, spans, turns,
or a judge's positions), then its own ``rationale`` and ``confidence``::

    questions  {"category": {"label": L, "rationale", "confidence"},
                "topics": {"labels": [L, ...], "rationale", "confidence"}}

Field order: the label field comes FIRST. The label's tokens are then the model's first
decision, conditioned on the prompt only. Were the rationale written first (chain of
thought), the label would follow from the model's own text and its token probability would
sit near 1.0 for almost every item, which ruins logprobs as a confidence signal; with a
large guideline prefix, thinking aloud before a classification gains little, and reasoning
models think before answering anyway. The rationale justifies the choice, and the
verbalized confidence comes last, after the model has explained itself. (Logprob signals
find the label by its JSON key, so ``labelloop.label.signals`` works with either order.)

Validators read the item and guideline from pydantic's validation context
(``model_validate(data, context=validation_context(item, guideline))``), or, when no
context is given, from ``bind_context`` (see there for why a provider using instructor
wants that). Without either, span offsets and turn coverage are not checked.
"""

from __future__ import annotations

import contextvars
import difflib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)

from labelloop.core.positions import scale_value
from labelloop.core.turns import article, labeled_turns, turn_noun
from labelloop.core.types import Guideline, Item, LabelValue, Span

#: the answer meaning "no label of the guideline fits" (offered when allow_abstain is set)
NONE_OF_THESE = "none_of_these"
#: how many valid labels an out-of-set error lists
_LISTED = 8

Shape = Literal["single", "multi", "spans", "turns", "pairwise", "rating", "ranking", "questions"]
#: a pairwise answer names a position as the prompt showed it, never a reply id: "1" is
#: the reply shown first (``labelloop.label.judging`` maps it back to the reply's id)
POSITIONS = ("1", "2")

_MARKER = re.compile(r"<(?=\s*/?\s*item\b)", re.IGNORECASE)
#: the markers of an item shown with its context (``<context>``, ``<text>``) as well
_ALL_MARKERS = re.compile(r"<(?=\s*/?\s*(?:item|context|text)\b)", re.IGNORECASE)
_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "labelloop_validation_context", default=None
)


def shape(guideline: Guideline) -> Shape:
    """The task shape: questions (a guideline that asks several), spans (kind: spans),
    turns (unit: turn), else single or multi."""
    if guideline.asks_questions:
        return "questions"
    if guideline.kind == "spans":
        return "spans"
    if guideline.kind in ("pairwise", "rating", "ranking"):
        return guideline.kind
    if guideline.unit == "turn":
        return "turns"
    return guideline.kind


def label_choices(guideline: Guideline) -> tuple[str, ...]:
    """The values the label field may take: the labels, plus "none_of_these" if abstaining."""
    if guideline.kind == "pairwise":
        return POSITIONS + (("tie",) if guideline.allow_tie else ())
    names = tuple(guideline.label_names)
    if guideline.allow_abstain and shape(guideline) in ("single", "turns"):
        if NONE_OF_THESE not in names:
            names += (NONE_OF_THESE,)
    return names


def item_text(item: Item) -> str:
    """The text span offsets count in: the text, or the transcript as ``role: content`` lines."""
    return item.render_plain()


def neutralise(text: str) -> str:
    """The text with every ``<item``/``</item`` made inert, so it cannot close its delimiter.

    Only the ``<`` changes (to U+2039, a look-alike), so offsets into the text stay valid.
    """
    return _MARKER.sub("\u2039", text)


def neutralise_all(text: str) -> str:
    """:func:`neutralise` for an item shown with its context: ``<context``, ``<text`` and
    their closing markers made inert too, so the item cannot forge its own context."""
    return _ALL_MARKERS.sub("\u2039", text)


def turns_to_label(item: Item, guideline: Guideline | None = None) -> list[int]:
    """Indices of the item's turns a ``unit: turn`` guideline labels (its ``turn_role``)."""
    return labeled_turns(item.messages, guideline.turn_role if guideline else "user")


def validation_context(item: Item, guideline: Guideline) -> dict[str, Any]:
    """The validation context the output models' validators read."""
    return {"item": item, "guideline": guideline}


@contextmanager
def bind_context(item: Item, guideline: Guideline) -> Iterator[None]:
    """Validate outputs against this item inside the block, without passing ``context=``.

    instructor's ``context=`` is also rendered into every message as a Jinja template,
    which would rewrite items that contain ``{{``, ``{%`` or ``{#``; a provider calls
    instructor without it, inside this block (a ContextVar: safe across asyncio tasks).
    """
    token = _bound.set(validation_context(item, guideline))
    try:
        yield
    finally:
        _bound.reset(token)


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    ctx = info.context if isinstance(info.context, Mapping) else None
    return ctx if ctx is not None else (_bound.get() or {})


# --- label values ------------------------------------------------------------------------


def unknown_label_message(value: Any, guideline: Guideline) -> str:
    """An error for a value outside the label set that says what to answer instead."""
    choices = label_choices(guideline)
    version = f" (guideline {guideline.version})" if guideline.version else ""
    close = difflib.get_close_matches(str(value), choices, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    shown = ", ".join(choices[:_LISTED])
    more = f" and {len(choices) - _LISTED} more" if len(choices) > _LISTED else ""
    return (
        f"Unknown label {value!r} for task {guideline.task!r}{version}: {hint}valid labels "
        f"are {shown}{more}; answer with a label exactly as written in the guideline"
    )


def _label_type(guideline: Guideline) -> Any:
    """``Literal[<choices>]`` whose out-of-set error names the task and valid labels."""
    choices = label_choices(guideline)
    allowed = frozenset(choices)

    def check(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # ordinal labels such as "1".."5" answered as numbers
        if isinstance(value, str) and value in allowed:
            return value
        raise ValueError(unknown_label_message(value, guideline))

    return Annotated[Literal[choices], BeforeValidator(check)]


def _label_set_check(guideline: Guideline) -> Any:
    """Drops repeated labels; refuses an empty set unless the guideline allows abstaining."""

    def check(labels: list[str]) -> list[str]:
        if not labels and not guideline.allow_abstain:
            raise ValueError(
                f"no labels chosen: every item of task {guideline.task!r} gets at least one "
                "label (this guideline does not allow abstaining); choose the labels that fit"
            )
        return list(dict.fromkeys(labels))

    return check


def _percent(value: Any) -> Any:
    """Confidence as an integer percent: 0.85 becomes 85, 85.0 becomes 85."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float) and 0.0 < value < 1.0:
        return round(value * 100)
    return value


Confidence = Annotated[int, BeforeValidator(_percent)]

#: the class attribute of a question's answer model that holds that question's guideline
_OWN_GUIDELINE = "__labelloop_guideline__"
#: the class attribute of a questions model: (question, field name) pairs, in order
_QUESTION_FIELDS = "__labelloop_questions__"


def _guideline_of(model: BaseModel, ctx: Mapping[str, Any]) -> Guideline | None:
    """The guideline a model's validators check against: a question's own guideline for
    the answer to one question of several, else the context's."""
    return getattr(type(model), _OWN_GUIDELINE, None) or ctx.get("guideline")


# --- model bases: validators only, so create_model decides the field order ---------------


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _SpanOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _check_offsets(self, info: ValidationInfo) -> _SpanOut:
        item = _context(info).get("item")
        if item is not None:
            start, end, text = _locate(self.text, self.start, self.end, item)
            self.start, self.end, self.text = start, end, text
        return self


class _TurnLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ReplyRating(BaseModel):
    model_config = ConfigDict(extra="forbid")


def positions(item: Item | None) -> list[str]:
    """The positions a judge names an item's replies by: "1", "2", ... as shown."""
    return [str(n) for n in range(1, len(item.replies or ()) + 1)] if item is not None else []


def position_problems(named: list[str], item: Item | None, what: str) -> list[str]:
    """What is wrong with the reply positions an answer names (each reply exactly once)."""
    problems = [f"Reply {p} is {what} twice" for p in sorted(set(named)) if named.count(p) > 1]
    if item is None:
        return problems
    shown = positions(item)
    problems += [
        f"there is no Reply {p} (replies 1 to {len(shown)})" for p in named if p not in shown
    ]
    missing = [p for p in shown if p not in named]
    if missing:
        problems.append(f"Reply {', '.join(missing)} not {what}")
    if problems:
        problems.append(f"give every reply (1 to {len(shown)}) exactly once")
    return problems


class _RatingAnswer(_Answer):
    @model_validator(mode="after")
    def _check_replies(self, info: ValidationInfo) -> _RatingAnswer:
        item = _context(info).get("item")
        problems = position_problems([r.reply for r in self.ratings], item, "rated")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class _RankingAnswer(_Answer):
    @model_validator(mode="after")
    def _check_replies(self, info: ValidationInfo) -> _RankingAnswer:
        item = _context(info).get("item")
        problems = position_problems(list(self.ranking), item, "ranked")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class _TurnsAnswer(_Answer):
    @model_validator(mode="after")
    def _check_turns(self, info: ValidationInfo) -> _TurnsAnswer:
        ctx = _context(info)
        problems = turn_problems(
            [t.turn for t in self.turns], ctx.get("item"), _guideline_of(self, ctx)
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _locate(text: str, start: int, end: int, item: Item) -> tuple[int, int, str]:
    """Offsets that make ``item_text(item)[start:end] == text``, repaired from the text."""
    full = item_text(item)
    if 0 <= start <= end <= len(full) and full[start:end] == text and text:
        return start, end, text
    seen = neutralise(full)  # the item as the model saw it: same length
    wider = neutralise_all(full)  # ... when it was shown with its context
    for candidate in dict.fromkeys((text, text.strip())):
        hits = _occurrences(full, candidate) | _occurrences(seen, candidate)
        hits |= _occurrences(wider, candidate) if wider != seen else set()
        if candidate and hits:
            best = min(hits, key=lambda i: (abs(i - start), i))
            return best, best + len(candidate), full[best : best + len(candidate)]
    if not text.strip():
        raise ValueError("a span has empty text: copy each span's passage from the item")
    raise ValueError(
        f"the span text {text!r} does not occur in the item: copy each span's text exactly, "
        "character for character, from the text between the item markers, and give its "
        "start and end offsets in that text"
    )


def _occurrences(haystack: str, needle: str) -> set[int]:
    out, at = set(), haystack.find(needle) if needle else -1
    while at >= 0:
        out.add(at)
        at = haystack.find(needle, at + 1)
    return out


def turn_problems(
    turns: list[int], item: Item | None, guideline: Guideline | None = None
) -> list[str]:
    """What is wrong with the labeled turn indices (empty when each turn the guideline's
    ``turn_role`` labels has one)."""
    problems = [
        f"turn {t} is labeled twice" for t in sorted({t for t in turns if turns.count(t) > 1})
    ]
    if item is None:
        return problems
    noun = turn_noun(guideline.turn_role if guideline else "user")
    wanted, n = turns_to_label(item, guideline), len(item.messages or ())
    listing = ", ".join(map(str, wanted))
    for t in dict.fromkeys(turns):
        if not 0 <= t < n:
            problems.append(f"there is no turn {t} (the conversation has turns 0 to {n - 1})")
        elif t not in wanted:
            role = item.messages[t].role
            problems.append(f"turn {t} is not {article(noun)} (its role is {role})")
    missing = [t for t in wanted if t not in turns]
    if missing:
        problems.append(f"{noun}(s) {', '.join(map(str, missing))} have no label")
    if problems:
        problems.append(f"give each {noun} ({listing}) exactly one label")
    return problems


# --- the models ----------------------------------------------------------------------------


def _common_fields(guideline: Guideline) -> dict[str, Any]:
    first = guideline.labels[0].name if guideline.labels else "Criteria"
    return {
        "guideline_section": (
            str,
            Field(
                description="The heading of the guideline section relied on most, without "
                f"the # marks: a label name (e.g. {first!r}) or an instruction heading."
            ),
        ),
        "rationale": (
            str,
            Field(description="One or two short sentences: the decisive words and the rule."),
        ),
        "confidence": (
            Confidence,
            Field(
                ge=0,
                le=100,
                description="0-100: how likely a careful annotator gives the same answer.",
            ),
        ),
    }


_BASES = {"turns": _TurnsAnswer, "rating": _RatingAnswer, "ranking": _RankingAnswer}


@lru_cache(maxsize=32)
def output_model(guideline: Guideline) -> type[BaseModel]:
    """The pydantic model an LLM fills in for this guideline (cached per guideline)."""
    if shape(guideline) == "questions":
        return _questions_model(guideline)
    name, fields = _label_field(guideline)
    base = _BASES.get(shape(guideline), _Answer)
    doc = f"The answer for one item of the labeling task {guideline.task!r}."
    return create_model(name, __base__=base, __doc__=doc, **fields, **_common_fields(guideline))


@lru_cache(maxsize=32)
def question_guidelines(guideline: Guideline) -> dict[str, Guideline]:
    """Each question's one-question guideline (``Guideline.for_question``), in order."""
    return {name: guideline.for_question(name) for name in guideline.question_names}


def _questions_model(guideline: Guideline) -> type[BaseModel]:
    """One field per question, named by the question (a JSON alias: a question may be
    named like a pydantic attribute, or not be a Python identifier), each an object with
    that question's answer field(s), its rationale and its confidence."""
    fields: dict[str, Any] = {}
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for n, (name, own) in enumerate(question_guidelines(guideline).items()):
        prefix = _model_prefix(name, taken)
        answer_name, answer = _label_field(own, prefix)
        model = create_model(
            f"{prefix}{answer_name}",
            __base__=_BASES.get(shape(own), _Answer),
            __doc__=f"The answer to the question {name!r}.",
            **answer,
            **_question_tail(),
        )
        setattr(model, _OWN_GUIDELINE, own)
        field = f"q{n}"
        fields[field] = (model, Field(alias=name))
        pairs.append((name, field))
    doc = f"The answers to every question of the labeling task {guideline.task!r} for one item."
    model = create_model("QuestionsAnswer", __base__=_Answer, __doc__=doc, **fields)
    setattr(model, _QUESTION_FIELDS, tuple(pairs))
    return model


def _model_prefix(name: str, taken: set[str]) -> str:
    """A model name prefix from a question name ("is-toxic" -> "IsToxic"), unique."""
    words = re.findall(r"[0-9A-Za-z]+", name)
    base = "".join(w[:1].upper() + w[1:] for w in words) or "Question"
    if base[0].isdigit():
        base = "Q" + base
    prefix, n = base, 2
    while prefix in taken:
        prefix, n = f"{base}{n}", n + 1
    taken.add(prefix)
    return prefix


def _question_tail() -> dict[str, Any]:
    """The fields after a question's answer: its own rationale and confidence."""
    return {
        "rationale": (
            str,
            Field(description="One or two short sentences: the decisive words and the rule."),
        ),
        "confidence": (
            Confidence,
            Field(
                ge=0,
                le=100,
                description="0-100: how likely a careful annotator gives the same answer to "
                "this question.",
            ),
        ),
    }


def question_answers(output: BaseModel) -> dict[str, BaseModel]:
    """A questions output's answer objects keyed by question name, in order."""
    return {name: getattr(output, field) for name, field in getattr(type(output), _QUESTION_FIELDS)}


def _label_field(guideline: Guideline, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The model's name and its first field: label, labels, spans or turns. ``prefix``
    starts the names of the models it creates (a question's, so that two questions' span
    or turn models get names of their own in the JSON schema)."""
    label, kind = _label_type(guideline), shape(guideline)
    if kind == "pairwise":
        tie = ', or "tie" when neither is better' if guideline.allow_tie else ""
        field = Field(description=f'The better reply: "1" (shown first) or "2"{tie}.')
        return "PairwiseAnswer", {"label": (label, field)}
    if kind == "rating":
        rating = create_model(
            f"{prefix}ReplyRating",
            __base__=_ReplyRating,
            reply=(str, Field(description='The reply\'s position as shown: "1", "2", ...')),
            rating=(label, Field(description="Its value on the guideline's scale.")),
        )
        field = Field(description="One entry per reply, in the order shown.")
        return "RatingAnswer", {"ratings": (list[rating], field)}
    if kind == "ranking":
        field = Field(description='The replies\' positions ("1", "2", ...), best first.')
        return "RankingAnswer", {"ranking": (list[str], field)}
    if kind == "single":
        field = Field(description="The one label the guideline gives the item.")
        return "LabelAnswer", {"label": (label, field)}
    if kind == "multi":
        labels = Annotated[list[label], AfterValidator(_label_set_check(guideline))]
        field = Field(
            description="Every label the guideline gives the item, each once.",
            json_schema_extra={} if guideline.allow_abstain else {"minItems": 1},
        )
        return "LabelsAnswer", {"labels": (labels, field)}
    if kind == "spans":
        span = create_model(
            f"{prefix}SpanOut",
            __base__=_SpanOut,
            text=(str, Field(description="The passage, copied exactly from the item.")),
            label=(label, Field(description="The label of the passage.")),
            start=(int, Field(description="Offset of the passage's first character.")),
            end=(int, Field(description="Offset just after its last character.")),
        )
        field = Field(description="Every labeled passage of the item, in order.")
        return "SpansAnswer", {"spans": (list[span], field)}
    noun = turn_noun(guideline.turn_role)
    turn = create_model(
        f"{prefix}TurnLabel",
        __base__=_TurnLabel,
        turn=(int, Field(description=f"The N of the {noun}'s [turn N] line.")),
        label=(label, Field(description="The label of that turn.")),
    )
    field = Field(description=f"One entry per {noun}, in order.")
    return "TurnsAnswer", {"turns": (list[turn], field)}


def response_format(guideline: Guideline) -> dict[str, Any]:
    """The ``response_format`` of a strict JSON-schema request (content carries logprobs)."""
    model = output_model(guideline)
    schema = model.model_json_schema()  # already strict: closed objects, all fields required
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": schema, "strict": True},
    }


def reask_message(error: Exception) -> str:
    """The user message that asks the model to fix an answer that failed validation."""
    if isinstance(error, ValidationError):
        problems = [
            f"- {'.'.join(map(str, e['loc'])) or 'answer'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in error.errors(include_url=False)
        ]
    else:
        problems = [f"- {error}"]
    return (
        "Your answer does not follow the rules:\n"
        + "\n".join(problems)
        + "\nAnswer again for the same item with one JSON object that follows the response "
        "schema, correcting these problems."
    )


# --- between outputs and label values -------------------------------------------------------


def to_value(output: BaseModel, guideline: Guideline) -> LabelValue:
    """The label decision in an output; abstaining gives ``LabelValue(abstain=True)``.

    For turns, a turn answered "none_of_these" is left out and the value abstains.
    For questions, ``answers`` holds each question's value, made by this same rule from its
    one-question guideline (a judge's answers are positions, as for one question).
    """
    kind = shape(guideline)
    if kind == "questions":
        own = question_guidelines(guideline)
        got = question_answers(output)
        return LabelValue(answers={q: to_value(got[q], own[q]) for q in own})
    names = set(guideline.label_names)
    if kind == "pairwise":  # a position: the caller maps it to the reply shown there
        return LabelValue(label=output.label)
    if kind == "rating":  # positions too (``labelloop.core.positions.from_shown``)
        return LabelValue(ratings={r.reply: scale_value(r.rating) for r in output.ratings})
    if kind == "ranking":
        return LabelValue(ranking=tuple(output.ranking))
    if kind == "single":
        if output.label not in names:
            return LabelValue(abstain=True)
        return LabelValue(label=output.label)
    if kind == "multi":
        labels = tuple(dict.fromkeys(output.labels))
        return LabelValue(labels=labels) if labels else LabelValue(abstain=True)
    if kind == "spans":
        spans = {(s.start, s.end, s.label): s.text for s in output.spans}
        ordered = sorted(spans.items())
        return LabelValue(
            spans=tuple(Span(start=a, end=b, label=c, text=t) for (a, b, c), t in ordered)
        )
    turns = {t.turn: t.label for t in output.turns}
    kept = {k: v for k, v in sorted(turns.items()) if v in names}
    return LabelValue(turns=kept, abstain=len(kept) < len(turns))


def answer_json(
    value: LabelValue,
    guideline: Guideline,
    rationale: str | Mapping[str, str] = "",
    section: str = "",
    confidence: int = 90,
    *,
    item: Item | None = None,
) -> dict[str, Any]:
    """The answer object ``output_model(guideline)`` expects for a value (fields in order).

    ``item`` fills in span texts a value lacks and, for an abstaining turns value, the user
    turns it left out (as "none_of_these"). For questions, ``rationale`` may map question
    names to each answer's rationale, and the value must answer every question (a
    ValueError names the ones it leaves out); ``section`` is not part of that answer.
    """
    kind = shape(guideline)
    if kind == "questions":
        return _questions_json(value, guideline, rationale, confidence, item)
    if not isinstance(rationale, str):
        raise TypeError("a rationale per question is for a guideline that asks questions")
    tail = {"guideline_section": section, "rationale": rationale, "confidence": confidence}
    if kind in ("pairwise", "rating", "ranking"):  # examples show replies in their own order
        ids = list(item.reply_ids) if item is not None else ["a", "b"]
        if kind == "rating":
            rated = [
                {"reply": str(ids.index(r) + 1), "rating": str(v)}
                for r, v in (value.ratings or {}).items()
            ]
            return {"ratings": sorted(rated, key=lambda r: int(r["reply"])), **tail}
        if kind == "ranking":
            return {"ranking": [str(ids.index(r) + 1) for r in value.ranking or ()], **tail}
        shown = value.label if value.label == "tie" else POSITIONS[ids.index(value.label)]
        return {"label": shown, **tail}
    if kind == "single":
        return {"label": NONE_OF_THESE if value.abstain else value.label, **tail}
    if kind == "multi":
        return {"labels": [] if value.abstain else list(value.labels or ()), **tail}
    if kind == "spans":
        return {"spans": [_span_json(s, item) for s in value.spans or ()], **tail}
    turns = dict(value.turns or {})
    if value.abstain and item is not None:
        turns = {t: turns.get(t, NONE_OF_THESE) for t in turns_to_label(item, guideline)}
    return {"turns": [{"turn": t, "label": lab} for t, lab in sorted(turns.items())], **tail}


def unanswered(value: LabelValue, guideline: Guideline) -> list[str]:
    """The questions of a questions guideline that a value does not answer, in order."""
    got = value.answers or {}
    return [q for q in guideline.question_names if q not in got]


def _questions_json(
    value: LabelValue,
    guideline: Guideline,
    rationale: str | Mapping[str, str],
    confidence: int,
    item: Item | None,
) -> dict[str, Any]:
    missing = unanswered(value, guideline)
    if missing:
        raise ValueError(
            f"the value does not answer question(s) {', '.join(missing)} of task "
            f"{guideline.task!r}: an answer to every question is needed"
        )
    out: dict[str, Any] = {}
    for q, own in question_guidelines(guideline).items():
        why = rationale.get(q, "") if isinstance(rationale, Mapping) else rationale
        part = answer_json(value.answers[q], own, why, "", confidence, item=item)
        del part["guideline_section"]
        out[q] = part
    return out


def _span_json(span: Span, item: Item | None) -> dict[str, Any]:
    text = span.text
    if text is None:
        if item is None:
            raise ValueError(f"span {span.start}:{span.end} has no text: pass item= to answer_json")
        text = item_text(item)[span.start : span.end]
    return {"text": text, "label": span.label, "start": span.start, "end": span.end}
