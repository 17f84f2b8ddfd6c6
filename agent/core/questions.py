"""Answers of a guideline that asks several questions (``questions:``): each question is
decided on its own, by its own rule, exactly as a one-question task would decide it.

A value holds its answers keyed by question (``LabelValue.answers``). A review may answer
only some questions (people see only the questions that need them); a question's answer
stands from that question's reviews alone, else from the model where the routing step
auto-accepted that question (not while the item waits for an audit). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from labelloop.core.consensus import rule_of
from labelloop.core.standing import standing_review
from labelloop.core.types import Guideline, ItemRecord, LabelValue, Queue, Review, Route


def answer_to(value: LabelValue | None, question: str) -> LabelValue | None:
    """The value's answer to one question (None when it does not answer it)."""
    if value is None or value.answers is None:
        return None
    return value.answers.get(question)


def reviews_of(reviews: Sequence[Review], question: str) -> list[Review]:
    """The reviews as a one-question task sees them: each decision carries its answer to
    ``question`` (a decision that leaves it unanswered is left out); reviews that carry no
    value (skips, rejects, undos, reopens) are kept as they are."""
    out = []
    for r in reviews:
        if r.value is None:
            out.append(r)
            continue
        got = answer_to(r.value, question)
        if got is not None:
            out.append(r.model_copy(update={"value": got}))
    return out


def standing_answer(
    reviews: Sequence[Review], guideline: Guideline, question: str, route: str | None = None
) -> Review | None:
    """The review whose answer to ``question`` stands, decided as that question's task
    decides it (``labelloop.core.standing``, with its own consensus rule)."""
    rule = rule_of(guideline.for_question(question))
    return standing_review(reviews_of(reviews, question), route, rule)


def final_answers(
    record: ItemRecord, guideline: Guideline
) -> tuple[dict[str, LabelValue], dict[str, str]]:
    """Per question, the answer that stands and its source ("adjudicated", "human" or
    "model"); a question with no final answer yet is absent from both."""
    answers: dict[str, LabelValue] = {}
    sources: dict[str, str] = {}
    model = record.suggestion.value if record.suggestion is not None else None
    for q in guideline.questions:
        stands = standing_answer(record.reviews, guideline, q.name, record.route)
        if stands is not None and stands.value is not None:
            answers[q.name] = stands.value
            sources[q.name] = "adjudicated" if stands.queue == Queue.ADJUDICATION else "human"
        elif _model_stands(record, q.name) and (got := answer_to(model, q.name)) is not None:
            answers[q.name] = got
            sources[q.name] = "model"
    return answers, sources


def _model_stands(record: ItemRecord, question: str) -> bool:
    """Whether the model's answer to ``question`` is final: routing accepted it, and the
    item is not drawn for an audit (a blind check of what was accepted, still waiting)."""
    if record.route == Route.AUTO_ACCEPTED:
        return True
    return question in record.accepted and record.route != Route.AUDIT


def summary_source(sources: dict[str, str]) -> str | None:
    """One ``label_source`` for an item whose questions were decided by several: the
    source they share, else "mixed"."""
    kinds = set(sources.values())
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass(frozen=True)
class Merge:
    """The consensus rule of a guideline with questions: the reviews' answers merged
    question by question, each by that question's own rule (a later answer to one question
    leaves the others as they were). ``complete``: None unless every question is answered."""

    guideline: Guideline
    complete: bool = False
    #: ``labelloop.core.standing`` applies it to one person's reviews too
    merges: bool = True

    def __call__(self, reviews: Sequence[Review]) -> LabelValue | None:
        answers: dict[str, LabelValue] = {}
        for q in self.guideline.questions:
            stands = standing_answer(reviews, self.guideline, q.name)
            if stands is not None and stands.value is not None:
                answers[q.name] = stands.value
        if not answers or (self.complete and len(answers) < len(self.guideline.questions)):
            return None
        return LabelValue(answers=answers)
