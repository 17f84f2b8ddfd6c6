"""The cascade: the local model first, the LLM for what it cannot auto-accept, people last.

Pure tests of the stage walk and the savings arithmetic, then the whole loop through the
CLI: stage 1 (local) labeled and calibrated on blind reviews, stage 2 (the stub LLM, scripted
to answer like a decent LLM) labels only what reached it and is calibrated only on it.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.core.types import LabelValue, Route, Suggestion
from labelloop.project import RoutingConfig, load_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.route import cascade
from labelloop.route.rules import (
    RoutingPolicy,
    depth,
    in_calibration_sample,
    reaches,
    route_cascade,
    route_item,
)
from labelloop.route.state import stage_policies
from labelloop.testing.stub_llm import StubServer
from labelloop.ui.cli import app
from tests.support.cli import cli, runner
from tests.support.llm import write_jsonl

# --- the stage walk (pure) ------------------------------------------------------------------

LOCAL = RoutingPolicy(threshold=0.9, calibration_rate=0.0, audit_rate=0.0, model="local")
LLM = RoutingPolicy(threshold=0.8, calibration_rate=0.0, audit_rate=0.0, model="gpt")


def sugg(conf: float, model: str = "local", sid: int = 1, **kw) -> Suggestion:
    return Suggestion(
        item_id="i", model=model, value=LabelValue(label="a"), confidence=conf, id=sid, **kw
    )


def llm(conf: float, **kw) -> Suggestion:
    return sugg(conf, model="gpt", sid=2, **kw)


def test_stage_1_keeps_what_clears_its_threshold():
    d = route_cascade("i", [(sugg(0.95), LOCAL), (llm(0.99), LLM)], False)
    assert (d.route, d.suggestion_id) == (Route.AUTO_ACCEPTED, 1)
    assert d.reason.startswith("stage 1 (local):")
    assert not reaches([(sugg(0.95), LOCAL)])


def test_what_stage_1_passes_on_is_decided_by_stage_2():
    d = route_cascade("i", [(sugg(0.5), LOCAL), (llm(0.85), LLM)], False)
    assert (d.route, d.suggestion_id) == (Route.AUTO_ACCEPTED, 2)
    assert d.reason.startswith("stage 2 (gpt):")
    d = route_cascade("i", [(sugg(0.5), LOCAL), (llm(0.6), LLM)], False)
    assert (d.route, d.suggestion_id) == (Route.ACTIVE, 2) and "stage 2 (gpt)" in d.reason


def test_an_item_waiting_for_stage_2_keeps_stage_1s_route():
    d = route_cascade("i", [(sugg(0.5), LOCAL), (None, LLM)], False)
    assert (d.route, d.suggestion_id) == (Route.ACTIVE, 1)
    assert "stage 1 (local)" in d.reason and "stage 2 (gpt) has not labeled it yet" in d.reason
    assert reaches([(sugg(0.5), LOCAL)])


def test_no_stage_1_suggestion_means_unlabeled_whatever_later_stages_said():
    d = route_cascade("i", [(None, LOCAL), (llm(0.99), LLM)], False)
    assert d.route == Route.UNLABELED
    assert not reaches([(None, LOCAL)])


def test_failures_and_abstentions_go_on_injections_stop_at_people():
    failed = Suggestion(item_id="i", model="local", value=None, status="failed", id=1)
    assert reaches([(failed, LOCAL)])
    assert route_cascade("i", [(failed, LOCAL), (llm(0.9), LLM)], False).route == (
        Route.AUTO_ACCEPTED
    )
    abstained = sugg(0.99).model_copy(update={"value": LabelValue(abstain=True)})
    assert reaches([(abstained, LOCAL)])
    flagged = sugg(0.99, signals={"injection": 0.9})
    d = route_cascade("i", [(flagged, LOCAL), (llm(0.99), LLM)], False)
    assert d.route == Route.ACTIVE and "prompt injection" in d.reason
    assert not reaches([(flagged, LOCAL)])


def test_an_uncalibrated_stage_keeps_nothing():
    bare = RoutingPolicy(calibration_rate=0.0, model="local")
    assert reaches([(sugg(0.999), bare)])
    assert route_cascade("i", [(sugg(0.999), bare), (llm(0.9), LLM)], False).route == (
        Route.AUTO_ACCEPTED
    )


def test_alarm_stops_auto_accepting_but_does_not_send_kept_items_on():
    alarmed = LOCAL.model_copy(update={"alarm": True})
    d = route_cascade("i", [(sugg(0.95), alarmed), (llm(0.99), LLM)], False)
    assert d.route == Route.ACTIVE and "alarm" in d.reason and d.suggestion_id == 1
    assert not reaches([(sugg(0.95), alarmed)])


def test_audit_share_is_kept_by_its_stage():
    audited = LOCAL.model_copy(update={"audit_rate": 1.0})
    d = route_cascade("i", [(sugg(0.95), audited), (llm(0.99), LLM)], False)
    assert (d.route, d.suggestion_id) == (Route.AUDIT, 1)


def test_calibration_sample_reaches_stage_2_only_when_stage_1_would_pass_it_on():
    local, gpt = (p.model_copy(update={"calibration_rate": 0.5}) for p in (LOCAL, LLM))
    item = next(f"c{n}" for n in range(100) if in_calibration_sample(f"c{n}", local))
    low, high = sugg(0.5), sugg(0.95)
    d = route_cascade(item, [(low, local), (llm(0.99), gpt)], False)
    assert (d.route, d.suggestion_id) == (Route.CALIBRATION, 2)
    assert reaches([(low, local)])
    d = route_cascade(item, [(high, local), (llm(0.99), gpt)], False)
    assert (d.route, d.suggestion_id) == (Route.CALIBRATION, 1)
    assert not reaches([(high, local)])


def test_reviewed_items_stay_reviewed():
    d = route_cascade("i", [(sugg(0.5), LOCAL), (llm(0.99), LLM)], True)
    assert d.route == Route.REVIEWED and d.reason == "decided by a reviewer"


confidences = st.one_of(st.none(), st.floats(0.0, 1.0))


@given(confidences, st.booleans())
def test_one_stage_routes_like_route_item(conf, reviewed):
    s = None if conf is None else sugg(conf)
    alone = route_item("i", s, reviewed, LOCAL)
    d = route_cascade("i", [(s, LOCAL)], reviewed)
    assert (d.route, d.suggestion_id) == (alone.route, alone.suggestion_id)
    assert d.reason.endswith(alone.reason)


@given(st.lists(confidences, min_size=1, max_size=4))
def test_an_item_reaches_stage_k_exactly_when_the_stages_before_pass_it_on(confs):
    stages = [
        (None if c is None else sugg(c, sid=k), LOCAL.model_copy(update={"model": f"m{k}"}))
        for k, c in enumerate(confs)
    ]
    k = depth(stages)
    assert all(reaches(stages[:j]) == (j <= k) for j in range(len(stages)))
    d = route_cascade("i", stages, False)
    if d.route == Route.AUTO_ACCEPTED:  # decided by a stage that had labeled the item
        assert stages[k][0] is not None and d.suggestion_id == k


def test_savings_price_each_avoided_call_at_the_models_average():
    tally = [
        {"model": "local", "calls_avoided": 0},
        {"model": "gpt", "calls_avoided": 300},
        {"model": "big", "calls_avoided": 320},
    ]
    totals = {"gpt": {"calls": 200, "cost_usd": 0.5}, "big": {"calls": 10, "cost_usd": 0.0}}
    saved = cascade.savings(tally, totals)
    assert saved["llm_calls_avoided"] == 620
    assert saved["cost_avoided_usd"] == pytest.approx(300 * 0.5 / 200)
    assert saved["price_unknown"] == ["big"]
    assert saved["stages"][1] == {"model": "big", "avg_cost_per_call": None, "cost_avoided_usd": 0}


# --- the loop through the CLI -----------------------------------------------------------------

MODEL = "openai/stub-model"


def decent_llm(gold: dict[str, str], labels: list[str], seed: int = 0) -> dict[str, dict]:
    """A script for the stub: mostly right and sure, sometimes wrong and (mostly) unsure."""
    rng = random.Random(seed)
    script = {}
    for item_id, label in sorted(gold.items()):
        if rng.random() < 0.12:
            wrong = rng.choice([x for x in labels if x != label])
            conf = rng.uniform(0.85, 0.95) if rng.random() < 0.1 else rng.uniform(0.2, 0.7)
            script[item_id] = {"label": wrong, "confidence": conf, "logprob_confidence": conf}
        else:
            conf = rng.uniform(0.8, 0.99)
            script[item_id] = {"label": label, "confidence": conf, "logprob_confidence": conf}
    return script


def review_calibration_queue(project, gold: dict[str, str]) -> list[str]:
    """A blind reviewer answers every calibration item with gold."""
    project.config.review.queues = ["calibration"]
    project.config.review.overlap = 0.0  # one answer per item: nothing waits for a second
    service = ReviewService(project)
    done = []
    view = service.next_item("ann")
    while view is not None:
        assert view.blind and view.queue == "calibration"
        view_id = view.item.id
        view = service.decide("ann", view_id, "fix", gold[view_id]).next
        done.append(view_id)
    return done


def kept_by_stage_1(project) -> set[str]:
    """Items whose stage-1 calibrated probability clears stage 1's threshold."""
    local = stage_policies(project)[0]
    latest = project.store.latest_suggestions(model="local")
    return {i for i, s in latest.items() if not reaches([(s, local)])}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Gold for a tenth of the data (a uniform sample: it trains and calibrates stage 1), a
    stream of 600 items, 40% of it drawn for blind calibration reviews."""
    tmp = tmp_path_factory.mktemp("cascade")
    rows = [json.loads(x) for x in demo_sample().read_text(encoding="utf-8").splitlines()]
    train, rest = rows[::4], [r for i, r in enumerate(rows) if i % 4]
    stream = random.Random(1).sample(rest, 600)
    gold = {r["id"]: r["label"] for r in train + stream}
    root = tmp / "p"
    cli("init", str(root), "--guideline", str(demo_guideline()))
    cfg = root / "labelloop.toml"
    text = cfg.read_text().replace("[routing]\n", "[routing]\ncalibration_rate = 0.4\n")
    cfg.write_text(text.replace("[routing]\n", f'[routing]\ncascade = ["local", "{MODEL}"]\n'))
    write_jsonl(tmp / "train.jsonl", train)
    write_jsonl(tmp / "stream.jsonl", [{"id": r["id"], "text": r["text"]} for r in stream])
    p = str(root)
    cli("import", str(tmp / "train.jsonl"), "--reviewer", "gold", "--sample", "-p", p)
    cli("import", str(tmp / "stream.jsonl"), "-p", p)
    cli("label", "-p", p)
    project = load_project(root)
    add_user(project.store, "ann", "reviewer", "password-ann")
    calibration_items = review_calibration_queue(project, gold)
    stage_1 = json.loads(cli("calibrate", "--model", "local", "--json", "-p", p))
    kept = kept_by_stage_1(project)
    labels = project.guideline().label_names
    with pytest.MonkeyPatch.context() as mp, StubServer(decent_llm(gold, labels)) as stub:
        mp.delenv("OPENAI_API_KEY", raising=False)
        cli("label", "--model", MODEL, "--api-base", stub.base_url, "-p", p)
        sent = {c.item_id for c in stub.calls}
    stage_2 = json.loads(cli("calibrate", "--model", MODEL, "--json", "-p", p))
    return {
        "project": project,
        "gold": gold,
        "sample": {r["id"] for r in train},
        "calibration_items": calibration_items,
        "stage_1": stage_1,
        "stage_2": stage_2,
        "kept": kept,
        "sent": sent,
    }


def test_stage_1_is_calibrated_and_keeps_part_of_the_stream(loop):
    report, kept = loop["stage_1"], loop["kept"]
    assert report["stage"] == 1 and report["threshold"] is not None
    assert report["error_upper_bound"] <= 0.05
    assert 100 < len(kept) < len(loop["gold"]) - 200


def test_stage_2_is_sent_only_what_stage_1_passed_on(loop):
    project, kept, sent = loop["project"], loop["kept"], loop["sent"]
    assert sent and not sent & kept
    everything = set(project.store.item_ids())
    assert sent == everything - kept  # each item stage 1 passed on, exactly once
    calibration_passed_on = set(loop["calibration_items"]) - kept
    assert calibration_passed_on and calibration_passed_on <= sent


def test_stage_2_is_calibrated_only_on_items_that_reached_it(loop):
    project, report = loop["project"], loop["stage_2"]
    run = project.store.latest_calibration_run(model=MODEL)
    used = set(run.params["fit_item_ids"]) | set(run.params["test_item_ids"])
    assert report["stage"] == 2 and report["calibration_pairs"] == len(used) == run.n_pairs
    blind = set(loop["calibration_items"]) | loop["sample"]
    assert used <= blind - loop["kept"]
    assert used == blind & loop["sent"]
    assert used & set(loop["calibration_items"])  # calibration-queue reviews as well
    assert run.params["stage"] == 2
    assert run.params["upstream_run_ids"] == [loop["stage_1"]["run_id"]]
    assert report["threshold"] is not None and report["coverage"] > 0.5


def test_routes_name_the_deciding_stage_and_auto_accepted_labels_are_accurate(loop):
    project, gold = loop["project"], loop["gold"]
    auto = project.store.queue_item_ids("auto_accepted")
    routes = project.store.routes_for(auto)
    by_stage = {m: [i for i in auto if f"({m})" in routes[i].reason] for m in ("local", MODEL)}
    assert by_stage["local"] and by_stage[MODEL]
    assert len(by_stage["local"]) + len(by_stage[MODEL]) == len(auto)
    chosen = {
        s.id: s for s in project.store.suggestions_by_id([r.suggestion_id for r in routes.values()])
    }
    right = sum(chosen[routes[i].suggestion_id].value.label == gold[i] for i in auto)
    assert all(chosen[routes[i].suggestion_id].model == MODEL for i in by_stage[MODEL])
    assert right / len(auto) >= 0.9


def test_status_reports_each_stage_and_the_calls_saved(loop):
    project = loop["project"]
    status = json.loads(cli("status", "--json", "-p", str(project.root)))
    stages = status["cascade"]["stages"]
    assert [s["model"] for s in stages] == ["local", MODEL]
    assert stages[0]["kept"] == len(loop["kept"]) and stages[0]["auto_accepted"] > 0
    assert stages[1]["reached"] == len(loop["sent"]) == stages[1]["labeled"]
    assert stages[1]["auto_accepted"] > 0
    saved = status["cascade"]["saved"]
    assert saved["llm_calls_avoided"] == stages[1]["calls_avoided"] == len(loop["kept"])
    assert saved["price_unknown"] == [MODEL] and saved["cost_avoided_usd"] == 0.0
    text = cli("status", "-p", str(project.root))
    assert f"Cascade saved {len(loop['kept'])} LLM calls" in text
    assert "price unknown" in text


def test_export_shows_the_suggestion_each_item_was_routed_on(loop, tmp_path):
    project = loop["project"]
    out = tmp_path / "out.jsonl"
    cli("export", str(out), "-p", str(project.root))
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    for item_id in loop["kept"]:
        assert rows[item_id]["suggestion"]["model"] == "local"
    auto = [r for r in rows.values() if r["route"] == "auto_accepted"]
    assert {r["suggestion"]["model"] for r in auto} == {"local", MODEL}


def test_recalibrating_stage_1_alone_leaves_stage_2_auto_accepting_nothing(loop):
    """Run last: it changes the project (a new stage-1 run means new reach for stage 2)."""
    project, p = loop["project"], str(loop["project"].root)
    report = json.loads(cli("calibrate", "--model", "local", "--json", "-p", p))
    assert report["stale_stages"] == [MODEL]
    stage_2 = stage_policies(project)[1]
    assert not stage_2.calibrated and "recalibrated" in stage_2.uncalibrated
    routes = project.store.routes_for(project.store.item_ids()).values()
    assert not [r for r in routes if r.route == "auto_accepted" and "stage 2" in r.reason]
    assert any(r.route == "auto_accepted" for r in routes)  # stage 1 still does
    both = json.loads(cli("calibrate", "--json", "-p", p))
    assert [s["stage"] for s in both["stages"]] == [1, 2]
    assert all(s["threshold"] is not None for s in both["stages"])
    assert "union bound" in both["guarantee"]
    assert stage_policies(project)[1].calibrated


def test_an_alarm_stops_each_stage_until_that_stage_is_refitted(loop):
    project, p = loop["project"], str(loop["project"].root)
    raised = {"active": True, "raised_at": "2000-01-01T00:00:00+00:00", "reason": "test"}
    project.store.set_state("audit_alarm", raised)
    assert [s.alarm for s in stage_policies(project)] == [True, True]
    cli("calibrate", "--model", "local", "-p", p)  # stage 2 is stale now, and still alarmed
    assert [s.alarm for s in stage_policies(project)] == [False, True]
    assert project.store.get_state("audit_alarm")["active"]
    cli("calibrate", "-p", p)
    assert not project.store.get_state("audit_alarm")["active"]
    assert [(s.alarm, s.calibrated) for s in stage_policies(project)] == [(False, True)] * 2


def test_a_cascade_names_its_stages_when_asked_for_another(loop):
    result = runner.invoke(app, ["calibrate", "--model", "gpt-4o", "-p", str(loop["project"].root)])
    assert result.exit_code != 0
    assert "not a stage of the cascade" in str(result.exception)
    assert f"local, {MODEL}" in str(result.exception)


@pytest.mark.parametrize("stages", [["local"], ["local", "local"], ["local", ""]])
def test_a_cascade_needs_two_distinct_models(stages):
    with pytest.raises(ValueError, match="two or more distinct models"):
        RoutingConfig(cascade=stages)
