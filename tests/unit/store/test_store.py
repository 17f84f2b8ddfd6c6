"""Store round trips on SQLite and PostgreSQL, and migrations from an older schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from labelloop.core.types import (
    Item,
    LabelValue,
    Message,
    Review,
    Route,
    RouteDecision,
    Span,
    Suggestion,
)
from labelloop.store import Store
from labelloop.store.base import item_to_values
from labelloop.store.db import create_engine, current_revision, head_revision, migrate
from labelloop.store.items import T_ITEMS
from labelloop.store.review_queue import RouteChange
from tests.support.services import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path}/store.db")
        yield s
        s.close()
        return
    with postgres_database() as url:
        s = Store.open(url)
        yield s
        s.close()


def add_items(store: Store, items: list[Item]) -> None:
    with store.transaction() as c:
        c.execute(sa.insert(T_ITEMS), [item_to_values(i, line=n) for n, i in enumerate(items)])


ITEMS = [
    Item(id="t1", text="Where is my card?", meta={"source": "app"}),
    Item(
        id="c1",
        messages=(Message(role="user", content="hi"), Message(role="assistant", content="hello")),
        target_turn=0,
    ),
    Item(id="t2", text="ünïcödé ✓ <b>bold</b>"),
]


def test_items_round_trip(store):
    add_items(store, ITEMS)
    assert store.count_items() == 3
    assert store.get_item("c1") == ITEMS[1]
    assert store.get_items(["t1", "t2"]) == {"t1": ITEMS[0], "t2": ITEMS[2]}
    assert [i.id for i in store.iter_items(batch=2)] == ["t1", "c1", "t2"]


def test_suggestions_keep_every_signal_and_latest_wins(store):
    add_items(store, ITEMS)
    first = Suggestion(
        item_id="t1",
        model="local",
        value=LabelValue(label="a"),
        confidence=0.3,
        signals={"local_prob": 0.3, "logprob": None},
        prompt_version="p1",
        guideline_version="g1",
        fewshot_ids=("x", "y"),
        rationale="because",
    )
    spans = LabelValue(spans=(Span(start=0, end=5, label="LOC", text="Where"),))
    ids = store.add_suggestions([first, first.model_copy(update={"value": spans})])
    assert len(ids) == 2 and ids[0] < ids[1]
    latest = store.latest_suggestions(model="local")["t1"]
    assert latest.value == spans and latest.id == ids[1]
    assert latest.signals == {"local_prob": 0.3, "logprob": None}
    assert latest.fewshot_ids == ("x", "y")
    assert store.suggestion_versions("local") == {"t1": ("p1", "g1")}
    turns = first.model_copy(update={"item_id": "c1", "value": LabelValue(turns={0: "a"})})
    store.add_suggestions([turns])
    assert store.latest_suggestions(item_ids=["c1"])["c1"].value.turns == {0: "a"}


def test_suggestions_of_one_version_newest_per_item(store):
    add_items(store, ITEMS)
    base = Suggestion(item_id="t1", model="local", value=LabelValue(label="a"))
    v1 = base.model_copy(update={"prompt_version": "p1", "guideline_version": "g1"})
    store.add_suggestions([v1, v1.model_copy(update={"value": LabelValue(label="b")})])
    store.add_suggestions([v1.model_copy(update={"prompt_version": "p2"})])  # newest overall
    store.add_suggestions([v1.model_copy(update={"item_id": "t2", "model": "other"})])
    got = store.version_suggestions("local", "p1", "g1")
    assert list(got) == ["t1"] and got["t1"].value.label == "b"
    assert store.latest_suggestions(model="local")["t1"].prompt_version == "p2"
    assert store.version_suggestions("local", "p1", "g2") == {}


def test_active_frontier_reads_the_queue_head_and_the_deepest_decision(store):
    add_items(store, ITEMS)
    start = datetime.now(UTC) - timedelta(seconds=1)
    assert store.active_frontier(start) == (None, None)
    active = [RouteDecision(item_id=i, route=Route.ACTIVE, reason="low") for i in ("t1", "t2")]
    failed = RouteDecision(item_id="c1", route=Route.FAILED, reason="x")
    store.set_routes([*active, failed], priorities={"t1": 0.2, "t2": 0.6, "c1": -1.0})
    assert store.active_frontier(start) == (pytest.approx(0.2), None)
    store.add_review(Review(item_id="t1", reviewer="ann", action="skip", queue="active"))
    assert store.active_frontier(start) == (pytest.approx(0.2), None)  # a skip serves nothing
    store.add_review(
        Review(
            item_id="t1",
            reviewer="ann",
            action="accept",
            queue="active",
            value=LabelValue(label="a"),
        )
    )
    assert store.active_frontier(start) == (pytest.approx(0.6), pytest.approx(0.2))
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.active_frontier(later) == (pytest.approx(0.6), None)  # decided before


def test_reviews_are_append_only_and_route_to_reviewed(store):
    add_items(store, ITEMS)
    store.set_routes([RouteDecision(item_id="t1", route=Route.ACTIVE, reason="low")])
    store.add_review(
        Review(item_id="t1", reviewer="ann", action="fix", value=LabelValue(label="a"))
    )
    store.add_review(
        Review(item_id="t1", reviewer="ann", action="fix", value=LabelValue(label="b"))
    )
    assert [r.value.label for r in store.reviews_for("t1")] == ["a", "b"]
    assert store.final_reviews()["t1"].value.label == "b"
    assert store.get_route("t1").route == "reviewed"
    assert store.route_counts()["unlabeled"] == 2


def test_queue_leases_one_item_per_reviewer(store):
    add_items(store, ITEMS)
    store.set_routes(
        [RouteDecision(item_id=i, route=Route.ACTIVE, reason="") for i in ("t1", "t2")],
        priorities={"t1": 0.2, "t2": 0.1},
    )
    now = datetime.now(UTC)

    def lease(who):
        got = store.lease_next(who, ["active"], 600, now)
        return got[0].item_id if got else None

    assert (lease("ann"), lease("bob")) == ("t2", "t1")  # lowest priority first, never shared
    assert lease("cid") is None
    skip = Review(item_id="t2", reviewer="ann", action="skip", created_at=now)
    store.record_decision(skip, RouteChange(None))
    assert lease("ann") is None  # skipped, and t1 is leased
    assert lease("cid") == "t2"  # a skip leaves the item for others
    later = now + timedelta(seconds=601)
    assert store.lease_next("ann", ["active"], 600, later)[0].item_id == "t1"  # bob's expired


def test_failed_items_wait_in_active(store):
    add_items(store, ITEMS)
    store.set_routes([RouteDecision(item_id="t1", route=Route.FAILED, reason="bad json")])
    assert store.queue_item_ids("active") == ["t1"]
    lease, ctx = store.lease_next("ann", ["active"], 600, datetime.now(UTC))
    assert (lease.queue, ctx.route) == ("active", "failed")
    assert store.route_reasons("failed") == [("bad json", 1)]


def test_users_and_state(store):
    store.add_user("ann", "reviewer", "hash1")
    store.add_user("ann", "admin", "hash2")
    assert (store.get_user("ann").role, store.get_user("ann").password_hash) == ("admin", "hash2")
    assert store.get_user("nobody") is None
    store.set_state("audit_alarm", {"active": True})
    assert store.get_state("audit_alarm") == {"active": True}


def test_foreign_keys_are_enforced(store):
    with pytest.raises(sa.exc.IntegrityError):
        store.add_suggestions([Suggestion(item_id="missing", model="m", value=None)])


def test_sqlite_runs_in_wal_mode(tmp_path):
    s = Store.open(f"sqlite:///{tmp_path}/w.db")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_project_from_older_version_opens(backend, tmp_path):
    """A store left at the first migration is upgraded in place, keeping its data."""

    def check(url):
        engine = create_engine(url)
        migrate(engine, "m001")
        assert current_revision(engine) == "m001"
        with engine.begin() as c:
            # the columns m001 had (replies came with m010)
            row = {k: v for k, v in item_to_values(ITEMS[0]).items() if k != "replies"}
            c.execute(sa.insert(T_ITEMS), [row])
        engine.dispose()
        s = Store.open(url)
        assert current_revision(s.engine) == head_revision() != "m001"
        assert s.get_item("t1") == ITEMS[0]
        s.set_state("k", {"v": 1})  # a table that m001 did not have
        ((at, counts),) = s.route_history()  # the upgrade records where the history starts
        assert counts == {"unlabeled": 1} and s.history_start() == at
        s.close()

    if backend == "sqlite":
        check(f"sqlite:///{tmp_path}/old.db")
    else:
        with postgres_database() as url:
            check(url)


@pytest.mark.postgres
def test_a_connection_the_server_dropped_while_idle_is_replaced(monkeypatch):
    """Checkouts are not pinged; a connection idle past IDLE_PING_S is, and replaced."""
    import psycopg

    from labelloop.store import db

    with postgres_database() as url:
        store = Store.open(url)
        pid_sql = sa.text("SELECT pg_backend_pid()")
        with store.engine.connect() as c:
            pid = c.execute(pid_sql).scalar()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        monkeypatch.setattr(db, "IDLE_PING_S", 0.0)
        with store.engine.connect() as c:
            assert c.execute(pid_sql).scalar() != pid
        store.close()
