"""Calibration and routing per question: a guideline that asks two questions, one the model
always answers right and sure (a), one it often gets wrong (b). Each question is
calibrated on its own pairs and routed on its own threshold: a's answers are auto-accepted,
b's go to people, and items wait in the active queue for b alone."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from labelloop.core.consensus import rule_of
from labelloop.core.questions import final_answers
from labelloop.core.types import Item, LabelValue, Review, Route, RouteDecision, Suggestion
from labelloop.project import init_project, load_project
from labelloop.route import router
from labelloop.route import state as route_state
from labelloop.route.calibrate import _answers_to, calibrate
from labelloop.route.questions import question_suggestion
from labelloop.route.rules import QuestionsDecision, RoutingPolicy, route_item
from labelloop.store import Store
from labelloop.store.db import current_revision, head_revision, migrate
from tests.conftest import add_items
from tests.support.cli import cli
from tests.support.services import postgres_database

ITEMS = 400
GUIDELINE = """\
---
task: two-questions
unit: text
questions:
  a: {kind: single, labels: [x, y]}
  b: {kind: single, labels: [p, q]}
---
# Two questions

Answer both questions.

## a
### x
The text is about x.
### y
The text is about y.

## b
### p
The text is polite.
### q
The text is not.
"""


def _answers(a: str, b: str) -> LabelValue:
    return LabelValue(answers={"a": LabelValue(label=a), "b": LabelValue(label=b)})


def _suggestion(item_id: str, a: str, b: str, conf_a: float, conf_b: float, g) -> Suggestion:
    return Suggestion(
        item_id=item_id,
        model="local",
        value=_answers(a, b),
        confidence=min(conf_a, conf_b),
        signals={
            "a.local_prob": conf_a,
            "a.confidence": conf_a,
            "b.local_prob": conf_b,
            "b.confidence": conf_b,
            "local_prob": min(conf_a, conf_b),
        },
        prompt_version="p1",
        guideline_version=g.version,
    )


def _blind(item_id: str, value: LabelValue) -> Review:
    return Review(
        item_id=item_id,
        reviewer="ann",
        action="fix",
        value=value,
        queue="calibration",
        blind=True,
    )


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """400 items, half drawn for blind calibration reviews answering both questions; one
    more drawn item answered blind for b alone."""
    tmp = tmp_path_factory.mktemp("questions")
    (tmp / "guideline.md").write_text(GUIDELINE, encoding="utf-8")
    root = tmp / "p"
    init_project(root, tmp / "guideline.md").store.close()
    cfg = root / "labelloop.toml"
    text = cfg.read_text()
    text = re.sub(r"(?m)^audit_rate = .*\n", "", text)
    cfg.write_text(
        text.replace("[routing]\n", "[routing]\ncalibration_rate = 0.5\naudit_rate = 0.0\n")
    )
    project = load_project(root)
    g = project.guideline()
    rng = random.Random(3)
    truth, made = {}, []
    for n in range(ITEMS):
        item_id = f"t{n:03d}"
        a, b = rng.choice("xy"), rng.choice("pq")
        truth[item_id] = (a, b)
        said_b = b if rng.random() < 0.6 else ("q" if b == "p" else "p")
        made.append(
            _suggestion(item_id, a, said_b, rng.uniform(0.9, 0.999), rng.uniform(0.5, 0.999), g)
        )
    add_items(project.store, [Item(id=i, text=f"text {i}") for i in truth])
    project.store.add_suggestions(made)
    router.route(project)
    drawn = project.store.queue_item_ids("calibration")
    only_b = drawn[0]  # answered blind for b alone: a pair for b, never for a
    for item_id in drawn[1:]:
        project.store.add_review(_blind(item_id, _answers(*truth[item_id])))
    b_value = LabelValue(answers={"b": LabelValue(label=truth[only_b][1])})
    project.store.add_review(_blind(only_b, b_value))
    calibrate(project)
    spare = next(i for i in project.store.queue_item_ids("active") if i not in drawn)
    return project, truth, drawn, only_b, spare


def test_each_question_is_calibrated_on_its_own(loop):
    project, _, drawn, *_ = loop
    a = route_state.question_state(project, "local", "a")
    b = route_state.question_state(project, "local", "b")
    assert a.threshold is not None and a.certified is not None and a.coverage > 0.9
    assert b.threshold is None and b.certified is None
    # a blind review answering b alone is a pair for b, never for a
    assert b.calibration_pairs == a.calibration_pairs + 1 == len(drawn)
    runs = {q: project.store.latest_calibration_run(model="local", question=q) for q in ("a", "b")}
    assert runs["a"].question == "a" and runs["a"].n_pairs == a.calibration_pairs
    assert runs["b"].n_pairs == b.calibration_pairs
    item = project.store.latest_calibration_run(model="local")
    assert item.question is None and item.n_pairs == a.calibration_pairs  # every answer


def test_a_review_answering_only_b_is_no_pair_for_a(loop):
    project, truth, _, only_b, _ = loop
    g = project.guideline()
    store = project.store
    versions = ("p1", g.version)
    for_a = store.calibration_pairs("local", *versions, consensus=_answers_to(g, "a"))
    for_b = store.calibration_pairs("local", *versions, consensus=_answers_to(g, "b"))
    assert only_b not in {p.suggestion.item_id for p in for_a}
    pair = next(p for p in for_b if p.suggestion.item_id == only_b)
    assert pair.review.value == LabelValue(label=truth[only_b][1])


def test_items_wait_for_b_alone_with_a_accepted(loop):
    project, _, drawn, _, spare = loop
    store = project.store
    routes = store.routes()
    undrawn = [i for i in routes if i not in drawn and i != spare]
    assert undrawn and all(routes[i] == Route.ACTIVE for i in undrawn)
    for i in undrawn:
        got = store.get_route(i)
        assert got.accepted == ("a",), (i, got)
        assert "b: no threshold certified yet" in got.reason
    assert all(store.get_route(i).accepted == () for i in drawn)
    assert store.accepted_counts() == {"a": len(undrawn) + 1}  # the spare keeps a's too


def test_final_answers_take_a_from_the_model_and_wait_for_b(loop):
    project, truth, drawn, _, spare = loop
    g = project.guideline()
    records = {r.item.id: r for r in project.store.iter_records("local", consensus=rule_of(g))}
    undrawn = [i for i in records if i not in drawn and i != spare]
    for i in undrawn:
        answers, sources = final_answers(records[i], g)
        assert sources == {"a": "model"}
        assert answers["a"] == LabelValue(label=truth[i][0])


def test_a_person_answering_b_keeps_a_and_stays_reviewed(loop):
    project, truth, _, _, item_id = loop
    store, g = project.store, project.guideline()
    before = store.get_route(item_id)
    person = Review(
        item_id=item_id,
        reviewer="rita",
        action="fix",
        value=LabelValue(answers={"b": LabelValue(label=truth[item_id][1])}),
        queue="active",
    )
    store.add_review(person)
    router.route(project)
    calibrate(project)
    after = store.get_route(item_id)
    assert after.route == Route.REVIEWED
    assert after.accepted == ("a",) and after.suggestion_id == before.suggestion_id
    record = next(
        r for r in store.iter_records("local", consensus=rule_of(g)) if r.item.id == item_id
    )
    answers, sources = final_answers(record, g)
    assert sources == {"a": "model", "b": "human"}
    assert answers == {
        "a": LabelValue(label=truth[item_id][0]),
        "b": LabelValue(label=truth[item_id][1]),
    }


def test_calibrate_prints_what_status_json_says(loop):
    project, *_ = loop
    p = str(project.root)
    printed = " ".join(cli("calibrate", "-p", p).split())
    report = json.loads(cli("calibrate", "--json", "-p", p))
    status = json.loads(cli("status", "--json", "-p", p))
    for q in ("a", "b"):
        mine, shown = report["questions"][q], status["questions"][q]
        assert mine["calibration_pairs"] == shown["calibration_pairs"]
        assert mine["threshold"] == shown["threshold"]
        assert mine["guarantee"] == shown["guarantee"]
        threshold = "n/a" if shown["threshold"] is None else f"{shown['threshold']:.3f}"
        coverage = f"{shown['coverage']:.1%}" if shown["threshold"] is not None else "0.0%"
        row = f"│ {q} │ {shown['calibration_pairs']} │ {threshold} │ {coverage} │"
        assert row in re.sub(r" +", " ", printed), (row, printed)
        assert " ".join(shown["guarantee"].split()) in printed
    assert status["questions"]["a"]["threshold"] is not None
    assert status["questions"]["b"]["threshold"] is None
    assert (
        status["calibration_outlook"]["questions"]["a"]["threshold"]
        == (status["questions"]["a"]["threshold"])
    )
    text = " ".join(cli("status", "-p", p).split())
    assert status["calibration_outlook"]["summary"] in text


def test_route_item_decides_each_question_on_its_own_policy():
    a = RoutingPolicy(threshold=0.9, calibration_rate=0.0, audit_rate=0.0)
    b = RoutingPolicy(threshold=0.8, calibration_rate=0.0, audit_rate=0.0)
    policy = RoutingPolicy(calibration_rate=0.0, audit_rate=0.0, questions={"a": a, "b": b})
    g = type("G", (), {"version": "v"})()

    def decide(conf_a, conf_b, **kw):
        s = _suggestion("i", "x", "p", conf_a, conf_b, g).model_copy(update={"id": 1})
        return route_item("i", s, False, policy.model_copy(update=kw))

    both = decide(0.95, 0.85)
    assert both.route == Route.AUTO_ACCEPTED and both.accepted == ("a", "b")
    one = decide(0.95, 0.5)
    assert one.route == Route.ACTIVE and one.accepted == ("a",)
    assert decide(0.5, 0.5).accepted == () and decide(0.5, 0.5).route == Route.ACTIVE
    assert decide(0.95, 0.5, audit_rate=1.0).route == Route.AUDIT
    assert decide(0.5, 0.5, audit_rate=1.0).route == Route.ACTIVE  # nothing to audit
    assert decide(0.95, 0.95, alarm=True).accepted == ()
    assert decide(0.95, 0.95, calibration_rate=1.0).route == Route.CALIBRATION
    s = _suggestion("i", "x", "p", 0.95, 0.5, g)
    one_q = question_suggestion(s, "a")
    assert one_q.value == LabelValue(label="x") and one_q.confidence == 0.95
    assert one_q.signals == {"local_prob": 0.95}


def _check_store(store: Store) -> None:
    add_items(store, [Item(id="i1", text="one"), Item(id="i2", text="two")])
    g = type("G", (), {"version": "v"})()
    (sid,) = store.add_suggestions([_suggestion("i1", "x", "p", 0.9, 0.9, g)])
    store.set_routes(
        [
            QuestionsDecision(
                item_id="i1", route=Route.AUDIT, reason="t", suggestion_id=sid, accepted=("b", "a")
            ),
            RouteDecision(item_id="i2", route=Route.ACTIVE, reason="t"),
        ]
    )
    assert store.get_route("i1").accepted == ("a", "b")
    assert store.get_route("i2").accepted == ()
    with store.engine.connect() as c:
        got = c.execute(sa.text("SELECT accepted FROM routes WHERE item_id = 'i2'")).scalar()
    assert got is None  # SQL NULL, not JSON null
    assert store.accepted_counts() == {"a": 1, "b": 1}
    seen = store.route_snapshot()  # routing writes what changed, accepted questions included
    moved = QuestionsDecision(item_id="i2", route=Route.ACTIVE, reason="t", accepted=("a",))
    assert store.apply_routes([moved], {"i2": 0.0}, seen).written == 1
    assert store.get_route("i2").accepted == ("a",)
    seen = store.route_snapshot()
    assert store.apply_routes([moved], {"i2": 0.0}, seen).written == 0
    store.set_question_calibrated({sid: {"a": 0.5}})
    assert store.latest_suggestions(model="local")["i1"].signals["a.calibrated"] == 0.5
    audit = Review(
        item_id="i1",
        reviewer="ann",
        action="fix",
        value=_answers("y", "p"),
        queue="audit",
        blind=True,
        suggestion_id=sid,
    )
    store.add_review(audit)  # the model's a was wrong, its b right
    assert store.question_audit_outcomes("a") == (1, 1)
    assert store.question_audit_outcomes("b") == (1, 0)
    assert store.get_route("i1").accepted == ("a", "b")  # a decision keeps what was accepted


def test_migration_adds_the_columns_on_sqlite(tmp_path: Path):
    from labelloop.store.db import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "m010")
    migrate(engine)
    assert current_revision(engine) == head_revision()
    cols = {c["name"] for c in sa.inspect(engine).get_columns("routes")}
    assert "accepted" in cols
    cols = {c["name"] for c in sa.inspect(engine).get_columns("calibration_runs")}
    assert "question" in cols
    _check_store(Store(engine))
    engine.dispose()


@pytest.mark.postgres
def test_migration_and_accepted_on_postgres():
    with postgres_database() as url:
        from labelloop.store.db import create_engine

        engine = create_engine(url)
        try:
            migrate(engine, "m010")
            migrate(engine)
            assert current_revision(engine) == head_revision()
            _check_store(Store(engine))
        finally:
            engine.dispose()
