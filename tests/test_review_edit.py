"""Editing a decided item in the review editor: spans and turn labels from the item browser
and from adjudication, recorded as a browser change or an adjudication."""

from __future__ import annotations

import pytest

from agent.errors import AccessDenied, LabelloopError, ReviewConflict
from agent.review import ReviewService
from agent.types import Item, LabelValue, Route, Span
from tests import console_support
from tests.console_support import guideline_text, make_project, seed

TEXT = "please refund the card fee"
SUGGESTED = LabelValue(spans=(Span(start=7, end=13, label="refund"),))
FIXED = LabelValue(
    spans=(Span(start=7, end=13, label="refund"), Span(start=18, end=22, label="card"))
)


def spans_project(tmp_path):
    users = [("rita", "reviewer"), ("ada", "admin")]
    project = make_project(tmp_path, guideline_text(("refund", "card"), kind="spans"), users)
    seed(project, [(Item(id="s1", text=TEXT), SUGGESTED, 0.6, Route.ACTIVE)])
    seed(project, [(Item(id="s2", text="another card fee"), SUGGESTED, 0.6, Route.ACTIVE)])
    return project


def test_spans_of_a_decided_item_are_edited_and_saved_as_a_browser_change(tmp_path):
    project = spans_project(tmp_path)
    svc = ReviewService(project, background_prefetch=False)
    first = svc.next_item("rita")
    assert first.item.id == "s1"
    svc.decide("rita", "s1", "accept")
    view = svc.edit("rita", "s1")
    assert (view.queue, view.start) == ("browser", SUGGESTED)
    assert svc.next_item("rita").item.id == "s1"  # the editor comes before the stream
    outcome = svc.decide("rita", "s1", "fix", FIXED)
    assert (outcome.review.action, outcome.review.queue) == ("fix", "browser")
    assert outcome.review.value == FIXED
    assert outcome.next is not None and outcome.next.item.id == "s2"  # back to the stream
    assert svc.item_detail("rita", "s1").final == FIXED
    # opened again, it starts from the new final answer; keeping it records that answer
    assert svc.edit("rita", "s1").start == FIXED
    kept = svc.decide("rita", "s1", "accept")
    assert (kept.review.action, kept.review.value) == ("fix", FIXED)
    svc.close()
    project.store.close()


def test_skip_leaves_the_editor_without_a_decision_and_a_failed_save_keeps_it_open(tmp_path):
    project = spans_project(tmp_path)
    svc = ReviewService(project, background_prefetch=False)
    before = len(svc.item_detail("rita", "s2").answers)
    svc.edit("rita", "s2")
    with pytest.raises(LabelloopError, match="Unknown label"):
        svc.decide("rita", "s2", "fix", LabelValue(spans=(Span(start=0, end=6, label="nope"),)))
    assert svc.next_item("rita").queue == "browser"  # still open in the editor
    left = svc.decide("rita", "s2", "skip")
    assert left.review.id is None and left.next.queue == "active"
    assert len(svc.item_detail("rita", "s2").answers) == before
    # undo in the editor leaves it and undoes nothing
    svc.decide("rita", left.next.item.id, "accept")
    decided = len(svc.item_detail("rita", left.next.item.id).answers)
    svc.edit("rita", "s2")
    with pytest.raises(ReviewConflict, match="Left the editor"):
        svc.undo("rita")
    assert svc.next_item("rita") is None or svc.next_item("rita").queue != "browser"
    assert len(svc.item_detail("rita", left.next.item.id).answers) == decided
    svc.close()
    project.store.close()


def test_turn_labels_are_adjudicated_in_the_editor_by_admins_only(tmp_path):
    users = [("rita", "reviewer"), ("bob", "reviewer"), ("ada", "admin")]
    text = guideline_text(("refund", "greeting"), unit="turn")
    project = make_project(tmp_path, text, users, overlap=1.0, overlap_reviewers=2)
    chat = console_support.chat("t1", "hello", "hi, how can I help?", "I want my money back")
    seed(project, [(chat, LabelValue(turns={0: "greeting", 2: "refund"}), 0.6, Route.ACTIVE)])
    svc = ReviewService(project, background_prefetch=False)
    assert svc.next_item("rita").item.id == "t1"
    svc.decide("rita", "t1", "fix", LabelValue(turns={0: "refund", 2: "refund"}))
    assert svc.next_item("bob").item.id == "t1"  # overlap: a second reviewer
    svc.decide("bob", "t1", "fix", LabelValue(turns={0: "greeting", 2: "greeting"}))
    assert svc.adjudication_items("ada") == ["t1"]
    with pytest.raises(AccessDenied):
        svc.edit("rita", "t1", adjudicate=True)
    view = svc.edit("ada", "t1", adjudicate=True)
    assert view.queue == "adjudication"
    assert view.start == LabelValue(turns={0: "greeting", 2: "greeting"})  # the latest answer
    with pytest.raises(LabelloopError, match="decides a label"):
        svc.decide("ada", "t1", "reject", reason="ambiguous_item")
    final = LabelValue(turns={0: "greeting", 2: "refund"})
    done = svc.decide("ada", "t1", "fix", final)
    assert done.review.queue == "adjudication" and svc.adjudication_items("ada") == []
    detail = svc.item_detail("ada", "t1")
    assert detail.final == final and detail.route == "reviewed"
    svc.close()
    project.store.close()
