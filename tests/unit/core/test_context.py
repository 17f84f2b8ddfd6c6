"""Context fields: ``context:`` in a guideline's front matter, and reading them from meta."""

from __future__ import annotations

import pytest

from labelloop.core.context import context_lines, context_of, context_text, lookup
from labelloop.core.errors import GuidelineError
from labelloop.core.guideline import load_guideline, parse_guideline
from labelloop.core.types import Item
from tests.support.paths import FIXTURES, ROOT

BOOKING = ROOT / "guidelines" / "restaurant-booking.md"
TWO = "## Labels\n\n### a\nDef a.\n\n### b\nDef b.\n"


def parse(front: str):
    return parse_guideline(f"---\ntask: t\n{front}\n---\n" + TWO, "g.md")


def test_context_lists_meta_fields_in_order_and_is_part_of_the_version():
    g = parse("context: [requested_slot, slot.requested]")
    assert g.context == ("requested_slot", "slot.requested")
    assert parse("context:\n  - requested_slot").context == ("requested_slot",)
    plain = parse("kind: single")
    assert plain.context == () and plain.version != g.version


def test_the_booking_example_names_its_context_and_the_fixture_carries_it():
    g = load_guideline(BOOKING)
    assert g.context == ("requested_slot",)
    assert g.label_names == ["party_size", "time", "date", "name", "other"]
    rows = (FIXTURES / "booking.jsonl").read_text().splitlines()
    assert len(rows) == 8 and sum('"requested_slot"' in r for r in rows) == 7


@pytest.mark.parametrize(
    ("front", "line", "fragments"),
    [
        ("context: requested_slot", 3, ["`context` is 'requested_slot'", "[requested_slot]"]),
        ("context: []", 3, ["`context` is empty", "remove the key"]),
        ("context:", 3, ["`context` is empty"]),
        ("context: {slot: 1}", 3, ["must be a list of the `meta` fields"]),
        ("context:\n  - slot\n  - 2", 5, ["context field 2 is not a field name", "quote"]),
        ("context:\n  - slot\n  - ''", 5, ["context field '' is not a field name"]),
        ("context: [yes]", 3, ["True", "non-empty `meta` field names"]),
        ("context: ['slot..x']", 3, ["invalid context field 'slot..x'", "slot.requested"]),
        ("context: [' slot']", 3, ["invalid context field ' slot'"]),
        ("context:\n  - slot\n  - other\n  - slot", 6, ["'slot' is listed twice", "line 4"]),
        ("contexts: [slot]", 3, ["unknown front-matter key 'contexts'", "did you mean 'context'"]),
    ],
)
def test_bad_context_names_the_line_and_the_fix(front, line, fragments):
    with pytest.raises(GuidelineError) as info:
        parse(front)
    err = info.value
    assert err.line == line, str(err)
    assert str(err).startswith(f"g.md:{line}: ")
    for fragment in fragments:
        assert fragment in str(err)


def test_fields_are_keys_or_dotted_paths_and_missing_ones_are_left_out():
    meta = {"requested_slot": "time", "slot": {"requested": "date"}, "a.b": 1, "n": None}
    item = Item(id="i", text="19", meta=meta)
    assert lookup(meta, "slot.requested") == "date"
    assert lookup(meta, "a.b") == 1  # a key with a dot is read as the key
    assert context_of(item, ["slot.requested", "nowhere", "slot.none", "requested_slot", "n"]) == (
        ("slot.requested", "date"),
        ("requested_slot", "time"),
        ("n", None),
    )
    assert context_of(Item(id="j", text="x"), ["requested_slot"]) == ()


def test_values_are_text_or_compact_json_on_one_line():
    assert context_text("time") == "time"
    assert context_text(["time", 2]) == '["time",2]'
    assert context_text({"slot": "ü", "n": None}) == '{"slot":"ü","n":null}'
    assert context_text(True) == "true"
    item = Item(id="i", text="x", meta={"note": "line one\nfake: field", "slots": ["a", "b"]})
    assert context_lines(item, ["note", "slots"]) == [
        "note: line one fake: field",
        'slots: ["a","b"]',
    ]
