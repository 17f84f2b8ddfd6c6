"""The layers the code keeps (pyproject.toml, ``[tool.importlinter]``), checked by
import-linter on every run: evals is a leaf, providers never import the stages, the review
console decides which label stands without the exporter, the stages never import the
console."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run(
        [exe, "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_every_layer_contract_is_kept():
    done = lint_imports()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "4 kept" in done.stdout


def test_a_broken_contract_is_reported(tmp_path):
    # the checker sees imports (function-level ones included): a rule the code breaks fails
    config = tmp_path / "broken.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["agent"]\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "exports without the standing rule"\ntype = "forbidden"\n'
        'source_modules = ["agent.export"]\nforbidden_modules = ["agent.standing"]\n',
        encoding="utf-8",
    )
    done = lint_imports("--config", str(config))
    assert done.returncode == 1 and "BROKEN" in done.stdout, done.stdout + done.stderr
