"""Several processes delivering on one PostgreSQL store: each event is recorded once and
sent once, whichever dispatcher sees it first."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from labelloop.core.types import LabelValue, Review
from labelloop.hooks.delivery import Dispatcher
from labelloop.hooks.registry import add_webhook
from labelloop.project import load_project
from tests.support.console import guideline_text, make_project, seed, texts
from tests.support.services import postgres_database
from tests.support.webhooks import SECRET, SECRET_ENV, Receiver, allow_local

pytestmark = pytest.mark.postgres
N = 60


def decide(project, ids) -> None:
    for item_id in ids:
        project.store.add_review(
            Review(item_id=item_id, reviewer="rita", action="fix",
                   value=LabelValue(label="card_arrival"), queue="active")
        )  # fmt: skip


def test_two_dispatchers_deliver_each_event_exactly_once(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with postgres_database() as url, Receiver(delay=0.01) as receiver:
        first = make_project(
            tmp_path, guideline_text(["refund", "card_arrival"]), [], database_url=url
        )
        allow_local(first, poll_seconds=0.02)
        second = load_project(first.root)  # another process: its own store connection
        allow_local(second, poll_seconds=0.02)
        seed(first, texts("pg", N, label="refund"))
        add_webhook(first, receiver.url, ["item.decided"])
        decide(first, [f"pg{k:02d}" for k in range(N // 2)])
        with Dispatcher(first), Dispatcher(second):
            decide(second, [f"pg{k:02d}" for k in range(N // 2, N)])  # while they run
            deadline = time.monotonic() + 30
            while len(receiver.received) < N and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # anything sent twice would arrive by now
        events = Counter(r.payload["id"] for r in receiver.received)
        deliveries = Counter(r.delivery for r in receiver.received)
        assert len(events) == N and set(events.values()) == {1}
        assert len(deliveries) == N and set(deliveries.values()) == {1}
        assert all(r.signed for r in receiver.received)
        items = sorted(r.payload["data"]["item_id"] for r in receiver.received)
        assert items == [f"pg{k:02d}" for k in range(N)]
        log = first.store.webhook_deliveries(limit=2 * N)
        assert len(log) == N and {d.status for d in log} == {"delivered"}
        assert {d.attempts for d in log} == {1}
        holders = {a.holder for d in log for a in d.log}
        assert len(holders) == 2  # both took part
        assert len(first.store.webhook_events("item.decided")) == N
        first.store.close()
        second.store.close()
