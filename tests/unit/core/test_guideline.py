"""Guideline files: the demo and the template, format variants, and every parse error."""

from __future__ import annotations

import csv
import json
import re

import pytest

from labelloop.core.errors import GuidelineError
from labelloop.core.guideline import guideline_version, load_guideline, normalise, parse_guideline
from tests.support.paths import ROOT

DEMO = ROOT / "guidelines" / "support-intent.md"
TEMPLATE = ROOT / "guidelines" / "template.md"
BANKING77 = next(
    (
        p / "datasets" / "banking77"
        for p in (ROOT / "shared", ROOT.parent / "shared")
        if (p / "datasets" / "banking77" / "train.csv").exists()
    ),
    None,
)

FRONT = "---\ntask: t\n---\n"
TWO = "## Labels\n\n### a\nDef a.\n\n### b\nDef b.\n"


def parse(text: str):
    return parse_guideline(text, "g.md")


def error(text: str) -> GuidelineError:
    with pytest.raises(GuidelineError) as info:
        parse(text)
    return info.value


# -- the demo guideline ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    return load_guideline(DEMO)


def test_demo_has_all_77_banking_intents_in_order(demo):
    assert (demo.task, demo.unit, demo.kind, demo.scale) == (
        "support-intent",
        "text",
        "single",
        "nominal",
    )
    assert demo.allow_abstain is False
    assert len(demo.labels) == 77
    if BANKING77:
        categories = json.loads((BANKING77 / "categories.json").read_text())
        assert demo.label_names == categories
    assert demo.label("reverted_card_payment?").line > 0


def test_demo_labels_have_definition_examples_and_counter_example(demo):
    names = set(demo.label_names)
    for lab in demo.labels:
        assert len(lab.definition) > 40, lab.name
        assert len(lab.examples) == 2 and all(lab.examples), lab.name
        assert len(lab.counter_examples) == 1, lab.name
        text, other = lab.counter_examples[0]
        assert text and other in names and other != lab.name, lab.name
    lines = [lab.line for lab in demo.labels]
    assert lines == sorted(lines) and len(set(lines)) == 77


def test_demo_instructions_title_attribution_and_path(demo):
    assert demo.title == "Support intent (online banking)"
    assert "BANKING77 (Casanueva et al., 2020, PolyAI, CC BY 4.0)" in demo.instructions
    assert "card_payment_fee_charged" in demo.instructions
    assert "## Unclear messages" in demo.instructions
    assert "### " not in demo.instructions and "## Labels" not in demo.instructions
    assert demo.path == str(DEMO)
    assert demo.text == normalise(DEMO.read_text(encoding="utf-8"))


@pytest.mark.skipif(BANKING77 is None, reason="BANKING77 data set not available")
def test_demo_examples_come_from_the_train_split_only(demo):
    def rows(name):
        with open(BANKING77 / name, encoding="utf-8", newline="") as f:
            return {(r["text"], r["category"]) for r in csv.DictReader(f)}

    train, test = rows("train.csv"), {t for t, _ in rows("test.csv")}
    for lab in demo.labels:
        pairs = [(t, lab.name) for t in lab.examples] + list(lab.counter_examples)
        for text, label in pairs:
            assert (text, label) in train, (lab.name, text)
            assert text not in test, (lab.name, text)


def test_version_is_stable_and_ignores_line_endings_and_trailing_blanks(demo):
    raw = DEMO.read_text(encoding="utf-8")
    assert re.fullmatch(r"[0-9a-f]{12}", demo.version)
    assert demo.version == guideline_version(raw) == parse_guideline(raw).version
    variants = [
        raw.replace("\n", "\r\n"),
        raw.replace("\n", "  \n").replace("\n", "\t\n", 3) + "\n\n   \n",
        "\ufeff" + raw.rstrip("\n"),
    ]
    for text in variants:
        assert parse_guideline(text).version == demo.version


def test_a_real_edit_changes_the_version(demo):
    raw = DEMO.read_text(encoding="utf-8")
    edited = raw.replace("- Example: I am still waiting on my card?", "- Example: Where's my card?")
    assert edited != raw
    assert parse_guideline(edited).version != demo.version


def test_normalise():
    assert normalise("a \r\nb\t\rc\n\n \n") == "a\nb\nc\n"
    assert normalise("x") == "x\n"
    assert normalise("\n \n") == ""


# -- the template ---------------------------------------------------------------------------


def test_template_shows_every_key_and_parses():
    g = load_guideline(TEMPLATE)
    head = TEMPLATE.read_text().split("\n---\n", 1)[0]
    for key in ("task", "unit", "kind", "labels", "scale", "allow_abstain"):
        assert f"\n{key}:" in head
    assert g.label_names == ["negative", "neutral", "positive"]
    assert (g.scale, g.allow_abstain) == ("ordinal", True)
    assert all(lab.definition and lab.examples and lab.counter_examples for lab in g.labels)
    assert "<!--" not in g.instructions and "not shown to the model" not in g.instructions
    assert "<!--" in g.text
    assert g.label("positive").counter_examples == (("Looks great, broke in a week.", "negative"),)


# -- variants -------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["text", "conversation", "turn"])
def test_units(unit):
    assert parse(f"---\ntask: t\nunit: {unit}\n---\n{TWO}").unit == unit


def test_multi_and_spans_accept_a_single_label():
    g = parse("---\ntask: ner\nkind: spans\nlabels: [PERSON]\n---\n")
    assert (g.kind, g.label_names) == ("spans", ["PERSON"])
    assert parse("---\ntask: t\nkind: multi\n---\n## Labels\n### only\nX.\n").kind == "multi"


def test_labels_only_in_front_matter():
    text = "---\ntask: t\nlabels:\n  - low\n  - high\n---\n# Title\nJust pick one.\n"
    g = parse(text)
    assert g.label_names == ["low", "high"]
    assert [lab.line for lab in g.labels] == [4, 5]
    assert g.labels[0].definition == "" and g.labels[0].examples == ()
    assert (g.title, g.instructions) == ("Title", "Just pick one.")


def test_front_matter_order_wins_and_sections_may_be_partial():
    text = "---\ntask: t\nlabels: [b, a, c]\n---\n" + TWO
    g = parse(text)
    assert g.label_names == ["b", "a", "c"]
    assert g.label("a").definition == "Def a." and g.label("a").line == 7
    assert g.label("c").definition == "" and g.label("c").line == 3


def test_ordinal_scale_accepts_whole_numbers():
    g = parse("---\ntask: severity\nscale: ordinal\nlabels: [1, 2, 3]\n---\n")
    assert (g.scale, g.label_names) == ("ordinal", ["1", "2", "3"])


def test_lenient_example_syntax():
    text = FRONT + (
        "## Labels\n"
        "### a\n"
        "First line of the definition.\n"
        "\n"
        "Second paragraph.\n"
        "- Example: plain\n"
        "* example: star bullet, lower case\n"
        '+ Examples: "quoted"\n'
        "- **Example:** bold\n"
        "- Example: wrapped over\n"
        "  two lines\n"
        "- Examples:\n"
        "  - nested one\n"
        "  - nested two\n"
        "- Counter-example: belongs to b (b)\n"
        "- counter example: no label given\n"
        "* Counterexamples: with backticks (`b`)\n"
        "- A bullet that is part of the definition.\n"
        "#### A sub-heading in the definition\n"
        "### b\n"
        "B.\n"
    )
    a = parse(text).label("a")
    assert a.examples == (
        "plain",
        "star bullet, lower case",
        "quoted",
        "bold",
        "wrapped over two lines",
        "nested one",
        "nested two",
    )
    assert a.counter_examples == (
        ("belongs to b", "b"),
        ("no label given", None),
        ("with backticks", "b"),
    )
    assert a.definition == (
        "First line of the definition.\n\nSecond paragraph.\n"
        "- A bullet that is part of the definition.\n#### A sub-heading in the definition"
    )
    assert a.line == 5


def test_instructions_keep_every_other_section_in_order():
    text = FRONT + (
        "\n# My task\n\nIntro.\n\n## Before\nB text.\n\n"
        "```\n## Labels\n### not_a_label\n```\n\n"
        "## Labels\nPick one of these.\n\n### a\nA.\n\n### b\nB.\n\n"
        "## After\nA text.\n"
    )
    g = parse(text)
    assert g.title == "My task"
    assert g.label_names == ["a", "b"]
    assert g.instructions == (
        "Intro.\n\n## Before\nB text.\n\n```\n## Labels\n### not_a_label\n```\n\n"
        "Pick one of these.\n\n## After\nA text."
    )


def test_no_title_and_html_comments_are_left_out():
    text = FRONT + "<!-- note\n### hidden -->\nVisible. <!-- inline -->\n" + TWO
    g = parse(text)
    assert (g.title, g.instructions) == ("", "Visible.")


def test_load_guideline_reports_bad_encoding_and_missing_file(tmp_path):
    bad = tmp_path / "latin1.md"
    bad.write_bytes(b"---\ntask: t\n---\n# Caf\xe9\n")
    with pytest.raises(GuidelineError) as info:
        load_guideline(bad)
    assert info.value.line == 4 and info.value.path == str(bad)
    assert "UTF-8" in str(info.value) and "latin1.md" in str(info.value)
    with pytest.raises(GuidelineError, match="cannot read the guideline file"):
        load_guideline(tmp_path / "missing.md")


def test_crlf_file_loads_with_the_same_version(tmp_path):
    path = tmp_path / "g.md"
    path.write_bytes((FRONT + TWO).replace("\n", "\r\n").encode())
    assert load_guideline(path).version == parse(FRONT + TWO).version


# -- errors ---------------------------------------------------------------------------------

LABELS_AB = "labels: [a, b]\n"

ERRORS = [
    # (id, text, line, fragments of the message)
    ("no front matter", "# Title\n" + TWO, 1, ["missing front matter", "'---'"]),
    ("no front matter after blanks", "\n\ntask: t\n", 3, ["missing front matter"]),
    ("empty file", "", 1, ["missing front matter"]),
    ("unterminated", "\n---\ntask: t\n# T\n" + TWO, 2, ["never closed", "add a '---'"]),
    (
        "invalid yaml",
        "---\ntask: t\nunit: text\n  kind: single\n---\n" + TWO,
        4,
        ["invalid YAML", "mapping values are not allowed"],
    ),
    ("unclosed flow list", "---\ntask: t\nlabels: [a, b\n---\n", 3, ["invalid YAML"]),
    ("tab indent", "---\ntask: t\n\tkind: single\n---\n", 3, ["not tabs"]),
    ("not a mapping", "---\n- a\n- b\n---\n", 2, ["key: value"]),
    ("duplicate key", "---\ntask: t\nkind: single\nkind: multi\n---\n", 4, ["twice", "line 3"]),
    ("missing task", "---\nkind: single\n---\n" + TWO, 1, ["missing `task`", "task: "]),
    ("empty task", "---\ntask:\n---\n" + TWO, 2, ["`task` must be a non-empty name"]),
    (
        "unknown key",
        "---\ntask: t\nlables: [a, b]\n---\n",
        3,
        ["unknown front-matter key 'lables'", "did you mean 'labels'", "task, unit, kind"],
    ),
    ("bad unit", "---\ntask: t\nunit: chat\n---\n" + TWO, 3, ["text, conversation, turn"]),
    ("bad kind", "---\ntask: t\nkind: multiple\n---\n" + TWO, 3, ["single, multi, spans"]),
    ("bad scale", "---\n\ntask: t\nscale: 1-5\n---\n" + TWO, 4, ["nominal, ordinal"]),
    ("bad abstain", "---\ntask: t\nallow_abstain: maybe\n---\n" + TWO, 3, ["true or false"]),
    ("labels a string", "---\ntask: t\nlabels: a, b\n---\n", 3, ["must be a list"]),
    ("labels empty", "---\ntask: t\nlabels: []\n---\n" + TWO, 3, ["`labels` is empty"]),
    (
        "label not a string",
        "---\ntask: t\nlabels:\n  - a\n  - [b, c]\n---\n",
        5,
        ["is not a name", "list of strings"],
    ),
    ("label a boolean", "---\ntask: t\nlabels: [yes, no]\n---\n", 3, ["True", "true/false"]),
    (
        "duplicate in labels",
        "---\ntask: t\nlabels:\n  - a\n  - b\n  - a\n---\n",
        6,
        ["'a' is listed twice", "first at line 4"],
    ),
    ("comma in name", "---\ntask: t\nlabels: ['a,b', c]\n---\n", 3, ["invalid label name 'a,b'"]),
    (
        "space in heading",
        FRONT + "## Labels\n### card arrival\nX.\n### b\nY.\n",
        5,
        ["invalid label name 'card arrival'", "no spaces"],
    ),
    ("empty heading", FRONT + "## Labels\n###\nX.\n", 5, ["invalid label name (empty)"]),
    (
        "section not listed",
        "---\ntask: t\n" + LABELS_AB + "---\n## Labels\n### a\n### c\n",
        7,
        ["'### c' is not in the front-matter `labels`", "listed labels are a, b"],
    ),
    ("no labels at all", FRONT + "# T\nText.\n", 1, ["no labels", "### label_name"]),
    ("empty labels section", FRONT + "# T\n\n## Labels\n", 6, ["no labels"]),
    (
        "one label for single",
        FRONT + "## Labels\n\n### only\nX.\n",
        6,
        ["at least 2 labels", "'only'", "kind: multi"],
    ),
    (
        "counter-example to unknown label",
        FRONT + "## Labels\n### spam\n- Counter-example: hi (hamm)\n### ham\n",
        6,
        ["unknown label 'hamm'", "did you mean 'ham'", "valid labels are spam, ham"],
    ),
    (
        "counter-example to its own label",
        FRONT + "## Labels\n### spam\n- Counter-example: hi (spam)\n### ham\n",
        6,
        ["belongs to 'spam' itself"],
    ),
    (
        "duplicate section",
        FRONT + "## Labels\n### a\nX.\n\n### b\nY.\n\n### a\nZ.\n",
        11,
        ["'### a' appears twice", "first at line 5"],
    ),
    ("empty example", FRONT + TWO + "- Example:\n\nMore.\n", 11, ["empty Example"]),
    ("second labels section", FRONT + TWO + "## Labels\n### c\n", 11, ["second '## Labels'"]),
    ("unclosed comment", FRONT + "Hi <!-- oops\n" + TWO, 4, ["never closed", "-->"]),
]


@pytest.mark.parametrize(
    ("text", "line", "fragments"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_errors_name_the_line_and_the_fix(text, line, fragments):
    err = error(text)
    assert err.line == line, str(err)
    assert err.path == "g.md"
    assert str(err).startswith(f"g.md:{line}: ")
    for fragment in fragments:
        assert fragment in str(err)


def test_errors_with_crlf_keep_file_line_numbers():
    text = "---\r\ntask: t\r\nkind: multiple\r\n---\r\n" + TWO.replace("\n", "\r\n")
    assert error(text).line == 3


def test_unknown_counter_example_label_in_a_large_guideline_lists_some_labels(demo):
    raw = DEMO.read_text(encoding="utf-8").replace("(activate_my_card)", "(activate_card)", 1)
    err = error(raw)
    assert "did you mean 'activate_my_card'" in str(err) and "more)" in str(err)
    assert (
        err.line
        == raw.split("\n").index(
            next(ln for ln in raw.split("\n") if ln.endswith("(activate_card)"))
        )
        + 1
    )
