"""The review console on a guideline that asks several questions: the item is asked one
question after another, each as a one-question task (``Guideline.for_question``) with the
model's answer to that question as its suggestion; the answers become one review when the
last question is answered. People are asked only the questions that need them: on an item
waiting in ``active``, not those routing auto-accepted; on a blind item (calibration,
audit, gold), every question. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from labelloop.core.questions import answer_to
from labelloop.core.types import Guideline, LabelValue, Suggestion
from labelloop.route.questions import question_suggestion


def to_ask(guideline: Guideline, accepted: Sequence[str], blind: bool) -> tuple[str, ...]:
    """The questions to ask, in the guideline's order (every one when nothing is left)."""
    names = tuple(guideline.question_names)
    if blind:
        return names
    left = tuple(q for q in names if q not in set(accepted))
    return left or names


def for_question(
    s: Suggestion | None, question: str, names: Sequence[str] = ()
) -> Suggestion | None:
    """The suggestion as a one-question task sees it (``labelloop.route.questions``: the
    answer to ``question``, its confidence and calibrated probability, its signals) with its
    part of the rationale; None when the model did not answer it."""
    if s is None or answer_to(s.value, question) is None:
        return None
    one = question_suggestion(s, question)
    return one.model_copy(
        update={"rationale": rationale_part(s.rationale, question, names or [question])}
    )


def rationale_part(rationale: str, question: str, names: Sequence[str]) -> str:
    """The part of a combined rationale ("q1: ...; q2: ...", ``names`` the questions) about
    ``question`` (all of it when it has no such part)."""
    head = f"{question}: "
    parts = rationale.split("; ")
    at = next((i for i, p in enumerate(parts) if p.startswith(head)), None)
    if at is None:
        return rationale
    out = [parts[at][len(head) :]]
    for p in parts[at + 1 :]:
        if any(p.startswith(f"{q}: ") for q in names):
            break
        out.append(p)
    return "; ".join(out)


def combined(answers: Sequence[tuple[str, LabelValue, str]]) -> tuple[LabelValue, str]:
    """The review value of the answers given, and its action: "accept" when every answer
    agreed with the model's, else "fix"."""
    value = LabelValue(answers={q: v for q, v, _ in answers})
    action = "accept" if all(a == "accept" for _, _, a in answers) else "fix"
    return value, action
