"""The user docs: they name only files that exist, and every import key a row may carry."""

from __future__ import annotations

import re
from pathlib import Path

from labelloop.ingest.importer import ACCEPTS
from tests.support.paths import ROOT

SKIP = {".venv", "node_modules", "__pycache__"}


def sources() -> list[Path]:
    """The repository's Markdown and Python files (no virtual environment, no hidden dirs)."""
    return [
        p
        for p in ROOT.rglob("*")
        if p.suffix in (".md", ".py")
        and not any(part.startswith(".") or part in SKIP for part in p.relative_to(ROOT).parts)
    ]


def test_docs_name_only_documents_in_the_repository() -> None:
    present = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts}
    named = {
        (path.relative_to(ROOT), name)
        for path in sources()
        for name in re.findall(r"\b[A-Z][A-Z_]+\.md\b", path.read_text(encoding="utf-8"))
    }
    missing = sorted((str(where), name) for where, name in named if name not in present)
    assert not missing, f"documents named but not in the repository: {missing}"


def import_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("### Import formats")
    return readme[start : readme.index("\n### ", start + 1)]


def test_readme_documents_every_label_key_of_an_import_row() -> None:
    # "choices" only comes from Label Studio annotations, read by the Label Studio reader
    keys = {k for shape in ACCEPTS.values() for k in shape} - {"choices"}
    section = import_section()
    assert sorted(k for k in keys if f"`{k}`" not in section) == []
    assert "max_item_chars" in section
