"""Judging tasks (pairwise, rating, ranking) in every export and import format: a project's
export imports back to the same items (replies, their ids and models) and the same answers;
blind exports hide the replies' models; Label Studio Pairwise and Ranker results import;
bad input names its line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from labelloop import api
from labelloop.core.errors import ImportFileError, LabelloopError
from labelloop.core.standing import final_label
from labelloop.core.types import LabelValue, RouteDecision, Suggestion
from labelloop.project import Project

GUIDELINES = {
    "pairwise": """---
task: reply-preference
kind: pairwise
allow_tie: true
---
# Which reply is better?
Pick the reply that follows the instruction more faithfully.
""",
    "rating": """---
task: reply-quality
kind: rating
labels: [1, 2, 3, 4, 5]
---
# How good is each reply?
Rate how well each reply follows the instruction.
""",
    "ranking": """---
task: reply-order
kind: ranking
---
# Order the replies
Put the reply that follows the instruction best first.
""",
}
MODELS = ("model-alpha", "model-beta", "model-gamma")


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def replies(*texts: str, models: bool = True) -> list[dict]:
    out = []
    for rid, text, model in zip("abc", texts, MODELS, strict=False):
        out.append({"id": rid, "content": text} | ({"model": model} if models else {}))
    return out


ROWS = {
    "pairwise": [
        {
            "id": "p1",
            "messages": ask("Name a fruit."),
            "replies": replies("Apple.", "Carrot."),
            "label": "a",
            "meta": {"source": "arena"},
        },
        # a reply a spreadsheet would take for a formula; a tie
        {
            "id": "p2",
            "messages": ask("Add 1 and 1."),
            "replies": replies("2", "=1+1"),
            "label": "tie",
        },
        # other reply ids, a reply given as messages, one without a model
        {
            "id": "p3",
            "messages": ask("Greet me."),
            "replies": [
                {"id": "x", "content": "Hi!", "model": "model-alpha"},
                {"id": "y", "messages": [{"role": "assistant", "content": "Hello, friend."}]},
            ],
            "label": "y",
        },
        {"id": "p4", "messages": ask("Say no."), "replies": replies("No.", "Yes.")},
    ],
    "rating": [
        {
            "id": "r1",
            "messages": ask("Name a fruit."),
            "replies": replies("Apple.", "Carrot.", "Stone."),
            "ratings": {"a": 5, "b": 2, "c": 1},
        },
        {
            "id": "r2",
            "messages": ask("Add 1 and 1."),
            "replies": replies("2", "3"),
            "ratings": {"a": 4, "b": 1},
            "meta": {"source": "math"},
        },
        {"id": "r3", "messages": ask("Say no."), "replies": replies("No.", "Yes.")},
    ],
    "ranking": [
        {
            "id": "k1",
            "messages": ask("Name a fruit."),
            "replies": replies("Apple.", "Carrot.", "Stone."),
            "ranking": ["a", "c", "b"],
        },
        {
            "id": "k2",
            "messages": ask("Add 1 and 1."),
            "replies": replies("2", "3", "11"),
            "ranking": ["b", "a", "c"],
            "meta": {"source": "math"},
        },
        {"id": "k3", "messages": ask("Say no."), "replies": replies("No.", "Yes.")},
    ],
}
#: the file each export format writes, and what its import reads
FILES = {
    "jsonl": ("out.jsonl", "out.jsonl"),
    "csv": ("out.csv", "out.csv"),
    "hf": ("out.hf", "out.hf/data.parquet"),
    "labelstudio": ("out.json", "out.json"),
}
CASES = [
    (kind, fmt)
    for kind in GUIDELINES
    for fmt in FILES
    if not (kind == "rating" and fmt == "labelstudio")
]


@pytest.fixture(scope="module")
def blanks(tmp_path_factory) -> dict[str, Path]:
    """An empty project folder of each judging kind, made once: a new project is a copy."""
    root = tmp_path_factory.mktemp("blanks")
    out = {}
    for kind, text in GUIDELINES.items():
        (root / f"{kind}.md").write_text(text, encoding="utf-8")
        api.create_project(root / kind, root / f"{kind}.md").store.close()
        out[kind] = root / kind
    return out


def new_project(blanks: dict[str, Path], kind: str, folder: Path) -> Project:
    shutil.copytree(blanks[kind], folder)
    return api.open_project(folder)


@pytest.fixture
def make(blanks, tmp_path: Path):
    """A new project of a judging kind, in a folder of its own."""
    opened: list[Project] = []

    def new(kind: str, name: str) -> Project:
        opened.append(new_project(blanks, kind, tmp_path / name))
        return opened[-1]

    yield new
    for p in opened:
        p.store.close()


@pytest.fixture(scope="module")
def sources(blanks, tmp_path_factory):
    """One project of each judging kind holding ``ROWS`` (labeled by "ann"); read only."""
    root = tmp_path_factory.mktemp("sources")
    projects = {}
    for kind in GUIDELINES:
        projects[kind] = new_project(blanks, kind, root / kind)
        api.import_rows(projects[kind], ROWS[kind], reviewer="ann")
    yield projects
    for p in projects.values():
        p.store.close()


def items(project: Project) -> dict:
    return {i.id: i for i in project.store.iter_items()}


def answers(project: Project) -> dict[str, LabelValue | None]:
    return {r.item.id: final_label(r)[0] for r in project.store.iter_records(model=None)}


def reviewers(project: Project) -> set[tuple[str, str]]:
    return {(r.item_id, r.reviewer) for r in project.store.iter_reviews()}


@pytest.mark.parametrize(("kind", "fmt"), CASES)
def test_export_imports_back_to_the_same_items_and_answers(
    make, sources, tmp_path, kind, fmt
) -> None:
    src = sources[kind]
    out, read = FILES[fmt]
    assert api.export_items(src, tmp_path / out, format=fmt) == len(ROWS[kind])
    back = make(kind, f"{kind}-{fmt}")
    result = api.import_file(back, tmp_path / read)
    assert result.items_added == len(ROWS[kind])
    assert items(back) == items(src)
    assert items(back)[ROWS[kind][0]["id"]].replies[0].model == "model-alpha"
    assert answers(back) == answers(src)
    assert sum(v is not None for v in answers(back).values()) == len(ROWS[kind]) - 1
    if fmt != "csv":  # a CSV row holds the final label, not who gave it
        assert reviewers(back) == reviewers(src)


def test_every_answer_keeps_its_shape(sources) -> None:
    values = {k: answers(p) for k, p in sources.items()}
    assert values["pairwise"]["p2"] == LabelValue(label="tie")
    assert values["pairwise"]["p3"] == LabelValue(label="y")
    assert values["rating"]["r1"] == LabelValue(ratings={"a": 5, "b": 2, "c": 1})
    assert values["ranking"]["k2"] == LabelValue(ranking=("b", "a", "c"))


def test_jsonl_and_csv_write_replies_and_answers_under_their_import_keys(sources, tmp_path) -> None:
    src = sources["rating"]
    api.export_items(src, tmp_path / "r.jsonl", format="jsonl")
    row = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])
    assert row["replies"][0] == {"id": "a", "content": "Apple.", "model": "model-alpha"}
    assert row["ratings"] == {"a": 5, "b": 2, "c": 1}
    api.export_items(src, tmp_path / "r.csv", format="csv")
    with (tmp_path / "r.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        first = next(reader)
    assert reader.fieldnames[:5] == ["id", "messages", "target_turn", "replies", "ratings"]
    assert json.loads(first["ratings"]) == {"a": 5, "b": 2, "c": 1}
    assert json.loads(first["replies"])[2]["model"] == "model-gamma"


def test_hf_dataset_has_replies_and_answer_columns(sources, tmp_path) -> None:
    src = sources["ranking"]
    api.export_items(src, tmp_path / "k.hf", format="hf")
    table = pq.read_table(tmp_path / "k.hf" / "data.parquet")
    reply = table.schema.field("replies").type.value_type
    assert [f.name for f in reply] == ["id", "content", "messages", "model"]
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["k1"]["ranking"] == ["a", "c", "b"] and rows["k3"]["ranking"] is None
    assert rows["k1"]["replies"][1] == {
        "id": "b",
        "content": "Carrot.",
        "messages": None,
        "model": "model-beta",
    }
    api.export_items(sources["rating"], tmp_path / "r.hf", format="hf")
    row = pq.read_table(tmp_path / "r.hf" / "data.parquet").to_pylist()[0]
    assert json.loads(row["ratings"]) == {"a": 5, "b": 2, "c": 1}


def test_labelstudio_export_is_a_pairwise_or_ranker_project(sources, tmp_path) -> None:
    api.export_items(sources["pairwise"], tmp_path / "p.json", format="labelstudio")
    config = (tmp_path / "p.config.xml").read_text()
    assert '<Pairwise name="label" toName="answer1,answer2"/>' in config
    assert '<Text name="answer1" value="$answer1"/>' in config
    assert '<Choice value="tie"/>' in config  # allow_tie
    tasks = {t["data"]["id"]: t for t in json.loads((tmp_path / "p.json").read_text())}
    assert (tasks["p1"]["data"]["answer1"], tasks["p1"]["data"]["answer2"]) == (
        "Apple.",
        "Carrot.",
    )
    [region] = tasks["p1"]["annotations"][0]["result"]
    assert (region["type"], region["value"]) == ("pairwise", {"selected": "left"})
    assert region["from_name"] == region["to_name"] == "label"
    [tie] = tasks["p2"]["annotations"][0]["result"]
    assert (tie["from_name"], tie["value"]) == ("tie", {"choices": ["tie"]})

    api.export_items(sources["ranking"], tmp_path / "k.json", format="labelstudio")
    config = (tmp_path / "k.config.xml").read_text()
    assert '<List name="answers" value="$answers"' in config
    assert '<Ranker name="label" toName="answers"/>' in config
    task = json.loads((tmp_path / "k.json").read_text())[0]
    assert task["data"]["answers"][0] == {"id": "a", "title": "Reply a", "body": "Apple."}
    [region] = task["annotations"][0]["result"]
    assert region["value"] == {"ranker": {"label": ["a", "c", "b"]}}


def test_rating_and_conll_exports_are_refused(sources, tmp_path) -> None:
    rated = sources["rating"]
    with pytest.raises(LabelloopError, match="does not support kind: rating"):
        api.export_items(rated, tmp_path / "r.json", format="labelstudio")
    with pytest.raises(LabelloopError, match="conll export needs a span guideline"):
        api.export_items(rated, tmp_path / "r.conll", format="conll")


# -- blind exports ----------------------------------------------------------------------------


def in_calibration(project: Project, item_id: str) -> None:
    """The item suggested by a judge and sent to the calibration queue."""
    store = project.store
    [sid] = store.add_suggestions(
        [
            Suggestion(
                item_id=item_id,
                model="judge-x",
                value=LabelValue(label="b"),
                confidence=0.93,
                rationale="secret-rationale",
            )
        ]
    )
    store.set_routes(
        [RouteDecision(item_id=item_id, route="calibration", reason="sampled", suggestion_id=sid)]
    )


@pytest.fixture(scope="module")
def blind(blanks, tmp_path_factory):
    """A pairwise project whose one item waits in the calibration queue; read only."""
    project = new_project(blanks, "pairwise", tmp_path_factory.mktemp("blind") / "project")
    api.import_rows(project, [{k: v for k, v in ROWS["pairwise"][0].items() if k != "label"}])
    in_calibration(project, "p1")
    yield project
    project.store.close()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "hf", "labelstudio"])
def test_blind_export_keeps_the_replies_but_not_their_models(blind, tmp_path, fmt) -> None:
    project = blind
    out = tmp_path / FILES[fmt][0]
    assert api.export_items(project, out, format=fmt, queue="calibration") == 1
    text = (
        json.dumps(pq.read_table(out / "data.parquet").to_pylist())
        if fmt == "hf"
        else out.read_text(encoding="utf-8")
    )
    assert "Apple." in text and "Carrot." in text
    leaked = [s for s in (*MODELS, "judge-x", "secret-rationale", "0.93") if s in text]
    assert not leaked, f"the blind {fmt} export shows {leaked}"
    if fmt == "jsonl":
        row = json.loads(text)
        assert row["replies"] == replies("Apple.", "Carrot.", models=False)
        assert row["label"] is None


def test_labeled_blind_export_imports_back_as_a_sample(make, tmp_path) -> None:
    project = make("pairwise", "blind")
    api.import_rows(project, [{k: v for k, v in ROWS["pairwise"][0].items() if k != "label"}])
    in_calibration(project, "p1")
    api.export_items(project, tmp_path / "cal.csv", format="csv", queue="calibration")
    with (tmp_path / "cal.csv").open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, columns = list(reader), reader.fieldnames
    assert columns == ["id", "messages", "target_turn", "replies", "meta", "label"]
    with (tmp_path / "back.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(r | {"label": "b"} for r in rows)
    result = api.import_file(project, tmp_path / "back.csv", reviewer="ann", sample=True)
    assert (result.items_existing, result.reviews_added) == (1, 1)
    assert items(project)["p1"].replies[0].model == "model-alpha"  # the stored item stands
    [review] = [r for r in project.store.iter_reviews() if r.reviewer == "ann"]
    assert review.value == LabelValue(label="b")


# -- Label Studio tasks written by hand -------------------------------------------------------


def ls_file(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def pairwise_region(side: str) -> dict:
    return {"from_name": "pw", "to_name": "pw", "type": "pairwise", "value": {"selected": side}}


def test_labelstudio_pairwise_results_import_as_reply_ids(make, tmp_path) -> None:
    tasks = [
        {
            "id": 11,
            "data": {"prompt": "Name a fruit.", "answer1": "Apple.", "answer2": "Carrot."},
            "annotations": [
                {"completed_by": 3, "result": [pairwise_region("left")]},
                {"completed_by": {"email": "bo@example.com"}, "result": [pairwise_region("right")]},
                {"completed_by": 4, "result": [pairwise_region("right")], "was_cancelled": True},
            ],
            "predictions": [{"model_version": "m", "result": [pairwise_region("right")]}],
        },
        {
            "id": 12,
            "data": {"prompt": "Say no.", "left": "No.", "right": "Yes.", "topic": "x"},
            "annotations": [{"completed_by": 5, "result": []}],  # nothing chosen: no answer
        },
    ]
    project = make("pairwise", "ls")
    result = api.import_file(project, ls_file(tmp_path / "pw.json", tasks))
    assert (result.items_added, result.reviews_added) == (2, 2)
    first, second = items(project)["11"], items(project)["12"]
    assert first.messages[0].content == "Name a fruit." and first.messages[0].role == "user"
    assert [(r.id, r.content) for r in first.replies] == [("a", "Apple."), ("b", "Carrot.")]
    assert [r.content for r in second.replies] == ["No.", "Yes."]
    assert second.meta == {"topic": "x"}
    votes = {(r.reviewer, r.value.label) for r in project.store.iter_reviews()}
    assert votes == {("ls-user-3", "a"), ("bo@example.com", "b")}


def test_labelstudio_ranker_results_import_as_rankings(make, tmp_path) -> None:
    listed = [
        {"id": "r1", "title": "Reply 1", "body": "Apple."},
        {"id": "r2", "title": "Reply 2", "body": "Carrot."},
        {"id": "r3", "title": "Reply 3", "body": "Stone."},
    ]
    region = {
        "from_name": "rank",
        "to_name": "results",
        "type": "ranker",
        "value": {"ranker": {"rank": ["r2", "r1", "r3"]}},
    }
    tasks = [
        {
            "data": {"id": "t1", "prompt": "Name a fruit.", "items": listed},
            "annotations": [{"completed_by": 7, "result": [region]}],
        }
    ]
    project = make("ranking", "ls")
    api.import_file(project, ls_file(tmp_path / "rank.json", tasks))
    item = items(project)["t1"]
    assert [(r.id, r.content) for r in item.replies] == [
        ("r1", "Apple."),
        ("r2", "Carrot."),
        ("r3", "Stone."),
    ]
    assert item.meta == {}
    [review] = project.store.iter_reviews()
    assert (review.reviewer, review.value) == ("ls-user-7", LabelValue(ranking=("r2", "r1", "r3")))


def test_labelstudio_answer_fields_of_other_tasks_stay_meta(tmp_path: Path) -> None:
    guideline = tmp_path / "single.md"
    guideline.write_text("---\ntask: t\nlabels: [good, bad]\n---\n# Judge\nPick.\n")
    project = api.create_project(tmp_path / "single", guideline)
    choice = {
        "from_name": "c",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["good"]},
    }
    task = {
        "data": {"id": "s1", "text": "Q?", "answer1": "A", "answer2": "B"},
        "annotations": [{"completed_by": 1, "result": [choice]}],
    }
    api.import_file(project, ls_file(tmp_path / "s.json", [task]))
    assert items(project)["s1"].meta == {"answer1": "A", "answer2": "B"}
    project.store.close()


# -- errors name the line and the fix --------------------------------------------------------


def failure(project: Project, path: Path) -> str:
    with pytest.raises(ImportFileError) as err:
        api.import_file(project, path)
    return str(err.value)


def test_a_ranking_missing_a_reply_names_its_line(make, tmp_path) -> None:
    good, bad = ROWS["ranking"][0], ROWS["ranking"][1] | {"ranking": ["b", "a"]}
    path = tmp_path / "rank.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    message = failure(make("ranking", "bad"), path)
    assert f"{path}:2:" in message and "'ranking' must list every reply id once" in message
    assert "['a', 'b', 'c']" in message


def test_broken_replies_json_in_csv_names_its_line(make, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "messages", "replies", "label"])
        writer.writerow(["1", json.dumps(ask("Hi")), json.dumps(replies("a", "b")), "a"])
        writer.writerow(["2", json.dumps(ask("Hi")), '[{"id": "a", "content": "x"},', "a"])
    message = failure(make("pairwise", "bad"), path)
    assert f"{path}:3:" in message and "column 'replies' is not valid JSON" in message
    assert '[{"id": "a", "content": "..."}' in message  # how to write it


def test_broken_labelstudio_judging_results_name_the_task(make, tmp_path) -> None:
    project = make("pairwise", "bad")
    data = {"prompt": "Hi", "answer1": "a", "answer2": "b"}
    odd = {"data": data, "annotations": [{"result": [pairwise_region("middle")]}]}
    message = failure(project, ls_file(tmp_path / "odd.json", [odd]))
    assert "task 1:" in message and "'middle'" in message and '"left"' in message
    lone = {"data": {"text": "Hi"}, "annotations": [{"result": [pairwise_region("left")]}]}
    message = failure(project, ls_file(tmp_path / "lone.json", [lone, lone]))
    assert "task 1:" in message and "data.answer1 and data.answer2" in message

    ranked = make("ranking", "bad-rank")
    buckets = {"ranker": {"best": ["r1"], "worst": ["r2"]}}
    region = {"from_name": "rank", "to_name": "list", "type": "ranker", "value": buckets}
    listed = [{"id": f"r{i}", "body": t} for i, t in enumerate(("x", "y"), 1)]
    task = {"data": {"prompt": "Hi", "items": listed}, "annotations": [{"result": [region]}]}
    message = failure(ranked, ls_file(tmp_path / "b.json", [task]))
    assert "task 1:" in message and "buckets (best, worst)" in message
