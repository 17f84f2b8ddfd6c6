"""The layers the code keeps (pyproject.toml, ``[tool.importlinter]``), checked by
import-linter on every run: the faces over the loop over the stages over the project, the
store and core; evals a leaf; providers never import the stages; the review console decides
which label stands without the exporter.

import-linter reads the package as it is installed (``labelloop`` with ``ui`` and ``evals``
inside it), so the check runs over that layout, built from the repository's folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.layout import installed_layout
from tests.support.paths import ROOT


def lint_imports(tmp_path: Path, config: Path, site: Path | None = None):
    """``lint-imports`` over ``site`` (default: the installed layout), from outside the
    repository."""
    site = site or installed_layout(ROOT, tmp_path / "site")
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run(
        [exe, "--no-cache", str(config)],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_layer_contract_is_kept(tmp_path):
    done = lint_imports(tmp_path, ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "4 kept" in done.stdout
    # the whole package was read, ui and evals included
    assert "faces over the loop" in done.stdout


def test_a_broken_contract_is_reported(tmp_path):
    # the checker sees imports (function-level ones included): a rule the code breaks fails
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["labelloop"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "exports without the standing rule"\ntype = "forbidden"\n'
        'source_modules = ["labelloop.export.writer"]\n'
        'forbidden_modules = ["labelloop.core.standing"]\n',
        encoding="utf-8",
    )
    done = lint_imports(tmp_path, config)
    assert done.returncode == 1 and "BROKEN" in done.stdout, done.stdout + done.stderr


def test_an_upward_import_breaks_the_layers(tmp_path):
    # the layers contract itself fails on an import from a stage up into a face
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config = tmp_path / "pyproject.toml"
    config.write_text(text, encoding="utf-8")
    site = installed_layout(ROOT, tmp_path / "site")
    core = site / "labelloop" / "core"
    core.unlink()
    core.mkdir()
    for entry in (ROOT / "agent" / "core").glob("*.py"):
        (core / entry.name).symlink_to(entry)
    (core / "upward.py").write_text("from labelloop.ui import cli\n", encoding="utf-8")
    done = lint_imports(tmp_path, config, site)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "labelloop.core.upward -> labelloop.ui" in done.stdout.replace("\n", " ")
