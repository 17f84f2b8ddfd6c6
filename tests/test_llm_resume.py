"""Cache and resume: a rerun labels only what is missing; a run killed with SIGKILL resumes
without repeating any call whose response was committed to the call log."""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from agent import cli
from agent.config import DB_NAME
from agent.testing.stub_llm import StubServer
from tests.llm_support import MODEL, call_rows, label, make_project, suggestions

ITEMS = 64
CONCURRENCY = 16
LATENCY = 0.5
IN_FLIGHT = 8


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_rerun_makes_no_calls_and_stale_relabels_after_a_guideline_edit(tmp_path):
    items = [{"id": f"i{n}", "text": f"message {n}"} for n in range(3)]
    project = make_project(tmp_path, items)
    with StubServer() as stub:
        assert label(project, stub.base_url).labeled == 3
        first = suggestions(project)
        stub.calls.clear()
        again = label(project, stub.base_url)
        assert (again.candidates, again.calls, len(stub.calls)) == (0, 0, 0)

        path = project.guideline_path
        path.write_text(
            path.read_text().replace("wants money back", "asks for a refund"), encoding="utf-8"
        )
        edited = project.guideline().version
        assert edited != first["i0"].guideline_version
        assert label(project, stub.base_url).candidates == 0  # without --stale: nothing
        assert len(stub.calls) == 0
        args = ["label", "--model", MODEL, "--api-base", stub.base_url, "--stale"]
        result = CliRunner().invoke(cli.app, [*args, "-p", str(project.root)])
        assert result.exit_code == 0, result.output
        assert "Labeled 3 items" in result.output
        assert sorted(stub.calls.counts().values()) == [1, 1, 1]
    now = suggestions(project)
    assert {s.guideline_version for s in now.values()} == {edited}
    assert all(now[i].cache_key != first[i].cache_key for i in now)


# --- kill -9 --------------------------------------------------------------------------------


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    """The stub LLM in its own process; returns it and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.testing.stub_llm", "--port", "0", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("READY "):
        proc.kill()
        pytest.fail(f"stub LLM did not start: {line!r}")
    return proc, line.split()[1]


def stub_counts(base_url: str) -> tuple[int, dict[str, int]]:
    got = httpx.get(base_url.removesuffix("/v1") + "/stub/calls", timeout=5).json()
    return got["count"], got["attempts"]


def wait_for_kill_moment(db: Path, base_url: str, committed: int, deadline: float) -> None:
    """Poll until ``committed`` responses are in the call log and IN_FLIGHT calls are open."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    query = "SELECT count(*), coalesce(sum(status = 'ok'), 0) FROM llm_calls"
    try:
        while time.monotonic() < deadline:
            logged, ok = conn.execute(query).fetchone()
            if ok < committed:  # cheap: the log alone, slowly while the CLI starts up
                time.sleep(0.05 if logged == 0 else 0.005)
                continue
            received, _ = stub_counts(base_url)
            if received - logged >= IN_FLIGHT:
                return
            time.sleep(0.005)
    finally:
        conn.close()
    pytest.fail(f"never saw {committed} committed responses with {IN_FLIGHT} calls in flight")


def test_kill_9_mid_run_resumes_without_repeating_committed_calls(tmp_path):
    seed = int.from_bytes(os.urandom(4), "big")
    committed_at_kill = random.Random(seed).randint(1, ITEMS - 2 * CONCURRENCY)
    items = [{"id": f"item-{n:03d}", "text": f"message number {n}"} for n in range(ITEMS)]
    project = make_project(tmp_path, items)
    db = project.root / DB_NAME
    stub, base_url = start_stub(LATENCY)
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    command = [sys.executable, "-m", "agent.cli", "label", "--model", MODEL]
    command += ["--api-base", base_url, "--concurrency", str(CONCURRENCY)]
    try:
        run = subprocess.Popen(
            [*command, "-p", str(project.root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_kill_moment(db, base_url, committed_at_kill, time.monotonic() + 90)
        finally:
            os.kill(run.pid, signal.SIGKILL)
            run.wait(timeout=10)
        assert run.returncode == -signal.SIGKILL, f"the run ended before the kill (seed {seed})"

        committed = {r["item_id"] for r in call_rows(db, "status = 'ok'")}
        _, before = stub_counts(base_url)
        unanswered = {i for i, n in before.items() if n and i not in committed}
        assert len(committed) >= committed_at_kill and unanswered, f"seed {seed}"

        rerun = label(project, base_url, concurrency=CONCURRENCY)
        _, after = stub_counts(base_url)
    finally:
        stub.send_signal(signal.SIGTERM)
        stub.wait(timeout=10)

    assert rerun.failed == 0
    repeated = {i for i in committed if after.get(i) != before.get(i)}
    assert not repeated, f"committed responses asked again (seed {seed}): {sorted(repeated)}"
    assert all(after[i] == before[i] + 1 for i in unanswered)
    assert set(after) == {i["id"] for i in items}
    with project.store.engine.connect() as conn:
        per_item = Counter(
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT item_id FROM suggestions WHERE model = ?", (MODEL,)
            )
        )
    assert per_item == Counter({i["id"]: 1 for i in items}), f"seed {seed}"
    ok_calls = Counter(r["item_id"] for r in call_rows(db, "status = 'ok'"))
    assert set(ok_calls.values()) == {1} and len(ok_calls) == ITEMS


def test_a_run_killed_after_a_reask_answer_was_committed_does_not_reask_again(tmp_path):
    """The first answer (out of the label set) and the re-ask's answer are both in the call
    log, but the run died before the suggestion was stored: the rerun parses both again."""
    items = [{"id": "odd", "text": "message odd"}, {"id": "plain", "text": "message plain"}]
    project = make_project(tmp_path, items)
    script = {"odd": {"out_of_set": "spam", "out_of_set_attempts": 1, "label": "refund"}}
    with StubServer(script) as stub:
        first = label(project, stub.base_url)
        assert first.failed == 0 and [c.outcome for c in stub.calls if c.key == "odd"] == [
            "out_of_set",
            "ok",
        ]
        with project.store.engine.begin() as conn:  # as if killed before the suggestion
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL WHERE item_id = 'odd'")
            conn.exec_driver_sql("DELETE FROM suggestions WHERE item_id = 'odd'")
        stub.reset()
        rerun = label(project, stub.base_url)
        assert len(stub.calls) == 0, [c.key for c in stub.calls]
    assert rerun.labeled == 1 and rerun.failed == 0
    again = suggestions(project)["odd"]
    assert again.status == "ok" and again.value.label == "refund"


def test_jobs_are_planned_in_chunks_and_every_chunk_reuses_committed_answers(tmp_path, monkeypatch):
    """The first calls leave once one job per worker is planned; the rest is planned a chunk
    at a time, and each chunk finds the answers a killed run had already committed."""
    from agent.providers import llm

    monkeypatch.setattr(llm, "PLAN_CHUNK", 4)
    planned: list[int] = []
    jobs = llm.Planner.jobs

    def spy(self, items):
        planned.append(len(items))
        return jobs(self, items)

    monkeypatch.setattr(llm.Planner, "jobs", spy)
    items = [{"id": f"c{n:02d}", "text": f"message {n}"} for n in range(11)]
    project = make_project(tmp_path, items)
    with StubServer() as stub:
        first = label(project, stub.base_url, concurrency=2)
        assert (first.labeled, first.calls, planned) == (11, 11, [2, 4, 4, 1])
        with project.store.engine.begin() as conn:  # as if killed before any suggestion
            conn.exec_driver_sql("UPDATE routes SET suggestion_id = NULL")
            conn.exec_driver_sql("DELETE FROM suggestions")
        stub.reset()
        rerun = label(project, stub.base_url, concurrency=2)
        assert len(stub.calls) == 0, [c.key for c in stub.calls]
    assert (rerun.labeled, rerun.failed) == (11, 0)
    assert set(suggestions(project)) == {i["id"] for i in items}
