"""What the reliability measurements share: a fresh project and the stub LLM in a process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from labelloop import loop
from labelloop.project import Project, init_project
from labelloop.store.db import normalise_url
from tests.conftest import GUIDELINE

ROOT = Path(__file__).resolve().parents[2]
#: an OpenAI-compatible model string: sent to the stub's ``api_base`` as "stub-model"
MODEL = "openai/stub-model"


def backend(store_url: str | None) -> str:
    """ "sqlite" or "postgresql": what the figures were measured on."""
    if store_url is None:
        return "sqlite"
    return normalise_url(store_url).split(":", 1)[0].split("+", 1)[0]


def item_rows(n: int) -> list[dict]:
    return [{"id": f"item-{i:05d}", "text": f"message number {i}"} for i in range(n)]


def make_project(root: Path, rows: list[dict], store_url: str | None = None) -> Project:
    """A project with the three-label guideline and ``rows`` imported, on ``store_url``
    (None: SQLite in the folder)."""
    root.mkdir(parents=True, exist_ok=True)
    guideline = root / "guideline.md"
    guideline.write_text(GUIDELINE, encoding="utf-8")
    store = {"database_url": store_url} if store_url else {}
    project = init_project(root / "project", guideline, **store)
    items = root / "items.jsonl"
    items.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    loop.import_file(project, items)
    return project


def child_env() -> dict[str, str]:
    """The environment of a child process: this checkout's code, no provider key."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return env


@dataclass
class Stub:
    """The stub LLM serving in a process of its own."""

    process: subprocess.Popen
    base_url: str

    def counts(self) -> tuple[int, dict[str, int]]:
        """Requests received, and attempts per item."""
        got = httpx.get(self.base_url.removesuffix("/v1") + "/stub/calls", timeout=10).json()
        return got["count"], got["attempts"]


@contextmanager
def stub_process(latency: float = 0.0, script: Path | None = None) -> Iterator[Stub]:
    """``python -m labelloop.testing.stub_llm`` with ``latency`` seconds per answer."""
    command = [sys.executable, "-m", "labelloop.testing.stub_llm", "--port", "0"]
    command += ["--latency", str(latency), "--retry-after", "0.05", "--log-level", "critical"]
    if script is not None:
        command += ["--script", str(script)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            raise RuntimeError(f"the stub LLM did not start: {line!r}")
        yield Stub(process, line.split()[1])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
