"""Readers: each format streams (number, row) with the number a user finds in an editor."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labelloop.core.errors import ImportFileError
from labelloop.ingest import readers
from labelloop.ingest.readers import (
    detect_format,
    read_csv,
    read_jsonl,
    read_labelstudio,
    read_parquet,
)
from tests.support.paths import FIXTURES

FIXTURES = FIXTURES / "import"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def fails(fn, path: Path, *fragments: str) -> ImportFileError:
    """Run a reader to the end; assert it fails naming the file and the fragments."""
    with pytest.raises(ImportFileError) as info:
        list(fn(path))
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    return info.value


# -- detect_format --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.jsonl", "jsonl"),
        ("a.NDJSON", "jsonl"),
        ("a.csv", "csv"),
        ("a.parquet", "parquet"),
        ("a.json", "labelstudio"),
    ],
)
def test_detect_format_by_extension(name: str, fmt: str) -> None:
    assert detect_format(name) == fmt


def test_detect_format_explicit_wins_and_accepts_aliases() -> None:
    assert detect_format("data.txt", "csv") == "csv"
    assert detect_format("data.txt", "ndjson") == "jsonl"
    assert detect_format("data.txt", "json") == "labelstudio"


def test_unknown_format_lists_valid_ones() -> None:
    with pytest.raises(ImportFileError) as info:
        detect_format("data.jsonl", "xml")
    assert "unknown format 'xml'" in str(info.value)
    assert "jsonl, csv, parquet, labelstudio" in str(info.value)


def test_unknown_extension_says_to_pass_format() -> None:
    with pytest.raises(ImportFileError) as info:
        detect_format("data.txt")
    assert str(info.value).startswith("data.txt:")
    assert "--format" in str(info.value) and "'.txt'" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="file not found"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


# -- JSON Lines -----------------------------------------------------------------------------


def test_jsonl_numbers_are_physical_lines() -> None:
    rows = list(read_jsonl(FIXTURES / "intents.jsonl"))
    assert [n for n, _ in rows] == [1, 2, 4]  # line 3 is blank
    assert rows[2][1] == {
        "id": 3,
        "text": "I want my money back for this order.",
        "label": "refund",
    }


def test_jsonl_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.jsonl", '\ufeff{"id": "1", "text": "x"}\n')
    assert list(read_jsonl(path)) == [(1, {"id": "1", "text": "x"})]


def test_jsonl_malformed_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"id": "1", "text": "a"}\n{"id": "2", "text": }\n')
    err = fails(read_jsonl, path, f"{path}:2:", "not valid JSON", "one JSON object")
    assert err.line == 2


def test_jsonl_row_that_is_not_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.jsonl", '{"id": "1", "text": "a"}\n["2", "b"]\n')
    fails(read_jsonl, path, f"{path}:2:", "a JSON array is not a row")


def test_jsonl_given_a_json_array_suggests_labelstudio(tmp_path: Path) -> None:
    path = write(tmp_path, "array.jsonl", '[\n  {"id": "1", "text": "a"}\n]\n')
    fails(read_jsonl, path, f"{path}:1:", "--format labelstudio")


def test_jsonl_bad_utf8_names_line_and_byte(tmp_path: Path) -> None:
    first = b'{"id": "1", "text": "ok"}\n'
    path = write(tmp_path, "latin1.jsonl", first + b'{"id": "2", "text": "caf\xe9"}\n')
    offset = len(first) + len(b'{"id": "2", "text": "caf')
    err = fails(
        read_jsonl, path, f"{path}:2:", "not UTF-8", f"offset {offset}", "re-save the file as UTF-8"
    )
    assert err.line == 2


# -- CSV ------------------------------------------------------------------------------------


def test_csv_numbers_are_the_line_a_record_starts_on() -> None:
    rows = list(read_csv(FIXTURES / "intents.csv"))
    assert [n for n, _ in rows] == [2, 3, 6]  # header is line 1; a2 spans lines 3-4; 5 blank
    first, second, third = (r for _, r in rows)
    assert first == {
        "id": "a1",
        "text": "Where is my new card? Still waiting.",
        "label": "card_arrival",
        "meta": {"channel": "email"},
    }
    assert second["text"] == "Someone stole my wallet,\nwith the card in it."
    assert "label" not in second  # an empty cell is no label
    assert third == {"id": "3", "text": "I want my money back for this order.", "label": "refund"}


def test_csv_labels_column_as_json_or_pipes(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", 'id,text,labels\n1,a,"[""x"", ""y""]"\n2,b,x| y\n')
    assert [r["labels"] for _, r in read_csv(path)] == [["x", "y"], ["x", "y"]]


def test_csv_extra_columns_and_json_columns(tmp_path: Path) -> None:
    content = 'id,text,source,spans\n1,abc,web,"[{""start"": 0, ""end"": 1, ""label"": ""x""}]"\n'
    path = write(tmp_path, "x.csv", content)
    [(_, row)] = list(read_csv(path))
    assert row["source"] == "web"
    assert row["spans"] == [{"start": 0, "end": 1, "label": "x"}]


def test_csv_header_without_id(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", "1,hello\n2,bye\n")
    fails(read_csv, path, f"{path}:1:", "no 'id' column", "id,text,label")


def test_csv_row_with_too_many_fields(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", "id,text\n1,hello\n2,hello, world\n")
    fails(read_csv, path, f"{path}:3:", "3 fields", "double quotes")


def test_csv_unclosed_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", 'id,text\n1,hello\n2,"never closed\n3,x\n')
    fails(read_csv, path, f"{path}:3:", "broken CSV")


def test_csv_bad_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "l.csv", b"id,text\n1,ok\n2,caf\xe9\n")
    fails(read_csv, path, f"{path}:3:", "not UTF-8", "re-save the file as UTF-8")


def test_a_csv_header_of_100000_columns_is_refused_at_once(tmp_path: Path) -> None:
    header = ",".join(["id", "text", *(f"c{i}" for i in range(100_000))])
    path = write(tmp_path, "wide.csv", header + "\n1,hello\n")
    started = time.perf_counter()
    fails(read_csv, path, f"{path}:1:", "100,002 columns, over the limit of 1,000", "'meta'")
    assert time.perf_counter() - started < 5  # checking each name against all took minutes


def test_a_duplicate_among_many_columns_is_found(tmp_path: Path) -> None:
    names = ["id", "text", *(f"c{i}" for i in range(997)), "c5"]
    path = write(tmp_path, "dup.csv", ",".join(names) + "\n1,hello\n")
    fails(read_csv, path, f"{path}:1:", "names column 'c5' twice")
    ok = write(tmp_path, "ok.csv", ",".join(names[:-1]) + "\n1,hello\n")
    assert list(read_csv(ok)) == [(2, {"id": "1", "text": "hello"})]


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("'=1+2", "=1+2"),
        ("'-3", "-3"),
        ("'\t@x", "\t@x"),
        ("''=x", "'=x"),
        ("'quoted'", "'quoted'"),
    ],
)
def test_csv_takes_off_the_quote_before_a_formula(tmp_path: Path, written, value) -> None:
    path = write(tmp_path, "f.csv", f'id,text,label\n"{written}","{written}",{written}\n')
    [(_, row)] = read_csv(path)
    assert row["id"] == row["text"] == value
    assert row["label"] == value.strip()


@settings(max_examples=60)
@given(st.text())
def test_a_defused_csv_cell_reads_back_as_written(value: str) -> None:
    cell = readers.csv_cell(value)
    assert not cell.startswith(readers.FORMULA_START)
    assert readers.csv_value(cell) == value


def test_csv_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", "\ufeffid,text\n1,x\n")
    assert list(read_csv(path)) == [(2, {"id": "1", "text": "x"})]


# -- Parquet --------------------------------------------------------------------------------


def test_parquet_rows_numbered_from_one_across_batches(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(5)],
            "text": [f"text {i}" for i in range(5)],
            "label": ["x", None, "y", None, None],
            "meta.lang": ["en"] * 5,
            "at": [datetime(2024, 5, 1, tzinfo=UTC)] * 5,
        }
    )
    pq.write_table(table, path)
    rows = list(read_parquet(path, batch_size=2))
    assert [n for n, _ in rows] == [1, 2, 3, 4, 5]
    assert rows[0][1] == {
        "id": "r0",
        "text": "text 0",
        "label": "x",
        "at": "2024-05-01T00:00:00+00:00",
        "meta": {"lang": "en"},
    }
    assert "label" not in rows[1][1]  # null is absent


def test_parquet_messages_column(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    msgs = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
    pq.write_table(pa.table({"id": ["c1"], "messages": msgs, "target_turn": [0]}), path)
    [(n, row)] = list(read_parquet(path))
    assert n == 1 and row["messages"][1] == {"role": "assistant", "content": "hello"}


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.parquet", "id,text\n1,a\n")
    with pytest.raises(ImportFileError, match="not a Parquet file"):
        list(read_parquet(path))


# -- Label Studio ---------------------------------------------------------------------------


def test_labelstudio_tasks_become_rows_with_annotations() -> None:
    rows = list(read_labelstudio(FIXTURES / "labelstudio.json"))
    assert [n for n, _ in rows] == [1, 2]
    first = rows[0][1]
    assert first["id"] == 101 and first["meta"] == {"source": "email"}
    assert first["annotations"] == [
        {
            "reviewer": "ls-user-7",
            "choices": ["card_arrival"],
            "time": "2024-05-01T10:05:00.000000Z",
        },
        {"reviewer": "bo@example.com", "choices": ["lost_or_stolen_card"]},
    ]  # the cancelled annotation and the predictions are gone
    assert rows[1][1] == {"id": "t2", "text": "I want my money back for this order."}


def test_labelstudio_span_results(tmp_path: Path) -> None:
    task = {
        "id": 1,
        "data": {"sentence": "Lost my card in Paris"},
        "annotations": [
            {
                "completed_by": "ann",
                "result": [
                    {"type": "labels", "value": {"start": 16, "end": 21, "labels": ["CITY"]}}
                ],
            }
        ],
    }
    path = write(tmp_path, "spans.json", json.dumps([task]))
    [(_, row)] = list(read_labelstudio(path))
    assert row["text"] == "Lost my card in Paris"  # the only string field of data
    assert row["annotations"] == [
        {"reviewer": "ann", "spans": [{"start": 16, "end": 21, "label": "CITY"}]}
    ]


def test_labelstudio_empty_results_and_reviewer_emails(tmp_path: Path) -> None:
    textarea = {"type": "textarea", "value": {"text": ["a note"]}}
    annotations = [
        {"completed_by": {"id": 2, "email": "rita@labelloop.invalid"}, "result": []},
        {"completed_by": {"email": "%42o%20%4ci@LABELLOOP.invalid"}, "result": []},
        {"completed_by": 5, "result": [textarea]},  # no label decision: not a review
        {"completed_by": 6, "result": [{"type": "choices", "value": {"choices": []}}]},
        {"completed_by": {"email": "bo@example.com"}, "result": [], "was_cancelled": True},
    ]
    task = {"data": {"text": "Lost my card"}, "annotations": annotations}
    [(_, row)] = list(read_labelstudio(write(tmp_path, "e.json", json.dumps([task]))))
    assert row["annotations"] == [
        {"reviewer": "rita", "empty": True},
        {"reviewer": "Bo Li", "empty": True},
        {"reviewer": "ls-user-6", "empty": True},
    ]


def test_labelstudio_dialogue_becomes_messages(tmp_path: Path) -> None:
    task = {"id": 1, "data": {"dialogue": [{"author": "user", "text": "hi"}]}}
    path = write(tmp_path, "d.json", json.dumps([task]))
    [(_, row)] = list(read_labelstudio(path))
    assert row["messages"] == [{"role": "user", "content": "hi"}]


def test_labelstudio_streams_across_chunk_boundaries(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(readers, "CHUNK", 7)
    tasks = [{"id": i, "data": {"text": f"naïve text {i} " + "x" * (i * 5)}} for i in range(40)]
    path = write(tmp_path, "many.json", json.dumps(tasks, indent=2, ensure_ascii=False))
    rows = list(read_labelstudio(path))
    assert [n for n, _ in rows] == list(range(1, 41))
    assert [r["text"] for _, r in rows] == [t["data"]["text"] for t in tasks]


def test_labelstudio_single_task_object_and_plain_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "one.json", json.dumps({"id": 5, "data": {"text": "hi"}}))
    assert list(read_labelstudio(path)) == [(1, {"id": 5, "text": "hi"})]
    path = write(tmp_path, "plain.json", json.dumps([{"id": "a", "text": "b", "label": "c"}]))
    assert list(read_labelstudio(path)) == [(1, {"id": "a", "text": "b", "label": "c"})]


def test_labelstudio_empty_array(tmp_path: Path) -> None:
    assert list(read_labelstudio(write(tmp_path, "e.json", " [ ] "))) == []


def test_labelstudio_broken_json_names_the_task(tmp_path: Path) -> None:
    path = write(tmp_path, "b.json", '[{"id": 1, "data": {"text": "a"}},\n {"id": 2, "data": }]')
    err = fails(read_labelstudio, path, f"{path}:2:", "task 2:", "not valid JSON", "line 2")
    assert err.line == 2


def test_labelstudio_missing_comma(tmp_path: Path) -> None:
    path = write(tmp_path, "c.json", '[{"id": 1, "data": {"text": "a"}} {"id": 2}]')
    fails(read_labelstudio, path, f"{path}:1:", "task 1:", "expected ','")


def test_labelstudio_file_that_is_json_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "l.json", '{"id": "1", "text": "a"}\n{"id": "2", "text": "b"}\n')
    fails(read_labelstudio, path, "--format jsonl")


def test_labelstudio_data_without_a_text_field(tmp_path: Path) -> None:
    path = write(tmp_path, "n.json", json.dumps([{"id": 1, "data": {"a": "x", "b": "y"}}]))
    fails(read_labelstudio, path, f"{path}:1:", "task 1:", "name it 'text'")


def test_labelstudio_bad_utf8_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "u.json", b'[\n{"id": 1, "data": {"text": "caf\xe9"}}\n]')
    fails(read_labelstudio, path, f"{path}:2:", "not UTF-8", "re-save the file as UTF-8")


LS_SHAPES = [
    # (case, the task's annotations, what the error says)
    ("annotations an object", {"completed_by": 1, "result": []}, "'annotations' is a JSON object"),
    ("an annotation a string", ["refund"], "annotation 1 is a JSON string"),
    ("result an object", [{"result": {"value": {"choices": ["refund"]}}}],
     "annotation 1: 'result' is a JSON object"),
    ("a region without value", [{"result": [{"choices": ["refund"]}]}],
     "annotation 1, result 1 has no 'value' object"),
    ("choices a string", [{"result": [{"type": "choices", "value": {"choices": "refund"}}]}],
     "annotation 1, result 1: 'choices' is a JSON string"),
    ("labels a string",
     [{"result": [{"value": {"start": 0, "end": 1, "labels": "refund"}}]}],
     "annotation 1, result 1: 'labels' is a JSON string"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "annotations", "says"), LS_SHAPES, ids=[c[0] for c in LS_SHAPES])
def test_labelstudio_annotations_in_another_shape_are_an_error(
    tmp_path: Path, case, annotations, says
) -> None:
    tasks = [
        {"id": 1, "data": {"text": "a"}},
        {"id": 2, "data": {"text": "b"}, "annotations": annotations},
    ]
    path = write(tmp_path, "ls.json", json.dumps(tasks))
    err = fails(read_labelstudio, path, f"{path}:2: task 2: {says}", "; ")
    assert err.line == 2


def test_labelstudio_completions_and_relations(tmp_path: Path) -> None:
    """An export from before Label Studio 1.0 names annotations ``completions``; a relation
    between regions has no value and is no label."""
    result = [
        {"type": "choices", "value": {"choices": ["refund"]}},
        {"type": "relation", "from_id": "a", "to_id": "b", "direction": "right"},
    ]
    task = {"id": 1, "data": {"text": "a"}, "completions": [{"completed_by": 3, "result": result}]}
    [(_, row)] = read_labelstudio(write(tmp_path, "old.json", json.dumps([task])))
    assert row["annotations"] == [{"reviewer": "ls-user-3", "choices": ["refund"]}]
