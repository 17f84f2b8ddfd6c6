"""Event payloads: pure functions from stored rows to the JSON a webhook receives.

Every request body is one event::

    {"id": "evt_...", "type": "item.decided", "created_at": "2026-...+00:00",
     "project": "<project id>", "data": {...}}

``item.decided`` data is made here from review rows (``decided``). ``calibration.done`` and
``audit.alarm`` data is recorded by the step that makes the fact
(``labelloop.route.calibrate.calibration_done``, ``labelloop.route.state.alarm_change``)
and sent as it was recorded. README.md ("Webhooks") shows each with an example.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from labelloop.core.consensus import rule_of
from labelloop.core.events import AUDIT_ALARM, CALIBRATION_DONE, EVENT_TYPES, ITEM_DECIDED
from labelloop.core.questions import final_answers
from labelloop.core.records import WebhookEvent
from labelloop.core.standing import final_label
from labelloop.core.types import Guideline, ItemRecord, Queue, Review
from labelloop.export import values
from labelloop.review import rules
from labelloop.review.access import share_hit
from labelloop.review.rules import queue_route
from labelloop.store.webhooks import DECIDING, REVIEW_KEY, Fact

#: the queues where an item may wait for several people's answers (``[review] overlap``)
OVERLAP_QUEUES = (Queue.CALIBRATION, Queue.AUDIT, Queue.ACTIVE)

__all__ = [
    "AUDIT_ALARM",
    "CALIBRATION_DONE",
    "EVENT_TYPES",
    "ITEM_DECIDED",
    "body",
    "decided",
    "envelope",
    "final_fields",
    "live_as_of",
    "route_after",
]


def envelope(event: WebhookEvent, project_id: str | None = None) -> dict[str, Any]:
    """The JSON object sent for ``event``: its id, type, time, project and data."""
    return {
        "id": event.uid,
        "type": event.kind,
        "created_at": event.occurred_at.isoformat(),
        "project": project_id,
        "data": event.data,
    }


def body(payload: dict[str, Any]) -> bytes:
    """The request body: strict, compact UTF-8 JSON (the bytes the signature covers)."""
    return values.json_text(payload).encode()


@dataclass(frozen=True)
class Overlap:
    """The share of queue items several people answer, and how many (``[review]``)."""

    share: float = 0.0
    reviewers: int = 2


def decided(
    review: Review, record: ItemRecord, guideline: Guideline | None, overlap: Overlap = Overlap()
) -> Fact:
    """The ``item.decided`` fact of a review (a decision, or the undo of one).

    ``record`` holds every review row of the item (undone ones and undo rows included) and
    its route now. The event tells the item as it was just after the review, however late
    it is made: the reviews up to it, the route it left the item on (``route_after``) and
    the final label the export writes for that: null while the item waits for another
    reviewer or an adjudication, after an undo that sent it back, and after a reject."""
    assert review.id is not None
    route = route_after(review, record, overlap)
    then = dataclasses.replace(
        record,
        route=route,
        reviews=live_as_of(record.reviews, review.id),
        consensus=rule_of(guideline),
    )
    data: dict[str, Any] = {
        "item_id": review.item_id,
        "review_id": review.id,
        "action": review.action,
        "reviewer": review.reviewer,
        "queue": review.queue,
        "time": review.created_at.isoformat(),
        "value": review.value.as_dict() if review.value is not None else None,
        **final_fields(then, guideline),
        "route": route,
    }
    if review.action == "undo":
        data["undoes"] = review.supersedes
    for key in ("reason", "comment"):
        if getattr(review, key):
            data[key] = getattr(review, key)
    if review.bulk:  # an admin's bulk accept of the suggestion (or its undo)
        data["bulk"] = True
    return (ITEM_DECIDED, f"{REVIEW_KEY}{review.id}", data, review.created_at)


def route_after(review: Review, record: ItemRecord, overlap: Overlap = Overlap()) -> str:
    """The item's route just after ``review``: its route now when nobody reviewed it since;
    else as the review stream decided it then (``labelloop.review.rules.route_after``): back
    in its queue after an undo, still waiting while an overlap item lacks answers, in
    adjudication when they disagree, else reviewed."""
    if not any(r.id is not None and r.id > review.id for r in record.reviews):
        return record.route
    queue = review.queue or ""
    if review.action == "undo":
        return queue_route(queue, record.suggestion)
    shared = queue in OVERLAP_QUEUES and not review.bulk
    shared = shared and share_hit(review.item_id, overlap.share, "overlap")
    before = live_as_of(record.reviews, review.id)[:-1]
    earlier = [r for r in before if r.action in DECIDING] if shared else []
    change = rules.route_after(queue, review, earlier, shared, overlap.reviewers)
    return change.route if change.route is not None else queue_route(queue, record.suggestion)


def live_as_of(reviews: tuple[Review, ...], review_id: int) -> tuple[Review, ...]:
    """The reviews that stood just after review ``review_id``: those up to it, less undo
    rows and the reviews they took back."""
    upto = [r for r in reviews if r.id is not None and r.id <= review_id]
    undone = {r.supersedes for r in upto if r.action == "undo"}
    return tuple(r for r in upto if r.action != "undo" and r.id not in undone)


def final_fields(record: ItemRecord, guideline: Guideline | None) -> dict[str, Any]:
    """The item's final label as an export row writes it: the value's keys (``label``,
    ``labels``, ``spans``, ...; with questions, ``labels`` keyed by question) and
    ``label_source``."""
    if guideline is not None and guideline.asks_questions:
        answers, sources = final_answers(values.with_questions(record, guideline), guideline)
        labels = {"labels": values.answers_json(answers)} if answers else {}
        return {**labels, "label_source": sources}
    value, source = final_label(record)
    return {**(value.as_dict() if value is not None else {}), "label_source": source}
