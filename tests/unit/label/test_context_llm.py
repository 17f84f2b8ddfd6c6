"""Context fields through ``labelloop label``'s code path, against the local stub LLM: the
booking example, where the same text takes another label in another context."""

from __future__ import annotations

import json
import re

import pytest

from labelloop import loop
from labelloop.project import init_project
from tests.support.llm import SHAPE_SCRIPT, SHAPE_VALUES, SPANS, label, suggestions, write_jsonl
from tests.support.paths import FIXTURES, ROOT

pytestmark = pytest.mark.usefixtures("no_key")

BOOKING = ROOT / "guidelines" / "restaurant-booking.md"
CONTEXT_LINE = re.compile(r"^context: .*\n", re.M)


def booking_project(tmp_path, guideline_text: str):
    """The booking fixture's items, without their labels, under ``guideline_text``."""
    rows = [json.loads(line) for line in (FIXTURES / "booking.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("label")
    guideline = tmp_path / "booking.md"
    guideline.write_text(guideline_text, encoding="utf-8")
    project = init_project(tmp_path / "project", guideline)
    loop.import_file(project, write_jsonl(tmp_path / "items.jsonl", rows))
    return project


def prompt_of(stub, item_id: str) -> str:
    (call,) = stub.calls.for_item(item_id)
    return call.body["messages"][-1]["content"]


def test_the_same_text_in_two_contexts_gets_two_answers(tmp_path, stub):
    project = booking_project(tmp_path, BOOKING.read_text(encoding="utf-8"))
    stub.script = {"b1": {"label": "time"}, "b2": {"label": "party_size"}, "*": {"label": "other"}}
    run = label(project, stub.base_url)
    assert (run.labeled, run.failed) == (8, 0)
    got = suggestions(project)
    assert (got["b1"].value.label, got["b2"].value.label) == ("time", "party_size")
    assert all(s.prompt_version.startswith("classify.v2:") for s in got.values())
    # "19" twice: not one cached answer for both
    assert got["b1"].cache_key != got["b2"].cache_key
    assert stub.calls.for_item("b1")[0].text == stub.calls.for_item("b2")[0].text == "19"
    b1 = prompt_of(stub, "b1")
    assert '<item id="b1">\n<context>\nrequested_slot: time\n</context>\n<text>19</text>\n' in b1
    assert "session" not in b1
    assert prompt_of(stub, "b8").endswith('<item id="b8">do you have a vegetarian menu?</item>')


def test_adding_context_makes_earlier_labels_stale(tmp_path, stub):
    text = BOOKING.read_text(encoding="utf-8")
    project = booking_project(tmp_path, CONTEXT_LINE.sub("", text))
    stub.script = {"*": {"label": "time"}}
    label(project, stub.base_url)
    before = suggestions(project)
    assert all(s.prompt_version.startswith("classify.v1:") for s in before.values())
    assert "<context>" not in prompt_of(stub, "b1")
    project.guideline_path.write_text(text, encoding="utf-8")
    stub.reset()
    stub.script = {"*": {"label": "party_size"}}
    assert label(project, stub.base_url).labeled == 0  # without --stale nothing is redone
    run = label(project, stub.base_url, stale=True)
    assert (run.labeled, run.relabeled) == (8, 8)
    after = suggestions(project)
    assert all(s.prompt_version.startswith("classify.v2:") for s in after.values())
    assert {s.guideline_version for s in after.values()} == {project.guideline().version}
    assert "<context>\nrequested_slot: time\n</context>" in prompt_of(stub, "b1")


def test_span_offsets_count_in_the_text_not_the_context(tmp_path, stub):
    text = SPANS.replace("kind: spans\n", "kind: spans\ncontext: [city_asked]\n")
    guideline = tmp_path / "spans.md"
    guideline.write_text(text, encoding="utf-8")
    project = init_project(tmp_path / "project", guideline)
    row = {"id": "e-1", "text": "My Kettle 3000 broke in Paris.", "meta": {"city_asked": "yes"}}
    loop.import_file(project, write_jsonl(tmp_path / "items.jsonl", [row]))
    stub.script = {"e-1": SHAPE_SCRIPT["e-1"]}
    run = label(project, stub.base_url)
    assert (run.labeled, run.failed) == (1, 0)
    s = suggestions(project)["e-1"]
    assert s.value.as_dict() == SHAPE_VALUES["spans"] and s.prompt_version.startswith("spans.v2:")
    assert "<context>\ncity_asked: yes\n</context>\n<text>My Kettle" in prompt_of(stub, "e-1")
