"""The calibration loop never stalls: a blind reviewer answering every calibration item,
round after round, reaches a certified threshold, and every round that asks for more
blind reviews has queued them."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.project import load_project
from labelloop.review.dashboard import dashboard
from labelloop.route import router
from labelloop.route import state as route_state
from labelloop.route.calibrate import calibrate
from labelloop.route.router import route
from labelloop.route.sample import Sample
from labelloop.route.state import ACTIVE_PASS_STATE, calibration_key, calibration_state
from tests.support.cli import cli
from tests.support.llm import write_jsonl

#: every LABEL_STEP-th intent of the demo sample, TRAIN_PER_LABEL seed reviews each
LABEL_STEP = 1
TRAIN_PER_LABEL = 10
MAX_ROUNDS = 8


def _project(tmp: Path):
    rows = [json.loads(x) for x in demo_sample().read_text(encoding="utf-8").splitlines()]
    keep = sorted({r["label"] for r in rows})[::LABEL_STEP]
    rows = [r for r in rows if r["label"] in keep]
    train, stream, seen = [], [], {}
    for r in rows:
        seen[r["label"]] = seen.get(r["label"], 0) + 1
        (train if seen[r["label"]] <= TRAIN_PER_LABEL else stream).append(r)
    root, p = tmp / "p", str(tmp / "p")
    head, *sections = demo_guideline().read_text(encoding="utf-8").split("\n### ")
    kept = [  # the kept intents' sections, without counter-examples naming other intents
        "\n".join(ln for ln in x.splitlines() if not ln.startswith("- Counter-example"))
        for x in sections
        if x.split("\n", 1)[0].strip() in keep
    ]
    (tmp / "guideline.md").write_text("\n### ".join([head, *kept]), encoding="utf-8")
    cli("init", p, "--guideline", str(tmp / "guideline.md"))
    write_jsonl(tmp / "train.jsonl", train)
    write_jsonl(tmp / "stream.jsonl", [{"id": r["id"], "text": r["text"]} for r in stream])
    cli("import", str(tmp / "train.jsonl"), "--reviewer", "gold", "-p", p)
    cli("import", str(tmp / "stream.jsonl"), "-p", p)
    cli("label", "-p", p)
    return root, {r["id"]: r for r in stream}


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """Rounds of: answer the calibration queue blind (an import marked --sample), label,
    calibrate; until a threshold is certified and no more reviews are asked for."""
    tmp = tmp_path_factory.mktemp("grows")
    started = time.monotonic()
    root, gold = _project(tmp)
    p, project = str(root), load_project(root)
    blind, rounds = 0, []
    for k in range(MAX_ROUNDS):
        queue = project.store.queue_item_ids("calibration")
        if queue:  # the blind reviewer answers the whole calibration queue from gold
            answers = tmp / f"blind-{k}.jsonl"
            write_jsonl(answers, [gold[i] for i in queue])
            cli("import", str(answers), "--sample", "--reviewer", "blind", "-p", p)
            blind += len(queue)
        cli("label", "-p", p)
        report = json.loads(cli("calibrate", "--json", "-p", p))
        o = report["outlook"]
        rounds.append({"blind": blind, "report": report, "status": _status(p)})
        if report["threshold"] is not None and o["more_needed"] == 0:
            break
    return project, rounds, time.monotonic() - started


def _status(p: str) -> dict:
    return {"json": json.loads(cli("status", "--json", "-p", p)), "text": cli("status", "-p", p)}


def test_every_round_queues_what_it_asks_for_until_a_threshold_is_certified(walked):
    _, rounds, _ = walked
    seen = [(r["blind"], r["report"]["threshold"], r["report"]["outlook"]) for r in rounds]
    for _, threshold, o in seen:
        assert min(o["waiting"], o["more_needed"], o["calibration_pairs"]) >= 0
        if threshold is None:  # no threshold yet: more reviews asked for, and queued
            assert o["more_needed"] > 0 and o["waiting"] > 0, seen
    last = rounds[-1]["report"]
    assert last["threshold"] is not None, seen
    assert last["error_upper_bound"] <= 0.05 and last["coverage"] > 0
    assert len(rounds) > 1, "the scenario should need the queue to grow at least once"


def test_calibrate_status_and_dashboard_say_the_same(walked):
    project, rounds, _ = walked
    for r in rounds:
        o = r["report"]["outlook"]
        assert r["status"]["json"]["calibration_outlook"] == o
        assert o["summary"] in " ".join(r["status"]["text"].split())
        assert "None" not in r["status"]["text"]
    board = dashboard(project, {})
    outlook = rounds[-1]["status"]["json"]["calibration_outlook"]
    assert board["details"]["calibration_outlook"] == outlook
    calibration = rounds[-1]["status"]["json"]["calibration"]
    assert board["top"]["certified"]["guarantee"] == calibration["guarantee"]
    assert board["top"]["certified"]["coverage"] == outlook["coverage"]


def test_pairs_without_a_single_error_certify(walked, monkeypatch):
    """200 blind pairs, all correct: a threshold with a guarantee, never a negative count."""
    project, *_ = walked
    latest = list(project.store.latest_suggestions(model="local").values())[:200]
    pairs = [SimpleNamespace(suggestion=s, correct=True, source="calibration") for s in latest]
    sample = Sample(pairs=pairs, drawn=200, answered=200)
    monkeypatch.setattr("labelloop.route.calibrate._sample", lambda *a: sample)
    key = calibration_key("local")
    kept = project.store.get_state(key)
    report = calibrate(project)
    project.store.set_state(key, kept)  # a made-up sample: its certification must not stay
    route(project)
    assert report["calibration_pairs"] == 200 and report["errors_above"] == 0
    assert report["threshold"] is not None and report["error_upper_bound"] <= 0.05
    assert report["more_reviews_needed"] >= 0 and report["outlook"]["more_needed"] >= 0


def test_the_same_pairs_are_the_same_look(walked):
    project, *_ = walked
    before = calibrate(project)
    again = calibrate(project)
    assert again["look"] == before["look"] and again["threshold"] == before["threshold"]
    assert f"this is look {before['look']}" in again["guarantee"]
    assert again["look_delta"] == pytest.approx(0.05 * 0.5 ** before["look"])


def test_blind_labels_survive_retraining_and_auto_acceptance_is_retested(walked, tmp_path):
    """New reviews retrain the local model: a plain `label` refreshes every unreviewed item,
    every blind label pairs with the new version, and auto-acceptance is re-tested."""
    project, rounds, _ = walked
    p, store = str(project.root), project.store
    before = calibrate(project)
    old_version = calibration_state(project, "local").prompt_version
    active = store.queue_item_ids("active")[:40]
    gold = {r["id"]: r for r in _gold_rows()}
    write_jsonl(tmp_path / "active.jsonl", [gold[i] for i in active])
    cli("import", str(tmp_path / "active.jsonl"), "--reviewer", "lead", "-p", p)
    out = " ".join(cli("label", "-p", p).split())
    assert "The model was retrained: auto-acceptance was re-tested" in out
    latest = store.latest_suggestions(model="local")
    versions = {s.prompt_version for s in latest.values()}
    assert len(versions) == 1 and versions != {old_version}
    assert calibration_state(project, "local").prompt_version in versions
    after = json.loads(cli("status", "--json", "-p", p))["calibration_outlook"]
    retest = calibrate(project)
    assert retest["look"] == before["look"] + 1  # the re-test in `label` was that look
    assert retest["answered_blind"] == before["answered_blind"]  # no blind label lost
    assert retest["calibration_pairs"] >= before["calibration_pairs"]
    assert after["calibration_pairs"] == retest["calibration_pairs"]


def _gold_rows():
    rows = [json.loads(x) for x in demo_sample().read_text(encoding="utf-8").splitlines()]
    return rows


def _serve_active(project, gold: dict, n: int) -> list[str]:
    """A reviewer in the console: whatever blind items wait, then ``n`` active items in
    queue order, each answered from gold; the active items served."""
    from labelloop.review.auth import add_user
    from labelloop.review.service import ReviewService

    if project.store.get_user("lead") is None:
        add_user(project.store, "lead", "reviewer", "lead-password-0")
    service = ReviewService(project, background_prefetch=False)
    served: list[str] = []
    try:
        while len(served) < n and (view := service.next_item("lead")) is not None:
            truth = gold[view.item.id]["label"]
            shown = view.suggestion.value.label if view.suggestion is not None else None
            action = "accept" if shown == truth else "fix"
            service.decide("lead", view.item.id, action, value=truth)
            if view.queue == "active":
                served.append(view.item.id)
        service.release("lead")
    finally:
        service.close()
    return served


def test_the_active_queue_passes_drawn_items_where_it_would_have_served_them(walked):
    """Drawn items have shadow places in the active queue's order; once the queue is past
    one (every item ahead of it gone, one behind it decided) it has left the population
    as its undrawn twins have: out of the pairs, and out of the calibration queue."""
    project, *_ = walked
    store = project.store
    route(project)
    state = store.get_state(ACTIVE_PASS_STATE)
    shadow = state["shadow"]
    assert shadow and not set(shadow) & set(store.queue_item_ids("active"))
    gold = {r["id"]: r for r in _gold_rows()}
    served = _serve_active(project, gold, 40)
    assert len(served) == 40
    head, reached = store.active_frontier(datetime.fromisoformat(state["since"]))
    behind = {i for i, p in shadow.items() if p < reached and (head is None or p < head)}
    assert behind and len(behind) < len(shadow)  # past some drawn items, not past all
    assert router.passed_by_active(project) == set(state["passed"]) | behind
    report = calibrate(project)
    assert report["passed_active"] == len(set(state["passed"]) | behind)
    run = store.latest_calibration_run(model="local")
    assert not behind & set(run.params["test_item_ids"])
    assert not behind & set(store.queue_item_ids("calibration"))  # routed as undrawn twins
    assert set(store.get_state(ACTIVE_PASS_STATE)["passed"]) >= behind


def test_a_look_that_certifies_nothing_keeps_the_last_certified_labels(walked, monkeypatch):
    """After a retrain whose look certifies nothing, the labels of the version the last
    certified look tested stay auto-accepted, in routes and in exports, and every place
    that reports calibration says so."""
    project, *_ = walked
    p, store = str(project.root), project.store

    def made_up(correct: bool) -> Sample:  # pairs whose outcome the test decides
        latest = list(store.latest_suggestions(model="local").values())[:200]
        pairs = [
            SimpleNamespace(suggestion=s, correct=correct, source="calibration") for s in latest
        ]
        return Sample(pairs=pairs, drawn=len(pairs), answered=len(pairs))

    monkeypatch.setattr("labelloop.route.calibrate._sample", lambda *a: made_up(True))
    first = calibrate(project)
    assert first["threshold"] is not None
    tested = first["look"]
    old_version = calibration_state(project, "local").prompt_version
    gold = {r["id"]: r for r in _gold_rows()}
    _serve_active(project, gold, 20)  # new reviews: the next label retrains the model
    monkeypatch.setattr("labelloop.route.calibrate._sample", lambda *a: made_up(False))
    cli("label", "-p", p)  # the re-test of the retrained model is a look that fails
    latest = store.latest_suggestions(model="local")
    assert {s.prompt_version for s in latest.values()} != {old_version}
    state = calibration_state(project, "local")
    assert state.threshold is None and state.certified.look == tested
    assert state.certified.prompt_version == old_version
    routes = store.routes_for(store.queue_item_ids("auto_accepted"))
    assert routes, "the certified labels are still auto-accepted"
    routed = {s.id: s for s in store.suggestions_by_id([r.suggestion_id for r in routes.values()])}
    assert {s.prompt_version for s in routed.values()} == {old_version}
    records = {r.item.id: r for r in store.iter_records(model="local")}
    for item_id, r in routes.items():
        assert records[item_id].suggestion.id == r.suggestion_id  # what an export shows
    outlook = json.loads(cli("status", "--json", "-p", p))["calibration_outlook"]
    assert outlook["held_from_look"] == tested and outlook["threshold"] is not None
    assert f"certified at look {tested}, still auto-accepts" in outlook["summary"]
    shown = " ".join(cli("calibrate", "-p", p).split())
    assert f"Still auto-accepted: the labels of the model version look {tested}" in shown
    # a drawn item whose twin the certified labels would auto-accept has no shadow place
    route(project)
    held = calibration_state(project, "local").certified
    tested_labels = store.version_suggestions("local", old_version, held.guideline_version)
    signal = held.score_signal
    clears = {i for i, s in tested_labels.items() if s.signals.get(signal, -1) >= held.threshold}
    assert clears and not clears & set(store.get_state(ACTIVE_PASS_STATE)["shadow"])
    # too few pairs to test anything (the population shrank under the sample): still kept
    few = made_up(False)
    monkeypatch.setattr(
        "labelloop.route.calibrate._sample", lambda *a: Sample(pairs=few.pairs[:10])
    )
    report = calibrate(project)
    assert report["threshold"] is None and report["certified_in_force"]["look"] == tested
    # (the calibration queue grows by what it asks for, from auto-accepted items too)
    assert 0 < store.route_counts()["auto_accepted"] <= len(routes)
    assert route_state.policy(project).threshold == held.threshold
