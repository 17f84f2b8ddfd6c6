"""The eval report of judging tasks: judge and people against the consensus, position bias,
model rankings from people, the judge and the final labels, on projects with known votes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labelloop import api
from labelloop.core.types import LabelValue, Route, RouteDecision, Suggestion
from labelloop.evals import judging
from labelloop.evals.report import EvalInput, JudgingInput, Prediction, build_report
from labelloop.evals.report_render import to_markdown, write_plots
from labelloop.learn.evaluate import evaluate
from labelloop.review.dashboard import dashboard
from labelloop.ui.cli import app

PAIRWISE = (
    "---\ntask: reply-preference\nkind: pairwise\nallow_tie: true\n---\n# Which reply is better?\n"
)
JUDGE = "judge-x"
N_BOOT = 40

# item: (model of reply a, model of reply b, people's votes, judge's verdict, order agreement)
# consensus: i0 a, i1 b, i2 tie (split), i3 tie (split), i4 a, i5 b; i6 and i7 have no votes
# and are auto-accepted on the judge's verdict
ITEMS = {
    "i0": ("m1", "m2", {"x": "A", "y": "A"}, "a", 1.0),
    "i1": ("m3", "m1", {"x": "B", "y": "B"}, "b", 1.0),
    "i2": ("m2", "m3", {"x": "A", "y": "B"}, "a", 0.0),
    "i3": ("m2", "m1", {"x": "B", "y": "tie"}, "b", 1.0),
    "i4": ("m1", "m3", {"x": "A", "y": "A", "z": "A"}, "b", 0.0),
    "i5": ("m3", "m2", {"x": "B", "y": "B"}, "b", None),
    "i6": ("m1", "m3", {}, "a", 1.0),
    "i7": ("m2", "m3", {}, "a", 1.0),
}
AUTO = ("i6", "i7")


def make_project(tmp_path, items=ITEMS, models=True):
    guideline = tmp_path / "g.md"
    guideline.write_text(PAIRWISE, encoding="utf-8")
    project = api.create_project(tmp_path / "p", guideline, model=JUDGE)
    rows = []
    for item, (model_a, model_b, votes, _, _) in items.items():
        row = {"id": item, "prompt": f"Question {item}?", "reply_a": f"A {item}"}
        row["reply_b"] = f"B {item}"
        if models:
            row.update(model_a=model_a, model_b=model_b)
        if votes:
            row["human_judgments"] = [{"annotator": w, "choice": c} for w, c in votes.items()]
        rows.append(row)
    api.import_rows(project, rows)
    ids = project.store.add_suggestions(
        [
            Suggestion(
                item_id=item,
                model=JUDGE,
                value=LabelValue(label=verdict),
                confidence=0.9,
                signals={"order_agreement": agreement},
            )
            for item, (_, _, _, verdict, agreement) in items.items()
        ]
    )
    by_item = dict(zip(items, ids, strict=True))
    project.store.set_routes(
        [
            RouteDecision(
                item_id=i, route=Route.AUTO_ACCEPTED, reason="t", suggestion_id=by_item[i]
            )
            for i in AUTO
            if i in items
        ]
    )
    return project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("judged"))


@pytest.fixture(scope="module")
def figures(project):
    return evaluate(project, n_boot=N_BOOT)


def test_judge_against_the_consensus_and_its_position_bias(figures):
    assert figures["consensus"] == {
        "items": 6,
        "ties": 0,
        "method": "majority vote, adjudicated win, a split vote is a tie",
    }
    judge = figures["models"][JUDGE]
    vs = judge["vs_consensus"]
    # right on i0, i1, i5; "a" and "b" where people split (a tie), "b" against three "a"s
    assert vs["n"] == 6
    assert vs["accuracy"]["value"] == pytest.approx(3 / 6)
    assert vs["accuracy"]["lo"] <= 0.5 <= vs["accuracy"]["hi"]
    # judge a,b,a,b,b,b vs consensus a,b,tie,tie,a,b: p_o 1/2, p_e 2/6*2/6 + 4/6*2/6 = 1/3
    assert vs["cohen_kappa"]["value"] == pytest.approx((1 / 2 - 1 / 3) / (1 - 1 / 3))
    assert judge["vs_reviewers"]["z"]["accuracy"]["value"] == 0.0  # z's one vote: "a" on i4
    # i2 and i4 flipped with the order; i5 is not known in both orders
    bias = judge["position_bias"]
    assert (bias["n"], bias["disagree"], bias["unknown"]) == (7, 2, 1)
    assert bias["rate"]["value"] == pytest.approx(2 / 7)
    assert 0 <= bias["rate"]["lo"] <= 2 / 7 <= bias["rate"]["hi"] <= 1


def test_people_against_the_others(figures):
    h = figures["humans"]["judging"]
    # every vote against the others' consensus: i2 and i3 lose both their votes, 9 of 13 agree
    assert (h["n"], h["items"]) == (13, 6)
    assert h["accuracy"]["value"] == pytest.approx(9 / 13)
    # pairs of votes: i0 1/1, i1 1/1, i2 0/1, i3 0/1, i4 3/3, i5 1/1
    assert h["pair_agreement"] == pytest.approx(6 / 8)
    people = {i: [v.lower() for v in votes.values()] for i, (_, _, votes, _, _) in ITEMS.items()}
    expected = judging.human_agreement({i: v for i, v in people.items() if v}, "pairwise", True)
    assert h["cohen_kappa"]["value"] == pytest.approx(expected["kappa"])
    assert h["pool_alpha"] == pytest.approx(expected["pool_alpha"])


def test_model_rankings_from_people_the_judge_and_the_final_labels(figures):
    r = figures["rankings"]
    assert (r["judge"], r["n_boot"], r["items"], r["items_without_models"]) == (JUDGE, N_BOOT, 8, 0)
    people, judge, final = (r["sources"][s] for s in ("people", "judge", "final"))
    assert (people["judgments"], people["battles"]) == (13, 13)
    assert (judge["judgments"], judge["battles"]) == (8, 8)
    # final: the people's consensus on the 6 decided items (a split is a tie here), the
    # judge's on i6 and i7
    assert (final["battles"], r["final_from"]) == (8, {"human": 6, "model": 2})
    for source in (people, judge, final):
        assert list(source["scores"]) == ["m1", "m2", "m3"]
        for v in source["scores"].values():
            assert v["lower"] <= v["score"] <= v["upper"]

    def rates(source):
        models, matrix = source["win_rates"]["models"], source["win_rates"]["matrix"]
        return {(a, b): matrix[i][j] for i, a in enumerate(models) for j, b in enumerate(models)}

    # people: m1 beats m2 3.5 of 4 (a tie on i3), m3 5 of 5; m2 beats m3 3 of 4
    p = rates(people)
    assert (p["m1", "m2"], p["m1", "m3"], p["m2", "m3"]) == (0.875, 1.0, 0.75)
    assert p["m2", "m1"] == 0.125 and p["m1", "m1"] is None
    j = rates(judge)
    assert (j["m1", "m2"], j["m1", "m3"], j["m2", "m3"]) == (1.0, pytest.approx(2 / 3), 1.0)
    f = rates(final)
    # m2-m3: i2 a tie (its two people split; the latest alone would say m3), i5, i7 m2
    assert (f["m1", "m2"], f["m1", "m3"], f["m2", "m3"]) == (0.75, 1.0, pytest.approx(5 / 6))
    assert judge["scores"]["m1"]["battles"] == 5
    # the scores are those of the library on the same battles
    battles = [("m1", "m2", "x"), ("m3", "m1", "y"), ("m2", "m3", "x"), ("m2", "m1", "y")]
    battles += [("m1", "m3", "y"), ("m3", "m2", "y"), ("m1", "m3", "x"), ("m2", "m3", "x")]
    expected = judging.bradley_terry(battles)
    assert {m: v["score"] for m, v in judge["scores"].items()} == pytest.approx(expected)


def test_dashboard_has_the_point_values_and_ranking_plots(project, figures):
    shown = dashboard(project, {})  # what the console's dashboard shows
    dash, plots = shown["details"]["evaluation"], shown["plots"]
    assert dash["models"][JUDGE]["position_bias"] == pytest.approx(2 / 7)
    assert dash["humans"]["judging"]["accuracy"] == pytest.approx(9 / 13)
    assert list(dash["rankings"]["people"]) == ["m1", "m2", "m3"]
    scores = {m: v["score"] for m, v in figures["rankings"]["sources"]["judge"]["scores"].items()}
    assert dash["rankings"]["judge"] == pytest.approx(scores)
    assert plots["model rankings"][:4] == b"\x89PNG"
    json.dumps(dash)


def test_replies_without_models_are_skipped_and_said_so(tmp_path):
    project = make_project(tmp_path, models=False)
    fig = evaluate(project, n_boot=N_BOOT)
    r = fig["rankings"]
    assert (r["items"], r["items_without_models"]) == (8, 8)
    for name, votes in (("people", 13), ("judge", 8), ("final", 8)):
        source = r["sources"][name]
        assert (source["battles"], source["skipped"]["no_model"], source["scores"]) == (
            0,
            votes,
            {},
        )
    assert write_plots({**fig, "routing_model": None}, tmp_path) == {}  # no ranking plots
    text = to_markdown(fig, {})
    assert "## Model ranking" not in text
    assert "8 of 8 items skipped from the model rankings: their replies name no model." in text
    # the rest of the report stands
    assert fig["models"][JUDGE]["vs_consensus"]["accuracy"]["value"] == pytest.approx(0.5)


def test_cli_prints_the_judging_figures_and_writes_the_report(project, tmp_path):
    out = tmp_path / "report"
    args = ["eval", "--n-boot", "20", "--out", str(out), "-p", str(project.root)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Judge judge-x vs consensus: 6 items, accuracy 0.500 [" in text
    assert "Judge judge-x position bias: 2 of 7 suggestions judged in both orders" in text
    assert "People vs the others' consensus: 13 votes on 6 items, accuracy 0.692" in text
    assert "Model ranking, people (13 battles): m1 " in text
    for name in ("model_rankings.png", "win_rates_people.png", "win_rates_judge.png"):
        assert (out / name).stat().st_size > 1000, name
    assert (out / "win_rates_final.png").is_file()
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Model judge-x position bias" in report
    assert "| position-bias rate | 0.286 [" in report
    assert "## Model ranking: people (13 battles)" in report
    assert "## Win rates (row vs column): judge judge-x (8 battles)" in report
    assert "| m1 | n/a | 0.875 | 1.000 |" in report
    assert "(6 decided by people, 2 auto-accepted verdicts)" in report
    assert "![model rankings](model_rankings.png)" in report
    assert "![win rates (final labels)](win_rates_final.png)" in report
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Reviewers against the others&#x27; consensus" in page
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert saved["rankings"]["n_boot"] == 20
    assert saved["rankings"]["sources"]["people"]["battles"] == 13


def test_ratings_and_rankings_use_the_judging_metrics():
    rating = EvalInput(
        labels=["1", "2", "3", "4", "5"],
        kind="rating",
        scale="ordinal",
        annotations={
            1: {"x": (("a", 5), ("b", 2)), "y": (("a", 5), ("b", 2))},
            2: {"x": (("a", 3), ("b", 3)), "y": (("a", 4), ("b", 3)), "z": (("a", 4), ("b", 3))},
            3: {"x": (("a", 1), ("b", 4))},
        },
        models={"j": {1: Prediction((("a", 4), ("b", 2))), 2: Prediction((("a", 4), ("b", 3)))}},
        n_boot=N_BOOT,
        judging=JudgingInput(
            replies={1: (("a", "m1"), ("b", "m2")), 2: (("a", "m1"), ("b", "m2")), 3: ()},
            judge="j",
            n_boot=N_BOOT,
        ),
    )
    fig = build_report(rating)
    vs = fig["models"]["j"]["vs_consensus"]
    people = {i: [dict(v) for v in votes.values()] for i, votes in rating.annotations.items()}
    judged = {i: dict(p.value) for i, p in rating.models["j"].items()}
    expected = judging.judge_agreement(judged, people, "rating", scale=[1, 2, 3, 4, 5])
    assert vs["n"] == expected["n"] == 3 - 1  # item 3 has no judgment
    assert vs["accuracy"]["value"] == pytest.approx(expected["accuracy"]) == 0.5
    assert vs["mean_abs_distance"]["value"] == pytest.approx(expected["mean_abs_distance"])
    assert vs["krippendorff_alpha"]["value"] == pytest.approx(expected["alpha"])
    h = fig["humans"]["judging"]
    ref = judging.human_agreement(people, "rating", scale=[1, 2, 3, 4, 5])
    for key, theirs in (("accuracy", "accuracy"), ("krippendorff_alpha", "alpha")):
        assert h[key]["value"] == pytest.approx(ref[theirs]), key
    assert h["pool_alpha"] == pytest.approx(ref["pool_alpha"])
    # each rating a battle between the two replies' models; an equal rating a tie
    people_source = fig["rankings"]["sources"]["people"]
    assert people_source["battles"] == 5
    assert people_source["win_rates"]["matrix"][0][1] == pytest.approx(4.5 / 5)

    ranking = EvalInput(
        labels=[],
        kind="ranking",
        annotations={1: {"x": ("a", "b", "c"), "y": ("a", "b", "c")}, 2: {"x": ("c", "b", "a")}},
        models={"j": {1: Prediction(("b", "a", "c")), 2: Prediction(("c", "b", "a"))}},
        n_boot=N_BOOT,
    )
    vs = build_report(ranking)["models"]["j"]["vs_consensus"]
    assert vs["accuracy"]["value"] == pytest.approx(0.5)
    assert vs["mean_kendall_distance"]["value"] == pytest.approx((1 / 3 + 0) / 2)
