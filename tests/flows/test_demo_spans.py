"""``labelloop demo --task entities``: the span demo, offline. Its summary scores the embedded
model's spans against the held-back WNUT-17 gold, and the figures it prints are the ones the
exported project gives."""

from __future__ import annotations

import json
import re

from labelloop.core.resources import entities_sample
from labelloop.evals.agreement import span_exact_prf
from labelloop.ui.cli import app
from tests.support.cli import cli_words as cli
from tests.support.cli import runner


def triples(spans) -> tuple:
    return tuple(sorted((s["start"], s["end"], s["label"]) for s in spans))


def test_demo_entities_summarises_spans_against_gold(tmp_path):
    root = str(tmp_path / "demo")
    said = cli("demo", "--no-ui", "--task", "entities", "--dir", root)
    gold = {
        r["id"]: triples(r["spans"])
        for r in map(json.loads, entities_sample().read_text(encoding="utf-8").splitlines())
    }
    status = json.loads(cli("status", "--json", "-p", root))
    assert status["items"] == len(gold) and status["routes"]["unlabeled"] == 0
    assert status["task"] == "emerging-entities"
    assert f"{status['reviews']} gold answers (spans, or none) imported as reviews" in said

    out = tmp_path / "export.jsonl"
    cli("export", str(out), "-p", root)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    unreviewed = [r for r in rows if r["route"] != "reviewed"]
    pred = [triples(r["suggestion"]["spans"]) for r in unreviewed]
    want = [gold[r["id"]] for r in unreviewed]
    exact = sum(p == g for p, g in zip(pred, want, strict=True)) / len(want)
    f1 = span_exact_prf([list(p) for p in pred], [list(g) for g in want])["f1"]
    assert f"exact-match accuracy (every span right, no span missing or extra) {exact:.1%}" in said
    assert f"span F1 (micro, exact boundaries and label) {f1:.3f}" in said
    assert 0.0 < f1 < 1.0

    auto = [r for r in unreviewed if r["route"] == "auto_accepted"]
    with_spans = [r for r in auto if r["suggestion"]["spans"]]
    found = re.search(
        r"Auto-accepted: (\d+) items;.*With spans: (\d+) items.*no spans: (\d+)", said
    )
    assert found, said
    assert [int(x) for x in found.groups()] == [
        len(auto),
        len(with_spans),
        len(auto) - len(with_spans),
    ]
    for r in unreviewed:
        s = r["suggestion"]
        assert 0.0 <= s["confidence"] <= 1.0
        assert all(0 <= x["start"] < x["end"] <= len(r["text"]) for x in s["spans"])


def test_demo_refuses_an_unknown_task_before_touching_the_folder(tmp_path):
    result = runner.invoke(app, ["demo", "--no-ui", "--task", "nope", "--dir", str(tmp_path / "d")])
    assert result.exit_code != 0
    assert "valid tasks are intent, entities" in str(result.exception)
    assert not (tmp_path / "d").exists()
