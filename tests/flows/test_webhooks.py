"""Webhooks end to end: decisions, calibrations and the audit alarm become signed POSTs to a
real receiver, retried on failure with the schedule kept in the store, each sent once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from labelloop.core.types import LabelValue, Review, Route, utcnow
from labelloop.hooks import delivery, sources
from labelloop.hooks.delivery import Dispatcher, backoff, deliver_due
from labelloop.hooks.registry import add_webhook, remove_webhook
from labelloop.project import Project
from labelloop.review.service import ReviewService
from labelloop.route.calibrate import calibrate
from labelloop.route.state import AuditAlarm, audit_alarm_state, save_audit_alarm
from tests.support.console import guideline_text, make_project, seed, texts
from tests.support.webhooks import (
    SECRET,
    SECRET_ENV,
    Receiver,
    allow_local,
    calibration_ready,
)

LABELS = ("card_arrival", "lost_or_stolen_card", "refund")


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    p = make_project(
        tmp_path, guideline_text(LABELS), [("rita", "reviewer"), ("ada", "admin")], similar_k=0
    )
    allow_local(p)
    yield p
    p.store.close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def decide_one(project: Project, action: str = "accept", value=None) -> str:
    """rita takes the first active item and decides it; its id."""
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    service.decide(
        "rita", view.item.id, action, value, reason="ambiguous_item" if action == "reject" else None
    )
    service.close()
    return view.item.id


def test_an_accept_is_one_signed_item_decided_retried_on_the_stored_schedule(project, receiver):
    seed(project, texts("it", 2, label="refund"))
    hook = add_webhook(project, receiver.url + "/hook").webhook
    project.config.webhooks.backoff_seconds = 0.2
    item_id = decide_one(project)
    receiver.script("item.decided", [500, 500])

    first = deliver_due(project)  # recorded, tried once: 500, due again in 0.16-0.24 s
    assert (first.recorded, first.retrying, first.delivered) == (1, 1, 0)
    [pending] = project.store.webhook_deliveries()
    assert pending.status == "pending" and pending.attempts == 1
    wait = (pending.next_attempt_at - pending.log[0].at).total_seconds()
    assert 0.16 <= wait <= 0.3
    assert deliver_due(project).attempts == 0  # not due yet: nothing is sent early
    for _ in range(100):
        if project.store.webhook_deliveries()[0].status != "pending":
            break
        time.sleep(0.05)
        deliver_due(project)

    sent = receiver.of("item.decided")
    assert [r.status for r in sent] == [500, 500, 200]
    assert all(r.signed and r.path == "/hook" for r in sent)
    assert len({r.delivery for r in sent}) == 1  # one delivery id: receivers drop repeats
    data = sent[-1].payload["data"]
    review = next(r for r in project.store.reviews_for(item_id) if r.action == "accept")
    assert sent[-1].payload["type"] == "item.decided"
    assert sent[-1].payload["project"] == project.config.project_id
    assert data["item_id"] == item_id and data["review_id"] == review.id
    assert (data["action"], data["reviewer"], data["queue"]) == ("accept", "rita", "active")
    assert data["label"] == "refund" and data["label_source"] == "human"
    assert data["value"] == {"label": "refund"} and data["route"] == "reviewed"
    assert data["time"] == review.created_at.isoformat()

    [log] = project.store.webhook_deliveries(hook.id)
    assert log.status == "delivered" and log.attempts == 3 and log.last_status == 200
    assert [a.status_code for a in log.log] == [500, 500, 200]
    assert [a.error for a in log.log] == ["the receiver answered 500"] * 2 + [None]
    gaps = [(b.at - a.at).total_seconds() for a, b in zip(log.log, log.log[1:], strict=False)]
    assert gaps[0] >= 0.16 and gaps[1] >= 0.32  # the wait doubles
    assert all(a.duration_ms is not None and a.holder for a in log.log)

    # another pass, a fresh dispatcher (a restarted console): nothing is sent again
    assert deliver_due(project).attempts == 0
    with Dispatcher(project, poll_s=0.05) as again:
        time.sleep(0.3)
    assert not again.running
    assert len(receiver.received) == 3


def test_backoff_doubles_with_jitter_over_about_an_hour():
    waits = [backoff(n, 30.0) for n in range(1, 8)]  # 7 waits between 8 attempts
    for n, w in enumerate(waits, 1):
        assert 0.8 * 30 * 2 ** (n - 1) <= w <= 1.2 * 30 * 2 ** (n - 1)
    assert 0.8 * 3810 <= sum(waits) <= 1.2 * 3810


def test_every_kind_of_decision_and_its_undo_is_told_once(project, receiver):
    seed(project, texts("it", 4, label="refund"))
    add_webhook(project, receiver.url, ["item.decided"])
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    service.decide("rita", view.item.id, "fix", "card_arrival")
    nxt = service.next_item("rita")
    service.decide("rita", nxt.item.id, "skip")  # a skip decides nothing
    service.undo("rita")  # the skip: nothing to tell
    service.undo("rita")  # the fix
    service.change_decision("ada", "it03", "reject", None, reason="ambiguous_item")  # the browser
    service.close()
    deliver_due(project)
    told = sorted((r.payload["data"] for r in receiver.received), key=lambda d: d["review_id"])
    said = [(d["action"], d["item_id"]) for d in told]
    assert said == [("fix", view.item.id), ("undo", view.item.id), ("reject", "it03")]
    fix, undo, reject = told
    assert fix["label"] == "card_arrival" and fix["value"] == {"label": "card_arrival"}
    assert undo["undoes"] == fix["review_id"] and undo["value"] is None
    assert "label" not in undo and undo["label_source"] is None  # back in the queue
    assert undo["route"] == "active"
    assert reject["queue"] == "browser" and reject["reason"] == "ambiguous_item"
    assert reject["label_source"] is None and "label" not in reject
    assert all(r.signed for r in receiver.received)


def test_only_what_happens_after_registration_and_only_the_events_asked(project, receiver):
    seed(project, texts("it", 3, label="refund"))
    decide_one(project)  # before any webhook
    hook = add_webhook(project, receiver.url + "/cal", ["calibration.done"]).webhook
    decide_one(project)  # a decision the only webhook did not ask for
    assert deliver_due(project).attempts == 0
    remove_webhook(project, hook.id)
    decisions = add_webhook(project, receiver.url + "/decided", ["item.decided"]).webhook
    decide_one(project)
    deliver_due(project)
    assert [r.path for r in receiver.received] == ["/decided"]
    assert [d.webhook_id for d in project.store.webhook_deliveries()] == [decisions.id]


def test_a_calibration_and_the_audit_alarm_are_told(project, receiver):
    add_webhook(project, receiver.url)
    calibration_ready(project)
    raised = AuditAlarm(
        active=True,
        raised_at=utcnow().isoformat(),
        model="local",
        audited=40,
        wrong=9,
        reason="9 of 40 audited auto-accepted labels were wrong",
    )
    save_audit_alarm(project.store, raised)
    save_audit_alarm(project.store, raised)  # the same state again: no second event
    report = calibrate(project)  # too few pairs: nothing auto-accepted, the alarm stays
    assert audit_alarm_state(project.store).active
    cleared = AuditAlarm(active=False, cleared_at=utcnow().isoformat())  # as a refit clears it
    save_audit_alarm(project.store, cleared)
    save_audit_alarm(project.store, cleared)
    deliver_due(project)

    told = sorted(receiver.of("audit.alarm"), key=lambda r: r.payload["created_at"])
    alarms = [r.payload["data"] for r in told]
    assert [a["state"] for a in alarms] == ["raised", "cleared"]
    assert alarms[0] | {"cleared_at": None} == alarms[1] | {"cleared_at": None, "state": "raised"}
    assert (alarms[1]["audited"], alarms[1]["wrong"], alarms[1]["model"]) == (40, 9, "local")
    assert alarms[1]["cleared_at"] is not None

    [done] = [r.payload["data"] for r in receiver.of("calibration.done")]
    assert done["model"] == "local" and done["threshold"] is None
    assert done["target_accuracy"] == 0.95 and done["delta"] == 0.05
    assert done["guarantee"] == report["guarantee"]
    assert done["guarantee"].startswith("Nothing is auto-accepted")
    assert done["routes"] == report["routes"] and sum(done["routes"].values()) == 6
    assert all(r.signed for r in receiver.received)


def test_a_killed_sender_leaves_a_claim_that_lapses_and_nothing_goes_twice(project, receiver):
    seed(project, texts("it", 3, label="refund"))
    add_webhook(project, receiver.url)
    for _ in range(3):
        decide_one(project)
    sources.record_decisions(project, project.store.list_webhooks())
    store, now = project.store, utcnow()
    # a process claims two deliveries and dies before sending them
    dead = store.claim_deliveries("gone:1:x", now, now + timedelta(seconds=0.3), 2)
    assert len(dead) == 2
    first = deliver_due(project)  # the third only: the others are claimed
    assert first.delivered == 1
    time.sleep(0.35)
    assert deliver_due(project).delivered == 2  # their claims lapsed
    # recording again, even from scratch, makes no second event
    store.set_state(sources.CURSOR_STATE, {"after_id": 0})
    assert sources.record_decisions(project, store.list_webhooks()) == 0
    with Dispatcher(project, poll_s=0.05):
        time.sleep(0.3)
    assert len(receiver.received) == 3
    assert len({r.payload["id"] for r in receiver.received}) == 3
    assert sorted(d.attempts for d in store.webhook_deliveries()) == [1, 2, 2]


def test_a_review_committed_behind_the_cursor_is_still_told(project, receiver):
    # on PostgreSQL a transaction holding a lower id can commit after a higher one was read
    seed(project, texts("it", 2, label="refund"))
    add_webhook(project, receiver.url)
    decide_one(project)
    late = project.store.add_review(
        Review(item_id="it01", reviewer="rita", action="fix", value=LabelValue(label="refund"),
               queue="active")
    )  # fmt: skip
    project.store.set_state(sources.CURSOR_STATE, {"after_id": late + 10})  # read past it
    deliver_due(project)
    assert sorted(r.payload["data"]["review_id"] for r in receiver.received)[-1] == late
    assert len(receiver.received) == 2


def test_410_disables_the_webhook_and_cancels_what_it_had_left(project, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "PARALLEL", 1)  # one at a time: the 410 comes first
    seed(project, texts("it", 3, label="refund"))
    hook = add_webhook(project, receiver.url).webhook
    receiver.script("item.decided", [410])
    decide_one(project)
    decide_one(project)
    done = deliver_due(project)
    assert done.failed == 1 and done.attempts == 1
    gone = project.store.get_webhook(hook.id)
    assert not gone.live and "410 Gone" in gone.disabled_reason
    assert sorted(d.status for d in project.store.webhook_deliveries()) == ["cancelled", "failed"]
    decide_one(project)
    assert deliver_due(project).attempts == 0 and len(receiver.received) == 1


def test_redirects_are_not_followed_and_delivery_gives_up_after_max_attempts(project, receiver):
    seed(project, texts("it", 1, label="refund"))
    project.config.webhooks.max_attempts = 3
    add_webhook(project, receiver.url + "/old")
    receiver.script("item.decided", [302, 302, 302])
    decide_one(project)
    done = deliver_due(project)
    assert (done.retrying, done.failed) == (2, 1)
    assert [r.path for r in receiver.received] == ["/old"] * 3  # never /elsewhere
    [log] = project.store.webhook_deliveries()
    assert log.status == "failed" and "redirects are not followed" in log.last_error


def test_a_missing_secret_fails_the_attempt_and_it_is_tried_again(project, receiver, monkeypatch):
    seed(project, texts("it", 1, label="refund"))
    add_webhook(project, receiver.url)
    decide_one(project)
    monkeypatch.delenv(SECRET_ENV)
    project.config.webhooks.backoff_seconds = 0.05
    assert deliver_due(project).retrying == 1 and receiver.received == []
    [log] = project.store.webhook_deliveries()
    assert log.status == "pending" and f"{SECRET_ENV} is not set in this process" in log.last_error
    monkeypatch.setenv(SECRET_ENV, SECRET)
    time.sleep(0.1)
    assert deliver_due(project).delivered == 1 and receiver.received[0].signed


def test_a_target_refused_at_delivery_is_not_contacted(project, receiver):
    seed(project, texts("it", 1, label="refund"))
    add_webhook(project, receiver.url)
    decide_one(project)
    project.config.webhooks.allow_private = []  # as if the address had changed since
    project.config.webhooks.backoff_seconds = 60
    assert deliver_due(project).retrying == 1 and receiver.received == []
    assert "public addresses only" in project.store.webhook_deliveries()[0].last_error


def test_a_worker_delivers_while_it_runs(project):
    from labelloop.worker import _delivering

    with _delivering(project, True):
        import threading

        assert any(t.name == "webhooks" for t in threading.enumerate())
    assert not any(t.name == "webhooks" and t.is_alive() for t in threading.enumerate())


def test_bulk_accept_tells_each_item(project, receiver):
    seed(project, texts("bk", 3, label="refund", route=Route.ACTIVE))
    add_webhook(project, receiver.url, ["item.decided"])
    from labelloop.review.service import BrowseFilters

    service = ReviewService(project, background_prefetch=False)
    plan = service.bulk_preview("ada", BrowseFilters(route="active"))
    service.bulk_accept("ada", plan.token)
    service.close()
    deliver_due(project)
    data = [r.payload["data"] for r in receiver.received]
    assert sorted(d["item_id"] for d in data) == ["bk00", "bk01", "bk02"]
    assert all(d["bulk"] and d["action"] == "accept" and d["label"] == "refund" for d in data)
