"""The calibration loop through the CLI with simulated reviewers.

Reviewers work the calibration queue (blind) and part of the active queue; the
calibration run must be fitted and tested on calibration-queue pairs only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.project import load_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from tests.support.cli import cli
from tests.support.llm import write_jsonl


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    rows = [json.loads(x) for x in demo_sample().read_text(encoding="utf-8").splitlines()]
    gold = {r["id"]: r["label"] for r in rows}
    train, stream = rows[::4], [r for i, r in enumerate(rows) if i % 4]
    root = tmp / "p"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    cfg = root / "labelloop.toml"
    text = cfg.read_text()
    assert "[routing]\n" in text
    cfg.write_text(text.replace("[routing]\n", "[routing]\ncalibration_rate = 0.3\n"))
    write_jsonl(tmp / "train.jsonl", train)
    write_jsonl(tmp / "stream.jsonl", [{"id": r["id"], "text": r["text"]} for r in stream])
    p = str(root)
    cli("import", str(tmp / "train.jsonl"), "--reviewer", "gold", "-p", p)
    cli("import", str(tmp / "stream.jsonl"), "-p", p)
    cli("label", "-p", p)
    project = load_project(root)
    add_user(project.store, "ann", "reviewer", "password-ann")
    reviewed = _review(project, gold)
    report = json.loads(cli("calibrate", "--json", "-p", p))
    return project, reviewed, report, gold


def _review(project, gold: dict, active_budget: int = 60) -> dict[str, list[str]]:
    """Simulated reviewers answer with gold: every calibration item, some active ones."""
    project.config.review.queues = ["calibration", "active"]
    project.config.review.overlap = 0.0  # one reviewer here
    project.config.review.similar_k = 0
    service = ReviewService(project)
    done: dict[str, list[str]] = {"calibration": [], "active": []}
    view = service.next_item("ann")
    while True:
        if view is None or (view.queue == "active" and len(done["active"]) >= active_budget):
            service.release("ann")
            return done
        assert view.blind == (view.queue == "calibration")
        done[view.queue].append(view.item.id)
        view = service.decide("ann", view.item.id, "fix", gold[view.item.id]).next


def test_calibration_uses_calibration_queue_pairs_only(loop):
    project, reviewed, report, _ = loop
    run = project.store.latest_calibration_run()
    used = set(run.params["fit_item_ids"]) | set(run.params["test_item_ids"])
    assert used and used <= set(reviewed["calibration"])
    assert not used & set(reviewed["active"])
    # one ordering signal (the local probability): every pair tests the threshold
    assert run.params["score_signal"] == "local_prob"
    assert set(run.params["fit_item_ids"]) == set(run.params["test_item_ids"]) == used
    assert report["calibration_pairs"] == len(used) == run.n_pairs


def test_threshold_passes_and_auto_accepted_labels_are_accurate(loop):
    project, _, report, gold = loop
    assert report["threshold"] is not None and report["coverage"] > 0.2
    assert report["error_upper_bound"] <= 0.05
    auto = project.store.queue_item_ids("auto_accepted")
    latest = project.store.latest_suggestions(model="local", item_ids=auto)
    acc = sum(latest[i].value.label == gold[i] for i in auto) / len(auto)
    assert len(auto) > 200 and acc >= 0.9
    assert Path(report["plots"]["reliability"]).exists()
    assert Path(report["plots"]["risk_coverage"]).exists()


def test_status_reports_the_calibration(loop):
    project, *_ = loop
    status = json.loads(cli("status", "--json", "-p", str(project.root)))
    assert status["calibration"]["calibrated"] is True
    assert status["routes"]["audit"] >= 0 and status["routes"]["auto_accepted"] > 0
