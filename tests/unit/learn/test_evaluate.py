"""The eval report: figures from a small project with known agreement, JSON, files, escaping."""

from __future__ import annotations

import json

import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from labelloop import loop
from labelloop.core.types import LabelValue, Suggestion
from labelloop.evals.report import EvalInput, Prediction, build_report
from labelloop.learn.evaluate import evaluate
from labelloop.project import init_project
from labelloop.ui.cli import app

GUIDELINE = """---
task: tickets
unit: text
kind: single
scale: {scale}
---
# Tickets

Pick one label.

## Labels

### billing
Money matters.

### shipping
Parcels.

### other
Anything else.
"""

GOLD = ["billing"] * 5 + ["shipping"] * 5
CAROL = ["billing"] * 4 + ["shipping"] * 5 + ["billing"]  # 8 of 10 with the others
MODEL = ["shipping", "shipping"] + GOLD[2:]  # wrong on items 0 and 1 only
EVIL = "<script>alert(1)</script>"
WEEK1, WEEK2 = "2024-05-06T10:00:00Z", "2024-05-14T10:00:00Z"  # ISO weeks 19 and 20


@pytest.fixture
def project(tmp_path):
    guideline = tmp_path / "tickets.md"
    guideline.write_text(GUIDELINE.format(scale="nominal"), encoding="utf-8")
    proj = init_project(tmp_path / "proj", guideline)
    rows = []
    for i, (gold, carol) in enumerate(zip(GOLD, CAROL, strict=True)):
        time = WEEK1 if i < 5 else WEEK2
        notes = [{"reviewer": r, "label": gold, "time": time} for r in ("alice", "bob")]
        notes.append({"reviewer": "carol", "label": carol, "time": time})
        if i == 9:
            notes.append({"reviewer": EVIL, "label": "other", "time": time})
        rows.append({"id": f"t{i}", "text": f"ticket {i}", "annotations": notes})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loop.import_file(proj, path)
    proj.store.add_suggestions(
        [
            Suggestion(
                item_id=f"t{i}",
                model="local",
                value=LabelValue(label=label),
                confidence=0.55 if i < 2 else 0.9,
            )
            for i, label in enumerate(MODEL)
        ]
    )
    return proj


def test_model_against_consensus_reviewers_and_weeks(project):
    fig = evaluate(project, n_boot=200)
    assert fig["consensus"] == {"items": 10, "ties": 0, "method": "majority vote, adjudicated win"}
    m = fig["models"]["local"]
    acc = m["vs_consensus"]["accuracy"]
    assert acc["value"] == pytest.approx(0.8)
    assert acc["lo"] <= 0.8 <= acc["hi"]
    assert m["vs_reviewers"]["carol"]["accuracy"]["value"] == pytest.approx(0.6)
    assert m["per_label"]["billing"]["recall"] == pytest.approx(0.6)
    assert m["per_label"]["shipping"]["precision"] == pytest.approx(5 / 7)
    assert m["confusion_matrix"]["matrix"][0][:2] == [3, 2]
    weeks = [(w["week"], w["accuracy"]["value"]) for w in m["weekly"]]
    assert weeks == [("2024-W19", pytest.approx(0.6)), ("2024-W20", pytest.approx(1.0))]
    cal = m["calibration"]
    assert cal["n"] == 10
    assert cal["brier"] == pytest.approx((2 * 0.55**2 + 8 * 0.1**2) / 10)
    # every item scored 0.9 is right: accepting those covers 80% at 100% accuracy
    assert cal["coverage_at_target"] == pytest.approx(0.8)
    assert cal["threshold_at_target"] == pytest.approx(0.9)


def test_reviewer_pairs_and_overall(project):
    humans = evaluate(project, n_boot=200)["humans"]
    pairs = {(p["a"], p["b"]): p for p in humans["pairs"]}
    assert pairs[("alice", "bob")]["cohen_kappa"]["value"] == pytest.approx(1.0)
    kappa = pairs[("alice", "carol")]["cohen_kappa"]["value"]
    assert kappa == pytest.approx(cohen_kappa_score(GOLD, CAROL)) == pytest.approx(0.6)
    assert pairs[("alice", "carol")]["percent_agreement"]["value"] == pytest.approx(0.8)
    overall = humans["overall"]
    assert humans["items"] == 10
    assert overall["alpha_level"] == "nominal"
    assert -1 < overall["fleiss_kappa"]["value"] < 1
    assert overall["krippendorff_alpha"]["value"] is not None


def test_dashboard_figures_are_the_reports_point_values(project):
    from labelloop.learn.evaluate import headline_figures

    full = evaluate(project, n_boot=50)
    dash = headline_figures(project)
    assert dash["task"] == full["task"] and dash["consensus_items"] == 10
    local, report = dash["models"]["local"], full["models"]["local"]
    assert local["n"] == 10 and local["accuracy"] == pytest.approx(0.8)
    assert local["cohen_kappa"] == pytest.approx(report["vs_consensus"]["cohen_kappa"]["value"])
    assert local["ece"] == pytest.approx(report["calibration"]["ece"])
    assert local["per_label_f1"]["billing"] == pytest.approx(report["per_label"]["billing"]["f1"])
    pairs = {(p["a"], p["b"]): p for p in dash["humans"]["pairs"]}
    assert pairs[("alice", "carol")]["cohen_kappa"] == pytest.approx(0.6)
    overall = full["humans"]["overall"]
    assert dash["humans"]["fleiss_kappa"] == pytest.approx(overall["fleiss_kappa"]["value"])
    json.dumps(dash)  # plain data


def test_cli_json_and_out_files_escape_data(project, tmp_path):
    out_dir = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["eval", "--json", "--out", str(out_dir), "-p", str(project.root)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= {"task", "models", "humans", "consensus", "not_covered"}
    assert figures["models"]["local"]["vs_consensus"]["n"] == 10
    for name in (
        "report.md",
        "report.html",
        "confusion_matrix.png",
        "reliability.png",
        "risk_coverage.png",
        "agreement_over_time.png",
    ):
        assert (out_dir / name).stat().st_size > 0, name
    page = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    text = CliRunner().invoke(app, ["eval", "-p", str(project.root)])
    assert text.exit_code == 0, text.output
    assert "consensus" in text.output


def test_ordinal_scale_and_multi_label_figures():
    ordinal = EvalInput(
        labels=["low", "mid", "high"],
        scale="ordinal",
        annotations={1: {"a": "low", "b": "mid"}, 2: {"a": "high", "b": "high"}, 3: {"a": "low"}},
        models={},
        n_boot=50,
    )
    fig = build_report(ordinal)
    assert fig["humans"]["overall"]["alpha_level"] == "ordinal"
    assert fig["consensus"]["ties"] == 1
    multi = EvalInput(
        labels=["x", "y"],
        kind="multi",
        annotations={1: {"a": ("x", "y")}, 2: {"a": ("x",)}},
        models={"m": {1: Prediction(("x", "y"), 0.9), 2: Prediction(("x", "y"), 0.8)}},
        n_boot=50,
    )
    m = build_report(multi)["models"]["m"]
    assert m["vs_consensus"]["accuracy"]["value"] == pytest.approx(0.5)
    assert m["per_label"]["y"]["precision"] == pytest.approx(0.5)
    assert m["vs_consensus"]["micro_f1"]["value"] == pytest.approx(6 / 7)
