"""item.decided payloads: the item as it was just after the decision, its final label as
the export writes it, however late the event is made."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from labelloop.core.guideline import parse_guideline
from labelloop.core.records import WebhookEvent
from labelloop.core.types import Item, ItemRecord, LabelValue, Review, Suggestion
from labelloop.hooks.events import Overlap, body, decided, envelope, live_as_of
from tests.support.factories import guideline

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ITEM = Item(id="t1", text="where is my card")
SUGGESTION = Suggestion(item_id="t1", model="local", value=LabelValue(label="refund"), id=7)


def review(rid: int, who: str, action: str, label: str | None = None, **kw) -> Review:
    value = LabelValue(label=label) if label else None
    return Review(item_id="t1", reviewer=who, action=action, value=value, created_at=T0, id=rid,
                  **{"queue": "active", **kw})  # fmt: skip


def record(route: str, *reviews: Review) -> ItemRecord:
    return ItemRecord(item=ITEM, suggestion=SUGGESTION, route=route, reviews=reviews)


def data(r: Review, rec: ItemRecord, g=None, overlap=Overlap()) -> dict:
    kind, key, payload, at = decided(r, rec, g or guideline(), overlap)
    assert (kind, key, at) == ("item.decided", f"review:{r.id}", r.created_at)
    return payload


def test_a_fix_carries_its_value_the_final_label_and_where_it_was_made():
    fix = review(3, "ana", "fix", "card_arrival", comment="a new card")
    out = data(fix, record("reviewed", fix))
    assert out == {
        "item_id": "t1",
        "review_id": 3,
        "action": "fix",
        "reviewer": "ana",
        "queue": "active",
        "time": T0.isoformat(),
        "value": {"label": "card_arrival"},
        "label": "card_arrival",
        "label_source": "human",
        "route": "reviewed",
        "comment": "a new card",
    }


def test_a_decision_told_late_is_told_as_it_was_then():
    fix = review(3, "ana", "fix", "card_arrival")
    undo = review(4, "ana", "undo", supersedes=3)
    again = review(5, "ana", "accept", "refund")
    now = record("reviewed", fix, undo, again)
    assert live_as_of(now.reviews, 4) == ()
    assert (data(fix, now)["label"], data(fix, now)["route"]) == ("card_arrival", "reviewed")
    told = data(undo, now)
    assert told["undoes"] == 3 and told["route"] == "active"
    assert told["label_source"] is None and "label" not in told
    assert data(again, now)["label"] == "refund"


def test_overlap_answers_wait_then_go_to_adjudication_then_are_decided():
    everyone = Overlap(share=1.0, reviewers=2)
    first = review(1, "ann", "fix", "card_arrival")
    second = review(2, "bob", "fix", "refund")
    ruling = review(3, "ada", "fix", "refund", queue="adjudication")
    now = record("reviewed", first, second, ruling)
    waiting = data(first, now, overlap=everyone)
    assert waiting["route"] == "active" and waiting["label_source"] is None
    split = data(second, now, overlap=everyone)
    assert split["route"] == "adjudication" and "label" not in split
    decided_ = data(ruling, now, overlap=everyone)
    assert decided_["label"] == "refund" and decided_["label_source"] == "adjudicated"
    # without overlap the first answer settles the item
    assert data(first, now)["label"] == "card_arrival"


def test_a_reject_settles_the_item_without_a_label():
    no = review(2, "ana", "reject", reason="bad_input")
    out = data(no, record("reviewed", no))
    assert out["reason"] == "bad_input" and out["label_source"] is None and out["value"] is None


def test_questions_are_written_as_the_export_writes_them():
    g = parse_guideline(
        "---\ntask: rubric\nquestions:\n  topic: {kind: single, labels: [billing, card]}\n"
        '  urgent: {kind: single, labels: ["yes", "no"]}\n---\n# Rubric\n\n'
        "## topic\n### billing\nMoney.\n### card\nCards.\n"
        "## urgent\n### yes\nNow.\n### no\nLater.\n"
    )
    answers = {"topic": LabelValue(label="card"), "urgent": LabelValue(label="no")}
    r = Review(item_id="t1", reviewer="ana", action="fix", value=LabelValue(answers=answers),
               queue="active", created_at=T0, id=9)  # fmt: skip
    out = data(r, record("reviewed", r), g)
    assert out["labels"] == {"topic": "card", "urgent": "no"}
    assert out["label_source"] == {"topic": "human", "urgent": "human"}


def test_the_body_is_strict_json_of_the_envelope():
    event = WebhookEvent(id=1, uid="evt_1", kind="audit.alarm", key="k", data={"x": float("nan")},
                         occurred_at=T0)  # fmt: skip
    sent = json.loads(body(envelope(event, "p1")))
    assert sent == {
        "id": "evt_1",
        "type": "audit.alarm",
        "created_at": T0.isoformat(),
        "project": "p1",
        "data": {"x": None},
    }
