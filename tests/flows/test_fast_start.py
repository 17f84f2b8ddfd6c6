"""``labelloop label`` on the OpenAI-compatible path starts light: when its first request
leaves, nothing heavy is imported (litellm and instructor come later, for prices and
re-asks; gradio, scikit-learn and scipy are other stages'; alembic only creates or upgrades
a store), on a project's first LLM run as on a later one, and a missing API key is reported
before anything heavy is imported at all.

The real CLI runs in a subprocess; a wrapper records ``sys.modules`` as the first request
is sent (or as the process exits) and stops there.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labelloop import loop
from labelloop.core.resources import demo_guideline, demo_sample
from labelloop.project import init_project
from labelloop.testing.stub_llm import StubServer

HEAVY = (
    *("litellm", "instructor", "gradio", "sklearn", "scipy", "matplotlib", "pandas"),
    "alembic",  # creates or upgrades a store: one at the head revision opens without it
)
KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_BASE_URL")

#: the CLI, with ``sys.modules`` written to argv[1] at the first request sent (then exit 0)
AT_FIRST_REQUEST = """
import json, os, sys
from labelloop.label.providers import wire

out = sys.argv.pop(1)

async def send(self, request):
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)
    os._exit(0)

wire.OpenAIWire.send = send
from labelloop.ui.cli import main
main()
"""

#: the CLI, with ``sys.modules`` written to argv[1] as it exits
AT_EXIT = """
import json, sys
out = sys.argv.pop(1)
try:
    from labelloop.ui.cli import main
    main()
finally:
    with open(out, "w") as fh:
        json.dump(sorted(sys.modules), fh)
"""


def run_cli(wrapper: str, modules: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.pop("LABELLOOP_DEBUG", None)
    cmd = [sys.executable, "-c", wrapper, str(modules), "label", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def heavy(modules: Path) -> list[str]:
    loaded = json.loads(modules.read_text(encoding="utf-8"))
    return sorted({m.split(".")[0] for m in loaded} & set(HEAVY))


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture
def project(tmp_path):
    """The demo guideline (77 labels) and 50 unreviewed items."""
    rows = demo_sample().read_text(encoding="utf-8").splitlines()[:50]
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({k: v for k, v in json.loads(r).items() if k != "label"}) + "\n"
                for r in rows),
        encoding="utf-8",
    )  # fmt: skip
    proj = init_project(tmp_path / "proj", demo_guideline())
    loop.import_file(proj, items)
    return proj


@pytest.mark.parametrize("labeled_before", [True, False], ids=["later-run", "first-run"])
def test_nothing_heavy_is_imported_when_the_first_request_leaves(
    project, stub, tmp_path, labeled_before
):
    # later run: a project labeled before (its calibration rate kept), the usual `labelloop
    # label`; first run: its first LLM run, which names the routing model
    if labeled_before:
        loop.label(project, "openai/stub-model", api_base=stub.base_url, limit=1)
    project.store.close()
    modules = tmp_path / "modules.json"
    model = ("--model", "openai/stub-model", "--api-base", stub.base_url, "--limit", "1")
    done = run_cli(AT_FIRST_REQUEST, modules, *model, "-p", str(project.root))
    assert done.returncode == 0, done.stderr
    assert modules.exists(), f"no request was sent: {done.stderr}"
    assert heavy(modules) == []


@pytest.mark.parametrize(
    ("model", "variable"),
    [("openai/gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic/claude-3-5-haiku", "ANTHROPIC_API_KEY")],
)
def test_a_missing_key_is_reported_before_anything_heavy_is_imported(
    project, tmp_path, model, variable
):
    project.store.close()
    modules = tmp_path / "modules.json"
    done = run_cli(AT_EXIT, modules, "--model", model, "-p", str(project.root))
    assert done.returncode != 0
    assert variable in done.stderr and "Traceback" not in done.stderr
    assert heavy(modules) == []
    assert "labelloop.label.providers.llm" not in json.loads(modules.read_text())


def test_loading_leaves_the_garbage_collector_as_it_was():
    from labelloop.ui.cli import _loading

    assert gc.isenabled()
    with _loading():
        assert not gc.isenabled()
        kept = [[]]  # allocated while loading: promoted, not frozen
    assert gc.isenabled() and gc.get_freeze_count() == 0 and kept
    mine = [[]]
    gc.freeze()  # an application that froze its heap keeps it frozen
    try:
        with _loading():
            pass
        assert gc.get_freeze_count() and all(o is not mine for o in gc.get_objects())
    finally:
        gc.unfreeze()
