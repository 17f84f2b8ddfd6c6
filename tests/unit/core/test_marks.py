"""Spans marked in a guideline's examples: ``[words](label)``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelloop.core.errors import GuidelineError
from labelloop.core.guideline import parse_guideline
from labelloop.core.marks import span_examples, unmark
from labelloop.core.types import Span

GUIDELINE = """---
task: booking
kind: spans
labels: [people, time]
---
# Booking slots

## Labels

### people
How many people the table is for.
- Example: Table for [four](people) at [7pm](time)
- Example: just the two of us
- Counter-example: 19:30 (time)

### time
When.
- Example: [around 8](time) please
- Counter-example: nothing to see here
"""


def test_an_example_marks_its_spans_and_reads_plain():
    assert unmark("Table for [four](people) at [7pm](time)") == (
        "Table for four at 7pm",
        (
            Span(start=10, end=14, label="people", text="four"),
            Span(start=18, end=21, label="time", text="7pm"),
        ),
    )
    assert unmark("no marks [here] (or there)") == ("no marks [here] (or there)", ())


words = st.text(st.characters(blacklist_characters="[]()\n"), min_size=1, max_size=12)


@given(st.lists(st.tuples(words, st.one_of(st.none(), st.sampled_from(["a", "b-c"]))), max_size=6))
def test_offsets_point_at_the_marked_words_in_the_plain_text(parts):
    marked = "".join(f"[{w}]({lab})" if lab else w for w, lab in parts)
    plain, spans = unmark(marked)
    assert plain == "".join(w for w, _ in parts)
    assert [s.text for s in spans] == [w for w, lab in parts if lab]
    assert all(plain[s.start : s.end] == s.text for s in spans)


def test_the_guidelines_examples_become_answered_texts():
    examples = dict(span_examples(parse_guideline(GUIDELINE)))
    # marked: exactly its marks; unmarked under a label: the whole text is one span of it
    assert [s.label for s in examples["Table for four at 7pm"]] == ["people", "time"]
    assert examples["just the two of us"] == (
        Span(start=0, end=18, label="people", text="just the two of us"),
    )
    # a counter-example naming a label is wholly that label; one naming none has no span
    assert examples["19:30"] == (Span(start=0, end=5, label="time", text="19:30"),)
    assert examples["nothing to see here"] == ()
    assert [s.text for s in examples["around 8 please"]] == ["around 8"]


def test_a_mark_with_an_unknown_label_is_refused_on_its_line():
    text = GUIDELINE.replace("[7pm](time)", "[7pm](tme)")
    with pytest.raises(GuidelineError) as err:
        parse_guideline(text, "g.md")
    line = 1 + text.splitlines().index("- Example: Table for [four](people) at [7pm](tme)")
    assert f"g.md:{line}" in str(err.value)
    assert "'tme'" in str(err.value) and "time" in str(err.value)


def test_marks_are_read_only_in_span_tasks():
    single = GUIDELINE.replace("kind: spans", "kind: single").replace("](tme)", "](x)")
    parsed = parse_guideline(single.replace("[7pm](time)", "[7pm](x)"))
    assert "Table for [four](people) at [7pm](x)" in parsed.label("people").examples


@pytest.mark.parametrize(
    "example",
    ["[around noon(time) please", "at noon](time)", "at [noon] (time)", "x ](time)", "at [](time)"],
)
def test_a_broken_mark_is_refused_on_its_line(example):
    text = GUIDELINE.replace("[around 8](time) please", example)
    with pytest.raises(GuidelineError) as err:
        parse_guideline(text, "g.md")
    line = 1 + text.splitlines().index(f"- Example: {example}")
    assert f"g.md:{line}" in str(err.value) and "[words](label)" in str(err.value)


def test_an_empty_mark_is_named_as_empty():
    text = GUIDELINE.replace("[around 8](time) please", "at [ ](time) please")
    with pytest.raises(GuidelineError, match=r"empty mark \('\[ \]\(time\)'\): put the"):
        parse_guideline(text, "g.md")


def test_overlapping_finds_spans_sharing_a_character_in_any_order():
    from labelloop.core.types import Span, overlapping

    a, b, c = (
        Span(start=0, end=9, label="x"),
        Span(start=9, end=12, label="y"),
        Span(start=4, end=5, label="z"),
    )
    assert overlapping([b, a]) is None  # end to end: apart
    assert overlapping([b, c, a]) == (a, c)
    assert overlapping([]) is None
