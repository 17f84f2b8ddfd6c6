"""A guideline that asks several questions in every export format: answers and their sources
keyed by question, one column or control per question, and a file that imports back into a
fresh project with the same items and the same reviews. An answer the routing step
auto-accepted is the model's ("model") and never comes back as a person's review."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labelloop.api import export_items
from labelloop.core.errors import LabelloopError
from labelloop.core.guideline import parse_guideline
from labelloop.core.questions import final_answers
from labelloop.core.types import LabelValue, RouteDecision, Span, Suggestion
from labelloop.export.conll import read_conll
from labelloop.loop import import_file
from labelloop.project import Project, init_project
from labelloop.route.state import routing_model
from tests.unit.ingest.test_questions_rows import CHAT, TEXT

GUIDELINES = {"text": TEXT, "chat": CHAT}
CITY = Span(start=22, end=27, label="CITY")
TEXT_ROWS = [
    {
        "id": "t1",
        "text": "They should all leave Paris",
        "meta": {"source": "forum"},
        "annotations": [
            {
                "reviewer": "ann",
                "labels": {
                    "category": "hate_speech",
                    "unanimous": "no",
                    "places": [{"start": 22, "end": 27, "label": "CITY"}],
                },
            },
            {"reviewer": "Bo Li", "labels": {"category": "hate_speech", "topics": ["shipping"]}},
        ],
    },
    {
        "id": "t2",
        "text": "Refund my order from Berlin",
        "labels": {"category": "neither", "unanimous": "yes", "topics": ["billing", "shipping"]},
    },
    # answered by the model alone
    {"id": "t3", "text": "Nice weather today"},
    # one question answered by a person, the others by the model
    {"id": "t4", "text": "=Send it to Rome", "labels": {"category": "neither"}},
]
TEXT_MODEL = {
    "t3": LabelValue(
        answers={
            "category": LabelValue(label="neither"),
            "unanimous": LabelValue(label="yes"),
            "places": LabelValue(spans=()),
        }
    ),
    "t4": LabelValue(
        answers={
            "category": LabelValue(label="offensive_language"),
            "unanimous": LabelValue(label="no"),
            "places": LabelValue(spans=(Span(start=12, end=16, label="CITY"),)),
        }
    ),
}
MESSAGES = [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "On its way."},
    {"role": "user", "content": "Thanks!"},
]
REPLIES = [{"id": "a", "content": "Glad to help.", "model": "m1"}, {"id": "b", "content": "Bye."}]
CHAT_ROWS = [
    {
        "id": "c1",
        "messages": MESSAGES,
        "replies": REPLIES,
        "annotations": [
            {
                "reviewer": "ann",
                "labels": {
                    "intent": {"0": "ask", "2": "thank"},
                    "better": "tie",
                    "score": {"a": 3, "b": 1},
                    "order": ["b", "a"],
                },
            }
        ],
    },
    {"id": "c2", "messages": MESSAGES[:1], "replies": REPLIES, "labels": {"better": "a"}},
    {"id": "c3", "messages": MESSAGES, "replies": REPLIES},
]
CHAT_MODEL = {
    "c3": LabelValue(
        answers={
            "intent": LabelValue(turns={0: "ask", 2: "ask"}),
            "better": LabelValue(label="b"),
            "score": LabelValue(ratings={"a": 2, "b": 2}),
        }
    )
}
#: the file each format writes, and the one its import reads
FILES = {
    "jsonl": ("out.jsonl", "out.jsonl"),
    "csv": ("out.csv", "out.csv"),
    "hf": ("out.hf", "out.hf/data.parquet"),
    "labelstudio": ("out.json", "out.json"),
}
CASES = [("text", fmt) for fmt in FILES] + [("chat", fmt) for fmt in ("jsonl", "csv", "hf")]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def new_project(root: Path, kind: str) -> Project:
    guideline = root.parent / f"{root.name}-{kind}.md"
    guideline.write_text(GUIDELINES[kind], encoding="utf-8")
    return init_project(root, guideline)


def seed(project: Project, rows: list[dict], model: dict[str, LabelValue], folder: Path) -> None:
    """Import ``rows`` (labels by "lead"), then the routing model's answers, auto-accepted."""
    import_file(project, write_jsonl(folder / "in.jsonl", rows), reviewer="lead")
    suggestions = [
        Suggestion(
            item_id=item_id,
            model=routing_model(project),
            value=value,
            confidence=0.97,
            signals={f"{q}.confidence": 0.97 for q in value.answers or {}},
        )
        for item_id, value in model.items()
    ]
    ids = project.store.add_suggestions(suggestions)
    project.store.set_routes(
        [
            RouteDecision(item_id=s.item_id, route="auto_accepted", reason="t", suggestion_id=i)
            for s, i in zip(suggestions, ids, strict=True)
        ]
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """A text project and a conversation project holding answers by people and the model."""
    root = tmp_path_factory.mktemp("sources")
    projects = {
        "text": new_project(root / "text", "text"),
        "chat": new_project(root / "chat", "chat"),
    }
    seed(projects["text"], TEXT_ROWS, TEXT_MODEL, root)
    seed(projects["chat"], CHAT_ROWS, CHAT_MODEL, root)
    yield projects
    for p in projects.values():
        p.store.close()


@pytest.fixture
def fresh(tmp_path: Path):
    opened: list[Project] = []

    def make(kind: str, name: str) -> Project:
        opened.append(new_project(tmp_path / name, kind))
        return opened[-1]

    yield make
    for p in opened:
        p.store.close()


def items(project: Project) -> dict[str, tuple]:
    return {
        i.id: (i.text, i.messages, i.target_turn, i.replies, i.meta)
        for i in project.store.iter_items()
    }


def reviews(project: Project) -> set[tuple[str, str, str]]:
    return {(r.item_id, r.reviewer, r.value.key()) for r in project.store.iter_reviews()}


def finals(project: Project) -> dict[str, tuple[dict, dict]]:
    g = project.guideline()
    return {r.item.id: final_answers(r, g) for r in project.store.iter_records(model=None)}


def human_answers(project: Project) -> dict[str, LabelValue]:
    """Per item, its final answers that people gave."""
    out = {}
    for item_id, (answers, sources) in finals(project).items():
        kept = {q: v for q, v in answers.items() if sources[q] != "model"}
        if kept:
            out[item_id] = LabelValue(answers=kept)
    return out


@pytest.mark.parametrize(("kind", "fmt"), CASES)
def test_every_format_imports_back_with_the_same_items_and_reviews(
    sources, fresh, tmp_path, kind, fmt
) -> None:
    src = sources[kind]
    out, read = FILES[fmt]
    rows = TEXT_ROWS if kind == "text" else CHAT_ROWS
    assert export_items(src, tmp_path / out, fmt) == len(rows)
    back = fresh(kind, f"back-{fmt}")
    result = import_file(back, tmp_path / read, reviewer="back")
    assert result.items_added == len(rows)
    assert items(back) == items(src)
    if fmt == "csv":  # a CSV row holds the final answers people gave, not who gave them
        expected = {(i, "back", v.key()) for i, v in human_answers(src).items()}
        assert reviews(back) == expected
    else:
        assert reviews(back) == reviews(src)
    model_only = "t3" if kind == "text" else "c3"
    assert all(item_id != model_only for item_id, _, _ in reviews(back))
    # the answers people gave stand again, each from its own question's reviews
    assert human_answers(back) == human_answers(src)


def test_jsonl_keys_answers_and_sources_by_question(sources, tmp_path) -> None:
    export_items(sources["text"], tmp_path / "out.jsonl", "jsonl")
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert rows["t1"]["labels"] == {
        "category": "hate_speech",
        "unanimous": "no",
        "topics": ["shipping"],
        "places": [{"start": 22, "end": 27, "label": "CITY"}],
    }
    assert rows["t1"]["reviews"][1]["value"] == {
        "answers": {"category": {"label": "hate_speech"}, "topics": {"labels": ["shipping"]}}
    }
    t4 = rows["t4"]
    assert t4["labels"] == {
        "category": "neither",
        "unanimous": "no",
        "places": [{"start": 12, "end": 16, "label": "CITY"}],
    }
    assert t4["label_source"] == {"category": "human", "unanimous": "model", "places": "model"}
    suggestion = t4["suggestion"]
    assert suggestion["labels"]["category"] == "offensive_language"
    assert "answers" not in suggestion
    assert suggestion["signals"] == {
        "category.confidence": 0.97,
        "unanimous.confidence": 0.97,
        "places.confidence": 0.97,
    }
    assert rows["t3"]["label_source"] == dict.fromkeys(("category", "unanimous", "places"), "model")
    assert rows["t3"]["reviews"] == []
    export_items(sources["chat"], tmp_path / "chat.jsonl", "jsonl")
    c1 = json.loads((tmp_path / "chat.jsonl").read_text().splitlines()[0])
    assert c1["labels"] == {
        "intent": {"0": "ask", "2": "thank"},
        "better": "tie",
        "score": {"a": 3, "b": 1},
        "order": ["b", "a"],
    }


def test_csv_has_a_column_per_question(sources, tmp_path) -> None:
    export_items(sources["text"], tmp_path / "out.csv", "csv")
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = {r["id"]: r for r in reader}
    assert reader.fieldnames[:6] == [
        "id",
        "text",
        "q:category",
        "q:unanimous",
        "q:topics",
        "q:places",
    ]
    assert "label" not in reader.fieldnames
    t1 = rows["t1"]
    assert (t1["q:category"], json.loads(t1["q:topics"])) == ("hate_speech", ["shipping"])
    assert json.loads(t1["q:places"]) == [{"start": 22, "end": 27, "label": "CITY"}]
    assert json.loads(rows["t4"]["label_source"]) == {
        "category": "human",
        "unanimous": "model",
        "places": "model",
    }
    assert rows["t4"]["text"] == "'=Send it to Rome"  # a formula, defused
    assert rows["t3"]["q:topics"] == "" and rows["t3"]["q:places"] == "[]"
    assert json.loads(rows["t1"]["meta"]) == {"source": "forum"}


def test_hf_has_a_typed_column_per_question(sources, tmp_path) -> None:
    export_items(sources["text"], tmp_path / "out.hf", "hf")
    table = pq.read_table(tmp_path / "out.hf" / "data.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["category"] == "string"
    assert types["topics"] == "list<element: string>"
    assert types["places"].startswith("list<element: struct<start: int64, end: int64")
    assert not {"label", "labels", "spans", "turns"} & set(types)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert json.loads(rows["t4"]["label_source"])["unanimous"] == "model"
    assert rows["t2"]["topics"] == ["billing", "shipping"]
    assert json.loads(rows["t4"]["suggestion"])["labels"]["category"] == "offensive_language"
    info = json.loads((tmp_path / "out.hf" / "dataset_info.json").read_text())
    assert info["questions"]["places"]["kind"] == "spans"

    export_items(sources["chat"], tmp_path / "chat.hf", "hf")
    table = pq.read_table(tmp_path / "chat.hf" / "data.parquet")
    types = {f.name: str(f.type) for f in table.schema}
    assert types["intent"] == "list<element: struct<turn: int64, label: string>>"
    assert (types["better"], types["score"], types["order"]) == ("string", "string", "string")
    c1 = table.to_pylist()[0]
    assert c1["intent"] == [{"turn": 0, "label": "ask"}, {"turn": 2, "label": "thank"}]
    assert (json.loads(c1["score"]), json.loads(c1["order"])) == ({"a": 3, "b": 1}, ["b", "a"])


def test_hf_refuses_a_question_named_like_a_column(fresh, tmp_path) -> None:
    project = fresh("text", "named")
    from labelloop.core.errors import GuidelineError
    from labelloop.export.writer import export

    with pytest.raises(GuidelineError, match="'route' is also a field"):  # the file, first
        parse_guideline(TEXT.replace("  unanimous:", "  route:"), "g.md")
    good = parse_guideline(TEXT, "g.md")
    q = good.questions[1].model_copy(update={"name": "route"})  # a guideline built by hand
    named = good.model_copy(update={"questions": (good.questions[0], q, *good.questions[2:])})
    with pytest.raises(LabelloopError, match="question 'route' has the name of a column"):
        export(project.store, tmp_path / "x.hf", "hf", guideline=named)


def test_labelstudio_has_a_control_per_question(sources, tmp_path) -> None:
    export_items(sources["text"], tmp_path / "out.json", "labelstudio")
    config = (tmp_path / "out.config.xml").read_text()
    assert '<Choices name="category" toName="text" choice="single">' in config
    assert '<Choices name="topics" toName="text" choice="multiple">' in config
    assert '<Labels name="places" toName="text">' in config
    assert "required" not in config
    tasks = {t["data"]["id"]: t for t in json.loads((tmp_path / "out.json").read_text())}
    names = {r["from_name"] for a in tasks["t1"]["annotations"] for r in a["result"]}
    assert names == {"category", "unanimous", "topics", "places"}
    [prediction] = tasks["t3"]["predictions"]
    assert {r["from_name"] for r in prediction["result"]} == {"category", "unanimous"}
    assert tasks["t3"]["annotations"] == []


def test_labelstudio_refuses_what_its_tags_cannot_hold(sources, tmp_path) -> None:
    with pytest.raises(LabelloopError, match="cannot hold question 'intent'.*--format jsonl"):
        export_items(sources["chat"], tmp_path / "out.json", "labelstudio")
    assert not (tmp_path / "out.json").exists()


def test_conll_writes_a_file_per_span_question(sources, tmp_path) -> None:
    written = export_items(sources["text"], tmp_path / "out.conll", "conll")
    assert not (tmp_path / "out.conll").exists()
    got = {r["id"]: r for r in read_conll(tmp_path / "out.places.conll")}
    assert got["t1"]["spans"] == [{"start": 22, "end": 27, "label": "CITY"}]
    assert got["t1"]["label_source"] == "human"
    assert "t2" not in got  # no final places answer: left out, not written as "no spans"
    assert written == len(got) < len(TEXT_ROWS)
    assert got["t4"]["label_source"] == "model"
    assert got["t4"]["spans"] == [{"start": 12, "end": 16, "label": "CITY"}]
    with pytest.raises(LabelloopError, match="conll export needs a span question"):
        export_items(sources["chat"], tmp_path / "chat.conll", "conll")


def test_blind_exports_leave_every_question_empty(sources, tmp_path) -> None:
    from labelloop.export.writer import blind_csv_columns, blind_row

    g = sources["text"].guideline()
    [record] = [r for r in sources["text"].store.iter_records(model=None) if r.item.id == "t1"]
    assert blind_row(record, g)["labels"] == dict.fromkeys(g.question_names)
    assert blind_csv_columns(g)[-4:] == ["q:category", "q:unanimous", "q:topics", "q:places"]
