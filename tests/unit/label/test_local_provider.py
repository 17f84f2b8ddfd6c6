"""The offline labeler: zero-shot from the guideline, supervised from reviews, cross-fitting."""

from __future__ import annotations

import pytest

from labelloop.core.errors import ConfigError
from labelloop.core.types import Guideline, Item, LabelDef, LabelValue, Message
from labelloop.label.providers import local
from labelloop.label.providers.base import Example, LabelContext, get_provider

WEATHER = LabelDef(
    name="weather",
    definition="Questions about the weather forecast: rain, snow, sun, temperature.",
    examples=("Will it rain tomorrow?",),
)
BILLING = LabelDef(
    name="billing",
    definition="Questions about invoices, charges, payments and refunds.",
    examples=("Why was I charged twice this month?",),
)
PASSWORD = LabelDef(
    name="password_reset",
    definition="The user cannot log in and wants to reset or change their password.",
    examples=("I forgot my password",),
)
LABELS = (WEATHER, BILLING, PASSWORD)

WEATHER_TEXTS = [
    "Is it going to snow this weekend?",
    "What's the temperature outside right now?",
    "Do I need an umbrella today, is rain expected?",
    "How sunny will it be on Saturday?",
    "Will there be a storm tonight?",
    "Is it cold and windy in Boston today?",
]
BILLING_TEXTS = [
    "There is an extra fee on my invoice",
    "I want a refund for last month's payment",
    "My credit card was charged the wrong amount",
    "Can you send me a copy of my bill?",
    "Why did my subscription price go up?",
    "I paid but the invoice still says unpaid",
]
PASSWORD_TEXTS = [
    "I can't log in, please reset my password",
    "How do I change my login password?",
    "My password stopped working",
    "Locked out of my account after too many attempts",
]


def guideline(**kw) -> Guideline:
    kw.setdefault("labels", LABELS)
    return Guideline(task="support", version=kw.pop("version", "g1"), **kw)


def texts_items(prefix: str, texts: list[str]) -> list[Item]:
    return [Item(id=f"{prefix}{i}", text=t) for i, t in enumerate(texts)]


def examples(label_texts: dict[str, list[str]], prefix: str = "r") -> tuple[Example, ...]:
    out = []
    for label, texts in label_texts.items():
        for i, t in enumerate(texts):
            item = Item(id=f"{prefix}-{label}-{i}", text=t)
            out.append(Example(item=item, value=LabelValue(label=label)))
    return tuple(out)


@pytest.fixture(scope="module")
def provider():
    return get_provider("local")


def test_registered_as_local(provider):
    assert isinstance(provider, local.LocalProvider)
    assert provider.model == "local"


def test_zero_shot_picks_the_obvious_label(provider):
    ctx = LabelContext(guideline=guideline())
    items = [
        Item(id="a", text="Will it be sunny tomorrow afternoon?"),
        Item(id="b", text="I was charged twice on my invoice, please refund me"),
        Item(id="c", text="I forgot my password and cannot log in"),
    ]
    got = provider.label(items, ctx)
    assert [s.value.label for s in got] == ["weather", "billing", "password_reset"]
    for s in got:
        assert s.model == "local" and s.status == "ok"
        assert 0 < s.confidence <= 1
        assert s.signals["local_prob"] == pytest.approx(s.confidence)
        assert 0 <= s.signals["margin"] <= 1
        assert s.prompt_version == provider.version(ctx)
        assert s.guideline_version == "g1"
        assert s.fewshot_ids == ()
        assert s.value.label in s.rationale


def test_zero_shot_works_from_label_names_alone(provider):
    g = guideline(labels=tuple(LabelDef(name=n) for n in ("weather_forecast", "billing_issue")))
    got = provider.label(
        [Item(id="x", text="rain and snow forecast for Monday")], LabelContext(guideline=g)
    )
    assert got[0].value.label == "weather_forecast"
    assert "definition of weather_forecast" in got[0].rationale


def test_reviews_fix_a_misleading_definition(provider):
    # The definitions of the two labels are swapped: zero-shot gets new items wrong.
    swapped = (
        LabelDef(name="alpha", definition=BILLING.definition),
        LabelDef(name="beta", definition=WEATHER.definition),
    )
    g = guideline(labels=swapped)
    new = texts_items("new", ["Is a thunderstorm coming this evening?", "Refund my last payment"])
    before = provider.label(new, LabelContext(guideline=g))
    assert [s.value.label for s in before] == ["beta", "alpha"]
    ctx = LabelContext(
        guideline=g, examples=examples({"alpha": WEATHER_TEXTS, "beta": BILLING_TEXTS})
    )
    after = provider.label(new, ctx)
    assert [s.value.label for s in after] == ["alpha", "beta"]
    assert all(s.signals["n_reviews"] == 12 for s in after)
    assert "Classifier trained on 12 reviews" in after[0].rationale


def test_training_items_are_predicted_out_of_sample(provider):
    """A review that contradicts its text is not predicted back from its own training row."""
    reviews = examples({"weather": WEATHER_TEXTS, "billing": BILLING_TEXTS})
    odd = Item(id="odd", text="Will it rain and snow tomorrow, what is the forecast?")
    ctx = LabelContext(
        guideline=guideline(),
        examples=(*reviews, Example(item=odd, value=LabelValue(label="billing"))),
    )
    held_out = provider.label([odd], ctx)[0]
    # the same text under a new id is not in the training data: the full model answers
    in_sample = provider.label([odd.model_copy(update={"id": "odd-copy"})], ctx)[0]
    assert held_out.signals["held_out"] == 1.0
    assert in_sample.signals["held_out"] == 0.0
    assert held_out.value.label == "weather"
    assert held_out.signals["n_reviews"] < in_sample.signals["n_reviews"]

    def p_billing(s):
        return s.confidence if s.value.label == "billing" else 1 - s.confidence

    # the full model has seen the odd row and leans towards it; the held-out one has not
    assert p_billing(in_sample) > p_billing(held_out) + 0.05


def test_every_training_item_gets_a_fold_model_without_it(provider):
    reviews = examples({"weather": WEATHER_TEXTS, "billing": BILLING_TEXTS})
    ctx = LabelContext(guideline=guideline(), examples=reviews)
    got = provider.label([e.item for e in reviews], ctx)
    assert all(s.signals["held_out"] == 1.0 for s in got)
    assert all(s.signals["n_reviews"] < len(reviews) for s in got)
    assert all("held out" in s.rationale for s in got)
    for ex, s in zip(reviews, got, strict=True):
        # the nearest example quoted never is the item itself
        assert f"'{ex.item.text}'" not in s.rationale


def test_multi_label_output(provider):
    g = guideline(kind="multi")
    item = Item(id="m", text="I was charged twice and now I forgot my password too")
    s = provider.label([item], LabelContext(guideline=g))[0]
    assert s.value.label is None and s.value.labels
    assert set(s.value.labels) <= set(g.label_names)
    assert 0 < s.confidence <= 1
    reviews = tuple(
        Example(item=Item(id=f"r{i}", text=t), value=LabelValue(labels=labels))
        for i, (t, labels) in enumerate(
            [(t, ("weather",)) for t in WEATHER_TEXTS]
            + [(t, ("billing",)) for t in BILLING_TEXTS]
            + [("Refund me and reset my password", ("billing", "password_reset"))]
        )
    )
    s2 = provider.label([item], LabelContext(guideline=g, examples=reviews))[0]
    assert s2.value.labels and set(s2.value.labels) <= set(g.label_names)
    assert s2.signals["n_reviews"] == len(reviews)


def test_turn_unit_labels_every_user_turn(provider):
    g = guideline(unit="turn")
    convo = Item(
        id="c1",
        messages=(
            Message(role="user", content="Is it going to rain today?"),
            Message(role="assistant", content="Let me check that for you."),
            Message(role="user", content="Also my password does not work anymore"),
        ),
    )
    empty = Item(id="c2", messages=(Message(role="assistant", content="Hello!"),))
    s, failed = provider.label([convo, empty], LabelContext(guideline=g))
    assert s.value.turns == {0: "weather", 2: "password_reset"}
    assert 0 < s.confidence <= 1 and s.signals["local_prob"] == pytest.approx(s.confidence)
    assert failed.status == "failed" and failed.value is None
    reviews = (
        Example(item=convo, value=LabelValue(turns={0: "weather", 2: "password_reset"})),
        *examples({"billing": BILLING_TEXTS[:3]}),
    )
    s = provider.label([convo], LabelContext(guideline=g, examples=reviews))[0]
    assert set(s.value.turns) == {0, 2}


def test_conversation_target_turn_is_what_gets_labeled(provider):
    convo = Item(
        id="t",
        messages=(
            Message(role="user", content="My invoice shows a double charge"),
            Message(role="assistant", content="Sorry about that."),
            Message(role="user", content="And will it snow tomorrow?"),
        ),
        target_turn=2,
    )
    s = provider.label([convo], LabelContext(guideline=guideline(unit="conversation")))[0]
    assert s.value.label == "weather"


def test_spans_are_labeled_offline_and_ratings_need_an_llm(provider):
    """Span guidelines go to the span labeler (``test_local_spans``); ratings and rankings
    have no local model."""
    ctx = LabelContext(guideline=guideline(kind="spans"))
    (s,) = provider.label([Item(id="s", text="my bill is wrong")], ctx)
    assert s.value.spans is not None and 0.0 <= s.confidence <= 1.0
    assert s.prompt_version.startswith("local-spans-v2:")
    rating = LabelContext(guideline=guideline(kind="rating"))
    with pytest.raises(ConfigError, match="kind: rating"):
        provider.label([Item(id="r", text="x")], rating)


def test_deterministic_and_order_independent(provider):
    reviews = examples(
        {"weather": WEATHER_TEXTS, "billing": BILLING_TEXTS, "password_reset": PASSWORD_TEXTS}
    )
    items = [e.item for e in reviews[::3]] + texts_items("n", ["rain later?", "bill too high"])
    ctx = LabelContext(guideline=guideline(), examples=reviews, seed=7)
    first = provider.label(items, ctx)
    local._STATES.clear()
    again = provider.label(items, ctx.model_copy(update={"examples": reviews[::-1]}))
    assert [(s.value, s.confidence, s.rationale) for s in first] == [
        (s.value, s.confidence, s.rationale) for s in again
    ]


def test_version_tracks_guideline_and_training_set(provider):
    reviews = examples({"weather": WEATHER_TEXTS, "billing": BILLING_TEXTS})
    ctx = LabelContext(guideline=guideline(), examples=reviews)
    v = provider.version(ctx)
    assert v.startswith("local-v1:")
    assert provider.version(ctx.model_copy(update={"examples": reviews[::-1]})) == v
    assert provider.version(ctx.model_copy(update={"examples": reviews[:-1]})) != v
    fixed = (*reviews[:-1], reviews[-1].model_copy(update={"value": LabelValue(label="weather")}))
    assert provider.version(ctx.model_copy(update={"examples": fixed})) != v
    assert provider.version(ctx.model_copy(update={"guideline": guideline(version="g2")})) != v


def test_empty_and_odd_inputs(provider):
    ctx = LabelContext(guideline=guideline())
    assert provider.label([], ctx) == []
    s = provider.label([Item(id="e", text="")], ctx)[0]
    assert s.status == "ok" and s.value.label in ctx.guideline.label_names
    # reviews with labels the guideline no longer has are ignored, not fatal
    stale = (Example(item=Item(id="z", text="hi"), value=LabelValue(label="gone")),)
    assert provider.label([Item(id="e2", text="rain?")], ctx.model_copy(update={"examples": stale}))
