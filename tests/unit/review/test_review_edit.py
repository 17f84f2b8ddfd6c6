"""Editing a decided item in the review editor: spans and turn labels from the item browser
and from adjudication, recorded as a browser change or an adjudication."""

from __future__ import annotations

import pytest

from labelloop.core.errors import AccessDenied, LabelloopError, ReviewConflict
from labelloop.core.types import Item, LabelValue, Route, Span
from labelloop.review.service import ReviewService
from tests.support import console as console_support
from tests.support.console import guideline_text, make_project, seed

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
    # opened again, it starts from the new final answer; saving it unchanged changes nothing
    assert svc.edit("rita", "s1").start == FIXED
    answers = len(svc.item_detail("ada", "s1").answers)
    with pytest.raises(LabelloopError, match="nothing to change"):
        svc.decide("rita", "s1", "accept")
    assert svc.next_item("rita").queue == "browser"  # still open in the editor
    assert len(svc.item_detail("ada", "s1").answers) == answers
    svc.close()
    project.store.close()


def test_skip_leaves_the_editor_without_a_decision_and_a_failed_save_keeps_it_open(tmp_path):
    project = spans_project(tmp_path)
    svc = ReviewService(project, background_prefetch=False)
    before = len(svc.item_detail("ada", "s2").answers)
    with pytest.raises(LabelloopError, match="waits in the active queue"):
        svc.edit("rita", "s2")  # a waiting item comes to reviewers in the stream
    svc.edit("ada", "s2")
    with pytest.raises(LabelloopError, match="Unknown label"):
        svc.decide("ada", "s2", "fix", LabelValue(spans=(Span(start=0, end=6, label="nope"),)))
    with pytest.raises(LabelloopError, match="outside the item's text"):
        svc.decide("ada", "s2", "fix", LabelValue(spans=(Span(start=0, end=99, label="card"),)))
    assert svc.next_item("ada").queue == "browser"  # still open in the editor
    left = svc.decide("ada", "s2", "skip")
    assert left.review.id is None and left.next.queue == "active"
    assert len(svc.item_detail("ada", "s2").answers) == before
    # undo in the editor leaves it and undoes nothing
    svc.decide("ada", left.next.item.id, "accept")
    decided = len(svc.item_detail("ada", left.next.item.id).answers)
    svc.edit("ada", "s2")
    with pytest.raises(ReviewConflict, match="Left the editor"):
        svc.undo("ada")
    assert svc.next_item("ada") is None or svc.next_item("ada").queue != "browser"
    assert len(svc.item_detail("ada", left.next.item.id).answers) == decided
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


def test_an_incomplete_answer_is_refused_everywhere_and_nothing_is_stored(tmp_path):
    """A per-turn answer must label every user turn, a multi-label answer at least one label;
    the stream, the browser and adjudication refuse anything less."""
    users = [("rita", "reviewer"), ("ada", "admin")]
    text = guideline_text(("refund", "greeting"), unit="turn")
    project = make_project(tmp_path, text, users)
    chat = console_support.chat("t1", "hello", "hi, how can I help?", "I want my money back")
    seed(project, [(chat, LabelValue(turns={0: "greeting", 2: "refund"}), 0.6, Route.CALIBRATION)])
    svc = ReviewService(project, background_prefetch=False)
    view = svc.next_item("rita")
    assert view.item.id == "t1" and view.blind
    for partial in ({0: "refund"}, {2: "refund"}, {0: "refund", 1: "refund", 2: "refund"}):
        with pytest.raises(LabelloopError, match="Incomplete turn labels"):
            svc.decide("rita", "t1", "fix", LabelValue(turns=partial))
    assert project.store.reviews_for("t1") == [] and svc.next_item("rita").item.id == "t1"
    whole = LabelValue(turns={0: "greeting", 2: "refund"})
    assert svc.decide("rita", "t1", "fix", whole).review.value == whole
    with pytest.raises(LabelloopError, match="Incomplete turn labels"):
        svc.change_decision("ada", "t1", "fix", LabelValue(turns={2: "greeting"}))
    assert len(project.store.reviews_for("t1")) == 1
    svc.close()
    project.store.close()
