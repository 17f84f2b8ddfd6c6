"""``labelloop label --stale`` relabels outdated suggestions and reports what changed."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labelloop.testing.stub_llm import StubServer
from labelloop.ui import cli
from tests.support.llm import MODEL, label, make_project

ROWS = [{"id": f"s{i}", "text": f"customer note {i}"} for i in range(5)]


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_stale_relabel_counts_changed_labels(tmp_path):
    project = make_project(tmp_path, ROWS)
    with StubServer(retry_after=0.01) as stub:
        stub.script = {r["id"]: {"label": "refund"} for r in ROWS}
        first = label(project, stub.base_url)
        assert (first.relabeled, first.changed) == (0, 0)
        # a real edit of the guideline: every suggestion is now outdated
        path = project.guideline_path
        path.write_text(path.read_text() + "\nAsk a colleague when unsure.\n", encoding="utf-8")
        stub.script = {
            r["id"]: {"label": "card_arrival" if i < 2 else "refund"} for i, r in enumerate(ROWS)
        }
        again = label(project, stub.base_url, stale=True)
        assert (again.labeled, again.relabeled, again.changed) == (5, 5, 2)
        assert again.changes == {"refund -> card_arrival": 2}
        path.write_text(path.read_text() + "\nOne more note.\n", encoding="utf-8")
        stub.script = {r["id"]: {"label": "refund"} for r in ROWS}
        result = CliRunner().invoke(
            cli.app,
            ["label", "--stale", "--model", MODEL, "--api-base", stub.base_url]
            + ["-p", str(project.root)],
        )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Relabeled 5 outdated suggestions: 2 changed label (card_arrival -> refund: 2)" in said
