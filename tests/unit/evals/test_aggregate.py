"""Final labels from several annotators: majority vote, Dawid-Skene (against known annotator
accuracies and against crowd-kit's numbers on a ConvAbuse sample), and adjudication first."""

from __future__ import annotations

import numpy as np
import pytest

from labelloop.evals.aggregate import dawid_skene, final_labels, majority_vote
from tests.support.paths import FIXTURES

FIXTURE = FIXTURES / "convabuse_sample.jsonl"
ACCURACIES = {"a0": 0.95, "a1": 0.9, "a2": 0.8, "a3": 0.6, "a4": 0.5}


def simulate(n_items: int = 1500, n_labels: int = 3, seed: int = 0) -> tuple[dict, dict]:
    """Annotators with known accuracies; each labels an item with probability 0.8 and errs
    uniformly over the other labels. Returns (annotations, truth)."""
    rng = np.random.default_rng(seed)
    labels = [f"L{k}" for k in range(n_labels)]
    truth, annotations = {}, {}
    for i in range(n_items):
        true = int(rng.integers(n_labels))
        truth[i] = labels[true]
        annotations[i] = {
            who: labels[
                true if rng.random() < acc else (true + rng.integers(1, n_labels)) % n_labels
            ]
            for who, acc in ACCURACIES.items()
            if rng.random() < 0.8
        }
    return annotations, truth


def share_right(labels: dict, truth: dict) -> float:
    return float(np.mean([labels[i] == truth[i] for i in truth]))


# --- majority vote -----------------------------------------------------------------------------


def test_majority_vote_ignores_missing_and_leaves_ties_to_adjudication():
    annotations = {
        "clear": {"ann": "spam", "bob": "spam", "cy": "ham"},
        "missing": {"ann": None, "bob": "ham", "cy": float("nan")},
        "tie": {"ann": "spam", "bob": "ham"},
        "empty": {},
    }
    assert majority_vote(annotations) == {
        "clear": "spam",
        "missing": "ham",
        "tie": None,
        "empty": None,
    }


def test_majority_vote_tie_breaks():
    annotations = {"tie": {"ann": "spam", "bob": "ham"}}
    assert majority_vote(annotations, "label_order", labels=["ham", "spam"]) == {"tie": "ham"}
    assert majority_vote(annotations, "label_order", labels=["spam", "ham"]) == {"tie": "spam"}
    picks = {majority_vote(annotations, "random", seed=s)["tie"] for s in range(20)}
    assert picks == {"spam", "ham"}
    assert majority_vote(annotations, "random", seed=3) == majority_vote(
        annotations, "random", seed=3
    )
    with pytest.raises(ValueError, match=r"valid values are \['none', 'label_order', 'random'\]"):
        majority_vote(annotations, "coin")
    with pytest.raises(ValueError, match="needs labels"):
        majority_vote(annotations, "label_order")


# --- Dawid-Skene -------------------------------------------------------------------------------


def test_dawid_skene_recovers_annotator_accuracies_and_beats_majority_vote():
    annotations, truth = simulate()
    labels, accuracy, priors = dawid_skene(annotations)
    for who, true_acc in ACCURACIES.items():
        assert accuracy[who] == pytest.approx(true_acc, abs=0.04), who
    assert sorted(accuracy, key=accuracy.get, reverse=True) == list(ACCURACIES)
    assert sum(priors.values()) == pytest.approx(1.0)
    assert all(p == pytest.approx(1 / 3, abs=0.05) for p in priors.values())
    ds, mv = share_right(labels, truth), share_right(majority_vote(annotations, "random"), truth)
    assert ds > mv + 0.03, (ds, mv)


def test_dawid_skene_matches_crowd_kit_on_the_convabuse_sample(convabuse):
    # recorded from crowd-kit 1.4.2: DawidSkene(n_iter=10, tol=-1).fit on the same data, priors_
    # as is and accuracy = sum_k priors_[k] * errors_.loc[(annotator, k), k]. Recorded rather
    # than run: crowd-kit pulls in transformers and nltk. Same initialisation (vote shares) and
    # no smoothing, so the iterates agree step by step.
    priors_ref = {"-1": 0.054794, "-2": 0.060679, "-3": 0.02404, "0": 0.040348, "1": 0.820139}
    accuracy_ref = {
        "Annotator1": 0.901203,
        "Annotator2": 0.89177,
        "Annotator3": 0.875584,
        "Annotator4": 0.942234,
        "Annotator5": 0.708737,
        "Annotator6": 0.916768,
        "Annotator7": 0.859986,
        "Annotator8": 0.921671,
    }
    labels, accuracy, priors = dawid_skene(convabuse, max_iter=10, tol=0, smoothing=0)
    assert priors == pytest.approx(priors_ref, abs=1e-6)
    assert accuracy == pytest.approx(accuracy_ref, abs=1e-6)
    counts = {v: list(labels.values()).count(v) for v in set(labels.values())}
    assert counts == {"1": 333, "-2": 25, "-1": 19, "0": 13, "-3": 10}


def test_dawid_skene_agrees_with_clear_majorities(convabuse):
    labels, accuracy, _ = dawid_skene(convabuse)
    votes = majority_vote(convabuse)
    clear = [i for i, v in votes.items() if v is not None]
    assert np.mean([labels[i] == votes[i] for i in clear]) > 0.95
    assert all(0.0 <= a <= 1.0 for a in accuracy.values())


def test_dawid_skene_edge_cases():
    unanimous = {i: {"ann": "x", "bob": "x"} for i in range(3)} | {9: {}}
    labels, accuracy, priors = dawid_skene(unanimous)
    assert labels == {0: "x", 1: "x", 2: "x", 9: None}
    assert accuracy == pytest.approx({"ann": 1.0, "bob": 1.0})
    assert priors == {"x": 1.0}
    assert dawid_skene({1: {"ann": None}}) == ({1: None}, {}, {})
    with pytest.raises(ValueError, match="valid labels are"):
        dawid_skene({1: {"ann": "x"}}, labels=["y"])


# --- final labels ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["majority", "dawid_skene"])
def test_adjudicated_labels_always_win(method):
    annotations, _ = simulate(n_items=200, seed=1)
    annotations["contested"] = {who: "L0" for who in ACCURACIES}
    voted = final_labels(annotations, method=method)
    clear = next(i for i, label in voted.items() if label is not None)
    adjudicated = {"contested": "L2", "only_adjudicated": "L1", clear: None}
    out = final_labels(annotations, adjudicated, method=method)
    assert voted["contested"] == "L0" and out["contested"] == "L2"
    assert out["only_adjudicated"] == "L1"
    assert out[clear] == voted[clear]  # a None adjudication does not erase the vote
    assert set(out) == set(annotations) | {"only_adjudicated"}


def test_final_labels_defaults_to_majority_and_names_valid_methods():
    annotations, _ = simulate(n_items=50, seed=2)
    assert final_labels(annotations) == majority_vote(annotations)
    with pytest.raises(ValueError, match=r"valid methods are \['majority', 'dawid_skene'\]"):
        final_labels(annotations, method="mace")
