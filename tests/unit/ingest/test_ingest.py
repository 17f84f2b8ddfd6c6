"""Import: rows checked against the guideline, stored all or nothing, re-imports idempotent."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelloop.core.errors import ImportFileError
from labelloop.core.types import Guideline, LabelValue, Review, RouteDecision, Span, Suggestion
from labelloop.ingest.importer import MAX_ITEM_CHARS, ImportResult, import_file, unknown_label
from labelloop.store import Store
from tests.support.factories import IMPORT_FIXTURES, guideline

FIXTURES = IMPORT_FIXTURES


SINGLE = guideline()


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(f"sqlite:///{tmp_path}/t.db")
    yield s
    s.close()


def jsonl(tmp_path: Path, name: str, *rows) -> Path:
    """A JSONL file: dict rows are dumped, strings written as they are."""
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def counts(store: Store) -> tuple[int, int, int]:
    return store.count_items(), store.count_reviews(), len(store.imports())


def reviews(store: Store) -> list[Review]:
    return list(store.iter_reviews())


# -- happy paths ----------------------------------------------------------------------------


def test_jsonl_items_and_labels_become_reviews_by_the_file_stem(store: Store) -> None:
    path = FIXTURES / "intents.jsonl"
    result = import_file(store, SINGLE, path)
    assert isinstance(result, ImportResult)
    assert (result.rows, result.items_added, result.reviews_added) == (3, 3, 2)
    assert [i.id for i in store.iter_items()] == ["a1", "a2", "3"]  # file order
    assert store.get_item("a2").meta == {"source": "chat"}
    rs = reviews(store)
    assert {(r.item_id, r.reviewer, r.value.label) for r in rs} == {
        ("a1", "intents", "card_arrival"),
        ("3", "intents", "refund"),
    }
    assert all(r.action == "import" and r.source == "import" for r in rs)
    [record] = store.imports()
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (record.format, record.reviewer, record.rows, record.items_added) == (
        "jsonl",
        "intents",
        3,
        3,
    )
    assert record.reviews_added == 2


def test_null_label_is_no_label_and_extra_fields_are_kept_in_meta(
    store: Store, tmp_path: Path
) -> None:
    row = {"id": "x", "text": "t", "label": None, "source": "web", "meta": {"lang": "en"}}
    result = import_file(store, SINGLE, jsonl(tmp_path, "x.jsonl", row))
    assert result.reviews_added == 0
    assert store.get_item("x").meta == {"source": "web", "lang": "en"}


def test_reviewer_override(store: Store) -> None:
    import_file(store, SINGLE, FIXTURES / "intents.jsonl", reviewer="gold")
    assert {r.reviewer for r in reviews(store)} == {"gold"}


def test_csv_happy_path(store: Store) -> None:
    result = import_file(store, SINGLE, FIXTURES / "intents.csv")
    assert (result.rows, result.items_added, result.reviews_added) == (3, 3, 2)
    assert store.get_item("a1").meta == {"channel": "email"}
    assert store.get_item("a2").text == "Someone stole my wallet,\nwith the card in it."


def test_csv_multi_label_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('id,text,labels\n1,a,refund|card_arrival\n2,b,"[""refund""]"\n3,c,\n')
    assert import_file(store, guideline("multi"), path).reviews_added == 2
    assert [r.value.labels for r in reviews(store)] == [("refund", "card_arrival"), ("refund",)]


def test_parquet_happy_path(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    table = pa.table(
        {
            "id": ["p1", "p2", "p3"],
            "text": ["card late", "card stolen", "money back"],
            "label": ["card_arrival", None, "refund"],
            "meta": [{"lang": "en"}, {"lang": "de"}, {"lang": "en"}],
        }
    )
    pq.write_table(table, path)
    result = import_file(store, SINGLE, path, reviewer="ann")
    assert (result.rows, result.items_added, result.reviews_added) == (3, 3, 2)
    assert store.get_item("p2").meta == {"lang": "de"}


def test_parquet_error_says_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["p1", "p2"], "text": ["ok", "x"], "label": [None, "?"]}), path)
    with pytest.raises(ImportFileError) as info:
        import_file(store, SINGLE, path)
    assert str(info.value).startswith(f"{path}:2: row 2: unknown label '?'")
    assert counts(store) == (0, 0, 0)


def test_labelstudio_annotations_become_reviews_and_predictions_do_not(store: Store) -> None:
    result = import_file(store, SINGLE, FIXTURES / "labelstudio.json")
    assert (result.rows, result.items_added, result.reviews_added) == (2, 2, 2)
    assert [i.id for i in store.iter_items()] == ["101", "t2"]
    by_reviewer = {r.reviewer: r for r in reviews(store)}
    assert set(by_reviewer) == {"ls-user-7", "bo@example.com"}
    assert by_reviewer["ls-user-7"].value == LabelValue(label="card_arrival")
    assert by_reviewer["ls-user-7"].created_at == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    assert store.get_item("101").meta == {"source": "email"}


def test_labelstudio_spans(store: Store, tmp_path: Path) -> None:
    text = "Lost my card in Paris"
    result = [{"type": "labels", "value": {"start": 16, "end": 21, "labels": ["CITY"]}}]
    task = {"id": 1, "data": {"text": text}, "annotations": [{"completed_by": 3, "result": result}]}
    path = tmp_path / "spans.json"
    path.write_text(json.dumps([task]), encoding="utf-8")
    import_file(store, guideline("spans", labels=("CITY", "CARD")), path)
    [review] = reviews(store)
    assert review.value == LabelValue(spans=(Span(start=16, end=21, label="CITY"),))


def test_messages_with_content_or_text_keys(store: Store) -> None:
    g = guideline(unit="conversation")
    import_file(store, g, FIXTURES / "conversations.jsonl")
    c1, c2 = store.get_item("c1"), store.get_item("c2")
    assert c1.target_turn == 2 and c1.messages[2].content == "Two weeks ago."
    assert [m.content for m in c2.messages] == ["Refund please.", "Which order?"]
    assert len(reviews(store)) == 2


def test_turn_labels(store: Store, tmp_path: Path) -> None:
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes?"}]
    msgs.append({"role": "user", "content": "card gone"})
    path = jsonl(tmp_path, "turns.jsonl", {"id": "t", "messages": msgs, "turns": {"2": "refund"}})
    import_file(store, guideline(unit="turn"), path)
    assert reviews(store)[0].value == LabelValue(turns={2: "refund"})


def test_multi_and_spans_shapes(store: Store, tmp_path: Path) -> None:
    multi = jsonl(tmp_path, "multi.jsonl", {"id": "m", "text": "x", "labels": ["refund", "refund"]})
    import_file(store, guideline("multi"), multi)
    assert reviews(store)[0].value == LabelValue(labels=("refund",))
    spans = jsonl(
        tmp_path,
        "spans.jsonl",
        {"id": "s", "text": "abcdef", "spans": [{"start": 0, "end": 3, "label": "refund"}]},
    )
    import_file(store, guideline("spans"), spans)
    assert reviews(store)[1].value.spans == (Span(start=0, end=3, label="refund"),)


def test_reimport_adds_nothing(store: Store) -> None:
    import_file(store, SINGLE, FIXTURES / "intents.jsonl")
    items, revs, _ = counts(store)
    again = import_file(store, SINGLE, FIXTURES / "intents.jsonl")
    assert (again.items_added, again.items_existing) == (0, 3)
    assert (again.reviews_added, again.reviews_existing) == (0, 2)
    assert counts(store)[:2] == (items, revs)


def test_a_reviewers_changed_answer_is_a_new_review_that_stands(store: Store, tmp_path) -> None:
    """Importing a corrected file again adds each changed answer as its reviewer's new
    review (a changed mind), counts it, and it is the label that stands; answers that did
    not change are already there, and importing the corrected file once more adds nothing."""
    changed_answer_is_a_new_review(store, tmp_path)


def changed_answer_is_a_new_review(store: Store, tmp_path: Path) -> None:
    from labelloop.core.standing import standing_review

    row = {"id": "a1", "text": "Where is my new card?", "label": "refund"}
    other = {"id": "a2", "text": "Someone stole my wallet.", "label": "lost_or_stolen_card"}
    import_file(store, SINGLE, jsonl(tmp_path, "ann.jsonl", row, other))
    fixed = jsonl(tmp_path, "ann.jsonl", {**row, "label": "card_arrival"}, other)
    result = import_file(store, SINGLE, fixed)
    assert (result.reviews_added, result.reviews_changed, result.reviews_existing) == (1, 1, 1)
    mine = [r for r in reviews(store) if r.item_id == "a1"]
    assert [(r.reviewer, r.value.label) for r in mine] == [
        ("ann", "refund"),
        ("ann", "card_arrival"),
    ]
    assert standing_review(mine, route=None).value.label == "card_arrival"
    again = import_file(store, SINGLE, fixed)
    assert (again.reviews_added, again.reviews_changed, again.reviews_existing) == (0, 0, 2)


def test_second_annotators_file_adds_only_their_reviews(store: Store, tmp_path: Path) -> None:
    import_file(store, SINGLE, FIXTURES / "intents.jsonl", reviewer="ann1")
    rows = [
        {
            "id": "a1",
            "text": "Where is my new card? Still waiting.",
            "label": "lost_or_stolen_card",
        },
        {"id": "a2", "text": "Someone stole my wallet with the card in it.", "label": "refund"},
    ]
    result = import_file(store, SINGLE, jsonl(tmp_path, "ann2.jsonl", *rows))
    assert (result.items_added, result.items_existing, result.reviews_added) == (0, 2, 2)
    assert store.count_items() == 3
    assert sorted((r.item_id, r.reviewer) for r in reviews(store)) == [
        ("3", "ann1"),
        ("a1", "ann1"),
        ("a1", "ann2"),
        ("a2", "ann2"),
    ]


def test_per_row_annotations(store: Store, tmp_path: Path) -> None:
    row = {
        "id": "x",
        "text": "card?",
        "label": "card_arrival",
        "annotations": [
            {"reviewer": "ann1", "label": "card_arrival"},
            {"reviewer": "ann2", "label": "refund", "time": "2024-01-02T03:04:05Z"},
        ],
    }
    import_file(store, SINGLE, jsonl(tmp_path, "gold.jsonl", row))
    got = {r.reviewer: r for r in reviews(store)}
    assert {k: v.value.label for k, v in got.items()} == {
        "gold": "card_arrival",
        "ann1": "card_arrival",
        "ann2": "refund",
    }
    assert got["ann2"].created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_export_rows_import_reviews_but_not_suggestion_or_model_label(store: Store) -> None:
    result = import_file(store, SINGLE, FIXTURES / "export.jsonl")
    assert (result.items_added, result.reviews_added) == (3, 2)
    fix, reject = reviews(store)
    assert (fix.item_id, fix.reviewer, fix.action, fix.queue) == ("e2", "rita", "fix", "active")
    assert fix.value == LabelValue(label="lost_or_stolen_card")
    assert fix.created_at == datetime(2024, 5, 2, 9, 30, tzinfo=UTC)
    assert (reject.reviewer, reject.action, reject.value, reject.reason) == (
        "sam",
        "reject",
        None,
        "unclear",
    )
    assert store.get_item("e1").meta == {}  # suggestion and route are not kept


def test_real_export_round_trip(store: Store, tmp_path: Path) -> None:
    from labelloop.export.writer import export

    import_file(store, SINGLE, FIXTURES / "intents.jsonl", reviewer="gold")
    sid = store.add_suggestions(
        [Suggestion(item_id="a2", model="local", value=LabelValue(label="refund"), confidence=0.9)]
    )[0]
    store.set_routes(
        [RouteDecision(item_id="a2", route="auto_accepted", reason="test", suggestion_id=sid)]
    )
    out = tmp_path / "out.jsonl"
    export(store, out, model="local")
    fresh = Store.open(f"sqlite:///{tmp_path}/fresh.db")
    result = import_file(fresh, SINGLE, out)
    assert result.items_added == 3
    assert sorted((r.item_id, r.reviewer, r.value.label) for r in reviews(fresh)) == [
        ("3", "gold", "refund"),
        ("a1", "gold", "card_arrival"),
    ]  # a2's auto-accepted model label is no review
    fresh.close()


def test_batches_keep_file_order_and_report_progress(store: Store, tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "text": f"text {i}"} for i in range(10)]
    seen: list[int] = []
    import_file(
        store, SINGLE, jsonl(tmp_path, "b.jsonl", *rows), batch_size=3, progress=seen.append
    )
    assert seen == [3, 6, 9, 10]
    assert [i.id for i in store.iter_items()] == [f"r{i}" for i in range(10)]


def test_unknown_label_lists_a_long_label_set_in_part() -> None:
    g = guideline(labels=(*(f"label_{i:02d}" for i in range(76)), "refund"))
    message = unknown_label("refnud", g)
    assert "label_00, label_01" in message and "(77 in all" in message
    assert "label_75" not in message
    assert "did you mean 'refund'?" in message


# -- refused files: the error names file and line, the store is unchanged --------------------

GOOD = {"id": "g1", "text": "Where is my card?"}


def nest(n: int) -> list:
    """``n`` lists, one inside the other."""
    value: list = []
    for _ in range(n - 1):
        value = [value]
    return value


CONV = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

BAD_ROWS = [
    # (case, guideline, the bad row (line 2), what the message says)
    ("malformed json", SINGLE, '{"id": "b", "text": }', "not valid JSON"),
    ("unknown label", SINGLE, {"id": "b", "text": "t", "label": "spam?"}, "unknown label 'spam?'"),
    ("missing id", SINGLE, {"text": "t"}, "missing 'id'"),
    ("id not str or int", SINGLE, {"id": [1], "text": "t"}, "'id' is a JSON array"),
    ("missing text", SINGLE, {"id": "b"}, "missing 'text'"),
    ("empty text", SINGLE, {"id": "b", "text": "  "}, "empty 'text'"),
    ("text not a string", SINGLE, {"id": "b", "text": 5}, "'text' must be a string"),
    ("labels for single", SINGLE, {"id": "b", "text": "t", "labels": ["refund"]}, "kind: single"),
    ("label for multi", guideline("multi"), {"id": "b", "text": "t", "label": "refund"}, "multi"),
    ("label for spans", guideline("spans"), {"id": "b", "text": "t", "label": "refund"}, "spans"),
    ("span past end", guideline("spans"),
     {"id": "b", "text": "abc", "spans": [{"start": 1, "end": 9, "label": "refund"}]},
     "span 0 [1:9] does not lie within the text (length 3)"),
    ("span start >= end", guideline("spans"),
     {"id": "b", "text": "abc", "spans": [{"start": 2, "end": 2, "label": "refund"}]},
     "start < end"),
    ("span end before start", guideline("spans"),
     {"id": "b", "text": "abcdefgh", "spans": [{"start": 6, "end": 2, "label": "refund"}]},
     "span 0 [6:2] ends where or before it starts"),
    ("span offsets not ints", guideline("spans"),
     {"id": "b", "text": "abc", "spans": [{"start": "0", "end": 2, "label": "refund"}]},
     "give both as integers"),
    ("span unknown label", guideline("spans"),
     {"id": "b", "text": "abc", "spans": [{"start": 0, "end": 2, "label": "x"}]},
     "span 0 [0:2]: unknown label 'x'"),
    ("span without label", guideline("spans"),
     {"id": "b", "text": "abc", "spans": [{"start": 0, "end": 2}]},
     "span 0 [0:2] has no 'label'"),
    ("span text not at its offsets", guideline("spans"),
     {"id": "b", "text": "at 7pm", "spans": [{"start": 3, "end": 6, "label": "refund",
                                               "text": "7pX"}]},
     "says its text is '7pX', but the text there is '7pm'"),
    ("target_turn out of range", guideline(unit="conversation"),
     {"id": "b", "messages": CONV, "target_turn": 2}, "'target_turn' is 2"),
    ("target_turn not int", guideline(unit="conversation"),
     {"id": "b", "messages": CONV, "target_turn": "1"}, "'target_turn' is '1'"),
    ("target_turn on text", SINGLE, {"id": "b", "text": "t", "target_turn": 0}, "target_turn"),
    ("messages for text unit", SINGLE, {"id": "b", "messages": CONV}, "unit: text"),
    ("text for conversation unit", guideline(unit="conversation"), {"id": "b", "text": "t"},
     "labels conversations"),
    ("message without content", guideline(unit="conversation"),
     {"id": "b", "messages": [{"role": "user"}]}, "message 0 needs a 'role' and a 'content'"),
    ("turn label on assistant", guideline(unit="turn"),
     {"id": "b", "messages": CONV, "turns": {"1": "refund"}}, "not a user message"),
    ("annotation without reviewer", SINGLE,
     {"id": "b", "text": "t", "annotations": [{"label": "refund"}]}, "has no 'reviewer'"),
    ("annotation without label", SINGLE,
     {"id": "b", "text": "t", "annotations": [{"reviewer": "x"}]}, "has no label"),
    ("export review bad action", SINGLE,
     {"id": "b", "text": "t", "label_source": "human",
      "reviews": [{"reviewer": "r", "action": "approve", "value": {"label": "refund"}}]},
     "unknown action 'approve'"),
    ("bad time", SINGLE,
     {"id": "b", "text": "t", "annotations": [{"reviewer": "x", "label": "refund",
                                               "time": "yesterday"}]}, "ISO 8601"),
    ("typo in a field name", SINGLE, {"id": "b", "text": "t", "lables": ["x"]},
     "did you mean 'labels'"),
    ("meta not an object", SINGLE, {"id": "b", "text": "t", "meta": [1]}, "'meta' is a JSON array"),
    ("duplicate id", SINGLE, {"id": "g1", "text": "again"}, "id 'g1' is also on line 1"),
    # what one store keeps and the other refuses, or what crashed Python's JSON: refused alike
    ("lone surrogate", SINGLE, {"id": "b", "text": "caf\ud800"},
     "'text' at character 3 holds a lone surrogate (\\ud800)"),
    ("lone surrogate in a meta key", SINGLE, {"id": "b", "text": "t", "meta": {"\udfff": 1}},
     "the name of field 'meta.\\udfff'"),
    ("NUL in text", SINGLE, {"id": "b", "text": "a\x00b"}, "holds a NUL character"),
    ("NUL in a reviewer", SINGLE,
     {"id": "b", "text": "t", "annotations": [{"reviewer": "x\x00", "label": "refund"}]},
     "'annotations[0].reviewer' at character 1 holds a NUL character"),
    ("NaN in meta", SINGLE, {"id": "b", "text": "t", "meta": {"k": float("nan")}},
     "'meta.k' is NaN (JSON has no NaN or Infinity; "),
    ("Infinity in an extra field", SINGLE, {"id": "b", "text": "t", "n": float("inf")},
     "'n' is Infinity"),
    ("a number too large for a float", SINGLE, '{"id": "b", "text": "t", "meta": {"k": 1e999}}',
     "'meta.k' is Infinity"),
    ("5,000-digit id", SINGLE, '{"id": ' + "9" * 5000 + ', "text": "t"}',
     "a number has more than 4,300 digits; write long numbers as strings"),
    ("1 MB id", SINGLE, {"id": "i" * 1_000_000, "text": "t"},
     "'id' has 1,000,000 characters, over the limit of 256"),
    ("65 levels of nesting", SINGLE, {"id": "b", "text": "t", "meta": {"k": nest(63)}},
     "...' is nested more than 64 levels deep; flatten it"),
    ("100,000 levels of nesting", SINGLE,
     '{"id": "b", "text": "t", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}",
     "nested more than 64 levels deep; flatten it"),
]  # fmt: skip


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    """A store with one earlier import, so 'unchanged' is a real check."""
    import_file(
        store,
        SINGLE,
        jsonl(tmp_path, "seed.jsonl", {"id": "s0", "text": "seed", "label": "refund"}),
    )
    return store


def assert_refused(store: Store, g: Guideline, path: Path, line: int, fragment: str, **kw):
    before = counts(store)
    with pytest.raises(ImportFileError) as info:
        import_file(store, g, path, **kw)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message
    assert "\n" not in message and ";" in message, message  # one line: what; how to fix
    assert counts(store) == before
    return info.value


@pytest.mark.parametrize(("case", "g", "bad", "fragment"), BAD_ROWS, ids=[c[0] for c in BAD_ROWS])
def test_bad_row_refuses_the_file(seeded: Store, tmp_path: Path, case, g, bad, fragment) -> None:
    first = GOOD if g.unit == "text" else {"id": "g1", "messages": CONV}
    path = jsonl(tmp_path, "in.jsonl", first, bad, {"id": "g3", "text": "after"})
    assert_refused(seeded, g, path, 2, fragment)


def test_64_levels_of_nesting_and_a_256_character_id_are_kept(store: Store, tmp_path) -> None:
    row = {"id": "é" * 256, "text": "t", "meta": {"k": nest(62), "big": 10**30, "f": -0.0}}
    assert import_file(store, SINGLE, jsonl(tmp_path, "edge.jsonl", row)).items_added == 1
    assert store.get_item("é" * 256).meta == row["meta"]


def test_a_file_name_that_is_not_utf8_imports(store: Store, tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.jsonl")  # Latin-1 bytes: Python names them by surrogates
    path = jsonl(tmp_path, name, {"id": "n1", "text": "t", "label": "refund"})
    assert import_file(store, SINGLE, path).reviews_added == 1
    [review] = reviews(store)
    assert review.reviewer == "caf\ufffd" and store.imports()[-1].path.endswith("caf\ufffd.jsonl")


def test_bad_encoding_refuses_the_file(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "1", "text": "ok"}\n{"id": "2", "text": "caf\xe9"}\n')
    assert_refused(seeded, SINGLE, path, 2, "re-save the file as UTF-8")


def test_duplicate_id_in_a_later_batch_rolls_back_earlier_batches(
    seeded: Store, tmp_path: Path
) -> None:
    rows = [{"id": f"r{i}", "text": f"t{i}"} for i in range(7)] + [{"id": "r1", "text": "t1"}]
    path = jsonl(tmp_path, "dup.jsonl", *rows)
    assert_refused(seeded, SINGLE, path, 8, "id 'r1' is also on line 2", batch_size=3)
    # the refused import left nothing behind that blocks the next one
    assert import_file(seeded, SINGLE, jsonl(tmp_path, "ok.jsonl", *rows[:7])).items_added == 7


def test_errors_come_in_file_order_across_a_batch(seeded: Store, tmp_path: Path) -> None:
    rows = [GOOD, {"id": "g1", "text": "dup"}, {"id": "x", "text": "t", "label": "nope"}]
    path = jsonl(tmp_path, "order.jsonl", *rows)
    assert_refused(seeded, SINGLE, path, 2, "also on line 1")


def test_same_id_different_text_in_store(seeded: Store, tmp_path: Path) -> None:
    path = jsonl(tmp_path, "changed.jsonl", GOOD, {"id": "s0", "text": "not the seed"})
    assert_refused(seeded, SINGLE, path, 2, "already in the project with a different text")


def test_unknown_format_refuses(seeded: Store) -> None:
    before = counts(seeded)
    with pytest.raises(ImportFileError, match="jsonl, csv, parquet, labelstudio"):
        import_file(seeded, SINGLE, FIXTURES / "intents.jsonl", fmt="xml")
    assert counts(seeded) == before


def test_csv_error_names_the_line(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text('id,text,label\n1,ok,refund\n2,"two\nlines",nope\n', encoding="utf-8")
    assert_refused(seeded, SINGLE, path, 3, "unknown label 'nope'")


def test_labelstudio_error_names_the_task(seeded: Store, tmp_path: Path) -> None:
    tasks = [
        {"id": 1, "data": {"text": "a"}},
        {
            "id": 2,
            "data": {"text": "b"},
            "annotations": [
                {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": ["x"]}}]}
            ],
        },
    ]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    err = assert_refused(seeded, SINGLE, path, 2, "task 2: unknown label 'x'")
    assert err.line == 2


# -- limits and empty files ------------------------------------------------------------------


def test_an_item_over_max_item_chars_refuses_the_file(seeded: Store, tmp_path: Path) -> None:
    at_limit = {"id": "at", "text": "x" * MAX_ITEM_CHARS}
    over = {"id": "over", "text": "y" * (MAX_ITEM_CHARS + 1)}
    err = assert_refused(seeded, SINGLE, jsonl(tmp_path, "big.jsonl", at_limit, over), 2, "")
    assert err.detail == (
        "item 'over' has 100,001 characters of text, over the limit of 100,000 "
        "(max_item_chars); split it into smaller items, or raise max_item_chars in "
        "labelloop.toml"
    )
    result = import_file(seeded, SINGLE, jsonl(tmp_path, "ok.jsonl", at_limit))
    assert result.items_added == 1 and len(seeded.get_item("at").text) == MAX_ITEM_CHARS


def test_a_conversation_counts_the_characters_of_all_its_messages(
    seeded: Store, tmp_path: Path
) -> None:
    msgs = [{"role": "user", "content": "a" * 6}, {"role": "assistant", "content": "b" * 5}]
    row = {"id": "c", "messages": msgs}
    path = jsonl(tmp_path, "conv.jsonl", row)
    g = guideline(unit="conversation")
    fragment = "11 characters of messages, over the limit of 10"
    assert_refused(seeded, g, path, 1, fragment, max_item_chars=10)
    assert import_file(seeded, g, path, max_item_chars=11).items_added == 1


LIMITED_FILES = [
    # (format, file name, content (None: Parquet), the line or number the message names)
    ("csv", "big.csv", "id,text\n1,short\n2,this text is too long\n", 3),
    ("labelstudio", "big.json",
     json.dumps([{"data": {"text": "short"}, "id": 1},
                 {"data": {"text": "this text is too long"}, "id": 2}]), 2),
    ("parquet", "big.parquet", None, 2),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "name", "content", "line"), LIMITED_FILES)
def test_the_limit_holds_in_every_format(
    seeded: Store, tmp_path: Path, fmt, name, content, line
) -> None:
    path = tmp_path / name
    if content is None:
        rows = {"id": ["1", "2"], "text": ["short", "this text is too long"]}
        pq.write_table(pa.table(rows), path)
    else:
        path.write_text(content, encoding="utf-8")
    fragment = "item '2' has 21 characters of text, over the limit of 10"
    assert_refused(seeded, SINGLE, path, line, fragment, max_item_chars=10)


def _empty_parquet(path: Path) -> None:
    pq.write_table(
        pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}), path
    )


EMPTY_FILES = [
    ("zero bytes", "empty.jsonl", b"", "one JSON object a line"),
    ("blank lines", "blank.jsonl", b"\n  \n\n", "one JSON object a line"),
    ("empty JSON array", "empty.json", b"[]", "a JSON array of tasks"),
    ("CSV header only", "header.csv", b"id,text,label\n", "a header line"),
    ("CSV zero bytes", "empty.csv", b"", "a header line"),
    ("Parquet without rows", "empty.parquet", None, "one row per item"),
]


@pytest.mark.parametrize(
    ("case", "name", "content", "hint"), EMPTY_FILES, ids=[c[0] for c in EMPTY_FILES]
)
def test_a_file_without_rows_is_refused_and_records_nothing(
    seeded: Store, tmp_path: Path, case, name, content, hint
) -> None:
    path = tmp_path / name
    if content is None:
        _empty_parquet(path)
    else:
        path.write_bytes(content)
    before = counts(seeded)
    with pytest.raises(ImportFileError) as info:
        import_file(seeded, SINGLE, path)
    assert str(info.value).startswith(f"{path}: no rows to import; the file must hold "), info.value
    assert hint in str(info.value)
    assert counts(seeded) == before  # no items, no reviews, no import recorded


# -- labels written on messages ----------------------------------------------------------------

TURNS = guideline(unit="turn")
DIALOGUE = [
    {"role": "system", "content": "You are a bank's assistant."},
    {"role": "user", "content": "Where is my card?"},
    {"role": "assistant", "content": "It was sent on Monday."},
    {"role": "user", "content": "I want my money back."},
]


def labeled(dialogue: list[dict], **labels: str) -> list[dict]:
    """The dialogue with ``label`` set on the messages named by index (``m1="refund"``)."""
    return [
        {**m, "label": labels[f"m{i}"]} if f"m{i}" in labels else m for i, m in enumerate(dialogue)
    ]


def test_labels_on_every_user_message_become_the_turns_review(store: Store, tmp_path: Path) -> None:
    msgs = labeled(DIALOGUE, m1="card_arrival", m3="refund")
    path = jsonl(tmp_path, "ann.jsonl", {"id": "d", "messages": msgs})
    result = import_file(store, TURNS, path)
    assert result.reviews_added == 1
    [review] = reviews(store)
    assert review.value == LabelValue(turns={1: "card_arrival", 3: "refund"})
    assert review.reviewer == "ann"


MESSAGE_LABEL_ROWS = [
    # (case, guideline, the bad row (line 2), what the message says)
    ("only some user messages", TURNS, {"id": "b", "messages": labeled(DIALOGUE, m3="refund")},
     "only 1 of the 2 user messages have a 'label' (message 1 has none)"),
    ("label on an assistant message", TURNS,
     {"id": "b", "messages": labeled(DIALOGUE, m1="refund", m2="refund", m3="refund")},
     "message 2 (assistant) has a 'label', but only user messages are labeled"),
    ("unknown label on a message", TURNS,
     {"id": "b", "messages": labeled(DIALOGUE, m1="refund", m3="spam?")},
     "message 3: unknown label 'spam?'"),
    ("labels on a message", TURNS,
     {"id": "b", "messages": [{**DIALOGUE[1], "labels": ["refund"]}]},
     "message 0 has 'labels'; task 'support-intent' (unit: turn) takes one 'label'"),
    ("turns and message labels", TURNS,
     {"id": "b", "messages": labeled(DIALOGUE, m1="refund", m3="refund"), "turns": {"1": "refund"}},
     "the row has both 'turns' and labels on its messages; keep one"),
    ("message label, whole conversation", guideline(unit="conversation"),
     {"id": "b", "messages": labeled(DIALOGUE, m3="refund")},
     "message 3 has 'label', but task 'support-intent' labels whole conversations "
     "(unit: conversation); put the label on the row instead: \"label\": \"NAME\""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "g", "bad", "fragment"), MESSAGE_LABEL_ROWS, ids=[c[0] for c in MESSAGE_LABEL_ROWS]
)
def test_a_label_on_a_message_is_never_dropped_silently(
    seeded: Store, tmp_path: Path, case, g, bad, fragment
) -> None:
    path = jsonl(tmp_path, "in.jsonl", {"id": "g1", "messages": DIALOGUE}, bad)
    assert_refused(seeded, g, path, 2, fragment)


def test_the_turns_example_names_this_rows_user_messages(seeded: Store, tmp_path: Path) -> None:
    row = {"id": "d", "messages": DIALOGUE, "label": "refund"}  # no target_turn
    err = assert_refused(seeded, TURNS, jsonl(tmp_path, "t.jsonl", row), 1, "target_turn")
    assert '"turns": {"1": "NAME", "3": "NAME"}' in err.detail
    # what the message suggests imports
    fixed = {"id": "d", "messages": DIALOGUE, "turns": {"1": "refund", "3": "refund"}}
    assert import_file(seeded, TURNS, jsonl(tmp_path, "f.jsonl", fixed)).reviews_added == 1


def test_the_default_turns_example_is_a_user_message(seeded: Store, tmp_path: Path) -> None:
    row = {"id": "c", "messages": CONV, "turns": []}  # CONV: user, then assistant
    err = assert_refused(seeded, TURNS, jsonl(tmp_path, "t.jsonl", row), 1, "not an object")
    assert '{"0": "NAME"}' in err.detail
    wrong = {"id": "c", "messages": CONV, "turns": {"1": "refund"}}
    err = assert_refused(seeded, TURNS, jsonl(tmp_path, "w.jsonl", wrong), 1, "(here: 0)")


# -- PostgreSQL (bulk COPY path) -------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_import_rules(tmp_path: Path) -> None:
    from tests.support.services import postgres_database

    with postgres_database() as url:
        pg = Store.open(url)
        try:
            first = import_file(pg, SINGLE, FIXTURES / "export.jsonl", batch_size=2)
            assert (first.items_added, first.reviews_added) == (3, 2)
            fix, reject = reviews(pg)
            assert fix.value == LabelValue(label="lost_or_stolen_card") and reject.value is None
            again = import_file(pg, SINGLE, FIXTURES / "export.jsonl")
            assert (again.items_added, again.reviews_added) == (0, 0)
            rows = [{"id": f"r{i}", "text": f"t{i}"} for i in range(5)] + [
                {"id": "r0", "text": "x"}
            ]
            assert_refused(
                pg, SINGLE, jsonl(tmp_path, "dup.jsonl", *rows), 6, "also on line 1", batch_size=2
            )
            changed = jsonl(tmp_path, "changed.jsonl", {"id": "e1", "text": "other"})
            assert_refused(pg, SINGLE, changed, 1, "different text")
            second = jsonl(
                tmp_path,
                "ann2.jsonl",
                {"id": "e3", "text": "I want my money back for this order.", "label": "refund"},
            )
            assert import_file(pg, SINGLE, second).reviews_added == 1
            changed_answer_is_a_new_review(pg, tmp_path)
        finally:
            pg.close()
