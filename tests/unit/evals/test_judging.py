"""Judging metrics: consensus edge cases, position bias on a handcrafted set, agreement against
independent implementations, Bradley-Terry on battles from known strengths, plots."""

from __future__ import annotations

import math
from types import SimpleNamespace

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labelloop.evals.judging import (
    battles_from_judgments,
    bootstrap_bradley_terry,
    bradley_terry,
    consensus,
    human_agreement,
    judge_agreement,
    kendall_distance,
    pairwise_consensus,
    plot_rankings,
    plot_win_rates,
    position_bias,
    win_rate_matrix,
)

STRENGTHS = {"m1": 1300.0, "m2": 1150.0, "m3": 1000.0, "m4": 850.0, "m5": 700.0}


def simulated_battles(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    rng = np.random.default_rng(seed)
    models = list(STRENGTHS)
    battles = []
    for _ in range(n):
        x, y = (models[k] for k in rng.choice(len(models), 2, replace=False))
        p_x = 1 / (1 + 10 ** ((STRENGTHS[y] - STRENGTHS[x]) / 400))
        battles.append((x, y, "x" if rng.random() < p_x else "y"))
    return battles


# --- consensus ----------------------------------------------------------------------------------


def test_pairwise_consensus_majority_and_splits():
    assert pairwise_consensus(["a", "a", "b"], allow_tie=False) == "a"
    assert pairwise_consensus(["a", "b"], allow_tie=True) == "tie"
    assert pairwise_consensus(["a", "b"], allow_tie=False) is None
    assert pairwise_consensus(["a", "tie"], allow_tie=True) == "tie"
    assert pairwise_consensus(["b", "tie", "tie"], allow_tie=True) == "tie"
    assert pairwise_consensus(["b", "b", "tie"], allow_tie=True) == "b"
    assert pairwise_consensus({"ann": "b", "bob": None}, allow_tie=False) == "b"
    assert pairwise_consensus([], allow_tie=True) is None
    assert pairwise_consensus([None], allow_tie=True) is None


def test_pairwise_consensus_rejects_a_tie_vote_without_ties():
    with pytest.raises(ValueError, match="allow_tie"):
        pairwise_consensus(["a", "tie", "a"], allow_tie=False)


def test_consensus_of_ratings_and_rankings():
    assert consensus([{"a": 4, "b": 2}, {"b": 2, "a": 4}, {"a": 3, "b": 2}]) == {"a": 4, "b": 2}
    assert consensus([{"a": 4, "b": 2}, {"a": 3, "b": 2}]) is None
    assert consensus([["b", "a", "c"], ("b", "a", "c"), ("a", "b", "c")]) == ("b", "a", "c")
    assert consensus({"ann": ("a", "b"), "bob": ("b", "a")}) is None
    assert consensus([None, None]) is None


# --- position bias ------------------------------------------------------------------------------


def handcrafted_verdicts() -> list[tuple]:
    consistent = [(1, "a", "a"), (2, "a", "a"), (3, "a", "a"), (4, "a", "a"), (5, "b", "b")]
    consistent.append((6, "tie", "tie"))
    first = [(7, "a", "b"), (8, "a", "b"), (9, "a", "b")]  # the reply shown first, both times
    second = [(10, "b", "a")]
    return [*consistent, *first, *second, (11, "tie", "a"), (12, "a", None)]


def test_position_bias_counts_on_a_handcrafted_set():
    result = position_bias(handcrafted_verdicts())
    assert (result.n, result.n_disagree, result.n_first, result.n_second) == (11, 5, 3, 1)
    assert result.order_agreement == pytest.approx(6 / 11)
    assert result.position_bias == pytest.approx(5 / 11)
    assert result.first_position_preference == pytest.approx(3 / 5)
    assert result.second_position_preference == pytest.approx(1 / 5)
    assert set(result.disagreeing_items) == {7, 8, 9, 10, 11}


def test_position_bias_follows_which_reply_is_shown_first():
    swapped = position_bias(handcrafted_verdicts(), replies=("b", "a"))
    assert (swapped.n_first, swapped.n_second) == (1, 3)


def test_position_bias_without_pairs_is_undefined():
    result = position_bias([(1, "a", None)])
    assert result.n == 0
    assert result.order_agreement is None and result.first_position_preference is None
    consistent = position_bias([(1, "a", "a")])
    assert consistent.position_bias == 0.0 and consistent.first_position_preference is None


# --- agreement ----------------------------------------------------------------------------------


def test_kendall_distance():
    assert kendall_distance(("a", "b", "c"), ("a", "b", "c")) == 0.0
    assert kendall_distance(("a", "b", "c"), ("c", "b", "a")) == pytest.approx(1.0)
    assert kendall_distance(("a", "b", "c"), ("b", "a", "c")) == pytest.approx(1 / 3)
    assert kendall_distance(("a",), ("a",)) is None
    with pytest.raises(ValueError, match="same replies"):
        kendall_distance(("a", "b"), ("a", "c"))


PAIRWISE_PEOPLE = {
    1: ["a", "a", "b"],
    2: ["b", "b"],
    3: ["a", "b"],  # split: no consensus without ties
    4: {"ann": "b", "bob": "b", "cy": "a"},
    5: ["a"],
    6: ["a", "a"],
}
PAIRWISE_JUDGE = {1: "a", 2: "a", 3: "a", 4: "b", 5: "b", 6: "a", 7: "a"}


def test_judge_agreement_pairwise_matches_scikit_learn():
    result = judge_agreement(PAIRWISE_JUDGE, PAIRWISE_PEOPLE, "pairwise")
    agreed = {1: "a", 2: "b", 4: "b", 5: "a", 6: "a"}
    judge = [PAIRWISE_JUDGE[i] for i in agreed]
    assert result["n"] == 5 and result["no_consensus"] == 1
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["kappa"] == pytest.approx(cohen_kappa_score(judge, list(agreed.values())))


def test_judge_agreement_pairwise_with_ties_counts_the_split_as_a_tie():
    result = judge_agreement(PAIRWISE_JUDGE, PAIRWISE_PEOPLE, "pairwise", allow_tie=True)
    assert result["n"] == 6 and result["no_consensus"] == 0
    assert result["accuracy"] == pytest.approx(3 / 6)


def test_judge_agreement_ratings_alpha_matches_krippendorff():
    people = {
        1: [{"a": 5, "b": 2}, {"a": 5, "b": 2}],
        2: [{"a": 3, "b": 3}],
        3: [{"a": 1, "b": 4}, {"a": 1, "b": 4}, {"a": 2, "b": 4}],
        4: [{"a": 4, "b": 1}, {"a": 2, "b": 1}],  # split
    }
    judge = {1: {"a": 5, "b": 2}, 2: {"a": 4, "b": 3}, 3: {"a": 3, "b": 5}, 4: {"a": 4, "b": 1}}
    result = judge_agreement(judge, people, "rating", scale=[1, 2, 3, 4, 5])
    assert result["n"] == 3 and result["no_consensus"] == 1
    assert result["accuracy"] == pytest.approx(1 / 3)
    assert result["mean_abs_distance"] == pytest.approx((0 + 0 + 1 + 0 + 2 + 1) / 6)
    rows = [[5, 2, 4, 3, 3, 5], [5, 2, 3, 3, 1, 4]]
    expected = krippendorff.alpha(
        reliability_data=rows, level_of_measurement="ordinal", value_domain=[1, 2, 3, 4, 5]
    )
    assert result["alpha"] == pytest.approx(expected)
    same = judge_agreement({1: {"a": 5, "b": 2}, 3: {"a": 1, "b": 4}}, people, "rating")
    assert same["accuracy"] == 1.0 and same["mean_abs_distance"] == 0.0 and same["alpha"] == 1.0


def test_judge_agreement_rankings():
    people = {1: [("a", "b", "c")] * 2, 2: [("c", "b", "a")], 3: [("a", "b", "c"), ("b", "a", "c")]}
    judge = {1: ("a", "b", "c"), 2: ("a", "b", "c"), 3: ("a", "b", "c")}
    result = judge_agreement(judge, people, "ranking")
    assert result["n"] == 2 and result["no_consensus"] == 1
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["mean_kendall_distance"] == pytest.approx(0.5)


def test_judge_agreement_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="valid kinds"):
        judge_agreement({}, {}, "likert")


def test_human_agreement_leaves_each_vote_out():
    people = {1: ["a", "a", "a"], 2: ["a", "a", "b"], 3: ["b"]}
    result = human_agreement(people, "pairwise")
    # item 2: each "a" meets a split (no consensus); the "b" meets "a"
    assert result["n"] == 4 and result["accuracy"] == pytest.approx(3 / 4)
    assert result["n_items"] == 2 and result["pair_agreement"] == pytest.approx(4 / 6)
    with_ties = human_agreement(people, "pairwise", allow_tie=True)
    assert with_ties["n"] == 6 and with_ties["accuracy"] == pytest.approx(3 / 6)
    rows = [["a", "a", "b"], ["a", "a", np.nan], ["a", "b", np.nan]]  # coders x items
    expected = krippendorff.alpha(reliability_data=rows, level_of_measurement="nominal")
    assert result["pool_alpha"] == pytest.approx(expected)


def test_human_agreement_on_ratings_and_rankings():
    ratings = {1: [{"a": 4, "b": 2}] * 3, 2: [{"a": 1, "b": 5}, {"a": 1, "b": 5}]}
    result = human_agreement(ratings, "rating", scale=range(1, 6))
    assert result["accuracy"] == 1.0 and result["pool_alpha"] == 1.0
    assert result["mean_abs_distance"] == 0.0 and result["pair_agreement"] == 1.0
    rankings = {1: [("a", "b"), ("b", "a")], 2: [("a", "b"), ("a", "b")]}
    ranked = human_agreement(rankings, "ranking")
    assert ranked["n"] == 4 and ranked["accuracy"] == pytest.approx(0.5)
    assert ranked["mean_kendall_distance"] == pytest.approx(0.5)


# --- battles and model scores -------------------------------------------------------------------


def test_battles_from_judgments_maps_verdicts_and_counts_skips():
    a, b = {"id": "a", "model": "m1"}, {"id": "b", "model": "m2"}
    objects = [SimpleNamespace(id="a", model="m3"), SimpleNamespace(id="b", model="m1")]
    items = [
        ([a, b], "a"),
        ([a, b], "b"),
        ([a, b], "tie"),
        (objects, "b"),
        ([a, b], None),
        ([a, {"id": "b"}], "a"),
        ([a, {"id": "b", "model": "m1"}], "a"),
    ]
    battles, skipped = battles_from_judgments(items)
    assert battles == [("m1", "m2", "x"), ("m1", "m2", "y"), ("m1", "m2", "tie"), ("m3", "m1", "y")]
    assert skipped == {"no_verdict": 1, "no_model": 1, "same_model": 1}
    with pytest.raises(ValueError, match="names no reply"):
        battles_from_judgments([([a, b], "c")])


def test_bradley_terry_recovers_the_order_of_known_strengths():
    scores = bradley_terry(simulated_battles(3000))
    assert list(scores) == list(STRENGTHS)  # best first
    assert np.mean(list(scores.values())) == pytest.approx(1000.0)
    assert scores["m1"] - scores["m5"] == pytest.approx(600, abs=60)


def test_bradley_terry_matches_the_closed_form_for_two_models():
    # a wins 3 of 4: P(a beats b) = 3/4, so the gap is 400 * log10(3)
    scores = bradley_terry([("a", "b", "x")] * 2 + [("b", "a", "y"), ("a", "b", "y")])
    assert scores["a"] - scores["b"] == pytest.approx(400 * math.log10(3), abs=0.01)
    assert scores["a"] + scores["b"] == pytest.approx(2000.0)


def test_bradley_terry_gives_equal_scores_to_symmetric_outcomes():
    battles = []
    for x, y in [("a", "b"), ("b", "c"), ("a", "c")]:
        battles += [(x, y, "x"), (x, y, "y"), (y, x, "tie")]
    scores = bradley_terry([*battles, ("a", "a", "x")])
    assert scores == pytest.approx({"a": 1000.0, "b": 1000.0, "c": 1000.0}, abs=1e-3)


def test_bradley_terry_counts_a_tie_as_half_a_win_each():
    ties = [("a", "b", "tie")] * 2 + [("a", "c", "x")] * 3 + [("c", "a", "x")]
    split = [("a", "b", "x"), ("a", "b", "y")] + [("a", "c", "x")] * 3 + [("c", "a", "x")]
    assert bradley_terry(ties) == pytest.approx(bradley_terry(split), abs=1e-3)


def test_bradley_terry_anchor_and_errors():
    battles = simulated_battles(500)
    anchored = bradley_terry(battles, anchor=("m3", 1114.0))
    centred = bradley_terry(battles)
    assert anchored["m3"] == pytest.approx(1114.0)
    assert anchored["m1"] - anchored["m2"] == pytest.approx(centred["m1"] - centred["m2"])
    assert bradley_terry([]) == {}
    with pytest.raises(ValueError, match="valid outcomes"):
        bradley_terry([("a", "b", "draw")])
    with pytest.raises(ValueError, match="anchor model"):
        bradley_terry(battles, anchor=("m9", 1000.0))


def interval_widths(result: dict) -> np.ndarray:
    return np.array([v["upper"] - v["lower"] for v in result.values()])


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_battles():
    few = bootstrap_bradley_terry(simulated_battles(200, seed=1), n_boot=40, seed=3)
    many = bootstrap_bradley_terry(simulated_battles(1600, seed=1), n_boot=40, seed=3)
    for result in (few, many):
        assert list(result) == list(STRENGTHS)
        for row in result.values():
            assert row["lower"] <= row["score"] <= row["upper"]
    assert sum(row["battles"] for row in many.values()) == 2 * 1600
    assert np.all(interval_widths(many) < interval_widths(few))
    assert interval_widths(many).mean() < 0.6 * interval_widths(few).mean()


def test_bootstrap_is_reproducible_and_its_level_widens_the_interval():
    battles = simulated_battles(300, seed=2)
    first = bootstrap_bradley_terry(battles, n_boot=20, seed=7)
    assert bootstrap_bradley_terry(battles, n_boot=20, seed=7) == first
    assert bootstrap_bradley_terry(battles, n_boot=20, seed=8) != first
    narrow = bootstrap_bradley_terry(battles, n_boot=20, seed=7, level=0.5)
    assert np.all(interval_widths(narrow) < interval_widths(first))


def test_win_rate_matrix_on_a_tiny_known_set():
    battles = [("a", "b", "x"), ("b", "a", "y"), ("a", "b", "tie"), ("c", "a", "x")]
    models, matrix = win_rate_matrix(battles)
    assert models == ["a", "b", "c"]
    assert matrix == [
        [None, pytest.approx(2.5 / 3), 0.0],
        [pytest.approx(0.5 / 3), None, None],
        [1.0, None, None],
    ]
    order, swapped = win_rate_matrix(battles, models=["c", "a"])
    assert order == ["c", "a"] and swapped == [[None, 1.0], [0.0, None]]


# --- plots --------------------------------------------------------------------------------------


def test_plots_write_png_files(tmp_path):
    people = bootstrap_bradley_terry(simulated_battles(200, seed=4), n_boot=5)
    judge = bootstrap_bradley_terry(simulated_battles(200, seed=5), n_boot=5)
    ranking = plot_rankings({"people": people, "judge": judge}, tmp_path / "ranking.png")
    heatmap = plot_win_rates(*win_rate_matrix(simulated_battles(100)), tmp_path / "wins.png")
    for path in (ranking, heatmap):
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 1000
