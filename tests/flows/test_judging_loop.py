"""The judging loop end to end: preference rows imported as a uniform sample, judged on the
stub from recorded verdicts, calibrated against the people's consensus, exported and
imported again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelloop import api
from labelloop.core.consensus import consensus_value, rule_of
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import LabelValue
from labelloop.testing.stub_llm import StubServer
from tests.unit.ingest.test_judging_rows import PAIRWISE, PAIRWISE_NO_TIE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "judging"
MODEL = "openai/stub-model"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def project_of(root: Path, guideline: str):
    root.mkdir(parents=True, exist_ok=True)
    (root / "g.md").write_text(guideline, encoding="utf-8")
    return api.create_project(root / "p", root / "g.md")


def test_consensus_is_the_majority_and_a_split_is_a_tie_only_where_allowed():
    tie, no_tie = parse_guideline(PAIRWISE, "g"), parse_guideline(PAIRWISE_NO_TIE, "g")
    a, b = LabelValue(label="a"), LabelValue(label="b")
    assert consensus_value([a, b, a], no_tie) == a
    assert consensus_value([a, b], tie) == LabelValue(label="tie")
    assert consensus_value([a, b], no_tie) is None
    assert consensus_value([], tie) is None


def test_calibration_pairs_of_a_pairwise_task_are_judged_against_therule_of(tmp_path):
    rows = [json.loads(line) for line in (FIXTURES / "pandalm_sample.jsonl").open()]
    project = project_of(tmp_path, PAIRWISE)
    api.import_file(project, FIXTURES / "pandalm_sample.jsonl", sample=True)
    verdicts = {}
    for r in rows:
        v = next(j["choice"] for j in r["llm_judgments"] if j["model"] == "gpt-3.5-turbo")
        if v is not None:
            verdicts[r["id"]] = v.lower()
    script = {
        r["id"]: {"replies": {"a": r["reply_a"], "b": r["reply_b"]}, "verdict": verdicts[r["id"]]}
        for r in rows
        if r["id"] in verdicts
    }
    with StubServer(script) as stub:
        api.label_items(project, MODEL, api_base=stub.base_url, reviewed=True, retry_wait=0.01)
    g = project.guideline()
    latest = project.store.latest_suggestions(model=MODEL)
    s = next(iter(latest.values()))
    pairs = project.store.calibration_pairs(
        MODEL, s.prompt_version, s.guideline_version, consensus=rule_of(g)
    )
    people = {
        r["id"]: consensus_value(
            [LabelValue(label=j["choice"].lower()) for j in r["human_judgments"]], g
        )
        for r in rows
    }
    judged = [i for i in verdicts if latest[i].status == "ok"]
    assert len(pairs) == len(rows)  # every item has a majority (three annotators)
    for p in pairs:
        item_id = p.suggestion.item_id
        assert p.review.value == people[item_id]
        if item_id in verdicts:  # (the stub answers the rest by default)
            assert p.correct == (verdicts[item_id] == people[item_id].label)
    # the last annotator alone would disagree with the consensus on some items
    last = {r["id"]: r["human_judgments"][-1]["choice"].lower() for r in rows}
    assert any(last[i] != people[i].label for i in judged)
    report = api.calibrate(project, 0.8, model=MODEL)
    assert report.calibration_pairs == len(pairs)


def test_a_split_without_ties_is_no_calibration_pair(tmp_path):
    project = project_of(tmp_path, PAIRWISE_NO_TIE)
    rows = [
        {
            "id": "split",
            "prompt": "p",
            "reply_a": "x",
            "reply_b": "y",
            "human_judgments": [
                {"annotator": "u", "choice": "A"},
                {"annotator": "v", "choice": "B"},
            ],
        },
        {
            "id": "agreed",
            "prompt": "q",
            "reply_a": "x",
            "reply_b": "y",
            "human_judgments": [
                {"annotator": "u", "choice": "B"},
                {"annotator": "v", "choice": "B"},
            ],
        },
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    api.import_file(project, path, sample=True)
    script = {
        "split": {"replies": {"a": "x", "b": "y"}, "verdict": "a"},
        "agreed": {"replies": {"a": "x", "b": "y"}, "verdict": "b"},
    }
    with StubServer(script) as stub:
        api.label_items(project, MODEL, api_base=stub.base_url, reviewed=True, retry_wait=0.01)
    s = project.store.latest_suggestions(model=MODEL)["agreed"]
    pairs = project.store.calibration_pairs(
        MODEL, s.prompt_version, s.guideline_version, consensus=rule_of(project.guideline())
    )
    assert [(p.suggestion.item_id, p.correct) for p in pairs] == [("agreed", True)]


def test_the_label_that_stands_for_several_peoples_judgments_is_theirrule_of(tmp_path):
    """Export, the teaching examples and the browser agree: the majority of the people, a
    tie on an even split where ties are allowed, and no label (until adjudicated) where
    they are not."""
    rows = [
        {"id": "majority", "votes": [("u", "B"), ("v", "B"), ("w", "A")]},  # latest is A
        {"id": "split", "votes": [("u", "A"), ("v", "B")]},
        {"id": "alone", "votes": [("u", "A")]},
    ]
    expect = {
        "tie": {"majority": "b", "split": "tie", "alone": "a"},
        "no_tie": {"majority": "b", "split": None, "alone": "a"},
    }
    for name, guideline in (("tie", PAIRWISE), ("no_tie", PAIRWISE_NO_TIE)):
        project = project_of(tmp_path / name, guideline)
        for r in rows:
            for reviewer, choice in r["votes"]:
                api.import_rows(
                    project,
                    [
                        {
                            "id": r["id"],
                            "prompt": "p",
                            "reply_a": "x",
                            "reply_b": "y",
                            "human_judgments": [{"annotator": reviewer, "choice": choice}],
                        }
                    ],
                )
        out = tmp_path / f"{name}.jsonl"
        api.export_items(project, out)
        exported = {
            row["id"]: row.get("label") for row in map(json.loads, out.read_text().splitlines())
        }
        assert exported == expect[name], name
        finals = project.store.final_reviews(rule_of(project.guideline()))
        assert {i: r.value.label for i, r in finals.items()} == {
            i: v for i, v in expect[name].items() if v is not None
        }
        # a split with no majority and no tie waits for an adjudicator
        routes = project.store.routes()
        waiting = {i for i, v in expect[name].items() if v is None}
        assert {i for i, r in routes.items() if r == "adjudication"} == waiting
    # ... who decides it, in the adjudicator's own order of the replies
    from labelloop.review.auth import add_user
    from labelloop.review.service import ReviewService

    add_user(project.store, "boss", "admin", "a long enough password")
    service = ReviewService(project)
    assert service.adjudication_items("boss") == ["split"]
    view = service.adjudication_view("boss", "split")
    assert sorted(a.value.label for a in view.answers) == ["a", "b"]
    service.adjudicate("boss", "split", "b")
    api.export_items(project, out)
    exported = {
        row["id"]: row.get("label") for row in map(json.loads, out.read_text().splitlines())
    }
    assert exported["split"] == "b" and project.store.routes()["split"] == "reviewed"
    api.label_items(project)  # routing again leaves the adjudicated item decided
    assert project.store.routes()["split"] == "reviewed"


def test_a_rating_task_end_to_end(tmp_path):
    """Ratings imported from two people, judged on the stub in both orders, calibrated
    against the people's consensus (equal ratings only), exported and imported again."""
    from tests.unit.ingest.test_judging_rows import RATING

    project = project_of(tmp_path / "r", RATING)
    texts = {n: {"a": f"First answer {n}", "b": f"Second answer {n}"} for n in range(4)}
    people = {0: {"a": 5, "b": 2}, 1: {"a": 3, "b": 3}, 2: {"a": 1, "b": 4}, 3: {"a": 4, "b": 4}}
    rows = []
    for n in range(4):
        base = {"id": f"r{n}", "prompt": f"Question {n}"}
        base["replies"] = [{"id": k, "content": v} for k, v in texts[n].items()]
        votes = [people[n], people[n] if n != 3 else {"a": 4, "b": 5}]  # r3: the two differ
        base["annotations"] = [
            {"reviewer": who, "ratings": v} for who, v in zip("uv", votes, strict=True)
        ]
        rows.append(base)
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    api.import_file(project, path, sample=True)
    judge = {0: {"a": 5, "b": 2}, 1: {"a": 3, "b": 2}, 2: {"a": 1, "b": 4}, 3: {"a": 4, "b": 4}}
    script = {f"r{n}": {"replies": texts[n], "ratings": judge[n]} for n in range(4)}
    with StubServer(script) as stub:
        run = api.label_items(
            project, MODEL, api_base=stub.base_url, reviewed=True, retry_wait=0.01
        )
    assert (run.labeled, run.failed) == (4, 0)
    s = project.store.latest_suggestions(model=MODEL)["r0"]
    pairs = project.store.calibration_pairs(
        MODEL, s.prompt_version, s.guideline_version, consensus=rule_of(project.guideline())
    )
    # r3's two people disagree: no consensus, no pair; r1 is off by one on reply b: wrong
    assert {p.suggestion.item_id: p.correct for p in pairs} == {"r0": True, "r1": False, "r2": True}
    assert project.store.routes()["r3"] == "adjudication"
    out = tmp_path / "rated.jsonl"
    api.export_items(project, out)
    exported = {row["id"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert exported["r0"]["ratings"] == {"a": 5, "b": 2} and "ratings" not in exported["r3"]
    again = project_of(tmp_path / "again", RATING)
    api.import_file(again, out)
    assert again.store.get_item("r2") == project.store.get_item("r2")
    assert again.store.final_reviews(rule_of(again.guideline()))["r0"].value.ratings == {
        "a": 5,
        "b": 2,
    }
