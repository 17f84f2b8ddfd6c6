"""The cascade on a span task: the embedded span labeler (its CRF) first, an LLM (the stub
server) for what it cannot auto-accept, people last.

One stream of booking messages: three in four in a few familiar shapes, the others filler words
around odd words labeled at random (nothing to learn). A uniform sample of it, with gold spans,
trains stage 1 and calibrates it (cross-fitted). The items stage 1 is sure enough of stay with
it; every other one is sent to the stub once, and the stub's spans are stored and exported as
the suggestion that item was routed on.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.core.types import Route
from labelloop.project import load_project
from labelloop.route.rules import reaches
from labelloop.route.state import stage_policies
from labelloop.testing.stub_llm import StubServer
from labelloop.ui.cli import app
from tests.support.spans import GUIDELINE, familiar, marked

MODEL = "openai/stub-model"
#: words of the messages in no familiar shape, and the labels their marked word may have
FILLER = ["ok", "so", "maybe", "the", "uh", "said", "call", "about", "later", "if", "then"]
ODD_WORDS = ["Pim", "Zora", "eleven", "5pm", "Quill", "forty", "dusk", "Brno", "thirty"]
LABELS = ["people", "time", "name"]

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def build(parts) -> dict:
    text, spans = marked(parts)
    return {"text": text, "spans": spans}


def build_familiar(rng: random.Random, n: int) -> dict:
    text, spans = familiar(rng, n)
    return {"text": text, "spans": spans}


def unfamiliar(rng: random.Random) -> dict:
    """Filler words around one or two odd words, labeled at random: nothing to learn from."""
    parts: list[tuple[str, str | None]] = []
    for k in range(rng.randint(4, 8)):
        if k and parts[-1][1] is None and rng.random() < 0.3:
            parts.append((rng.choice(ODD_WORDS), rng.choice(LABELS)))
        else:
            parts.append((rng.choice(FILLER), None))
        parts.append((" ", None))
    return build(parts[:-1])


def triples(spans) -> list[tuple[int, int, str]]:
    return sorted((s["start"], s["end"], s["label"]) for s in spans or ())


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cascade-spans")
    rng = random.Random(3)
    # one stream: three messages in four in a familiar shape, the others unfamiliar
    rows = [
        {"id": f"m{i:03d}", **(unfamiliar(rng) if i % 4 == 3 else build_familiar(rng, i))}
        for i in range(220)
    ]
    odd = {f"m{i:03d}" for i in range(3, 220, 4)}
    rng.shuffle(rows)
    gold_rows, stream = rows[:160], rows[160:]  # a uniform sample of it, blind
    gold = {r["id"]: r["spans"] for r in gold_rows + stream}
    (tmp / "booking.md").write_text(GUIDELINE, encoding="utf-8")
    root = tmp / "p"
    p = str(root)
    cli("init", p, "--guideline", str(tmp / "booking.md"))
    cfg = root / "labelloop.toml"
    text = cfg.read_text(encoding="utf-8")
    text = text.replace("[routing]\n", f'[routing]\ncascade = ["local", "{MODEL}"]\n')
    cfg.write_text(text.replace("[routing]\n", "[routing]\ncalibration_rate = 0.0\n"))
    gold_file = write_jsonl(tmp / "gold.jsonl", gold_rows)
    cli("import", str(gold_file), "--reviewer", "gold", "--sample", "-p", p)
    todo = [{"id": r["id"], "text": r["text"]} for r in stream]
    cli("import", str(write_jsonl(tmp / "stream.jsonl", todo)), "-p", p)
    cli("label", "-p", p)
    stage_1 = json.loads(cli("calibrate", "--model", "local", "--json", "-p", p))
    project = load_project(root)
    local = stage_policies(project)[0]
    latest = project.store.latest_suggestions(model="local")
    kept = {i for i, s in latest.items() if not reaches([(s, local)])}
    # the stub answers with the gold spans, sure of them
    script = {
        r["id"]: {"spans": r["spans"], "confidence": 0.93, "logprob_confidence": 0.93} for r in rows
    }
    with pytest.MonkeyPatch.context() as mp, StubServer(script) as stub:
        mp.delenv("OPENAI_API_KEY", raising=False)
        cli("label", "--model", MODEL, "--api-base", stub.base_url, "-p", p)
        sent = [c.item_id for c in stub.calls]
    out = tmp / "out.jsonl"
    cli("export", str(out), "-p", p)
    exported = {r["id"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    return {
        "project": project,
        "gold": gold,
        "items": todo_ids(rows),
        "stream": todo_ids(stream),
        "odd": odd,
        "stage_1": stage_1,
        "kept": kept,
        "sent": sent,
        "local": latest,
        "exported": exported,
    }


def todo_ids(rows) -> set[str]:
    return {r["id"] for r in rows}


def test_stage_1_is_calibrated_on_the_blind_sample_and_keeps_what_it_is_sure_of(loop):
    report, kept = loop["stage_1"], loop["kept"]
    assert report["stage"] == 1 and report["threshold"] is not None, report
    assert report["error_upper_bound"] <= 0.05
    assert kept & loop["stream"] and loop["stream"] - kept
    # stage 1 keeps familiar messages, and is right on what it keeps
    assert len(kept - loop["odd"]) > len(kept) * 0.8
    local = loop["local"]
    right = [i for i in kept if triples(spans_of(local[i])) == triples(loop["gold"][i])]
    assert len(right) >= len(kept) * 0.95


def test_what_stage_1_is_unsure_of_goes_to_the_llm_and_nothing_else(loop):
    sent, kept, odd = loop["sent"], loop["kept"], loop["odd"]
    assert len(sent) == len(set(sent)), "an item was sent twice"
    # every item stage 1 passes on (blind sample included: it calibrates stage 2), once
    assert set(sent) == loop["items"] - kept
    # most unfamiliar messages are among the local stage's least sure ones: sent on
    assert len(odd & set(sent)) > len(odd) / 2
    local = loop["local"]
    assert max(local[i].confidence for i in sent) < min(local[i].confidence for i in kept)


def test_the_llms_spans_are_stored_for_the_items_it_was_sent(loop):
    store = loop["project"].store
    answers = store.latest_suggestions(model=MODEL)
    assert set(answers) == set(loop["sent"])
    for item_id, s in answers.items():
        assert triples(spans_of(s)) == triples(loop["gold"][item_id])
        assert 0.0 <= s.confidence <= 1.0


def test_the_export_carries_the_spans_each_item_was_routed_on(loop):
    exported, kept = loop["exported"], loop["kept"]
    routes = set()
    for item_id in loop["stream"]:
        row = exported[item_id]
        s = row["suggestion"]
        assert s["model"] == ("local" if item_id in kept else MODEL), row
        assert 0.0 <= s["confidence"] <= 1.0
        routes.add(row["route"])
        if row["route"] == Route.AUTO_ACCEPTED:
            assert item_id in kept and row["label_source"] == "model"
            assert triples(row["spans"]) == triples(s["spans"])
        if item_id not in kept:
            assert triples(s["spans"]) == triples(loop["gold"][item_id])
        text = row["text"]
        assert all(0 <= x["start"] < x["end"] <= len(text) for x in s["spans"])
    assert Route.AUTO_ACCEPTED in routes


def spans_of(s) -> list[dict]:
    return [x.model_dump() for x in s.value.spans]
