"""Import rows of a guideline that asks several questions: answers keyed by question
(``"labels": {question: answer}``, each in the question's own import shape), partial
answers, annotations, a labelloop export's reviews, CSV ``q:NAME`` columns, Label Studio
controls named after questions, and errors that name the question and the fix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from labelloop.core.errors import ImportFileError
from labelloop.core.guideline import parse_guideline
from labelloop.core.types import LabelValue, Span
from labelloop.ingest.checks import RowError
from labelloop.ingest.importer import RowContext, parse_row, parse_rows
from labelloop.ingest.readers import read_rows

TEXT = """\
---
task: rubric
unit: text
questions:
  category: {kind: single, labels: [hate_speech, offensive_language, neither]}
  unanimous: {kind: single, labels: ["yes", "no"]}
  topics: {kind: multi, labels: [billing, shipping]}
  places: {kind: spans, labels: [CITY]}
---
# Rubric
Read the text.
"""
CHAT = """\
---
task: chat-rubric
unit: conversation
questions:
  intent: {kind: single, unit: turn, labels: [ask, thank]}
  better: {kind: pairwise, allow_tie: true}
  score: {kind: rating, labels: [1, 2, 3]}
  order: {kind: ranking}
---
# Chat rubric
Read the chat.
"""
SENTENCE = "They should all leave Paris"
MESSAGES = [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "On its way."},
    {"role": "user", "content": "Thanks!"},
]
REPLIES = [{"id": "a", "content": "Glad to help."}, {"id": "b", "content": "Bye."}]


def ctx(text: str = TEXT) -> RowContext:
    return RowContext.of(parse_guideline(text, "g.md"), "lead")


def values(raw: dict, text: str = TEXT) -> list[tuple[str, LabelValue | None]]:
    _, reviews = parse_row(raw, ctx(text))
    return [(r.reviewer, r.value) for r in reviews]


def answers(**kw) -> LabelValue:
    return LabelValue(answers=kw)


def refused(raw: dict, *parts: str, text: str = TEXT) -> str:
    with pytest.raises(RowError) as e:
        parse_row(raw, ctx(text))
    message = str(e.value)
    for part in parts:
        assert part in message, message
    return message


def text_row(**kw) -> dict:
    return {"id": "t1", "text": SENTENCE, **kw}


def chat_row(**kw) -> dict:
    return {"id": "c1", "messages": MESSAGES, "replies": REPLIES, **kw}


def test_each_answer_is_read_in_its_questions_own_shape() -> None:
    labels = {
        "category": "hate_speech",
        "unanimous": "no",
        "topics": ["shipping", "billing"],
        "places": [{"start": 22, "end": 27, "label": "CITY"}],
    }
    assert values(text_row(labels=labels)) == [
        (
            "lead",
            answers(
                category=LabelValue(label="hate_speech"),
                unanimous=LabelValue(label="no"),
                topics=LabelValue(labels=("shipping", "billing")),
                places=LabelValue(spans=(Span(start=22, end=27, label="CITY"),)),
            ),
        )
    ]


def test_turn_pairwise_rating_and_ranking_questions() -> None:
    labels = {
        "intent": {"0": "ask", "2": "thank"},
        "better": "tie",
        "score": {"a": 3, "b": 1},
        "order": ["b", "a"],
    }
    [(_, value)] = values(chat_row(labels=labels), CHAT)
    assert value == answers(
        intent=LabelValue(turns={0: "ask", 2: "thank"}),
        better=LabelValue(label="tie"),
        score=LabelValue(ratings={"a": 3, "b": 1}),
        order=LabelValue(ranking=("b", "a")),
    )
    # a turn question answered with one label labels the row's target turn
    [(_, value)] = values(chat_row(target_turn=2, labels={"intent": "thank"}), CHAT)
    assert value == answers(intent=LabelValue(turns={2: "thank"}))


def test_a_question_left_out_or_null_is_not_answered() -> None:
    assert values(text_row(labels={"unanimous": "yes"})) == [
        ("lead", answers(unanimous=LabelValue(label="yes")))
    ]
    assert values(text_row(labels={"category": None, "topics": []})) == [
        ("lead", answers(topics=LabelValue(labels=())))
    ]
    assert values(text_row(labels={"category": None})) == []
    assert values(text_row(labels={})) == []


def test_annotations_answer_some_questions_each() -> None:
    row = text_row(
        annotations=[
            {"reviewer": "ann", "labels": {"category": "neither", "unanimous": "yes"}},
            {"reviewer": "bo", "labels": {"places": []}, "time": "2024-05-01T10:00:00Z"},
        ]
    )
    assert values(row) == [
        ("ann", answers(category=LabelValue(label="neither"), unanimous=LabelValue(label="yes"))),
        ("bo", answers(places=LabelValue(spans=()))),
    ]
    refused(
        text_row(annotations=[{"reviewer": "ann", "labels": {"category": "nether"}}]),
        "question 'category': unknown label 'nether' (did you mean 'neither'?)",
    )
    message = refused(text_row(annotations=[{"reviewer": "ann"}]), "annotation 1 by 'ann'")
    assert '"labels": {"category": "NAME", "unanimous": "NAME", "topics": ["NAME", ...]' in message


def test_errors_name_the_question_and_the_fix() -> None:
    refused(
        text_row(labels={"category": "nether"}),
        "question 'category': unknown label 'nether' (did you mean 'neither'?)",
        "use one of hate_speech, offensive_language, neither",
    )
    refused(
        text_row(labels={"categroy": "neither"}),
        "unknown question 'categroy' (did you mean 'category'?) for task 'rubric'",
        "use one of category, unanimous, topics, places",
    )
    refused(
        text_row(labels={"topics": "billing"}),
        "question 'topics': the answer is a JSON string",
        '["NAME", ...] (kind: multi)',
    )
    refused(
        text_row(labels={"places": [{"start": 22, "end": 99, "label": "CITY"}]}),
        "question 'places': span 0 [22:99] does not lie within the text",
    )
    refused(chat_row(labels={"better": "c"}), "question 'better':", "reply", text=CHAT)
    refused(chat_row(labels={"intent": {"1": "ask"}}), "question 'intent':", "turn '1'", text=CHAT)


@pytest.mark.parametrize(
    ("key", "value"),
    [("label", "neither"), ("spans", []), ("turns", {"0": "x"}), ("ratings", {"a": 1})],
)
def test_a_value_not_keyed_by_question_is_refused(key: str, value) -> None:
    refused(
        text_row(**{key: value}),
        f"{key!r} does not fit task 'rubric', which asks several questions",
        'key each answer by its question: "labels": {"category": "NAME"',
    )


def test_labels_as_a_list_is_refused() -> None:
    refused(
        text_row(labels=["neither"]),
        "'labels' is a JSON array, but task 'rubric' asks several questions",
        "key each answer by its question",
    )


def test_a_labelloop_export_row_imports_its_reviews_never_the_models_answers() -> None:
    row = text_row(
        suggestion={"labels": {"category": "neither"}, "confidence": 0.9},
        route="auto_accepted",
        labels={"category": "hate_speech", "unanimous": "yes"},
        label_source={"category": "human", "unanimous": "model"},
        reviews=[
            {
                "reviewer": "ann",
                "action": "import",
                "value": {"answers": {"category": {"label": "hate_speech"}}},
                "time": "2024-05-01T10:00:00+00:00",
            }
        ],
    )
    assert values(row) == [("ann", answers(category=LabelValue(label="hate_speech")))]
    # without its reviews, only the answers people gave import (as the importer's)
    bare = {k: v for k, v in row.items() if k != "reviews"}
    assert values(bare) == [("lead", answers(category=LabelValue(label="hate_speech")))]
    assert values({**bare, "label_source": json.dumps(bare["label_source"])}) == values(bare)
    assert values({**bare, "label_source": {"category": "model", "unanimous": "model"}}) == []
    refused(
        {**row, "reviews": [{"reviewer": "ann", "value": {"answers": {"category": "x"}}}]},
        "question 'category': the answer is a JSON string",
        'write it as an object such as {"label": "NAME"}',
    )


def test_one_question_guidelines_still_refuse_answers_keyed_by_question() -> None:
    single = "---\ntask: t\nlabels: [a, b]\n---\n## Labels\n### a\nA.\n### b\nB.\n"
    refused(text_row(labels={"q": "a"}), "'labels' does not fit task 't'", text=single)


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def parsed(path: Path, text: str = TEXT) -> list[tuple[str, list]]:
    fmt = {".csv": "csv", ".json": "labelstudio", ".jsonl": "jsonl"}[path.suffix]
    g = parse_guideline(text, "g.md")
    rows = parse_rows(read_rows(path, fmt, by_question=True), g, path, fmt, "lead")
    return [(p.item.id, [(r.reviewer, r.value) for r in p.reviews]) for p in rows]


def test_csv_answer_columns_are_named_q_and_the_question(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        ["id", "text", "q:category", "q:topics", "q:places"],
        [
            [
                "t1",
                SENTENCE,
                "hate_speech",
                '["shipping"]',
                '[{"start": 22, "end": 27, "label": "CITY"}]',
            ],
            ["t2", "Send it", "", "[]", ""],
            ["t3", "Hello", "", "", ""],
        ],
    )
    assert parsed(path) == [
        (
            "t1",
            [
                (
                    "lead",
                    answers(
                        category=LabelValue(label="hate_speech"),
                        topics=LabelValue(labels=("shipping",)),
                        places=LabelValue(spans=(Span(start=22, end=27, label="CITY"),)),
                    ),
                )
            ],
        ),
        ("t2", [("lead", answers(topics=LabelValue(labels=())))]),
        ("t3", []),
    ]


def test_csv_answer_column_errors_name_the_line_and_question(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "bad.csv",
        ["id", "text", "q:category"],
        [["t1", "x", "neither"], ["t2", "y", "nether"]],
    )
    with pytest.raises(ImportFileError) as e:
        parsed(path)
    assert f"{path}:3: question 'category': unknown label 'nether'" in str(e.value)
    path = write_csv(tmp_path / "q.csv", ["id", "text", "q:kategory"], [["t1", "x", "neither"]])
    with pytest.raises(
        ImportFileError, match="unknown question 'kategory' .did you mean 'category'"
    ):
        parsed(path)
    path = write_csv(tmp_path / "j.csv", ["id", "text", "q:topics"], [["t1", "x", '["billing"']])
    with pytest.raises(ImportFileError, match="column 'q:topics' is not valid JSON"):
        parsed(path)
    both = write_csv(
        tmp_path / "both.csv", ["id", "text", "labels", "q:category"], [["t1", "x", "a", "neither"]]
    )
    with pytest.raises(ImportFileError, match="both 'labels' and the answer column 'q:category'"):
        parsed(both)


def test_label_studio_controls_answer_the_questions_they_are_named_after(tmp_path: Path) -> None:
    def region(name: str, value: dict, kind: str = "choices") -> dict:
        return {"from_name": name, "to_name": "text", "type": kind, "value": value}

    task = {
        "data": {"id": "t1", "text": SENTENCE},
        "annotations": [
            {
                "completed_by": {"email": "ann@labelloop.invalid"},
                "result": [
                    region("category", {"choices": ["hate_speech"]}),
                    region("places", {"start": 22, "end": 27, "labels": ["CITY"]}, "labels"),
                ],
            },
            {"completed_by": 3, "result": [region("topics", {"choices": ["billing"]})]},
            {"completed_by": 4, "result": []},  # nothing answered: no review
        ],
        "predictions": [{"result": [region("category", {"choices": ["neither"]})]}],
    }
    path = tmp_path / "ls.json"
    path.write_text(json.dumps([task]), encoding="utf-8")
    assert parsed(path) == [
        (
            "t1",
            [
                (
                    "ann",
                    answers(
                        category=LabelValue(label="hate_speech"),
                        places=LabelValue(spans=(Span(start=22, end=27, label="CITY"),)),
                    ),
                ),
                ("ls-user-3", answers(topics=LabelValue(labels=("billing",)))),
            ],
        )
    ]
    task["annotations"] = [{"completed_by": 3, "result": [region("label", {"choices": ["a"]})]}]
    path.write_text(json.dumps([task]), encoding="utf-8")
    with pytest.raises(ImportFileError, match="task 1: unknown question 'label'"):
        parsed(path)
