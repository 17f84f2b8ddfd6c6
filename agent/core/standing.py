"""Which label stands for an item, and the provenance written beside it: the one rule
exports, the review console, the item browser and the labeler's teaching examples share.

An adjudication, else the latest human decision (since the item was last reopened), else an
auto-accept (the suggestion the item was routed on, which the threshold was tested on). An
item still waiting for people (one answer of an overlap pair, two that disagree) has none
yet, and a reviewer's answer on a gold item checks the reviewer: it decides nothing.

A judging task (pairwise, rating, ranking) that several people answered takes their
consensus instead of the latest answer (``labelloop.core.consensus``: the majority of each
person's latest answer; an even split is a tie where ties are allowed, else no label until
someone adjudicates), the same answer its judgments are calibrated against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelloop.core.consensus import Consensus
from labelloop.core.types import (
    DECISIVE,
    QUEUE_ROUTES,
    ItemRecord,
    LabelValue,
    Queue,
    Review,
    Route,
    current_reviews,
)

#: routes of items people have not finished deciding: no final label while they wait
WAITING = frozenset(r for routes in QUEUE_ROUTES.values() for r in routes)


def standing_review(
    reviews: Sequence[Review], route: str | None, consensus: Consensus | None = None
) -> Review | None:
    """The review whose label stands for an item on ``route``, from its live reviews (oldest
    first), or None while people have not finished deciding it or no person decided it.

    ``consensus``: a judging task's rule for several people's answers; the review returned
    is then the latest one giving the consensus (a tie nobody chose: the latest review,
    with the tie as its value)."""
    if route in WAITING:
        return None
    decisive = [
        r
        for r in current_reviews(reviews)
        if r.action in DECISIVE and r.value is not None and r.queue != Queue.GOLD
    ]
    if getattr(consensus, "merges", False):  # several questions: each decided on its own
        agreed = consensus(decisive) if decisive else None
        return None if agreed is None else decisive[-1].model_copy(update={"value": agreed})
    adjudicated = [r for r in decisive if r.queue == Queue.ADJUDICATION]
    if adjudicated:
        return adjudicated[-1]
    if consensus is not None and len({r.reviewer for r in decisive}) > 1:
        agreed = consensus(decisive)
        if agreed is None:
            return None
        giving = [r for r in decisive if r.value is not None and r.value.key() == agreed.key()]
        return giving[-1] if giving else decisive[-1].model_copy(update={"value": agreed})
    return decisive[-1] if decisive else None


def final_label(record: ItemRecord) -> tuple[LabelValue | None, str | None]:
    """The item's final value and its source ("adjudicated", "human" or "model"), or
    (None, None) while it has none. With questions (``record.questions``), the answers
    that stand, each decided on its own (``labelloop.core.questions``), and their shared
    source, or "mixed"."""
    if record.questions is not None:
        from labelloop.core.questions import final_answers, summary_source

        answers, sources = final_answers(record, record.questions)
        return (LabelValue(answers=answers), summary_source(sources)) if answers else (None, None)
    stands = standing_review(record.reviews, record.route, record.consensus)
    if stands is not None:
        return stands.value, "adjudicated" if stands.queue == Queue.ADJUDICATION else "human"
    if record.route == Route.AUTO_ACCEPTED and record.suggestion and record.suggestion.value:
        return record.suggestion.value, "model"
    return None, None


def suggestion_json(record: ItemRecord) -> dict[str, Any] | None:
    s = record.suggestion
    if s is None:
        return None
    out: dict[str, Any] = s.value.as_dict() if s.value is not None else {}
    out.update(
        confidence=s.calibrated if s.calibrated is not None else s.confidence,
        raw_confidence=s.confidence,
        rationale=s.rationale,
        model=s.model,
        prompt_version=s.prompt_version,
        guideline_version=s.guideline_version,
        fewshot_ids=list(s.fewshot_ids),
        signals=s.signals,
        status=s.status,
        created_at=s.created_at.isoformat(),
    )
    if s.error:
        out["error"] = s.error
    return out


def review_json(r: Review) -> dict[str, Any]:
    out: dict[str, Any] = {
        "reviewer": r.reviewer,
        "action": r.action,
        "value": r.value.as_dict() if r.value is not None else None,
        "time": r.created_at.isoformat(),
    }
    for key in ("queue", "reason", "comment", "duration_ms"):
        if getattr(r, key) is not None:
            out[key] = getattr(r, key)
    if r.blind:
        out["blind"] = True
    if r.bulk:  # an admin's bulk accept of the suggestion, not a look at the item
        out["bulk"] = True
    return out
