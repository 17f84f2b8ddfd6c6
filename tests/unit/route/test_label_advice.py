"""Advice names a command that can work: when a model has no suggestions yet, ``calibrate``,
``route`` and ``status`` say to label with it, except for the embedded model on a task it
cannot label (``kind: rating`` or ``ranking``): then they say to set an LLM model instead.
Where the local model can label (spans, pairwise, single), following the advice works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labelloop.core.guideline import parse_guideline
from labelloop.route.advice import EXAMPLE_LLM, local_refuses
from labelloop.ui.cli import app
from tests.support.judging import PAIRWISE, RANKING, RATING

runner = CliRunner()
LLM_ADVICE = f"set an LLM model instead, `labelloop label --model {EXAMPLE_LLM}`"
LOCAL_ADVICE = "`labelloop label --model local`"

SPANS = """---
task: booking-spans
kind: spans
labels: [people, time]
---
# Booking details

## Labels

### people
- Example: Table for [four](people) at [7pm](time)

### time
- Example: can we come at [9pm](time) instead
"""

QUESTIONS = """---
task: reply-rubric
unit: conversation
questions:
  topic: {kind: single, labels: [billing, other]}
  quality: {kind: rating, labels: [1, 2, 3]}
---
# Rubric

## topic
### billing
About a bill.
### other
Anything else.
"""


def cli(*args: str, ok: bool = True):
    result = runner.invoke(app, list(args), catch_exceptions=True)
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def make(tmp_path: Path, text: str, *options: str) -> str:
    guideline = tmp_path / "guideline.md"
    guideline.write_text(text, encoding="utf-8")
    root = tmp_path / "proj"
    cli("init", str(root), "--guideline", str(guideline), *options)
    return str(root)


def error(result) -> str:
    return " ".join(str(result.exception).split())


@pytest.mark.parametrize(
    ("text", "refused"),
    [(RATING, "rating"), (RANKING, "ranking"), (QUESTIONS, "rating"), (PAIRWISE, None)]
    + [(SPANS, None)],
)
def test_the_advice_asks_the_local_models_own_check(text, refused):
    assert local_refuses(parse_guideline(text)) == refused


@pytest.mark.parametrize("text", [RATING, RANKING, QUESTIONS])
def test_calibrate_says_to_set_an_llm_model_where_local_cannot_label(tmp_path, text):
    p = make(tmp_path, text)
    said = error(cli("calibrate", "-p", p, ok=False))
    assert "No suggestions from local yet" in said and LLM_ADVICE in said
    assert "the local model cannot label kind: rating" in said or "kind: ranking" in said
    assert LOCAL_ADVICE not in said
    assert "its first run makes it the routing model)" in said


def test_labeling_a_rating_task_with_local_fails_as_the_advice_says(tmp_path):
    # labelling with local, as the old advice said, is refused: the new advice avoids it
    p = make(tmp_path, RATING)
    refused = error(cli("label", "--model", "local", "-p", p, ok=False))
    assert "judges pairwise tasks only" in refused


def test_a_project_that_names_local_is_told_to_route_on_the_llm_too(tmp_path):
    p = make(tmp_path, RANKING, "--model", "local")
    said = error(cli("calibrate", "-p", p, ok=False))
    assert LLM_ADVICE in said
    assert f"then `labelloop route --model {EXAMPLE_LLM}` (labelloop.toml names local)" in said


def test_route_says_to_set_an_llm_model_where_local_cannot_label(tmp_path):
    p = make(tmp_path, RATING)
    said = error(cli("route", "--model", "local", "-p", p, ok=False))
    assert "No suggestions from local yet" in said and LLM_ADVICE in said
    assert LOCAL_ADVICE not in said


def test_status_says_to_set_an_llm_model_where_local_cannot_label(tmp_path):
    p = make(tmp_path, RATING)
    status = json.loads(cli("status", "--json", "-p", p).output)
    summary = status["calibration_outlook"]["summary"]
    assert summary.startswith("Not calibrated yet: the local model cannot label kind: rating")
    assert LLM_ADVICE in summary and "labelloop calibrate" not in summary
    text = " ".join(cli("status", "-p", p).output.split())
    assert summary in text


def test_a_cascade_that_starts_with_local_is_told_to_drop_it(tmp_path):
    p = make(tmp_path, RATING)
    cfg = Path(p) / "labelloop.toml"
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("[routing]\n", '[routing]\ncascade = ["local", "openai/x"]\n'))
    report = json.loads(cli("calibrate", "--json", "-p", p).output)
    skipped = {s["model"]: s.get("skipped") for s in report["stages"]}
    assert 'remove "local" from [routing] cascade in labelloop.toml' in skipped["local"]
    assert skipped["openai/x"] == "run `labelloop label --model openai/x` first"


def test_an_llm_is_told_to_label_as_before(tmp_path):
    p = make(tmp_path, RATING)
    said = error(cli("calibrate", "--model", "openai/x", "-p", p, ok=False))
    assert "No suggestions from openai/x yet: run `labelloop label --model openai/x` first" in said


def test_where_local_labels_the_task_its_advice_runs(tmp_path):
    """A span task: the advice is to label with local, and doing so lets calibrate run."""
    p = make(tmp_path, SPANS)
    said = error(cli("calibrate", "-p", p, ok=False))
    assert f"No suggestions from local yet: run {LOCAL_ADVICE} first" in said
    assert (
        "Not calibrated yet: 0 blind reviews"
        in json.loads(cli("status", "--json", "-p", p).output)["calibration_outlook"]["summary"]
    )
    rows = [{"id": f"r{i}", "text": t} for i, t in enumerate(["table for two at 8pm", "hi"])]
    items = Path(p).parent / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cli("import", str(items), "-p", p)
    cli("label", "--model", "local", "-p", p)
    report = json.loads(cli("calibrate", "--json", "-p", p).output)
    assert report["model"] == "local" and report["threshold"] is None
