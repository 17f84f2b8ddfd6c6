"""Logprob signals over OpenAI-style token lists (hand-written in the o200k/cl100k style)
and over the stub server's crude tokens."""

from __future__ import annotations

import json
import math

import pytest
from openai.types.chat import ChatCompletion

from labelloop.core.guideline import parse_guideline
from labelloop.core.types import Item, LabelValue
from labelloop.label.schemas import output_model, to_value, validation_context
from labelloop.label.signals import (
    all_labels_logprob_signals,
    label_logprob_signals,
    labels_logprob_signals,
    value_signals,
)
from labelloop.testing import stub_llm

LABELS = [
    "card_arrival",
    "card_linking",
    "card_delivery_estimate",
    "card_payment_fee_charged",
    "card_payment_not_recognised",
    "card_payment_wrong_exchange_rate",
    "lost_or_stolen_card",
    "pending_transfer",
    "pending_card_payment",
]
SURE = -1e-6
e = math.exp


def tok(text: str, logprob: float = SURE, top: list[tuple[str, float]] | None = None) -> dict:
    """One entry of ``logprobs.content``; OpenAI lists the chosen token among its top ones."""
    alts = top if top is not None else [(text, logprob)]
    return {
        "token": text,
        "logprob": logprob,
        "bytes": list(text.encode()),
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alts],
    }


def tail(*tokens: str) -> list[dict]:
    return [tok(t) for t in tokens]


def text_of(tokens: list[dict]) -> str:
    return b"".join(bytes(t["bytes"]) for t in tokens).decode()


# {"label":"card_arrival","guideline_section":"card_arrival","rationale":...,"confidence":88}
COMPACT = [
    tok('{"'),
    tok("label"),
    tok('":"'),
    tok("card", -0.1, [("card", -0.1), ("pending", -2.6), ("lost", -3.9), ("Card", -6.0)]),
    tok("_ar", -0.3, [("_ar", -0.3), ("_link", -1.9), ("_delivery", -2.8), ("_ref", -7.0)]),
    tok("rival"),
    tok('","', -0.0),
    *tail("gu", "ideline", "_section", '":"', "card", "_ar", "rival", '","', "r", "ationale"),
    *tail(
        '":"',
        "Customer",
        " waits",
        " for",
        " a",
        " card",
        '."',
        ',"',
        "confidence",
        '":',
        "88",
        "}",
    ),
]


def test_compact_openai_tokens_give_value_probability_and_renormalised_share():
    assert json.loads(text_of(COMPACT))["label"] == "card_arrival"
    signals = label_logprob_signals(COMPACT, "card_arrival", LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-0.1 - 0.3 + SURE))
    first = e(-0.1) / (e(-0.1) + e(-2.6) + e(-3.9))  # "Card" and others are no label
    second = e(-0.3) / (e(-0.3) + e(-1.9) + e(-2.8))  # "_ref" fits no card_ label
    assert signals["logprob_renorm"] == pytest.approx(first * second)


def test_the_value_is_found_by_its_key_not_by_other_fields():
    # the same label text in guideline_section must not be mistaken for the label
    signals = label_logprob_signals(COMPACT, "lost_or_stolen_card", LABELS)
    assert signals == {"logprob_prob": None, "logprob_renorm": None}


# {"label": "card_payment_fee_charged", ...}: spaced JSON, a shared card_payment_ prefix
SPACED = [
    tok('{"'),
    tok("label"),
    tok('":'),
    tok(' "'),
    tok("card", -0.01, [("card", -0.01), ("pending", -5.0)]),
    tok("_payment", -0.05, [("_payment", -0.05), ("_arrival", -3.2)]),
    tok("_fee", -0.5, [("_fee", -0.5), ("_not", -1.2), ("_wrong", -2.5), ("_f", -6.0)]),
    tok("_charged", -0.002, [("_charged", -0.002), ("_charge", -6.5)]),
    tok('",', -0.0),
    *tail(
        ' "',
        "gu",
        "ideline",
        "_section",
        '":',
        ' "',
        "Fees",
        '",',
        ' "',
        "confidence",
        '":',
        " ",
        "70",
        "}",
    ),
]


def test_shared_prefix_labels_diverge_where_the_tokens_do():
    signals = label_logprob_signals(SPACED, "card_payment_fee_charged", LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-0.01 - 0.05 - 0.5 - 0.002))
    at_card = e(-0.01) / (e(-0.01) + e(-5.0))
    at_payment = e(-0.05) / (e(-0.05) + e(-3.2))
    at_fee = (e(-0.5) + e(-6.0)) / (e(-0.5) + e(-1.2) + e(-2.5) + e(-6.0))  # "_f" fits _fee too
    # after "card_payment_fee" only one label is left: "_charged" is not a divergence
    assert signals["logprob_renorm"] == pytest.approx(at_card * at_payment * at_fee)


def test_tokens_that_carry_the_opening_quote_are_matched_with_it():
    tokens = [
        tok('{"label":'),
        tok(' "card', -0.2, [(' "card', -0.2), (' "pending', -1.8), (' "', -4.0), (" null", -5.0)]),
        tok("_arrival", -0.1, [("_arrival", -0.1), ("_linking", -2.4)]),
        tok('"}'),
    ]
    signals = label_logprob_signals(tokens, "card_arrival", LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-0.2 - 0.1 + SURE))
    # ' "' has not chosen yet: it fits every label, so it counts on both sides
    first = (e(-0.2) + e(-4.0)) / (e(-0.2) + e(-1.8) + e(-4.0))
    second = e(-0.1) / (e(-0.1) + e(-2.4))
    assert signals["logprob_renorm"] == pytest.approx(first * second)


def test_a_label_that_is_a_prefix_of_another_is_decided_at_its_closing_quote():
    labels = ["card_payment", "card_payment_fee_charged"]
    tokens = [
        *tail('{"', "label", '":"', "card", "_payment"),
        tok('","', -0.4, [('","', -0.4), ("_fee", -1.1)]),
        *tail("confidence", '":', "60", "}"),
    ]
    signals = label_logprob_signals(tokens, "card_payment", labels)
    assert signals["logprob_prob"] == pytest.approx(e(2 * SURE - 0.4))
    assert signals["logprob_renorm"] == pytest.approx(e(-0.4) / (e(-0.4) + e(-1.1)))


def test_a_chosen_token_missing_from_its_list_counts_with_its_own_logprob():
    tokens = [
        *tail('{"', "label", '":"'),
        tok("lost", -3.0, [("card", -0.1), ("pending", -2.6)]),
        *tail("_or", "_st", "olen", "_card", '"}'),
    ]
    signals = label_logprob_signals(tokens, "lost_or_stolen_card", LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-3.0 + 5 * SURE))
    assert signals["logprob_renorm"] == pytest.approx(e(-3.0) / (e(-3.0) + e(-0.1) + e(-2.6)))


def test_without_top_logprobs_only_the_renormalised_signal_is_missing():
    tokens = [dict(t, top_logprobs=[]) for t in COMPACT]
    signals = label_logprob_signals(tokens, "card_arrival", LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-0.4 + SURE))
    assert signals["logprob_renorm"] is None


@pytest.mark.parametrize("content", [None, [], ()])
def test_absent_logprobs_give_missing_signals(content):
    assert label_logprob_signals(content, "card_arrival", LABELS) == {
        "logprob_prob": None,
        "logprob_renorm": None,
    }


def test_a_value_that_is_not_in_the_answer_or_not_a_label():
    assert label_logprob_signals(COMPACT, "card_linking", LABELS)["logprob_prob"] is None
    signals = label_logprob_signals(COMPACT, "card_arrival", ["refund", "other"])
    assert signals["logprob_prob"] is not None and signals["logprob_renorm"] is None


def test_sdk_objects_and_the_whole_logprobs_object_are_accepted():
    completion = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text_of(COMPACT)},
                    "logprobs": {"content": COMPACT, "refusal": None},
                }
            ],
        }
    )
    logprobs = completion.choices[0].logprobs
    expected = label_logprob_signals(COMPACT, "card_arrival", LABELS)
    assert label_logprob_signals(logprobs.content, "card_arrival", LABELS) == expected
    assert label_logprob_signals(logprobs, "card_arrival", LABELS) == expected


# --- multi, spans, turns -----------------------------------------------------------------------

MULTI = [
    *tail('{"', "labels", '":["'),
    tok("card", -0.2, [("card", -0.2), ("pending", -1.7)]),
    tok("_linking", -0.3, [("_linking", -0.3), ("_arrival", -1.4)]),
    tok('","', -0.1),
    tok("lost", -0.7, [("lost", -0.7), ("card", -0.9)]),
    *tail("_or", "_st", "olen", "_card"),
    tok('"],"', -0.5),
    *tail("gu", "ideline", "_section", '":"', "x", '"}'),
]


def test_multi_label_signals_multiply_over_the_chosen_labels():
    chosen = ["lost_or_stolen_card", "card_linking"]  # any order
    signals = labels_logprob_signals(MULTI, chosen, LABELS)
    p_linking = e(-0.2 - 0.3 - 0.1)
    p_lost = e(-0.7 + 4 * SURE - 0.5)
    assert signals["logprob_prob"] == pytest.approx(p_linking * p_lost)
    share_linking = e(-0.2) / (e(-0.2) + e(-1.7)) * e(-0.3) / (e(-0.3) + e(-1.4))
    share_lost = e(-0.7) / (e(-0.7) + e(-0.9))
    assert signals["logprob_renorm"] == pytest.approx(share_linking * share_lost)
    assert labels_logprob_signals(MULTI, ["pending_transfer"], LABELS)["logprob_prob"] is None
    assert labels_logprob_signals(MULTI, [], LABELS)["logprob_prob"] is None


def test_spans_with_split_utf8_characters_multiply_over_their_labels():
    # "café" where the é's two bytes arrive in two tokens, as OpenAI reports them
    tokens = [
        *tail('{"', "spans", '":[{"', "text", '":"', "caf"),
        {"token": "\\xc3", "logprob": SURE, "bytes": [0xC3], "top_logprobs": []},
        {"token": "\\xa9", "logprob": SURE, "bytes": [0xA9], "top_logprobs": []},
        *tail('","', "label", '":"'),
        tok("place", -0.25),
        *tail('","', "start", '":', "0", ',"', "end", '":', "4", '},{"', "text", '":"', "Bob"),
        *tail('","', "label", '":"'),
        tok("person", -0.05),
        *tail('","', "start", '":', "9", ',"', "end", '":', "12", "}]}"),
    ]
    assert b"".join(bytes(t["bytes"]) for t in tokens).decode().count("café") == 1
    signals = all_labels_logprob_signals(tokens)
    assert signals["logprob_prob"] == pytest.approx(e(-0.25 - 0.05 + 2 * SURE))
    assert signals["logprob_renorm"] is None
    assert all_labels_logprob_signals(tail('{"', "spans", '":[]}'))["logprob_prob"] is None


# --- through the stub server's answers -----------------------------------------------------------


def stub_answer(g, item, entry, top_n=20):
    """What the stub LLM answers for a JSON-schema request built from our model."""
    schema = output_model(g).model_json_schema()
    body = {
        "messages": [
            {"role": "user", "content": f'<item id="{item.id}">{item.render_plain()}</item>'}
        ],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        "logprobs": True,
        "top_logprobs": top_n,
    }
    ref = stub_llm.find_item(body["messages"])
    completion = stub_llm.completion_for(stub_llm.StubState(), body, entry, ref, 1)
    choice = ChatCompletion.model_validate(completion).choices[0]
    parsed = output_model(g).model_validate_json(
        choice.message.content, context=validation_context(item, g), strict=True
    )
    return to_value(parsed, g), choice.logprobs


def guideline(kind="single", unit="text", labels=LABELS):
    sections = "".join(f"### {name}\nAbout it.\n\n" for name in labels)
    return parse_guideline(
        f"---\ntask: t\nkind: {kind}\nunit: {unit}\n---\n## Labels\n\n{sections}"
    )


def test_stub_single_label_answer_gives_its_scripted_probability():
    g = guideline()
    item = Item(id="s1", text="where is my card")
    value, logprobs = stub_answer(g, item, {"label": "card_linking", "confidence": 0.8})
    assert value == LabelValue(label="card_linking")
    signals = value_signals(logprobs, value, g.label_names)
    assert signals["logprob_prob"] == pytest.approx(0.8)
    # the stub puts the other labels' first words beside "card": all of them are labels
    assert signals["logprob_renorm"] == pytest.approx(0.8)


def test_stub_top_logprobs_cut_short_overrate_the_renormalised_share():
    g = guideline()
    item = Item(id="s2", text="x")
    value, logprobs = stub_answer(
        g, item, {"label": "pending_transfer", "confidence": 0.4}, top_n=2
    )
    signals = value_signals(logprobs, value, g.label_names)
    assert signals["logprob_prob"] == pytest.approx(0.4)
    assert signals["logprob_renorm"] == pytest.approx(0.4 / (0.4 + 0.6 / 2))


def test_stub_multi_and_spans_answers():
    g = guideline(kind="multi")
    entry = {
        "labels": ["card_arrival", "pending_transfer"],
        "label_probs": {"pending_transfer": 0.5},
        "confidence": 0.9,
    }
    value, logprobs = stub_answer(g, Item(id="m", text="x"), entry)
    assert value.labels == ("card_arrival", "pending_transfer")
    assert value_signals(logprobs, value, g.label_names)["logprob_prob"] == pytest.approx(0.9 * 0.5)

    g = guideline(kind="spans")
    item = Item(id="sp", text="my card is lost")
    entry = {"spans": [{"start": 3, "end": 7, "label": "card_arrival"}], "confidence": 0.6}
    value, logprobs = stub_answer(g, item, entry)
    assert value.spans[0].text == "card"
    assert value_signals(logprobs, value, g.label_names) == {
        "logprob_prob": pytest.approx(0.6),
        "logprob_renorm": None,
    }


def test_no_logprobs_from_the_provider_means_missing_signals():
    g = guideline()
    assert value_signals(None, LabelValue(label="card_arrival"), g.label_names) == {
        "logprob_prob": None,
        "logprob_renorm": None,
    }
    assert value_signals(COMPACT, None, g.label_names)["logprob_prob"] is None


def test_a_single_label_abstention_is_scored_as_none_of_these():
    tokens = [
        *tail('{"', "label", '":"'),
        tok("none", -0.9, [("none", -0.9), ("card", -0.6)]),
        *tail("_of", "_these", '","', "confidence", '":', "20", "}"),
    ]
    signals = value_signals(tokens, LabelValue(abstain=True), LABELS)
    assert signals["logprob_prob"] == pytest.approx(e(-0.9 + 3 * SURE))
    assert signals["logprob_renorm"] == pytest.approx(e(-0.9) / (e(-0.9) + e(-0.6)))
    empty = [*tail('{"', "labels", '":[],"', "confidence", '":', "20", "}")]
    assert value_signals(empty, LabelValue(abstain=True), LABELS)["logprob_prob"] is None
