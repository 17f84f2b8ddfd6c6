"""Context fields in the embedded model: embedded with the item's text, and part of its
version, so that its earlier suggestions are stale once a guideline names context."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from labelloop.core.guideline import load_guideline, parse_guideline
from labelloop.core.types import Guideline, Item, LabelDef, LabelValue, Message
from labelloop.label import embeddings
from labelloop.label.providers import local
from labelloop.label.providers.base import Example, LabelContext
from tests.support.paths import FIXTURES, ROOT

BOOKING = ROOT / "guidelines" / "restaurant-booking.md"
#: (text, requested slot): the slot decides the label
NEW = [("19", "time"), ("19", "party_size"), ("8", "time"), ("8", "party_size"), ("21", "time")]


@pytest.fixture(scope="module")
def reviewed() -> tuple[Example, ...]:
    rows = [json.loads(line) for line in (FIXTURES / "booking.jsonl").read_text().splitlines()]
    return tuple(
        Example(
            item=Item(id=r["id"], text=r["text"], meta=r["meta"]),
            value=LabelValue(label=r["label"]),
        )
        for r in rows
    )


def new_items() -> list[Item]:
    return [Item(id=f"n{k}", text=t, meta={"requested_slot": s}) for k, (t, s) in enumerate(NEW)]


def without_context() -> Guideline:
    text = BOOKING.read_text(encoding="utf-8")
    return parse_guideline(re.sub(r"^context: .*\n", "", text, flags=re.M))


def test_units_carry_the_context_lines_and_embed_them_with_the_text():
    item = Item(id="a", text="19", meta={"requested_slot": "time", "other": "x"})
    (plain,) = embeddings.units_of(item, 0)
    (unit,) = embeddings.units_of(item, 0, fields=["requested_slot", "missing"])
    assert (plain.text, plain.facts, plain.embedded) == ("19", "", "19")
    assert (unit.text, unit.facts, unit.embedded) == (
        "19",
        "requested_slot: time",
        "19\n" + unit.facts,
    )
    chat = Item(
        id="c",
        messages=(
            Message(role="assistant", content="How many?"),
            Message(role="user", content="19"),
        ),
        meta={"requested_slot": "party_size"},
    )
    turns = embeddings.units_of(chat, 0, "user", ["requested_slot"])
    assert [(u.turn, u.facts) for u in turns] == [(1, "requested_slot: party_size")]
    other = Item(id="b", text="19", meta={"requested_slot": "party_size"})
    x = embeddings.embed_units(
        [plain, unit, *embeddings.units_of(other, 1, None, ["requested_slot"])]
    )
    assert not np.allclose(x[0], x[1]) and not np.allclose(x[1], x[2])


def test_the_version_changes_with_context_only_where_there_is_some():
    labels = (LabelDef(name="time"), LabelDef(name="party_size"))
    bare = Guideline(task="t", labels=labels, version="g1")
    named = bare.model_copy(update={"context": ("requested_slot",)})
    other = bare.model_copy(update={"context": ("requested_slot", "session")})
    provider = local.LocalProvider()
    versions = {provider.version(LabelContext(guideline=g)) for g in (bare, named, other)}
    assert len(versions) == 3
    # a guideline without context keeps the key it had: its local suggestions stay current
    dumped = [lab.model_dump(mode="json", exclude={"line"}) for lab in labels]
    assert local._guideline_key(bare) == "g1:" + local._digest("text", "single", dumped)


@pytest.mark.parametrize("trained", [False, True], ids=["zero-shot", "supervised"])
def test_the_slot_decides_between_the_same_words(reviewed, trained):
    examples = reviewed if trained else ()
    with_ctx = local.LocalProvider().label(
        new_items(), LabelContext(guideline=load_guideline(BOOKING), examples=examples)
    )
    got = [s.value.label for s in with_ctx]
    assert got[:4] == [slot for _, slot in NEW[:4]]  # each pair split by its slot
    if trained:
        assert got == [slot for _, slot in NEW]
    blind = local.LocalProvider().label(
        new_items(), LabelContext(guideline=without_context(), examples=examples)
    )
    same = [s.value.label for s in blind]
    assert same[0] == same[1] and same[2] == same[3]  # the same text, the same answer
