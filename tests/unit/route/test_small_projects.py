"""A project too small to certify a threshold says so, and asks for nothing it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import cli_words as cli
from tests.support.console import guideline_text

TEXTS = {
    "refund": ["I want my money back", "please refund the order", "refund me now"],
    "card_arrival": ["where is my card", "my card has not arrived", "card still not here"],
}


def test_a_small_project_is_told_it_cannot_be_certified(tmp_path: Path):
    rows = [
        {"id": f"{label}-{k}", "text": text, "label": label}
        for label, texts in TEXTS.items()
        for k, text in enumerate(texts)
    ]
    (tmp_path / "g.md").write_text(guideline_text(tuple(TEXTS)), encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows[::2]), encoding="utf-8")
    todo = tmp_path / "todo.jsonl"
    todo.write_text(
        "".join(json.dumps({"id": r["id"], "text": r["text"]}) + "\n" for r in rows[1::2]),
        encoding="utf-8",
    )
    p = str(tmp_path / "p")
    cli("init", p, "--guideline", str(tmp_path / "g.md"))
    cli("import", str(gold), "--reviewer", "gold", "--sample", "-p", p)
    cli("import", str(todo), "-p", p)
    cli("label", "-p", p)
    said = cli("calibrate", "-p", p)
    assert "this project is too small to certify one" in said
    assert "review the calibration queue" not in said
    status = cli("status", "-p", p)
    assert "expected coverage of unknown" not in status
