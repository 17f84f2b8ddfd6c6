"""The console's handlers, without a browser: escaping, blind queues, decisions, auth."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.auth import add_user
from agent.errors import LabelloopError
from agent.types import Guideline, Item, LabelDef, LabelValue, Message, Route, Suggestion
from ui import handlers
from ui.handlers import AlreadyDecided, AuthError

XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


@pytest.fixture
def queue(project, reviewer, seed_queue):
    """Two active items, in this order of priority."""
    return seed_queue(
        [
            (Item(id="a1", text="Where is my card?"), "card_arrival", 0.62, Route.ACTIVE),
            (Item(id="a2", text="I want my money back"), "card_arrival", 0.55, Route.ACTIVE),
        ]
    )


def test_item_text_is_escaped():
    out = handlers.render_item_html(Item(id="x<1>", text=f"{XSS_IMG} {XSS_SCRIPT}"))
    assert "<img" not in out and "<script" not in out
    assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in out
    assert "&lt;script&gt;window.__xss=2&lt;/script&gt;" in out
    assert "x&lt;1&gt;" in out


def test_transcript_shows_numbered_turns_and_highlights_the_target():
    item = Item(
        id="t1",
        messages=(
            Message(role="user", content="hi <b>there</b>"),
            Message(role="assistant", content="hello"),
            Message(role='user" onclick="x', content="my card is gone"),
        ),
        target_turn=2,
    )
    out = handlers.render_item_html(item)
    turns = out.split("<li ")[1:]
    assert len(turns) == 3
    assert all(f"#{n}<" in t for n, t in enumerate(turns))
    assert "hi &lt;b&gt;there&lt;/b&gt;" in turns[0] and "assistant" in turns[1]
    assert ["ll-target" in t for t in turns] == [False, False, True]
    assert "label this turn" in turns[2]
    assert 'onclick="x' not in out  # the role is untrusted too


def test_suggestion_shows_label_confidence_and_escaped_rationale():
    s = Suggestion(
        item_id="a",
        model="local",
        value=LabelValue(label="refund"),
        confidence=0.874,
        rationale=XSS_SCRIPT,
    )
    out = handlers.render_suggestion_html(s)
    assert "refund" in out and "87%" in out
    assert "<script" not in out and "&lt;script&gt;" in out
    blind = handlers.render_suggestion_html(s, blind=True)
    assert "refund" not in blind and "87%" not in blind


def test_active_items_come_with_their_suggestion(project, queue):
    view = handlers.next_item(project, "rita")
    assert view.item.id == "a1" and view.queue == "active" and not view.blind
    assert view.suggestion.value == LabelValue(label="card_arrival")
    assert view.suggestion_id == queue["a1"]
    assert view.labels == ("card_arrival", "lost_or_stolen_card", "refund")


def test_calibration_items_are_shown_blind(project, reviewer, seed_queue):
    ids = seed_queue(
        [(Item(id="c1", text="stolen"), "lost_or_stolen_card", 0.9, Route.CALIBRATION)]
    )
    view = handlers.next_item(project, "rita")
    assert view.queue == "calibration" and view.blind
    assert view.suggestion is None
    assert view.suggestion_id == ids["c1"]  # kept for the calibration pair, never shown
    with pytest.raises(LabelloopError, match="Nothing to accept"):
        handlers.submit(project, "rita", view, "accept")
    review = handlers.submit(project, "rita", view, "fix", "lost_or_stolen_card")
    assert review.blind and review.queue == "calibration"
    assert review.suggestion_id == ids["c1"]


def test_the_same_lease_is_served_until_decided(project, queue):
    first = handlers.next_item(project, "rita")
    assert handlers.next_item(project, "rita").item.id == first.item.id


def test_accept_records_the_suggestion_and_the_time_taken(project, queue):
    view = handlers.next_item(project, "rita")
    review = handlers.submit(
        project, "rita", view, "accept", now=view.started_at + timedelta(seconds=1.5)
    )
    [row] = project.store.reviews_for("a1")
    assert row.id == review.id
    assert (row.action, row.reviewer, row.queue) == ("accept", "rita", "active")
    assert row.value == LabelValue(label="card_arrival")
    assert row.suggestion_id == queue["a1"] and not row.blind
    assert row.duration_ms == 1500 and row.source == "console"
    assert project.store.get_route("a1").route == "reviewed"
    assert handlers.next_item(project, "rita").item.id == "a2"


def test_picking_another_label_is_a_fix(project, queue):
    view = handlers.next_item(project, "rita")
    handlers.submit(project, "rita", view, "fix", "refund")
    [row] = project.store.reviews_for("a1")
    assert row.action == "fix" and row.value == LabelValue(label="refund")


def test_picking_the_suggested_label_is_an_accept(project, queue):
    view = handlers.next_item(project, "rita")
    assert handlers.submit(project, "rita", view, "fix", "card_arrival").action == "accept"


def test_skip_keeps_the_route_and_moves_on(project, queue):
    view = handlers.next_item(project, "rita")
    handlers.submit(project, "rita", view, "skip")
    [row] = project.store.reviews_for("a1")
    assert row.action == "skip" and row.value is None
    assert project.store.get_route("a1").route == "active"
    assert handlers.next_item(project, "rita").item.id == "a2"


def test_unknown_label_is_refused_and_nothing_written(project, queue):
    view = handlers.next_item(project, "rita")
    with pytest.raises(LabelloopError, match="Unknown label 'spam'.*valid labels are card_arrival"):
        handlers.submit(project, "rita", view, "fix", "spam")
    with pytest.raises(LabelloopError, match="Pick a label"):
        handlers.submit(project, "rita", view, "fix", None)
    with pytest.raises(LabelloopError, match="Unknown action"):
        handlers.submit(project, "rita", view, "approve")
    assert project.store.reviews_for("a1") == []


def test_a_decision_is_recorded_once(project, queue):
    view = handlers.next_item(project, "rita")
    other_tab = handlers.next_item(project, "rita")
    handlers.submit(project, "rita", view, "accept")
    with pytest.raises(AlreadyDecided):
        handlers.submit(project, "rita", other_tab, "fix", "refund")
    assert len(project.store.reviews_for("a1")) == 1


@pytest.mark.parametrize("who", [None, "", "mallory"])
def test_unauthenticated_requests_get_no_data(project, queue, who):
    with pytest.raises(AuthError):
        handlers.next_item(project, who)
    assert project.store.count_reviews() == 0


def test_a_reviewer_cannot_decide_another_reviewers_lease(project, queue):
    add_user(project.store, "max", "reviewer", "another-password")
    view = handlers.next_item(project, "rita")
    with pytest.raises(AuthError, match="leased to 'rita'"):
        handlers.submit(project, "max", view, "accept")
    with pytest.raises(AuthError):
        handlers.submit(project, None, view, "accept")
    assert project.store.reviews_for("a1") == []


def test_reviewers_get_different_items(project, queue):
    add_user(project.store, "max", "reviewer", "another-password")
    assert handlers.next_item(project, "rita").item.id == "a1"
    assert handlers.next_item(project, "max").item.id == "a2"


def test_empty_queues_give_none(project, reviewer):
    assert handlers.next_item(project, "rita") is None


def test_counts_list_each_queue(project, queue, seed_queue):
    seed_queue([(Item(id="c1", text="stolen"), "lost_or_stolen_card", 0.9, Route.CALIBRATION)])
    md = handlers.counts_md(project)
    assert "active **2**" in md and "calibration **1**" in md and "reviewed **0**" in md


def test_multi_label_values_and_unsupported_kinds():
    labels = (LabelDef(name="a"), LabelDef(name="b"))
    multi = Guideline(task="t", kind="multi", labels=labels)
    assert handlers.label_value(multi, ["b", "a", "b"]) == LabelValue(labels=("b", "a"))
    spans = Guideline(task="t", kind="spans", labels=labels)
    with pytest.raises(LabelloopError, match="not in this console yet"):
        handlers.label_value(spans, "a")


def test_guideline_is_shown_without_front_matter(project):
    md = handlers.guideline_md(project.guideline())
    assert md.startswith("# Support intent") and "task:" not in md


def test_app_handlers_refuse_a_request_without_a_user(project, queue):
    import gradio as gr

    from ui import app

    out = app._next(project, gr.Request(username=None))
    assert out[0] is None and out[1] == "" and out[-1] == ""  # no item, no counts
    assert out[-2] == app.SIGNED_OUT
    view = handlers.next_item(project, "rita")
    app._decide(project, gr.Request(username="mallory"), view, "accept", None)
    assert project.store.count_reviews() == 0


def test_counts_show_the_audit_alarm(project):
    assert "Audit alarm" not in handlers.counts_md(project)
    project.store.set_state("audit_alarm", {"active": True, "reason": "3 of 40 audited were wrong"})
    assert "Audit alarm:** 3 of 40 audited were wrong" in handlers.counts_md(project)
