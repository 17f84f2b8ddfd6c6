"""Reviewers at the console while labeling, imports, calibration and routing run beside
them, on PostgreSQL: nothing decided twice outside overlap, no review lost or duplicated,
no refusal on an item the reviewer holds, undo restores, no calibration pair from an item
that moved. The deeper setting (20 clients, 2,000 items) is benchmarks/bench_concurrency.py.

The races that day found are kept below as tests of their own, each played out step by
step: an undone skip took back an item another reviewer had decided; a decision deadlocked
with an undo or a lease of the same item; routing and bulk accepts moved an item whose
lease was taken while they waited for its row.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from labelloop import loop
from labelloop.core.errors import ReviewConflict
from labelloop.core.types import Item, Route
from labelloop.project import Project, init_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.review.views import BrowseFilters
from labelloop.route import router
from labelloop.store import review_sql
from labelloop.store.tables import LeaseRow, RouteRow
from tests.conftest import add_routed
from tests.support.concurrency import Load, build, check, figures, run
from tests.support.llm import make_project
from tests.support.services import postgres_database

#: six reviewers: two signed in to a console over HTTP, two sharing one review service (one
#: console process), two with a service each (processes of their own)
LOAD = Load(items=300, clients=6, over_http=2, shared=2, seconds=12.0, seed=11)
PASSWORD = "pw-concurrency-1"


@pytest.mark.postgres
def test_reviewers_beside_labeling_importing_calibrating_and_routing(tmp_path):
    with postgres_database() as url:
        project = build(tmp_path, LOAD, url)
        try:
            log, took = run(project, LOAD)
            broken = check(project, LOAD, log)
        finally:
            project.store.close()
    seen = figures(log, took)
    # the day was a real one: every job ran, clients decided and undid in every queue
    assert all(seen["job runs"].get(job, 0) >= 2 for job in ("label", "import", "route")), seen
    assert seen["job runs"].get("calibrate", 0) >= 1, seen
    assert seen["decisions"] >= 120 and seen["undos"] >= 6, seen
    assert {d.queue for d in log.decisions} == {"calibration", "audit", "active"}, seen
    per_client = Counter(d.client for d in log.decisions)
    assert len(per_client) == LOAD.clients and min(per_client.values()) >= 10, per_client
    assert log.errors == [], log.errors[0]
    assert broken == dict.fromkeys(broken, 0), (broken, seen)


# --- the races, one by one ------------------------------------------------------------------


def _project(root, guideline_file, url: str | None, overlap: float = 0.0) -> Project:
    """Four active items and the reviewers ann and bob (and the admin ada)."""
    settings = {"review": {"overlap": overlap, "similar_k": 0}}
    p = init_project(root, guideline_file, **settings, **({"database_url": url} if url else {}))
    items = [Item(id=f"i{k}", text=f"where is my card {k}") for k in range(4)]
    add_routed(p, [(item, "card_arrival", 0.6, Route.ACTIVE) for item in items])
    for name in ("ann", "bob"):
        add_user(p.store, name, "reviewer", PASSWORD)
    add_user(p.store, "ada", "admin", PASSWORD)
    return p


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def four(request, tmp_path, guideline_file) -> Iterator[Project]:
    """``_project`` on each backend."""
    if request.param == "sqlite":
        p = _project(tmp_path / "p", guideline_file, None)
        yield p
        p.store.close()
        return
    with postgres_database() as url:
        p = _project(tmp_path / "p", guideline_file, url)
        yield p
        p.store.close()


@pytest.fixture
def four_pg(tmp_path, guideline_file) -> Iterator[Project]:
    """``_project`` on PostgreSQL (row locks are what these tests are about)."""
    with postgres_database() as url:
        p = _project(tmp_path / "p", guideline_file, url)
        yield p
        p.store.close()


def test_an_undone_skip_does_not_take_back_an_item_another_reviewer_decided(four):
    svc = ReviewService(four, background_prefetch=False)
    skipped = svc.next_item("ann").item.id
    svc.decide("ann", skipped, "skip")
    assert svc.next_item("bob").item.id == skipped  # free again, and first in the queue
    svc.decide("bob", skipped, "fix", "refund")
    with pytest.raises(ReviewConflict, match="has left the active queue"):
        svc.undo("ann")
    assert skipped not in {lease.item_id for lease in four.store.leases_of("ann", _now())}
    decided = [r.reviewer for r in four.store.reviews_for(skipped) if r.action != "skip"]
    assert decided == ["bob"] and four.store.get_route(skipped).route == "reviewed"
    # a skipped item still waiting in its queue is taken back
    current = svc.next_item("ann").item.id
    svc.decide("ann", current, "skip")
    assert svc.undo("ann").item.id == current
    svc.close()


@pytest.mark.postgres
def test_a_decision_locks_the_route_row_before_it_drops_the_lease(four_pg):
    """Every writer that takes or drops a lease locks the item's route row first, as taking
    a lease does (the row, then the lease). A decision that dropped the lease and then
    waited for the route row deadlocked with an undo or a lease of the same item that held
    the row and waited for the lease: the decision failed with an error."""
    svc = ReviewService(four_pg, background_prefetch=False)
    item = svc.next_item("ann").item.id
    leases, routes = LeaseRow.__table__, RouteRow.__table__
    with four_pg.store.transaction() as c:  # another writer holds the item's route row
        c.execute(sa.select(routes).where(routes.c.item_id == item).with_for_update())
        deciding, out = _in_thread(lambda: svc.decide("ann", item, "fix", "refund"))
        _wait_for_a_lock_wait(four_pg)
        # the waiting decision holds nothing the row's holder may need next: the lease
        lease = sa.select(leases.c.reviewer).where(leases.c.item_id == item)
        assert c.execute(lease.with_for_update(nowait=True)).scalar() == "ann"
    deciding.join(timeout=30)
    assert out[0].review.id is not None and four_pg.store.get_route(item).route == "reviewed"
    svc.close()


# A lease is one statement that locks the item's route row (FOR UPDATE SKIP LOCKED) and
# inserts the lease. A routing or bulk-accept UPDATE begun before that statement committed
# waited for the row, then went on with its own older snapshot, in which the lease did not
# exist yet: it moved an item someone held. Each test holds such a lease half-way (its
# statement run, not committed) while the write starts.


@pytest.mark.postgres
def test_routing_does_not_move_an_item_leased_while_it_waited_for_the_row(tmp_path):
    rows = [{"id": f"r{n:03d}", "text": f"where is my new card number {n}"} for n in range(40)]
    with postgres_database() as url:
        p = make_project(tmp_path, rows, database_url=url)
        loop.label(p)
        add_user(p.store, "ann", "reviewer", PASSWORD)
        p.config.routing.calibration_rate = 0.0  # routing would move every calibration item
        with _lease_in_flight(p, "calibration") as item:
            routing, out = _in_thread(lambda: router.route(p))
            _wait_for_a_lock_wait(p)
        routing.join(timeout=60)
        assert not isinstance(out[0], BaseException), out
        left = {i for i, r in p.store.routes().items() if r == "calibration"}
        assert left == {item}  # every calibration item moved but the one ann holds
        p.store.close()


@pytest.mark.postgres
def test_a_bulk_accept_does_not_take_an_item_leased_while_it_waited_for_the_row(four_pg):
    svc = ReviewService(four_pg, background_prefetch=False)
    plan = svc.bulk_preview("ada", BrowseFilters(route="active"))
    assert len(plan.items) == 4
    with _lease_in_flight(four_pg, "active") as item:
        bulk, out = _in_thread(lambda: svc.bulk_accept("ada", plan.token))
        _wait_for_a_lock_wait(four_pg)
    bulk.join(timeout=60)
    assert not isinstance(out[0], BaseException), out
    assert item not in out[0].changed and len(out[0].changed) == 3
    assert four_pg.store.get_route(item).route == "active"  # still ann's to decide
    assert four_pg.store.reviews_for(item) == []
    svc.close()


# --- helpers --------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _lease_in_flight(p: Project, queue: str) -> Iterator[str]:
    """ann's lease on the head of ``queue`` (the item's id), its statement run in a
    transaction that commits when the block ends."""
    now = _now()
    params = {"reviewer": "ann", "now": now, "until": now + timedelta(minutes=10)}
    with p.store.transaction() as c:
        yield c.execute(review_sql.claim("postgresql", (queue,)), params).first().item_id


def _in_thread(fn: Callable) -> tuple[threading.Thread, list]:
    """Run ``fn`` in a thread; the list gets its result or the exception it raised."""
    out: list = []

    def body() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # noqa: BLE001 - the test reads it
            out.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, out


def _wait_for_a_lock_wait(p: Project, timeout: float = 10.0) -> None:
    """Until a session on the project's database waits for a lock."""
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with p.store.engine.connect() as c:
            if c.execute(waiting).scalar():
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing waited for a lock within {timeout} s")
