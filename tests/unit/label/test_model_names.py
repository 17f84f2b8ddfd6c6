"""A model string the providers cannot place stops a run before any item, with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from labelloop.core.errors import ConfigError
from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.label.providers import get_provider
from labelloop.project import load_project
from labelloop.ui.cli import app

runner = CliRunner()
UNPLACEABLE = ("mistral-7b", "claude-3-5-haiku", "acme/model-1")
TABLES = ("suggestions", "llm_calls", "routes", "eval_runs", "eval_run_items", "project_state")


@pytest.mark.parametrize("model", UNPLACEABLE)
def test_unplaceable_model_is_refused_with_the_fix(model) -> None:
    with pytest.raises(ConfigError) as raised:
        get_provider(model)
    message = str(raised.value)
    assert repr(model) in message and "openai/NAME" in message and "--api-base" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("gpt-4o-mini", {}),  # a bare name litellm knows
        ("openai/gpt-4o-mini", {}),
        ("anthropic/claude-3-5-haiku-20241022", {}),
        ("ollama/llama3", {}),
        ("openai/my-local-model", {"api_base": "http://127.0.0.1:8000/v1"}),
        ("hosted_vllm/my-model", {"api_base": "http://127.0.0.1:8000/v1"}),
    ],
)
def test_placeable_models_still_make_providers(model, options) -> None:
    assert get_provider(model, **options).model == model
    assert get_provider("local").model == "local"


def rows(root: Path) -> dict[str, list]:
    """Every row of the tables a run writes to."""
    store = load_project(root).store
    with store.engine.connect() as c:
        got = {t: sorted(map(tuple, c.execute(sa.text(f"SELECT * FROM {t}"))), key=repr)
               for t in TABLES}  # fmt: skip
    store.close()
    return got


@pytest.fixture(scope="module")
def labeled(tmp_path_factory) -> Path:
    """A project labeled by the local model, routed, with an eval set."""
    tmp = tmp_path_factory.mktemp("models")
    root = tmp / "proj"
    lines = demo_sample().read_text(encoding="utf-8").splitlines()[:60]
    data = tmp / "items.jsonl"
    data.write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    todo = tmp / "todo.jsonl"
    plain = [json.dumps({"id": r["id"], "text": r["text"]}) for r in map(json.loads, lines[30:])]
    todo.write_text("\n".join(plain) + "\n", encoding="utf-8")
    for args in (
        ["init", str(root), "--guideline", str(demo_guideline())],
        ["import", str(data), "--reviewer", "alice", "-p", str(root)],
        ["import", str(todo), "-p", str(root)],
        ["label", "-p", str(root)],
        ["evalset", "create", "holdout", "--size", "10", "-p", str(root)],
    ):
        result = runner.invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return root


@pytest.mark.parametrize(
    "args",
    [
        ["label", "--model", "mistral-7b", "--limit", "5"],
        ["label", "--model", "mistral-7b", "--dry-run"],
        ["label", "--model", "mistral-7b", "--api-base", "http://127.0.0.1:9/v1"],
        ["eval", "--evalset", "holdout", "--model", "mistral-7b"],
    ],
    ids=["label", "dry-run", "api-base", "eval"],
)
def test_cli_stops_before_any_row(labeled, args, monkeypatch, capsys) -> None:
    from labelloop.ui.cli import main

    before = rows(labeled)
    assert before["routes"] and before["suggestions"]
    monkeypatch.setattr("sys.argv", ["labelloop", *args, "-p", str(labeled)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "'mistral-7b'" in line and "openai/NAME" in line
    assert rows(labeled) == before  # no suggestion, call, route, run or state written
