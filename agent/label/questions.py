"""Labeling a guideline that asks several questions with a model that answers one at a time
(the embedded model: one classifier per question): each question is labeled as the
one-question task ``Guideline.for_question`` describes, from the examples that answer it,
and the answers are put together into one suggestion per item.

Signals are kept per question (``"{question}.{signal}"``, and ``"{question}.confidence"``);
the item's own signals are the lowest value over its questions, so an item is routed on
its least certain answer: auto-accepting it accepts every answer it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from labelloop.core.questions import answer_to
from labelloop.core.types import Item, LabelValue, Suggestion
from labelloop.label.providers.base import LabelContext


def question_context(ctx: LabelContext, name: str) -> LabelContext:
    """The context of one question: its guideline, and each example's answer to it."""
    examples = tuple(
        ex.model_copy(update={"value": got})
        for ex in ctx.examples
        if (got := answer_to(ex.value, name)) is not None
    )
    return ctx.model_copy(
        update={"guideline": ctx.guideline.for_question(name), "examples": examples}
    )


def combine(
    items: Sequence[Item],
    answers: dict[str, list[Suggestion]],
    version: str,
    guideline_version: str,
) -> list[Suggestion]:
    """One suggestion per item from each question's suggestion of it (``answers``: question
    -> suggestions in item order). A question the model could not answer fails the item."""
    out = []
    for n, item in enumerate(items):
        per = {q: made[n] for q, made in answers.items()}
        first = next(iter(per.values()))
        base = {
            "item_id": item.id,
            "model": first.model,
            "prompt_version": version,
            "guideline_version": guideline_version,
            "fewshot_ids": tuple(sorted({i for s in per.values() for i in s.fewshot_ids})),
            "cost_usd": sum(s.cost_usd for s in per.values()),
        }
        failed = {q: s for q, s in per.items() if s.status != "ok" or s.value is None}
        if failed:
            q, s = next(iter(failed.items()))
            error = f"question {q!r}: {s.error or 'no answer'}"
            out.append(Suggestion(value=None, status="failed", error=error, **base))
            continue
        signals: dict[str, float | None] = {}
        for q, s in per.items():
            signals.update({f"{q}.{k}": v for k, v in s.signals.items()})
            signals[f"{q}.confidence"] = s.confidence
        signals.update(lowest([s.signals for s in per.values()]))
        confidences = [s.confidence for s in per.values()]
        out.append(
            Suggestion(
                value=LabelValue(answers={q: s.value for q, s in per.items()}),
                confidence=None if None in confidences else min(confidences),
                rationale="; ".join(f"{q}: {s.rationale}" for q, s in per.items()),
                signals=signals,
                **base,
            )
        )
    return out


def lowest(per: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    """Each signal every answer has (``per``: each answer's signals), at its lowest value
    over the answers; None when an answer's is missing."""
    shared = set.intersection(*(set(s) for s in per)) if per else set()
    out: dict[str, float | None] = {}
    for name in sorted(shared):
        got = [s[name] for s in per]
        out[name] = None if any(v is None for v in got) else min(got)
    return out


def label_each(
    items: Sequence[Item],
    ctx: LabelContext,
    label: Callable[[Sequence[Item], LabelContext], list[Suggestion]],
    version: str,
) -> list[Suggestion]:
    """``label`` run once per question, its answers combined into one suggestion per item."""
    answers = {q: label(items, question_context(ctx, q)) for q in ctx.guideline.question_names}
    return combine(items, answers, version, ctx.guideline.version)
