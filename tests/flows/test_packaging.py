"""One import name: installed, labelloop adds ``labelloop`` and nothing else.

The repository keeps its folders (``agent/``, ``ui/``, ``evals/``); the wheel and the
editable install both map them to ``labelloop``, ``labelloop.ui`` and ``labelloop.evals``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import ROOT

FOLDERS = {"labelloop": "agent", "labelloop.ui": "ui", "labelloop.evals": "evals"}


def run_python(code: str, cwd: Path, path: Path | None = None) -> str:
    """``code`` in a fresh interpreter outside the repository (``-I``: no current folder,
    no PYTHONPATH), with ``path`` in front of sys.path when given."""
    prelude = f"import sys; sys.path.insert(0, {str(path)!r})\n" if path else ""
    done = subprocess.run(
        [sys.executable, "-I", "-c", prelude + code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_outside_the_repository_only_labelloop_is_importable(tmp_path):
    out = run_python(
        "import importlib.util as u, json\n"
        "import labelloop, labelloop.ui.cli, labelloop.evals.report, labelloop.loop\n"
        "print(json.dumps({n: u.find_spec(n) is not None for n in ('agent', 'ui', 'evals')}))",
        cwd=tmp_path,
    )
    assert json.loads(out) == {"agent": False, "ui": False, "evals": False}


def _packages_on_disk() -> set[str]:
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            nested = name if not rel else f"{name}.{'.'.join(rel)}"
            if not any(
                nested.startswith(f"{other}.") or nested == other
                for other in FOLDERS
                if other != name and other.startswith(f"{name}.")
            ):
                found.add(nested)
    return found


def test_the_package_list_names_every_package():
    # a new stage package missing from pyproject.toml would be left out of the wheel
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = set(setup["setuptools"]["packages"])
    data = {
        "labelloop._bundled.prompts",
        "labelloop._bundled.guidelines",
        "labelloop.data.demo",
        "labelloop.data.lexicons",
        "labelloop.ui.static",
    }
    assert listed - data == _packages_on_disk()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip install .`` installs, built offline from a copy of the sources."""
    src = tmp_path_factory.mktemp("src")
    for name in ("agent", "ui", "evals", "prompts", "guidelines"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*cmd, "-w", str(out), str(src)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("labelloop-*.whl")
    return built


def test_the_wheel_installs_one_top_level_name(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"labelloop", "labelloop-0.1.0.dist-info"}
    for shipped in (
        "labelloop/py.typed",
        "labelloop/api.py",
        "labelloop/ui/cli.py",
        "labelloop/ui/static/console.js",
        "labelloop/evals/report.py",
        "labelloop/data/demo/support-intent.jsonl",
        "labelloop/data/demo/entities.jsonl",
        "labelloop/data/lexicons/places.txt",
        "labelloop/data/lexicons/first_names.txt",
        "labelloop/data/lexicons/last_names.txt",
        "labelloop/store/migrations/script.py.mako",
        "labelloop/_bundled/prompts/classify.v1.jinja",
        "labelloop/_bundled/guidelines/support-intent.md",
    ):
        assert shipped in names
    meta = zipfile.ZipFile(wheel).read("labelloop-0.1.0.dist-info/entry_points.txt").decode()
    assert "labelloop = labelloop.ui.cli:main" in meta


def test_the_installed_wheel_runs_from_its_own_files(wheel, tmp_path):
    target = tmp_path / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    done = subprocess.run([*cmd, str(wheel)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = run_python(
        "import json, labelloop\n"
        "from labelloop.core import resources\n"
        "import labelloop.ui.cli\n"
        "print(json.dumps([labelloop.__file__, str(resources.prompts_dir()),"
        " str(resources.demo_sample()), resources.demo_sample().is_file(),"
        " str(resources.lexicon_file('places.txt'))]))",
        cwd=tmp_path,
        path=target,
    )
    init, prompts, demo, demo_there, places = json.loads(out)
    assert init == str(target / "labelloop" / "__init__.py")
    assert prompts == str(target / "labelloop" / "_bundled" / "prompts") and demo_there
    assert demo.startswith(str(target))
    assert places == str(target / "labelloop" / "data" / "lexicons" / "places.txt")
