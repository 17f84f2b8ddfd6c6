"""Few-shot selection: nearest, label-diverse, leak-free, deterministic and fast."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from labelloop.core.types import Item, LabelValue, Message
from labelloop.label import embeddings
from labelloop.label.fewshot import FewShotPool, ids, item_vectors, normalise
from labelloop.label.providers.base import Example
from tests.support.paths import ROOT

DEMO = ROOT / "agent" / "data" / "demo" / "support-intent.jsonl"


def ex(id_: str, label: str, text: str | None = None) -> Example:
    return Example(item=Item(id=id_, text=text or f"text of {id_}"), value=LabelValue(label=label))


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def near(cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` from (1, 0, 0)."""
    return unit(cos, float(np.sqrt(1 - cos**2)), 0.0)


@pytest.fixture(scope="module")
def demo_rows() -> list[dict]:
    return [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]


QUERY = unit(1.0, 0.0, 0.0)


def test_nearest_first_most_similar_last() -> None:
    examples = [ex(f"e{i}", f"l{i}") for i in range(5)]
    vectors = np.stack([near(c) for c in (0.5, 0.9, 0.7, 0.8, 0.6)])
    pool = FewShotPool(examples, vectors=vectors)
    got = pool.select(Item(id="q", text="query"), k=3, item_vector=QUERY)
    assert ids(got) == ("e2", "e3", "e1")


def test_never_the_item_an_excluded_id_or_a_near_duplicate() -> None:
    examples = [
        ex("q", "a", "the item itself"),
        ex("eval1", "a", "frozen eval item"),
        ex("dup", "a", "Where is my CARD??"),
        ex("close", "b", "almost the same"),
        ex("ok1", "b"),
        ex("ok2", "c"),
    ]
    vectors = np.stack([near(c) for c in (1.0, 0.9, 0.5, 0.96, 0.8, 0.7)])
    pool = FewShotPool(examples, excluded_ids={"eval1"}, vectors=vectors)
    assert "eval1" not in ids(pool.examples)
    got = pool.select(Item(id="q", text="where is my card"), k=8, item_vector=QUERY)
    assert ids(got) == ("ok2", "ok1")
    strict = FewShotPool(examples, near_duplicate=0.99, vectors=vectors)
    got = strict.select(Item(id="q", text="where is my card"), k=8, item_vector=QUERY)
    assert set(ids(got)) == {"close", "ok1", "ok2", "eval1"}


def test_examples_near_eval_items_are_dropped_from_the_pool() -> None:
    examples = [ex("a", "x", "Where is my card?"), ex("b", "x", "lost"), ex("c", "y", "fees")]
    eval_items = [Item(id="v1", text="where is my card"), Item(id="v2", text="stolen")]
    vectors = np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)])
    eval_vectors = np.stack([unit(0, 0, 1), unit(0.2, 1, 0)])
    pool = FewShotPool(
        examples, excluded_items=eval_items, vectors=vectors, excluded_vectors=eval_vectors
    )
    assert ids(pool.examples) == ()  # a by text, b and c by cosine
    assert pool.select(Item(id="q", text="hi"), item_vector=QUERY) == ()


def test_label_diverse_within_the_cap() -> None:
    examples = [ex(f"a{i}", "a") for i in range(10)]
    examples += [ex(f"b{i}", "b") for i in range(3)] + [ex(f"c{i}", "c") for i in range(3)]
    cos = [0.94 - 0.001 * i for i in range(10)] + [0.5, 0.49, 0.48, 0.3, 0.29, 0.28]
    pool = FewShotPool(examples, vectors=np.stack([near(c) for c in cos]))
    six = pool.select(Item(id="q", text="q"), k=6, item_vector=QUERY)
    assert ids(six) == ("c1", "c0", "b1", "b0", "a1", "a0")
    eight = pool.select(Item(id="q", text="q"), k=8, item_vector=QUERY)
    labels = [e.value.label for e in eight]
    assert labels.count("a") == 3 and labels.count("b") == 3 and labels.count("c") == 2


def test_cap_relaxes_when_one_label_is_all_there_is() -> None:
    examples = [ex(f"a{i}", "a") for i in range(10)] + [ex("b0", "b")]
    cos = [0.9 - 0.01 * i for i in range(10)] + [0.1]
    pool = FewShotPool(examples, vectors=np.stack([near(c) for c in cos]))
    got = pool.select(Item(id="q", text="q"), k=8, item_vector=QUERY)
    assert len(got) == 8
    # the cap first (3 a's and the b), then the best of the rest, in similarity order
    assert ids(got) == ("b0", "a6", "a5", "a4", "a3", "a2", "a1", "a0")


def test_ties_are_broken_by_id_whatever_the_input_order() -> None:
    examples = [ex(f"e{i:02d}", f"l{i % 4}", f"text {i}") for i in range(40)]
    vectors = np.stack([near(0.8 if i % 2 else 0.6) for i in range(40)])
    want = None
    for seed in range(3):
        order = list(range(40))
        random.Random(seed).shuffle(order)
        pool = FewShotPool([examples[i] for i in order], vectors=vectors[order])
        got = ids(pool.select(Item(id="q", text="q"), k=4, item_vector=QUERY))
        want = want or got
        assert got == want
    assert want == ("e07", "e05", "e03", "e01")


def test_a_later_review_of_the_same_item_wins() -> None:
    pool = FewShotPool([ex("x", "old"), ex("y", "b"), ex("x", "new")], vectors=np.eye(3))
    assert [(e.item.id, e.value.label) for e in pool.examples] == [("x", "new"), ("y", "b")]


def test_select_many_matches_select_on_real_embeddings(demo_rows: list[dict]) -> None:
    examples = [
        Example(item=Item(id=r["id"], text=r["text"]), value=LabelValue(label=r["label"]))
        for r in demo_rows[::10]
    ]
    pool = FewShotPool(examples, excluded_ids={examples[0].item.id})
    items = [Item(id=r["id"], text=r["text"]) for r in demo_rows[:60]]
    many = pool.select_many(items, k=5)
    assert many == [pool.select(item, k=5) for item in items]
    for item, got in zip(items, many, strict=True):
        assert len(got) == 5 and item.id not in ids(got)
        assert examples[0].item.id not in ids(got)
        assert normalise(item.text or "") not in {normalise(e.item.text or "") for e in got}
        labels = [e.value.label for e in got]
        assert max(labels.count(lab) for lab in labels) <= 2
    vec = item_vectors(items[:1])[0]
    assert pool.select(items[0], k=5, item_vector=vec) == many[0]


def test_the_nearest_examples_share_the_topic(demo_rows: list[dict]) -> None:
    examples = [
        Example(item=Item(id=r["id"], text=r["text"]), value=LabelValue(label=r["label"]))
        for r in demo_rows
    ]
    pool = FewShotPool(examples)
    got = pool.select(Item(id="new", text="My new card still hasn't arrived in the post"), k=3)
    assert got[-1].value.label in {"card_arrival", "card_delivery_estimate"}


def test_conversations_embed_their_target_turn() -> None:
    convo = Item(
        id="c",
        messages=(
            Message(role="assistant", content="Hello, how can I help?"),
            Message(role="user", content="I want to cancel my transfer"),
        ),
        target_turn=1,
    )
    pool = FewShotPool(
        [ex("t", "cancel_transfer", "Please cancel the transfer I made"), ex("p", "pin", "PIN")]
    )
    assert item_vectors([convo]).shape == (1, embeddings.dim())
    assert ids(pool.select(convo, k=1)) == ("t",)


def test_empty_pool_and_zero_k() -> None:
    empty = FewShotPool([])
    assert len(empty) == 0 and empty.select_many([Item(id="a", text="x")]) == [()]
    pool = FewShotPool([ex("a", "x")], vectors=np.eye(1, 3))
    assert pool.select(Item(id="q", text="q"), k=0, item_vector=QUERY) == ()
    assert pool.select_many([], k=8) == []


def test_mismatched_vectors_are_refused() -> None:
    with pytest.raises(ValueError, match="2 vectors given for 1 examples"):
        FewShotPool([ex("a", "x")], vectors=np.eye(2, 3))
    pool = FewShotPool([ex("a", "x")], vectors=np.eye(1, 3))
    with pytest.raises(ValueError, match="item vectors"):
        pool.select_many([Item(id="q", text="q")], vectors=np.eye(2, 3))


def test_batched_selection_at_scale(
    demo_rows: list[dict],
) -> None:
    labels = [LabelValue(label=r["label"]) for r in demo_rows[:2000]]
    examples = [
        Example(item=Item(id=f"ex{i}", text=f"{r['text']} (ref {i})"), value=labels[i])
        for i, r in enumerate(demo_rows[:2000])
    ]
    pool = FewShotPool(examples)
    assert len(pool) == 2000
    items = [
        Item(id=f"q{i}", text=demo_rows[i % len(demo_rows)]["text"] + " thanks" * (i % 3))
        for i in range(3_000)
    ]
    result = pool.select_many(items, k=8)
    assert all(len(got) == 8 for got in result)
    assert all(
        item.id not in {e.item.id for e in got} for item, got in zip(items, result, strict=True)
    )
