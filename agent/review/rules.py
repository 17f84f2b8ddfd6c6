"""The review's pure rules: where a decision sends an item, what a console answer means,
whether it is whole, which guideline section a suggestion cites. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pydantic

from labelloop.core.errors import LabelloopError
from labelloop.core.positions import scale_value
from labelloop.core.types import (
    QUEUE_ROUTES,
    Guideline,
    Item,
    LabelValue,
    Queue,
    Review,
    Route,
    Suggestion,
    overlapping,
)
from labelloop.label.schemas import item_text, turn_problems
from labelloop.review.judging import check_answer
from labelloop.review.views import (
    ACTIONS,
    ADJUDICATION_QUEUE,
    GOLD_QUEUE,
    REJECT_REASONS,
    GuidelineSection,
    ValueInput,
)
from labelloop.store.review_queue import RouteChange, browse_label

_SECTION_NOTE = re.compile(r"\[guideline: ([^\]]+)\]")


def answer_key(review: Review) -> str:
    """What two answers must share to agree: the value, or the fact of rejecting."""
    if review.action == "reject" or review.value is None:
        return "reject"
    return review.value.key()


def route_after(
    queue: str, review: Review, earlier: Sequence[Review], overlap: bool, needed: int
) -> RouteChange:
    """Where a decision sends the item: nowhere (skip, gold, overlap still short of answers),
    to ``reviewed``, or to ``adjudication`` when overlap answers disagree."""
    label = browse_label(review.value) if review.action != "reject" else None
    if review.action == "skip" or queue == GOLD_QUEUE:
        return RouteChange(None)
    if queue == ADJUDICATION_QUEUE:
        return RouteChange(Route.REVIEWED, f"adjudicated by {review.reviewer}", label)
    if not overlap:
        return RouteChange(Route.REVIEWED, f"{review.action} by {review.reviewer}", label)
    latest = {r.reviewer: r for r in [*earlier, review]}
    if len(latest) < needed:
        return RouteChange(None)
    if len({answer_key(r) for r in latest.values()}) == 1:
        return RouteChange(Route.REVIEWED, f"{len(latest)} reviewers agree", label)
    who = ", ".join(sorted(latest))
    return RouteChange(Route.ADJUDICATION, f"overlap reviewers disagree ({who})")


def queue_route(queue: str, suggestion: Suggestion | None) -> str:
    """The route an item goes back to when a decision on it is undone."""
    if queue == Queue.ACTIVE and (suggestion is None or suggestion.status == "failed"):
        return Route.FAILED
    return QUEUE_ROUTES.get(queue, (queue,))[0]


def cited_section(guideline: Guideline, suggestion: Suggestion | None) -> GuidelineSection | None:
    """The guideline section the suggestion cites (``[guideline: X]`` in its rationale), else
    the section of the label it suggests."""
    if suggestion is None:
        return None
    cited = _SECTION_NOTE.search(suggestion.rationale or "")
    names = [cited.group(1).strip().lstrip("#").strip()] if cited else []
    # a judging answer names replies or scale values, not sections: only a citation counts
    if suggestion.value is not None and not guideline.judges:
        names += suggestion.value.names()[:1]
    for name in names:
        if name in guideline.label_names:
            return label_section(guideline, name)
        text = _general_section(guideline.instructions, name)
        if text is not None:
            return GuidelineSection(heading=name, text=text)
    return None


def label_section(guideline: Guideline, name: str) -> GuidelineSection:
    """What the guideline says of label ``name``: its definition, examples and
    counter-examples."""
    lab = guideline.label(name)
    lines = [lab.definition, *(f"- Example: {e}" for e in lab.examples)]
    lines += [_counter(text, other) for text, other in lab.counter_examples]
    return GuidelineSection(heading=name, text="\n".join(x for x in lines if x))


def answered_sections(guideline: Guideline, values) -> tuple[GuidelineSection, ...]:
    """The guideline's sections of the labels in ``values`` (answers side by side), each
    once, in the order first named; none for a judging task (its answers name replies)."""
    if guideline.judges:
        return ()
    names = dict.fromkeys(n for v in values if v is not None for n in v.names())
    return tuple(label_section(guideline, n) for n in names if n in guideline.label_names)


def _counter(text: str, other: str | None) -> str:
    return f"- Counter-example: {text}" + (f" ({other})" if other else "")


def _general_section(markdown: str, heading: str) -> str | None:
    """The body under a ``#``-heading named ``heading`` in the general instructions."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if m and m.group(2).casefold() == heading.casefold():
            body = []
            for nxt in lines[i + 1 :]:
                n = re.match(r"^(#+)\s", nxt)
                if n and len(n.group(1)) <= len(m.group(1)):
                    break
                body.append(nxt)
            return "\n".join(body).strip()
    return None


#: how a span task's answer is written, for messages about one written otherwise
SPAN_ANSWER = (
    'a list of spans, [{"start": 0, "end": 4, "label": "..."}] (character offsets into the '
    'text; [] is the answer "no spans")'
)


def to_value(guideline: Guideline, value: ValueInput) -> LabelValue:
    """An answer (``ValueInput``) as a ``LabelValue``; refuses labels the guideline does not
    have."""
    if value is None:
        raise LabelloopError("Pick a label first")
    value = _structured(guideline, value)
    if guideline.asks_questions:
        return _answers(guideline, value)
    if isinstance(value, LabelValue):
        out = value
    elif guideline.kind == "spans":
        raise LabelloopError(f"A span task's answer is {SPAN_ANSWER}, not {value!r:.80}")
    elif isinstance(value, str):
        out = LabelValue(labels=(value,)) if guideline.kind == "multi" else LabelValue(label=value)
    elif not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        # the JSON API passes on whatever a client sent: a number, a list of lists
        valid = ", ".join(guideline.label_names)
        raise LabelloopError(
            f"A label is a name or a list of names, not {type(value).__name__} {value!r:.80}"
            + (f": valid labels are {valid}" if valid else "")
        )
    else:
        names = tuple(dict.fromkeys(value))
        if guideline.kind != "multi" and len(names) != 1:
            raise LabelloopError("Pick exactly one label")
        out = LabelValue(labels=names) if guideline.kind == "multi" else LabelValue(label=names[0])
    if guideline.judges:
        # reply ids are checked against the item (check_complete); ratings against the scale
        if out.ratings is not None:
            out = LabelValue(ratings={k: scale_value(v) for k, v in out.ratings.items()})
        return out
    valid = guideline.label_names
    for name in out.names():
        if name not in valid:
            raise LabelloopError(
                f"Unknown label {name!r} for task {guideline.task!r} (guideline "
                f"{guideline.version}): valid labels are {', '.join(valid)}"
            )
    return out


def _structured(guideline: Guideline, value: ValueInput) -> ValueInput:
    """A list of spans or a mapping (an import row's answer) as a ``LabelValue``; ``[]`` in
    a span task is "no spans"; anything else as given."""
    if isinstance(value, LabelValue | str):
        return value
    if isinstance(value, Sequence) and value and all(isinstance(v, Mapping) for v in value):
        value = {"spans": list(value)}
    elif isinstance(value, Sequence) and not value and guideline.kind == "spans":
        value = {"spans": []}
    if not isinstance(value, Mapping):
        return value
    try:
        return LabelValue.model_validate(value)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise LabelloopError(f"value.{where}: {first['msg']}") from None


def _answers(guideline: Guideline, value: ValueInput) -> LabelValue:
    """Answers keyed by question, each checked as its question's task checks it."""
    answers = value.answers if isinstance(value, LabelValue) else None
    if not answers:
        raise LabelloopError(
            f"Task {guideline.task!r} asks several questions: answer them by name "
            f"({', '.join(guideline.question_names)})"
        )
    unknown = [q for q in answers if q not in guideline.question_names]
    if unknown:
        raise LabelloopError(
            f"Unknown question {unknown[0]!r}: the questions are "
            f"{', '.join(guideline.question_names)}"
        )
    return LabelValue(
        answers={q: to_value(guideline.for_question(q), v) for q, v in answers.items()}
    )


def check_complete(guideline: Guideline, item: Item, value: LabelValue) -> None:
    """Refuse an answer that does not answer the whole item: every labelable turn of a
    transcript, spans inside the text, at least one label (with questions: each answer
    given, as its question's task checks it)."""
    if guideline.asks_questions:
        for q, v in (value.answers or {}).items():
            try:
                check_complete(guideline.for_question(q), item, v)
            except LabelloopError as exc:
                raise LabelloopError(f"Question {q!r}: {exc}") from None
        return
    if value.abstain:
        return
    if guideline.judges:
        check_answer(guideline, item, value)
    elif guideline.unit == "turn":
        problems = turn_problems(list((value.turns or {}).keys()), item, guideline)
        if value.turns is None or problems:
            raise LabelloopError(
                "Incomplete turn labels: " + "; ".join(problems or ["no turn is labeled"])
            )
    elif guideline.kind == "spans":
        text = item_text(item)
        for s in value.spans if value.spans is not None else ():
            if not 0 <= s.start < s.end <= len(text):
                raise LabelloopError(
                    f"Span {s.label}[{s.start}:{s.end}] is outside the item's text "
                    f"(0 to {len(text)}, start before end): select it again"
                )
            if s.text is not None and s.text != text[s.start : s.end]:
                raise LabelloopError(
                    f"Span {s.label}[{s.start}:{s.end}] says its text is {s.text!r:.60}, but "
                    f"the text there is {text[s.start : s.end]!r:.60}: fix the offsets, or "
                    "leave 'text' out (it is optional)"
                )
        if value.spans is None:
            raise LabelloopError("A span answer lists its spans (none is an answer too)")
        pair = overlapping(value.spans)
        if pair is not None:  # the console draws one mark a character, CoNLL one tag a word
            a, b = (f"{s.label}[{s.start}:{s.end}] {item_text(item)[s.start : s.end]!r:.40}"
                    for s in pair)  # fmt: skip
            raise LabelloopError(
                f"Spans {a} and {b} overlap, and spans may not share characters: nothing "
                "was saved; mark the spans again so that none overlap (they may meet end to "
                "end)"
            )
    elif guideline.kind == "multi" and not value.labels:
        raise LabelloopError("Pick at least one label")
    elif guideline.kind == "single" and not value.label:
        raise LabelloopError("Pick a label first")


def check_reason(action: str, reason: str | None, comment: str | None) -> None:
    """Rejects need a reason from the taxonomy, and ``other`` a comment."""
    if action not in ACTIONS:
        raise LabelloopError(f"Unknown action {action!r}: valid actions are {', '.join(ACTIONS)}")
    if action != "reject":
        return
    if reason not in REJECT_REASONS:
        raise LabelloopError(
            f"Reject needs a reason: one of {', '.join(REJECT_REASONS)} (got {reason!r})"
        )
    if reason == "other" and not (comment or "").strip():
        raise LabelloopError("Rejecting for 'other' needs a comment saying why")
