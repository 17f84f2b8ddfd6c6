"""The store's side of several labeling workers (PostgreSQL): leases that lapse and are
taken over, a rate limit counted in a sliding window, a budget shared by a crew, and jobs
that no two workers take."""

from __future__ import annotations

import time

import pytest

from labelloop.label.crew import Crew
from labelloop.store import Store
from tests.support.services import postgres_database

IDS = [f"i{n}" for n in range(6)]


@pytest.fixture
def store():
    with postgres_database() as url:
        s = Store.open(url)
        try:
            yield s
        finally:
            s.close()


@pytest.mark.postgres
def test_a_lease_is_held_until_it_lapses_then_taken_over_and_reported(store):
    away = "elsewhere:4242:aaaa"  # a holder on another machine: only its lease's age counts
    store.join_crew(away, "m", "label", ttl=0.5, max_cost=None)
    assert store.claim_items("m", away, IDS[:4], ttl=0.5) == (IDS[:4], [])
    mine = "here:1:bbbb"
    store.join_crew(mine, "m", "label", ttl=30, max_cost=None)
    assert store.claim_items("m", mine, IDS, ttl=30) == (IDS[4:], [])
    assert store.held_by_others("m", mine, IDS) == set(IDS[:4])
    # another model is another lease
    assert store.claim_items("other", mine, IDS[:2], ttl=30) == (IDS[:2], [])
    time.sleep(0.6)
    assert store.held_by_others("m", mine, IDS) == set()
    claimed, taken = store.claim_items("m", mine, IDS, ttl=30)
    assert claimed == IDS and taken == IDS[:4]
    # a worker that renews keeps what it holds
    assert store.heartbeat(mine, "m", ttl=30, claimed=6)
    assert store.claim_items("m", away, IDS, ttl=30) == ([], [])
    store.release_items("m", mine, IDS[:3])
    assert store.claim_items("m", away, IDS, ttl=30) == (IDS[:3], [])
    store.finish_worker(mine)
    held = {w.holder: w for w in store.workers()}
    assert held[mine].status == "finished" and held[mine].leases == 0
    assert held[away].status == "running" and held[away].leases == 3


@pytest.mark.postgres
def test_the_rate_limit_counts_grants_in_a_sliding_window(store):
    granted = [store.grant_rate("b", 10, max_requests=3, max_tokens=None, span=0.4) for _ in "abc"]
    assert granted == [0.0, 0.0, 0.0]
    wait = store.grant_rate("b", 10, max_requests=3, max_tokens=None, span=0.4)
    assert 0 < wait <= 0.4
    assert store.grant_rate("other", 10, max_requests=3, max_tokens=None, span=0.4) == 0.0
    time.sleep(wait + 0.01)
    assert store.grant_rate("b", 10, max_requests=3, max_tokens=None, span=0.4) == 0.0
    # grants that left the window are pruned as new ones are made
    assert 1 <= len(store.rate_grants("b")) <= 3


@pytest.mark.postgres
def test_a_token_limit_waits_until_enough_tokens_left_the_window(store):
    def grant(tokens):
        return store.grant_rate("t", tokens, max_requests=None, max_tokens=300, span=0.5)

    assert [grant(100), grant(100), grant(100)] == [0.0, 0.0, 0.0]
    wait = grant(50)  # 300 held: the oldest 100 must leave first
    assert 0 < wait <= 0.5
    time.sleep(wait + 0.01)
    assert grant(50) == 0.0
    # a request larger than the whole limit counts as the limit, not as never
    time.sleep(0.51)
    assert grant(10**6) == 0.0


@pytest.mark.postgres
def test_a_crew_shares_one_budget(store):
    with Crew(store, "m", max_cost=1.0) as a, Crew(store, "m", max_cost=1.0) as b:
        assert a.crew == b.crew == a.holder
        assert a.reserve(0.4) and b.reserve(0.4)
        assert not a.reserve(0.4)  # 0.8 reserved: 0.4 more would pass 1.0
        b.settle(0.4, 0.1)  # b's item cost less than reserved
        assert a.reserve(0.4)
        a.settle(0.4, 0.4)
        a.settle(0.4, 0.4)
        assert store.crew_spend(a.crew) == pytest.approx(0.9)
        assert not b.reserve(0.2)
    # a worker whose lease lapsed (killed): its reservation stops counting, its spend not
    store.join_crew("elsewhere:1:eeee", "n", "label", ttl=0.3, max_cost=1.0)
    crew = {w.holder: w.crew for w in store.workers()}["elsewhere:1:eeee"]
    assert store.reserve_budget("elsewhere:1:eeee", crew, 0.6, 1.0)
    store.settle_budget("elsewhere:1:eeee", 0.0, 0.2)
    with Crew(store, "n", max_cost=1.0) as d:
        assert d.crew == crew and not d.reserve(0.5)
        time.sleep(0.35)
        assert d.reserve(0.5) and not d.reserve(0.4)  # 0.2 spent + 0.5: 0.3 left
    # a crew that has ended is over: the next worker starts a new one
    with Crew(store, "m", max_cost=1.0) as c:
        assert c.crew == c.holder != a.crew and c.reserve(0.9)


@pytest.mark.postgres
def test_no_two_workers_take_the_same_job(store):
    ids = [store.add_job("label", {"model": "m", "limit": n}) for n in range(3)]
    store.add_job("export", {})
    taken = [store.take_job(f"w{n}", ("label", "calibrate")) for n in range(4)]
    assert [j.id for j in taken[:3]] == ids and taken[3] is None
    assert taken[0].status == "running" and taken[0].args == {"model": "m", "limit": 0}
    store.finish_job(ids[0], result={"labeled": 3})
    store.finish_job(ids[1], error="boom")
    jobs = {j.id: j for j in store.jobs()}
    assert jobs[ids[0]].status == "done" and jobs[ids[0]].result == {"labeled": 3}
    assert jobs[ids[1]].status == "failed" and jobs[ids[1]].error == "boom"


@pytest.mark.postgres
def test_workers_starting_together_save_the_prompt_prefix_once(store):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: store.save_prefix("abc", "the static prefix"), range(32)))
    with store.engine.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM prompt_prefixes").scalar() == 1
