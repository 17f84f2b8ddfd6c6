"""Classification and agreement metrics: published worked examples, independent implementations
(scikit-learn, statsmodels, krippendorff) on a ConvAbuse sample, and edge cases."""

from __future__ import annotations

import itertools
import math

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk
from sklearn.preprocessing import MultiLabelBinarizer

from labelloop.evals.agreement import (
    bootstrap_ci,
    cohen_kappa,
    confusion_matrix,
    count_table,
    exact_set_accuracy,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac1_multi,
    krippendorff_alpha,
    macro_f1,
    micro_f1,
    multilabel_f1,
    multilabel_prf,
    on_pairs,
    per_label_accuracy,
    per_label_prf,
    percent_agreement,
    span_exact_prf,
    span_overlap_prf,
)
from labelloop.evals.metrics import accuracy
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "convabuse_sample.jsonl"
SEVERITY = ["-3", "-2", "-1", "0", "1"]  # very strongly abusive ... not abusive, lowest first


def pair(data: dict, a: str, b: str) -> tuple[list, list]:
    """Two annotators' labels aligned by item, None where one did not label it."""
    return [d.get(a) for d in data.values()], [d.get(b) for d in data.values()]


def both(x: list, y: list) -> tuple[list, list]:
    kept = [(u, v) for u, v in zip(x, y, strict=True) if u is not None and v is not None]
    return [u for u, _ in kept], [v for _, v in kept]


# --- classification against scikit-learn -------------------------------------------------------


def test_classification_metrics_match_sklearn(convabuse):
    pred, gold = pair(convabuse, "Annotator4", "Annotator7")
    p, g = both(pred, gold)
    assert len(p) == 200
    assert (
        confusion_matrix(pred, gold, SEVERITY) == sk.confusion_matrix(g, p, labels=SEVERITY)
    ).all()
    ref = sk.precision_recall_fscore_support(g, p, labels=SEVERITY, zero_division=0)
    ours = per_label_prf(pred, gold, SEVERITY)
    for i, label in enumerate(SEVERITY):
        row = ours[label]
        assert [row["precision"], row["recall"], row["f1"]] == pytest.approx(
            [r[i] for r in ref[:3]]
        )
        assert row["support"] == ref[3][i]
    assert macro_f1(pred, gold, SEVERITY) == pytest.approx(
        sk.f1_score(g, p, labels=SEVERITY, average="macro", zero_division=0)
    )
    assert micro_f1(pred, gold, SEVERITY) == pytest.approx(sk.f1_score(g, p, average="micro"))
    assert micro_f1(pred, gold, SEVERITY) == pytest.approx(accuracy(p, g))


def test_labels_outside_the_guideline_are_refused_with_the_valid_list():
    with pytest.raises(ValueError, match=r"Unknown label 'spam\?'.*valid labels are \['a', 'b'\]"):
        confusion_matrix(["a", "spam?"], ["a", "b"], ["a", "b"])


def test_zero_denominators_give_zero_and_no_pairs_give_none():
    prf = per_label_prf(["a", "a"], ["a", "b"], ["a", "b", "c"])
    assert prf["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert prf["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert macro_f1([None], ["a"], ["a"]) is None
    assert micro_f1([], [], ["a"]) is None


LABELS = ["a", "b", "c", "d"]
label_sets = st.lists(st.sampled_from(LABELS), max_size=4).map(frozenset)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(label_sets, label_sets), min_size=1, max_size=30))
def test_multilabel_metrics_match_sklearn(rows):
    pred, gold = [p for p, _ in rows], [g for _, g in rows]
    binarizer = MultiLabelBinarizer(classes=LABELS)
    p, g = binarizer.fit_transform(pred), binarizer.transform(gold)
    for average in ("micro", "macro"):
        ref = sk.f1_score(g, p, average=average, zero_division=0)
        assert multilabel_f1(pred, gold, LABELS, average) == pytest.approx(ref)
    assert exact_set_accuracy(pred, gold) == pytest.approx(sk.accuracy_score(g, p))
    ref_prf = sk.precision_recall_fscore_support(g, p, zero_division=0)
    for i, label in enumerate(LABELS):
        row = multilabel_prf(pred, gold, LABELS)[label]
        assert [row["precision"], row["recall"], row["f1"]] == pytest.approx(
            [r[i] for r in ref_prf[:3]]
        )
        assert per_label_accuracy(pred, gold, LABELS)[label] == pytest.approx(
            (p[:, i] == g[:, i]).mean()
        )


def test_multilabel_skips_missing_items():
    pred, gold = [{"a"}, None, {"a", "b"}], [{"a"}, {"b"}, {"a"}]
    assert exact_set_accuracy(pred, gold) == 0.5
    assert per_label_accuracy(pred, gold, ["a", "b"]) == {"a": 1.0, "b": 0.5}
    assert multilabel_f1([None], [{"a"}], ["a"]) is None


def test_span_exact_and_overlap_f1_by_hand():
    # text "Anna flew to Paris": tokens Anna(0,4) flew(5,9) to(10,12) Paris(13,18)
    tokens = [[(0, 4), (5, 9), (10, 12), (13, 18)]]
    gold = [[(0, 4, "PER"), (13, 18, "LOC")]]
    pred = [[(0, 9, "PER"), (13, 18, "LOC"), (10, 12, "LOC")]]
    exact = span_exact_prf(pred, gold)
    assert exact == pytest.approx({"precision": 1 / 3, "recall": 1 / 2, "f1": 0.4})
    # characters: PER pred 0-9 (9) vs gold 0-4 (4), 4 shared;
    # LOC pred 13-18 and 10-12 (7) vs gold 13-18 (5), 5 shared
    chars = span_overlap_prf(pred, gold)
    assert chars == pytest.approx({"precision": 9 / 16, "recall": 9 / 9, "f1": 18 / 25})
    # tokens: PER pred {Anna, flew} vs {Anna}; LOC pred {to, Paris} vs {Paris}
    toks = span_overlap_prf(pred, gold, tokens=tokens)
    assert toks == pytest.approx({"precision": 2 / 4, "recall": 1.0, "f1": 2 / 3})
    assert span_exact_prf([None], [[(0, 1, "X")]])["f1"] is None


# --- Cohen's kappa -----------------------------------------------------------------------------


def test_cohen_kappa_wikipedia_example():
    # Wikipedia "Cohen's kappa": 50 proposals; yes/yes 20, A yes B no 5, A no B yes 10, no/no 15
    cells = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}
    a = [x for (x, _), n in cells.items() for _ in range(n)]
    b = [y for (_, y), n in cells.items() for _ in range(n)]
    assert percent_agreement(a, b) == pytest.approx(0.7)
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, b) == pytest.approx(sk.cohen_kappa_score(a, b))


def test_cohen_kappa_matches_sklearn_for_every_annotator_pair(convabuse):
    annotators = sorted({a for d in convabuse.values() for a in d})
    compared = 0
    for a, b in itertools.combinations(annotators, 2):
        x, y = pair(convabuse, a, b)
        kx, ky = both(x, y)
        if len(kx) < 20:
            continue
        ref = sk.cohen_kappa_score(kx, ky, labels=SEVERITY)
        assert cohen_kappa(x, y, SEVERITY) == pytest.approx(ref), (a, b)
        assert percent_agreement(x, y) == pytest.approx(accuracy(kx, ky))
        compared += 1
    assert compared >= 10


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn on single-label tables
@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), min_size=2, max_size=40))
def test_cohen_kappa_matches_sklearn_on_random_tables(rows):
    a, b = [x for x, _ in rows], [y for _, y in rows]
    ref = sk.cohen_kappa_score(a, b)
    ours = cohen_kappa(a, b)
    assert ours is None if math.isnan(ref) else ours == pytest.approx(ref)


# --- Fleiss' kappa -----------------------------------------------------------------------------

# Wikipedia "Fleiss' kappa" worked example: 10 subjects, 14 raters, 5 categories; each row sums
# to 14, column shares 0.143 0.200 0.279 0.150 0.229, P-bar 0.378, P-e 0.213
WIKIPEDIA_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses; the per-rater data as in R's
# irr::diagnoses (one string per patient). Fleiss reports kappa = .430; irr::kappam.fleiss 0.4302
FLEISS_1971 = (
    "444444 222555 233335 555555 222444 113333 333355 113334 114444 555555 144444 124444 222333 "
    "144444 224445 333335 111455 111112 224444 133555 555555 244444 224555 114444 144445 222224 "
    "111155 224444 133333 555555"
).split()


def test_fleiss_kappa_wikipedia_example():
    table = np.array(WIKIPEDIA_TABLE)
    assert (table.sum(1) == 14).all()
    assert table.sum(0) / table.sum() == pytest.approx(
        [0.143, 0.200, 0.279, 0.150, 0.229], abs=1e-3
    )
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_fleiss_1971_diagnoses():
    ratings = {i: list(row) for i, row in enumerate(FLEISS_1971)}
    assert fleiss_kappa(ratings) == pytest.approx(0.4302445, abs=1e-6)
    assert fleiss_kappa(count_table(ratings, list("12345"))) == pytest.approx(0.4302445, abs=1e-6)


def test_fleiss_kappa_matches_statsmodels(convabuse):
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    three = {i: list(d.values()) for i, d in convabuse.items() if len(d) == 3}
    assert len(three) == 218
    codes = np.array([[SEVERITY.index(v) for v in row] for row in three.values()])
    table, _ = inter_rater.aggregate_raters(codes, n_cat=len(SEVERITY))
    assert (count_table(three, SEVERITY) == table).all()
    assert fleiss_kappa(three, SEVERITY) == pytest.approx(inter_rater.fleiss_kappa(table))
    assert fleiss_kappa(WIKIPEDIA_TABLE) == pytest.approx(inter_rater.fleiss_kappa(WIKIPEDIA_TABLE))


# --- Krippendorff's alpha ----------------------------------------------------------------------

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units
# example with missing values: nominal alpha 0.743, ordinal 0.815 (interval 0.849, ratio 0.797)
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def units(coder_rows: list) -> dict:
    """Krippendorff's coders x units matrix as item -> labels."""
    return dict(enumerate(zip(*coder_rows, strict=True)))


def test_krippendorff_2011_worked_example():
    as_text = units([[None if v is None else str(v) for v in row] for row in KRIPPENDORFF_2011])
    assert krippendorff_alpha(as_text) == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(as_text, "ordinal", list("12345")) == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(
        units(KRIPPENDORFF_2011), "ordinal", [1, 2, 3, 4, 5]
    ) == pytest.approx(0.815, abs=5e-4)


def test_krippendorff_alpha_matches_the_package_directly(convabuse):
    annotators = sorted({a for d in convabuse.values() for a in d})
    matrix = [[float(d[a]) if a in d else np.nan for d in convabuse.values()] for a in annotators]
    ratings = {i: d for i, d in convabuse.items()}  # dict annotator -> label per item
    for level in ("nominal", "ordinal"):
        ref = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
        assert krippendorff_alpha(ratings, level, SEVERITY) == pytest.approx(ref, abs=1e-9)
    # the ordinal metric uses the order: another order gives another value
    shuffled = ["1", "-3", "0", "-1", "-2"]
    assert krippendorff_alpha(ratings, "ordinal", shuffled) != pytest.approx(
        krippendorff_alpha(ratings, "ordinal", SEVERITY), abs=1e-3
    )


def test_ordinal_alpha_needs_the_label_order():
    with pytest.raises(ValueError, match="value_order"):
        krippendorff_alpha({1: ["a", "b"]}, "ordinal")
    with pytest.raises(ValueError, match="valid levels are 'nominal', 'ordinal'"):
        krippendorff_alpha({1: ["a", "b"]}, "interval")


# --- Gwet's AC1 and the kappa paradox ----------------------------------------------------------


def paradox() -> tuple[list, list]:
    """100 items, both raters say 'yes' 95 times and agree on 90: skewed marginals."""
    a = ["yes"] * 90 + ["yes"] * 5 + ["no"] * 5
    b = ["yes"] * 90 + ["no"] * 5 + ["yes"] * 5
    return a, b


def test_kappa_paradox_high_agreement_low_kappa_high_ac1():
    a, b = paradox()
    assert percent_agreement(a, b) == pytest.approx(0.90)
    # kappa: p_e = .95^2 + .05^2 = .905, so (0.90 - 0.905) / 0.095
    assert cohen_kappa(a, b) == pytest.approx(-0.005 / 0.095)
    assert cohen_kappa(a, b) == pytest.approx(sk.cohen_kappa_score(a, b))
    # AC1: p_e = 2 * .95 * .05 / (2 - 1) = .095, so (0.90 - 0.095) / 0.905
    assert gwet_ac1(a, b) == pytest.approx(0.805 / 0.905)
    assert gwet_ac1(a, b) > 0.88
    assert fleiss_kappa(dict(enumerate(zip(a, b, strict=True)))) < 0.0


def test_gwet_ac1_two_rater_and_multi_rater_forms_agree(convabuse):
    x, y = pair(convabuse, "Annotator4", "Annotator7")
    two = gwet_ac1(x, y, SEVERITY)
    multi = gwet_ac1_multi(dict(enumerate(zip(*both(x, y), strict=True))), SEVERITY)
    assert two == pytest.approx(multi)
    # by hand: Gwet (2008) p_e = sum pi_k (1 - pi_k) / (q - 1) with pi_k the mean of both marginals
    kx, ky = both(x, y)
    pi = np.array([(kx.count(v) + ky.count(v)) / (2 * len(kx)) for v in SEVERITY])
    p_e = (pi * (1 - pi)).sum() / (len(SEVERITY) - 1)
    assert two == pytest.approx((accuracy(kx, ky) - p_e) / (1 - p_e))


def test_gwet_ac1_multi_by_hand_with_missing_ratings():
    # items rated by 3, 2 and 1 raters: the single rating joins pi but not the agreement
    ratings = {1: ["a", "a", "b"], 2: ["b", "b"], 3: ["a"]}
    p_a = (2 / 6 + 2 / 2) / 2
    pi_a = (2 / 3 + 0 + 1) / 3
    p_e = 2 * pi_a * (1 - pi_a)
    assert gwet_ac1_multi(ratings) == pytest.approx((p_a - p_e) / (1 - p_e))


# --- edge cases --------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn on single-label tables
def test_one_class_only_is_undefined_not_nan():
    a = b = ["ok"] * 20
    assert percent_agreement(a, b) == 1.0
    assert cohen_kappa(a, b) is None
    assert math.isnan(sk.cohen_kappa_score(a, b))  # scikit-learn's answer, for contrast
    assert fleiss_kappa({i: ["ok"] * 3 for i in range(5)}) is None
    assert krippendorff_alpha({i: ["ok"] * 3 for i in range(5)}) is None
    assert krippendorff_alpha({i: ["ok"] * 3 for i in range(5)}, "ordinal", ["ok", "bad"]) is None
    assert gwet_ac1(a, b) is None  # one category: AC1's chance term divides by q - 1 = 0
    assert gwet_ac1(a, b, labels=["ok", "bad"]) == 1.0  # with the guideline's labels it is defined


def test_all_missing_gives_none_everywhere():
    a, b = [None, None, "x"], ["y", None, None]
    assert percent_agreement(a, b) is None
    assert cohen_kappa(a, b) is None
    assert gwet_ac1(a, b) is None
    nothing = {1: [None, None], 2: {"rita": None}}
    assert fleiss_kappa(nothing) is None
    assert gwet_ac1_multi(nothing) is None
    assert krippendorff_alpha(nothing) is None
    assert krippendorff_alpha({1: ["a"], 2: ["b"]}) is None  # no unit with two ratings


def test_missing_ratings_drop_pairs_like_filtering_first(convabuse):
    x, y = pair(convabuse, "Annotator2", "Annotator3")
    assert None in x and None in y
    kx, ky = both(x, y)
    assert cohen_kappa(x, y) == cohen_kappa(kx, ky)
    assert gwet_ac1(x, y) == gwet_ac1(kx, ky)
    nan_x = [float("nan") if v is None else v for v in x]
    assert cohen_kappa(nan_x, y) == cohen_kappa(kx, ky)
    with pytest.raises(ValueError, match="length mismatch"):
        cohen_kappa(x, y[:-1])


# --- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_ci_covers_the_true_value_in_a_simulation():
    rng = np.random.default_rng(0)
    true_acc, covered, runs = 0.8, 0, 100
    for seed in range(runs):
        correct = rng.random(300) < true_acc
        point, lo, hi = bootstrap_ci(np.mean, correct, n=200, seed=seed)
        assert lo <= point <= hi
        covered += lo <= true_acc <= hi
    assert 0.88 <= covered / runs <= 1.0


def test_bootstrap_ci_of_kappa_covers_the_population_kappa():
    # two raters: b copies a with probability 0.6, else picks uniformly from three labels
    rng = np.random.default_rng(1)
    a = rng.choice(list("xyz"), 1000).tolist()
    b = [u if rng.random() < 0.6 else str(rng.choice(list("xyz"))) for u in a]
    true_kappa = 0.6  # p_o = 0.6 + 0.4 / 3, p_e = 1 / 3
    point, lo, hi = bootstrap_ci(on_pairs(cohen_kappa), list(zip(a, b, strict=True)), n=500, seed=3)
    assert lo < true_kappa < hi and hi - lo < 0.15
    assert point == cohen_kappa(a, b)


def test_bootstrap_ci_resamples_mappings_and_skips_undefined_resamples():
    # most resamples of two agreeing items and one single-class item are defined; all seeds repeat
    ratings = {"a": ["x", "x"], "b": ["y", "y"], "c": ["x", "y"]}
    first = bootstrap_ci(fleiss_kappa, ratings, n=200, seed=5)
    assert first == bootstrap_ci(fleiss_kappa, ratings, n=200, seed=5)
    assert first[0] == fleiss_kappa(ratings) and first[1] <= first[2]
    assert bootstrap_ci(fleiss_kappa, {"a": ["x", "x"]}) == (None, None, None)
