"""The package as a wheel installs it, laid out with links: for tools that read the
installed layout (import-linter) and for running another checkout's code."""

from __future__ import annotations

from pathlib import Path


def installed_layout(tree: Path, where: Path) -> Path:
    """``where/labelloop``: the entries of ``tree/agent`` with ``tree/ui`` and
    ``tree/evals`` inside, as links. Returns ``where``, the folder to put on the path."""
    pkg = where / "labelloop"
    pkg.mkdir(parents=True, exist_ok=True)
    for entry in [*(tree / "agent").iterdir(), tree / "ui", tree / "evals"]:
        if entry.name != "__pycache__" and not (pkg / entry.name).exists():
            (pkg / entry.name).symlink_to(entry.resolve())
    return where
