"""The Python API (``import labelloop``): README's example runs as written, and what it
prints agrees with the project it leaves behind."""

from __future__ import annotations

import json
import re

import pytest

import labelloop
from tests.support.paths import ROOT


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- python-example:")
    return re.search(r"```python\n(.*?)```", readme[start:], re.S).group(1)


def test_readme_python_example_runs_and_its_figures_agree(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    imported, labeled = map(
        int, re.search(r"imported (\d+) items, labeled (\d+)", printed).groups()
    )
    exported, reviews = map(int, re.search(r"exported (\d+) rows; (\d+) reviews", printed).groups())

    project = labelloop.open_project(tmp_path / "py-project")
    status = labelloop.status(project)
    lines = (tmp_path / "py-project" / "labeled.jsonl").read_text(encoding="utf-8").splitlines()
    assert imported == status.items == exported == len(lines) == 616
    assert labeled == imported  # the local model labels every item, reviewed ones included
    assert reviews == status.reviews == 100 + 20  # the imported labels and ana's 20 fixes
    by_ana = [r for line in lines for r in json.loads(line)["reviews"] if r["reviewer"] == "ana"]
    assert len(by_ana) == 20 and all(r["action"] == "fix" for r in by_ana)
    assert sum(status.routes.values()) == status.items


def test_names_load_on_first_use():
    # `import labelloop` alone does not load the stages (the CLI starts fast)
    import subprocess
    import sys

    code = (
        "import sys, labelloop; print(sorted(m for m in sys.modules if m.startswith('labelloop')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == ["labelloop"]
    assert set(labelloop.__all__) <= set(dir(labelloop))
    # a name that is also a subpackage would be shadowed once the subpackage loads
    import pkgutil

    subpackages = {m.name for m in pkgutil.iter_modules(labelloop.__path__)} | {"ui", "evals"}
    assert not set(labelloop.__all__) & subpackages
    # the package offers exactly the API module's names, and its errors
    from labelloop import api

    assert set(labelloop.__all__) == set(api.__all__) | {
        "ConfigError",
        "LabelloopError",
        "__version__",
    }
    with pytest.raises(AttributeError):
        labelloop.no_such_name  # noqa: B018


def test_a_review_session_refuses_an_unknown_reviewer(tmp_path):
    from labelloop.core.resources import demo_guideline

    project = labelloop.create_project(tmp_path / "p", guideline=demo_guideline())
    with pytest.raises(labelloop.LabelloopError, match="nobody"):
        labelloop.review_session(project, "nobody").__enter__()


def test_mistakes_get_errors_that_name_the_row_and_the_fix(tmp_path):
    from labelloop.core.resources import demo_guideline

    project = labelloop.create_project(tmp_path / "p", guideline=demo_guideline())
    with pytest.raises(labelloop.LabelloopError, match=r"^row 2: missing 'id'"):
        labelloop.import_rows(project, [{"id": "a", "text": "where is my card"}, {"text": "x"}])
    with pytest.raises(TypeError, match="wrap one row"):
        labelloop.import_rows(project, {"id": "a", "text": "where is my card"})
    with pytest.raises(labelloop.LabelloopError, match=r"labelloop\.add_user\(project, 'bob'"):
        labelloop.review_session(project, "bob").__enter__()
    with pytest.raises(labelloop.LabelloopError, match="target_accuracy must be between 0 and 1"):
        labelloop.calibrate(project, target_accuracy=95)
    assert labelloop.status(project).items == 0  # nothing of the refused rows was stored
    # a folder stands for its project; an out.csv file gets CSV
    labelloop.import_rows(tmp_path / "p", [{"id": "a", "text": "where is my card"}])
    assert labelloop.export_items(str(tmp_path / "p"), tmp_path / "out.csv") == 1
    header = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("id,text,label")


def test_a_review_session_takes_spans_as_import_rows_write_them(tmp_path):
    """``fix`` takes a span answer as the JSON API and import rows write it: a list of spans,
    ``{"spans": [...]}``, or ``[]`` for "no spans"; a label name is refused with the form."""
    from tests.support.spans import GUIDELINE

    (tmp_path / "g.md").write_text(GUIDELINE, encoding="utf-8")
    project = labelloop.create_project(tmp_path / "p", guideline=tmp_path / "g.md")
    texts = ["a table for four at 7pm", "name is Tanaka", "thanks, see you then"]
    labelloop.import_rows(project, [{"id": f"m{i}", "text": t} for i, t in enumerate(texts)])
    labelloop.label_items(project)
    labelloop.add_user(project, "rita", "reviewer", "a-long-password")
    given = {}
    with labelloop.review_session(project, "rita") as session:
        view = session.next()
        with pytest.raises(labelloop.LabelloopError, match=r'\[\{"start": 0'):
            session.fix(view.item.id, "people")
        for answer in ({"spans": [{"start": 0, "end": 1, "label": "name"}]}, [], "list"):
            view = session.next()
            if view is None:
                break
            whole = [{"start": 0, "end": len(view.item.text), "label": "name"}]
            value = whole if answer == "list" else answer
            session.fix(view.item.id, value)
            given[view.item.id] = value
    stored = {r.item_id: r.value.as_dict() for r in project.store.iter_reviews()}
    assert len(given) == 3 and set(stored) == set(given)
    for item_id, value in given.items():
        want = value if isinstance(value, dict) else {"spans": value}
        assert [(s["start"], s["end"], s["label"]) for s in stored[item_id]["spans"]] == [
            (s["start"], s["end"], s["label"]) for s in want["spans"]
        ]
