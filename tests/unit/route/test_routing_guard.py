"""Routing never changes what people did or hold: the routing model changes only by an
explicit step, routing leaves decided and leased items alone, a decision on an item that
moved under its lease is no calibration pair, one label run per model and store, and an
LLM does not pay for items people decided."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from labelloop import loop
from labelloop.core.errors import ConfigError, LabelloopError
from labelloop.core.types import Route, RouteDecision
from labelloop.project import CONFIG_NAME, load_project
from labelloop.review.service import ReviewService
from labelloop.route import router
from labelloop.route import state as route_state
from labelloop.route.rules import uniform_draw
from labelloop.testing.stub_llm import StubServer
from tests.support.llm import MODEL, label, make_project, write_jsonl
from tests.support.services import postgres_database

ROWS = [{"id": f"r{n:03d}", "text": f"where is my new card number {n}"} for n in range(24)]


def toml_model(project) -> str | None:
    return load_project(project.root).config.model


@pytest.fixture
def routed(tmp_path):
    """24 items labeled by the local model, which therefore routes them."""
    project = make_project(tmp_path, ROWS)
    assert toml_model(project) is None  # init names no model
    run = loop.label(project)
    assert run.routed and toml_model(project) == "local"
    yield project
    project.store.close()


def test_labeling_with_another_model_changes_no_route(routed):
    before = routed.store.routes()
    assert "calibration" in before.values()
    with StubServer() as stub:
        run = label(routed, stub.base_url, limit=5)
    assert run.labeled == 5 and not run.routed and run.routing_model == "local"
    assert len(routed.store.latest_suggestions(model=MODEL)) == 5
    assert routed.store.routes() == before
    assert toml_model(routed) == "local"
    # the routing model again: the same routes, the same calibration sample
    assert loop.label(routed).routed
    assert routed.store.routes() == before


def test_route_switches_the_routing_model_explicitly_and_reports_first(routed):
    with StubServer() as stub:
        label(routed, stub.base_url, limit=5)
    before = routed.store.routes()
    with pytest.raises(ConfigError, match="No suggestions from openai/other"):
        router.switch_routing_model(routed, "openai/other")
    changes = router.switch_routing_model(routed, MODEL, apply=False)
    assert sum(changes.values()) > 0 and routed.store.routes() == before  # only reported
    assert router.switch_routing_model(routed, MODEL) == changes
    assert toml_model(routed) == MODEL and route_state.routing_model(routed) == MODEL
    after = routed.store.routes()
    assert sum(after[i] != before[i] for i in before) == sum(changes.values())


def test_editing_the_model_in_the_toml_does_not_reroute_on_its_own(routed, tmp_path):
    before = routed.store.routes()
    path = routed.root / CONFIG_NAME
    path.write_text(path.read_text().replace('model = "local"', f'model = "{MODEL}"'))
    project = load_project(routed.root)
    new = write_jsonl(tmp_path / "more.jsonl", [{"id": "z1", "text": "card please"}])
    loop.import_file(project, new)
    assert {i: r for i, r in project.store.routes().items() if i != "z1"} == before
    assert route_state.routing_model(project) == "local"
    assert "route --model openai/stub-model" in route_state.model_mismatch(project)


def test_the_first_label_run_names_the_routing_model(tmp_path):
    project = make_project(tmp_path, ROWS[:4])
    with StubServer() as stub:
        run = label(project, stub.base_url, limit=2)
    assert run.routed and toml_model(project) == MODEL
    assert "model = " in (project.root / CONFIG_NAME).read_text()
    assert loop.label(project, "local").routed is False  # the local model comes second


# --- routing beside people --------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """The 24 routed items on each backend, with a reviewer and an admin."""
    from labelloop.review.auth import add_user

    def build(url=None):
        project = make_project(tmp_path, ROWS, **({"database_url": url} if url else {}))
        loop.label(project)
        add_user(project.store, "ann", "reviewer", "pw-ann-123456")
        add_user(project.store, "ada", "admin", "pw-ada-123456")
        project.config.review.overlap = 0.0
        project.config.review.similar_k = 0
        return project

    if request.param == "sqlite":
        project = build()
        yield project
        project.store.close()
        return
    with postgres_database() as url:
        project = build(url)
        yield project
        project.store.close()


def test_routing_never_overwrites_a_decision_made_while_it_ran(backend, monkeypatch):
    svc = ReviewService(backend, background_prefetch=False)
    view = svc.next_item("ann")
    assert view.queue == "calibration"
    plan = router._plan

    def plan_then_decide(project, model=None):
        planned = plan(project, model)  # routing has read the store ...
        svc.decide("ann", view.item.id, "fix", "card_arrival")  # ... a person decides ...
        return planned  # ... and routing writes what it read before

    monkeypatch.setattr(router, "_plan", plan_then_decide)
    router.route(backend)
    assert backend.store.get_route(view.item.id).route == "reviewed"
    monkeypatch.undo()
    router.route(backend)
    assert backend.store.get_route(view.item.id).route == "reviewed"
    assert [r.action for r in backend.store.reviews_for(view.item.id)] == ["fix"]
    svc.close()


def test_routing_leaves_leased_items_where_they_are(backend):
    svc = ReviewService(backend, background_prefetch=False)
    held = svc.next_item("ann").item.id
    leased = {lease.item_id for lease in backend.store.leases_of("ann", datetime.now(UTC))}
    assert held in leased and backend.store.get_route(held).route == "calibration"
    backend.config.routing.calibration_rate = 0.0  # routing would move every item out ...
    router.route(backend)
    assert backend.store.get_route(held).route == "calibration"  # ... but the held ones
    assert "calibration" not in {r for i, r in backend.store.routes().items() if i not in leased}
    decided = svc.decide("ann", held, "fix", "card_arrival").review
    assert not decided.route_changed and held in backend.store.calibration_item_ids()
    svc.close()


def test_a_decision_on_an_item_moved_under_its_lease_is_no_calibration_pair(backend):
    svc = ReviewService(backend, background_prefetch=False)
    view = svc.next_item("ann")
    assert view.queue == "calibration" and view.blind
    # the item leaves the calibration sample while ann holds it (another writer moved it)
    move = RouteDecision(item_id=view.item.id, route=Route.ACTIVE, reason="moved")
    backend.store.set_routes([move])
    stored = svc.decide("ann", view.item.id, "fix", "card_arrival").review
    assert stored.route_changed and stored.id is not None
    assert backend.store.get_route(view.item.id).route == "reviewed"  # the decision is kept
    assert view.item.id not in backend.store.calibration_item_ids()
    svc.close()


# --- one run per model ------------------------------------------------------------------


def test_a_second_label_run_on_the_same_model_refuses_to_start(routed):
    now = datetime.now(UTC)
    other = "elsewhere:4242:abcdef12"
    assert routed.store.claim_run(f"label:{MODEL}", other, "labelloop label", now) is None
    with StubServer() as stub:
        with pytest.raises(LabelloopError, match="Another labelloop label is labeling with"):
            label(routed, stub.base_url, limit=3)
        assert stub.calls == [] or len(stub.calls) == 0
        # another model is another lock
        assert loop.label(routed).routed
        # a holder on this machine that no longer runs is no obstacle
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()  # fmt: skip
        routed.store.release_run(f"label:{MODEL}", other)
        ghost = f"{socket.gethostname()}:{dead}:0000"
        assert routed.store.claim_run(f"label:{MODEL}", ghost, "labelloop label", now) is None
        assert label(routed, stub.base_url, limit=3).labeled == 3
    assert routed.store.claim_run(f"label:{MODEL}", other, "x", datetime.now(UTC)) is None


def test_a_label_run_that_refuses_to_start_records_no_routing_model(tmp_path):
    project = make_project(tmp_path, ROWS[:5])
    toml = (project.root / CONFIG_NAME).read_text()
    other = "elsewhere:4242:abcdef12"
    assert (
        project.store.claim_run(f"label:{MODEL}", other, "labelloop label", datetime.now(UTC))
        is None
    )
    with StubServer() as stub, pytest.raises(LabelloopError, match="Another labelloop label"):
        label(project, stub.base_url, limit=3)
    assert route_state.recorded_model(project) is None
    assert (project.root / CONFIG_NAME).read_text() == toml


def test_two_label_processes_never_pay_twice(tmp_path):
    """Two `labelloop label` processes on one store and model: each item is paid once."""
    project = make_project(tmp_path, ROWS[:24])
    with StubServer(latency=0.05) as stub:
        cmd = [sys.executable, "-m", "labelloop.ui.cli", "label", "--model", MODEL, "--api-base"]
        cmd += [stub.base_url, "--concurrency", "2", "-p", str(project.root)]
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        runs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in "ab"]
        results = [(r.wait(timeout=120), r.stderr.read()) for r in runs]
        paid = len(stub.calls)
    assert paid == 24, results
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 1])  # the second one ran after the first, or refused
    refused = [err for code, err in results if code == 1]
    assert all("A SQLite store takes one labeling process" in e for e in refused), refused


# --- what an LLM labels --------------------------------------------------------------------


def test_an_llm_skips_items_people_decided_except_calibration_items(tmp_path):
    rows = [{"id": f"d{n}", "text": f"my card {n}", "label": "card_arrival"} for n in range(6)]
    project = make_project(tmp_path, ROWS[:10] + rows, reviewer="rita")
    sample = [{"id": "d0", "text": "my card 0", "label": "card_arrival"}]
    loop.import_file(project, write_jsonl(tmp_path / "s.jsonl", sample), reviewer="sam",
                         sample=True)  # fmt: skip
    # items the calibration draw reached are in the sample whatever their review: their
    # current suggestion is what the test counts, so an LLM labels them too
    rate = route_state.calibration_rate(project, route_state.calibration_state(project, MODEL))
    drawn = {f"d{n}" for n in range(1, 6) if uniform_draw(f"d{n}", 0) < rate}
    want = {r["id"] for r in ROWS[:10]} | {"d0"} | drawn
    assert len(want) < 16
    with StubServer() as stub:
        said = loop.dry_run(project, MODEL, api_base=stub.base_url)
        assert f"Would label {len(want)} items" in said  # 10 undecided + d0 + drawn ones
        everything = loop.dry_run(project, MODEL, api_base=stub.base_url, reviewed=True)
        assert "Would label 16 items" in everything
        run = label(project, stub.base_url)
    assert run.labeled == len(want)
    assert set(project.store.latest_suggestions(model=MODEL)) == want
    assert loop.label(project, "local").labeled == 16  # the local model labels all


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_run_lock_is_held_renewed_taken_over_when_it_lapses_and_released(backend, tmp_path):
    from datetime import timedelta

    from labelloop.store import Store
    from labelloop.store.locks import TTL

    with postgres_database() if backend == "postgres" else _nothing() as url:
        store = Store.open(url or f"sqlite:///{tmp_path / 'l.db'}")
        now = datetime.now(UTC)
        assert store.claim_run("label:m", "hostA:1:a", "labelloop label", now) is None
        held = store.claim_run("label:m", "hostB:2:b", "labelloop label", now)
        assert held is not None and held.holder == "hostA:1:a"
        assert store.claim_run("label:other", "hostB:2:b", "labelloop label", now) is None
        assert store.renew_run("label:m", "hostA:1:a", now + TTL / 2)
        assert not store.renew_run("label:m", "hostB:2:b", now)
        # A stops renewing: once its claim lapses, B takes it over
        later = now + TTL / 2 + TTL + timedelta(seconds=1)
        assert store.claim_run("label:m", "hostB:2:b", "labelloop label", later) is None
        assert not store.renew_run("label:m", "hostA:1:a", later)
        store.release_run("label:m", "hostB:2:b")
        assert store.claim_run("label:m", "hostC:3:c", "labelloop label", later) is None
        store.close()


@contextmanager
def _nothing():
    yield None
