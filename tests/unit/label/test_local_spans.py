"""The embedded span labeler: words and tags, learning from the guideline and from reviews,
the item's context, cross-fitting, and what its confidence means."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.guideline import parse_guideline
from labelloop.core.types import Item, LabelValue, Message, Span
from labelloop.label.providers.base import Example, LabelContext
from labelloop.label.providers.local import LocalProvider
from labelloop.label.providers.local_spans import spans_of, tags_of, words_of
from tests.support.spans import GUIDELINE, familiar


def examples(n: int, seed: int = 1, prefix: str = "r") -> tuple[Example, ...]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text, spans = familiar(rng, i)
        item = Item(id=f"{prefix}{i:03d}", text=text)
        out.append(
            Example(item=item, value=LabelValue(spans=tuple(map(Span.model_validate, spans))))
        )
    return tuple(out)


def f1(pairs) -> float:
    tp = fp = fn = 0
    for gold, pred in pairs:
        g = {(s.start, s.end, s.label) for s in gold}
        p = {(s.start, s.end, s.label) for s in pred}
        tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
    return 2 * tp / max(2 * tp + fp + fn, 1)


@pytest.fixture(scope="module")
def guideline():
    return parse_guideline(GUIDELINE)


# --- words and tags -------------------------------------------------------------------------

token = st.sampled_from(["Ana", "Lopez", "19", "7:30pm", "@sam", "#tbt", "x", "New", "York"])


@given(st.lists(st.tuples(token, st.sampled_from([None, "a", "b-c"])), min_size=1, max_size=8))
def test_tags_and_spans_say_the_same_thing(parts):
    """Spans over whole words come back from their tags exactly, offsets and text."""
    text, spans = "", []
    for n, (word, label) in enumerate(parts):
        start = len(text)
        text += word + " "
        # a labeled word right after one of the same label continues its span
        if label and spans and spans[-1][2] == label and spans[-1][3] == n - 1:
            spans[-1] = (spans[-1][0], start + len(word), label, n)
        elif label:
            spans.append((start, start + len(word), label, n))
    want = [Span(start=a, end=b, label=lab, text=text[a:b]) for a, b, lab, _ in spans]
    words = words_of(text)
    assert [s for s, _, _ in spans_of(words, tags_of(words, want), text)] == want


def test_a_transcript_knows_each_words_speaker_and_the_prefixes():
    item = Item(
        id="c1",
        messages=(
            Message(role="assistant", content="How many people?"),
            Message(role="user", content="19 of us"),
        ),
    )
    from labelloop.label.schemas import item_text

    text = item_text(item)
    words = words_of(text, roles=True)
    assert [(w.text, w.role) for w in words if w.role == "user"] == [
        ("19", "user"),
        ("of", "user"),
        ("us", "user"),
    ]
    assert all(text[w.start : w.end] == w.text for w in words)
    assert {w.role for w in words} == {"prefix", "assistant", "user"}


# --- learning -------------------------------------------------------------------------------


def test_zero_shot_from_the_guidelines_marked_examples(guideline):
    """With no review, the guideline's own examples are learned: an example's text comes
    back with its marked spans."""
    item = Item(id="z1", text="Table for four at 7pm")
    (s,) = LocalProvider().label([item], LabelContext(guideline=guideline))
    assert {(x.text, x.label) for x in s.value.spans} == {("four", "people"), ("7pm", "time")}
    assert s.signals["n_reviews"] == 0.0
    assert "0 reviewed items and 6 guideline examples" in s.rationale  # names not counted


def test_reviews_teach_it_and_unseen_items_are_labeled_well(guideline):
    train = examples(80)
    test = examples(60, seed=7, prefix="t")
    ctx = LabelContext(guideline=guideline, examples=train)
    out = LocalProvider().label([e.item for e in test], ctx)
    score = f1([(e.value.spans, s.value.spans) for e, s in zip(test, out, strict=True)])
    zero = LocalProvider().label([e.item for e in test], LabelContext(guideline=guideline))
    before = f1([(e.value.spans, s.value.spans) for e, s in zip(test, zero, strict=True)])
    assert score >= 0.9 > before
    for item, s in zip([e.item for e in test], out, strict=True):
        assert all(item.text[x.start : x.end] == x.text for x in s.value.spans)
        assert s.model == "local" and s.prompt_version.startswith("local-spans-v2:")


def test_reviewed_items_are_predicted_out_of_sample(guideline):
    train = examples(40)
    odd = Example(  # a span no other item teaches: only a model that saw it can find it
        item=Item(id="r999", text="zebra zebra zebra"),
        value=LabelValue(spans=(Span(start=6, end=11, label="name"),)),
    )
    ctx = LabelContext(guideline=guideline, examples=(*train, odd))
    out = LocalProvider().label([e.item for e in (*train, odd)], ctx)
    assert all(s.signals["held_out"] == 1.0 for s in out)
    assert all("this item held out" in s.rationale for s in out)
    assert all(s.signals["n_reviews"] < len(train) + 1 for s in out)
    # a new item with the same text is labeled by the model trained on everything, which
    # learned the answer; the reviewed item's own prediction never saw it
    (fresh,) = LocalProvider().label([Item(id="new", text="zebra zebra zebra")], ctx)
    assert fresh.signals["held_out"] == 0.0
    assert fresh.value.spans == tuple(
        s.model_copy(update={"text": "zebra"}) for s in odd.value.spans
    )
    assert out[-1].value.spans != fresh.value.spans


def test_the_items_context_decides_what_a_number_is(guideline):
    rng = random.Random(3)
    rows = []
    for i in range(40):
        slot = ("people", "time")[i % 2]
        n = str(rng.randint(2, 23))
        meta = {"requested_slot": "party_size" if slot == "people" else "time"}
        item = Item(id=f"c{i:03d}", text=n, meta=meta)
        rows.append(
            Example(item=item, value=LabelValue(spans=(Span(start=0, end=len(n), label=slot),)))
        )
    ctx = LabelContext(guideline=guideline, examples=tuple(rows))
    asked = [
        Item(id="q1", text="19", meta={"requested_slot": "time"}),
        Item(id="q2", text="19", meta={"requested_slot": "party_size"}),
    ]
    time_, people = LocalProvider().label(asked, ctx)
    assert [x.label for x in time_.value.spans] == ["time"]
    assert [x.label for x in people.value.spans] == ["people"]


# --- confidence -----------------------------------------------------------------------------


def test_confidence_is_the_probability_of_the_whole_answer(guideline):
    ctx = LabelContext(guideline=guideline, examples=examples(60))
    items = [e.item for e in examples(40, seed=11, prefix="t")]
    out = LocalProvider().label(items, ctx)
    for s in out:
        assert 0.0 <= s.confidence <= 1.0
        if s.value.spans:  # the answer is no likelier than its least certain span
            assert s.confidence <= s.signals["min_span_prob"] + 1e-9
            assert s.signals["n_spans"] == len(s.value.spans)
        else:  # "no spans" is an answer whose probability is measured like any other
            assert s.confidence == pytest.approx(s.signals["empty_prob"])
    assert any(not s.value.spans for s in out) and any(s.value.spans for s in out)


def test_the_same_inputs_give_the_same_suggestions(guideline):
    ctx = LabelContext(guideline=guideline, examples=examples(30))
    items = [e.item for e in examples(10, seed=5, prefix="t")]
    a = LocalProvider().label(items, ctx)
    b = LocalProvider().label(items, LabelContext(guideline=guideline, examples=examples(30)))
    assert [s.model_dump(exclude={"created_at"}) for s in a] == [
        s.model_dump(exclude={"created_at"}) for s in b
    ]
    more = LabelContext(guideline=guideline, examples=examples(31))
    assert LocalProvider().version(more) != LocalProvider().version(ctx)


def test_a_small_word_cache_gives_the_same_suggestions(guideline, monkeypatch):
    """The word cache starts again past MAX_WORDS (a long-lived process stays bounded);
    what it answers does not change."""
    from labelloop.label.providers import local_spans

    items = [e.item for e in examples(12, seed=9, prefix="t")]
    ctx = LabelContext(guideline=guideline, examples=examples(20, seed=4))
    want = LocalProvider().label(items, ctx)
    local_spans._STATES.clear()
    local_spans._LEXICONS.clear()
    monkeypatch.setattr(local_spans, "MAX_WORDS", 5)
    got = LocalProvider().label(items, ctx)
    assert [s.value for s in got] == [s.value for s in want]
    assert [s.confidence for s in got] == pytest.approx([s.confidence for s in want])
    assert all(len(lex.vectors) <= 40 for lex in local_spans._LEXICONS.values())


# --- word lists -----------------------------------------------------------------------------

TRIPS = """---
task: trips
kind: spans
labels: [city, dish]
---
# Trips

### city
A city the writer went to or means to go to.
- Example: two nights in [Madrid](city)

### dish
Food they ate.
- Example: the [paella](dish) was great
"""
SEEN = ["paris", "london", "berlin", "madrid", "rome", "vienna", "dublin", "oslo"]
UNSEEN = ["nairobi", "lima", "osaka", "seoul", "accra", "quito", "hanoi", "tbilisi", "dakar"]
SHAPES = [
    "two nights in {c} and the {d} was great",
    "we flew to {c} yesterday",
    "{c} was cold but the {d} was not",
    "no trip this year, just {d} at home",
]


def _trip(rng: random.Random, i: int) -> Example:
    shape, city, dish = SHAPES[i % 4], rng.choice(SEEN), rng.choice(["ramen", "tacos", "pho"])
    text = shape.format(c=city, d=dish)
    spans = [
        Span(start=text.index(w), end=text.index(w) + len(w), label=label)
        for w, label, key in ((city, "city", "{c}"), (dish, "dish", "{d}"))
        if key in shape
    ]
    return Example(item=Item(id=f"r{i:03d}", text=text), value=LabelValue(spans=tuple(spans)))


def test_a_place_the_reviews_never_showed_is_found_by_the_place_list(monkeypatch):
    """Reviews mark eight cities; nine others, in lower case and in sentences unlike the
    reviews', are found because the shipped place list knows them (fewer without it)."""
    from labelloop.label import lexicons
    from labelloop.label.providers import local_spans

    rng = random.Random(2)
    reviews = [_trip(rng, i) for i in range(40)]
    ctx = LabelContext(guideline=parse_guideline(TRIPS), examples=reviews)
    asked = [
        Item(id=f"t{i}{j}", text=text.format(c=city))
        for i, city in enumerate(UNSEEN)
        for j, text in enumerate(["{c} is where we ended up", "last summer i lived in {c}"])
    ]

    def found() -> int:
        local_spans._STATES.clear()
        out = LocalProvider().label(asked, ctx)
        return sum(
            (x.text, x.label) == (c, "city")
            for c, s in zip([c for c in UNSEEN for _ in (0, 1)], out, strict=True)
            for x in s.value.spans
        )

    with_list = found()
    monkeypatch.setattr(lexicons, "place_tags", lambda words, split: [""] * len(words))
    assert with_list >= 0.9 * len(asked) > found()
