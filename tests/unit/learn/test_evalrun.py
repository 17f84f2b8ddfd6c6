"""Eval runs on a frozen set: two prompt versions through the stub LLM, compared paired."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar
from typer.testing import CliRunner

from labelloop.core.errors import ConfigError, LabelloopError
from labelloop.core.resources import prompts_dir
from labelloop.evals.compare import mcnemar_exact, paired_difference
from labelloop.learn import evalrun, evalsets
from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, make_project

LABELS = ("card_arrival", "lost_or_stolen_card", "refund")
GOLD = {f"q{i}": LABELS[i % 3] for i in range(10)}
#: v1 is right on q0-q5, v2 on q1-q9: q0 only v1, q6-q9 only v2
V1_RIGHT = {f"q{i}" for i in range(6)}
V2_RIGHT = {f"q{i}" for i in range(1, 10)}


def _wrong(label: str) -> str:
    return LABELS[(LABELS.index(label) + 1) % 3]


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def stub():
    with StubServer(retry_after=0.01) as server:
        yield server


@pytest.fixture
def project(tmp_path):
    rows = [{"id": i, "text": f"customer message number {i}", "label": g} for i, g in GOLD.items()]
    proj = make_project(tmp_path, rows, reviewer="rita")
    # a second prompt version in the project's own prompts/ folder: the same text as v1,
    # but it tags items as "v2:<id>", so the stub can answer the two versions differently
    v1 = (prompts_dir() / "classify.v1.jinja").read_text(encoding="utf-8")
    v2 = v1.replace('<item id="{{ v.id }}">', '<item id="v2:{{ v.id }}">')
    assert v2.count('id="v2:') == 2
    (proj.root / "prompts").mkdir()
    (proj.root / "prompts" / "classify.v2.jinja").write_text(v2, encoding="utf-8")
    evalsets.create(proj, "holdout")
    return proj


def _script() -> dict:
    script = {}
    for i, g in GOLD.items():
        script[i] = {"label": g if i in V1_RIGHT else _wrong(g), "confidence": 0.8}
        script[f"v2:{i}"] = {"label": g if i in V2_RIGHT else _wrong(g), "confidence": 0.9}
    return script


def test_two_prompt_versions_compared_on_paired_items(project, stub):
    stub.reset()
    stub.script = _script()
    a = evalrun.run(project, "holdout", MODEL, api_base=stub.base_url, retry_wait=0.01)
    b = evalrun.run(project, "holdout", MODEL, "classify.v2", api_base=stub.base_url)
    assert a.prompt_version.startswith("classify.v1:")
    assert b.prompt_version.startswith("classify.v2:")
    assert (a.items, b.items, a.failed, b.failed) == (10, 10, 0, 0)
    # each version's prompt reached the stub under its own tag
    keys = {c.key for c in stub.calls}
    assert keys == set(GOLD) | {f"v2:{i}" for i in GOLD}

    result = evalrun.compare_runs(project, "holdout")
    runs = {r["id"]: r for r in result["runs"]}
    assert runs[a.id]["accuracy"]["value"] == pytest.approx(0.6)
    assert runs[b.id]["accuracy"]["value"] == pytest.approx(0.9)
    c = result["comparison"]
    assert (c["a"], c["b"], c["n"]) == (a.id, b.id, 10)
    assert c["items"] == sorted(GOLD)  # the interval is over the items both runs answered
    diff = c["accuracy_difference"]
    assert diff["value"] == pytest.approx(0.3)
    assert diff["lo"] < 0.3 < diff["hi"] and diff["hi"] <= 0.7
    assert c["mcnemar"]["a_only_correct"] == 1 and c["mcnemar"]["b_only_correct"] == 4
    assert c["mcnemar"]["p_value"] == pytest.approx(binomtest(1, 5, 0.5).pvalue)
    assert c["macro_f1_difference"]["value"] > 0
    # the project's own suggestions are untouched: an eval run never changes routing
    assert project.store.latest_suggestions(model=MODEL) == {}


def test_cli_runs_and_compares_in_markdown_and_json(project, stub):
    stub.reset()
    stub.script = _script()
    runner = CliRunner()
    base = ["eval", "--evalset", "holdout", "-p", str(project.root)]
    llm = ["--model", MODEL, "--api-base", stub.base_url]
    first = runner.invoke(cli.app, [*base, *llm])
    assert first.exit_code == 0, first.output
    assert "# Eval set holdout v1 (10 items)" in first.output
    second = runner.invoke(cli.app, [*base, *llm, "--prompt-version", "classify.v2", "--json"])
    assert second.exit_code == 0, second.output
    data = json.loads(second.stdout[second.stdout.index("{") :])
    assert data["comparison"]["accuracy_difference"]["value"] == pytest.approx(0.3)
    ids = [r["id"] for r in data["runs"]]
    again = runner.invoke(cli.app, [*base, "--compare", str(ids[1]), str(ids[0])])
    assert again.exit_code == 0, again.output
    assert "difference -0.300" in again.output
    shown = runner.invoke(
        cli.app, ["evalset", "show", "holdout", "--json", "-p", str(project.root)]
    )
    assert shown.exit_code == 0, shown.output
    prompts = [r["prompt_version"].split(":")[0] for r in json.loads(shown.stdout)["runs"]]
    assert prompts == ["classify.v1", "classify.v2"]
    listed = runner.invoke(cli.app, ["evalset", "list", "-p", str(project.root)])
    assert listed.exit_code == 0 and "holdout" in listed.output


def test_unknown_run_prompt_and_local_prompt_version_are_clear_errors(project, stub):
    with pytest.raises(LabelloopError, match=r"Run 99 is not a run of eval set 'holdout' v1"):
        evalrun.compare_runs(project, "holdout", (99, 98))
    with pytest.raises(ConfigError, match=r"No prompt template 'classify.v9'.*classify.v2"):
        evalrun.run(project, "holdout", MODEL, "classify.v9", api_base=stub.base_url)
    with pytest.raises(ConfigError, match="--prompt-version applies to LLM models only"):
        evalrun.run(project, "holdout", "local", "classify.v2")
    with pytest.raises(LabelloopError, match="No eval set 'nope': eval sets are holdout"):
        evalrun.run(project, "nope", MODEL)


def test_local_model_run_is_stored_and_scored(project):
    made = evalrun.run(project, "holdout", "local")
    assert made.model == "local" and made.items == 10
    result = evalrun.compare_runs(project, "holdout")
    assert result["comparison"] is None and len(result["runs"]) == 1
    assert 0.0 <= result["runs"][0]["accuracy"]["value"] <= 1.0


def test_pairing_leaves_out_items_one_run_lacks_and_matches_statsmodels():
    gold = {i: "x" for i in range(8)}
    a = {i: "x" if i < 3 else "y" for i in range(8)}
    b = {i: "x" if i > 0 else "y" for i in range(7)}  # item 7 missing from run B
    out = paired_difference(gold, a, b, labels=["x", "y"], n_boot=200)
    assert out["n"] == 7 and out["items"] == list(range(7))
    assert out["accuracy_difference"]["value"] == pytest.approx(6 / 7 - 3 / 7)
    table = [[2, 1], [4, 0]]  # rows: A right/wrong, columns: B right/wrong
    expected = mcnemar(table, exact=True).pvalue
    assert out["mcnemar"]["p_value"] == pytest.approx(expected)
    assert mcnemar_exact(0, 0)["p_value"] == 1.0
