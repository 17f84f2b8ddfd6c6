"""Several labeling processes on one PostgreSQL store, against the stub: each item is
answered once, a killed worker's items are taken over, the shared rate limit holds in
every sliding window, and `labelloop worker` runs queued jobs. The deeper setting (1, 2
and 4 workers at 64 in flight against a 1 s provider) is benchmarks/bench_workers.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections import Counter

import pytest
import sqlalchemy as sa
import tomli_w

from labelloop import loop
from labelloop.core.errors import LabelloopError
from labelloop.project import CONFIG_NAME, load_project
from labelloop.store.tables import SuggestionRow
from labelloop.testing.stub_llm import StubServer, most_in_window
from tests.support.llm import MODEL, make_project
from tests.support.services import postgres_database

pytestmark = pytest.mark.postgres

ITEMS = 90
CONCURRENCY = 4
#: the shared limit, scaled down: 40 requests in any 2 s window
RPM, WINDOW = 1200, 2.0


def _rows(n: int) -> list[dict]:
    return [{"id": f"w{i:03d}", "text": f"where is my new card number {i}"} for i in range(n)]


def _label_cmd(project, base_url: str) -> list[str]:
    cmd = [sys.executable, "-m", "labelloop.ui.cli", "label", "--model", MODEL]
    return cmd + [
        "--api-base",
        base_url,
        "--concurrency",
        str(CONCURRENCY),
        "-p",
        str(project.root),
    ]


def _with_limits(project, **llm) -> None:
    path = project.root / CONFIG_NAME
    config = tomllib.loads(path.read_text())
    config.setdefault("llm", {}).update(llm)
    path.write_text(tomli_w.dumps(config))


def _suggestions(project) -> list[tuple[str, str]]:
    t = SuggestionRow.__table__
    with project.store.engine.connect() as c:
        q = sa.select(t.c.item_id, t.c.cache_key).where(t.c.model == MODEL)
        return [tuple(r) for r in c.execute(q)]


def _holds_items(project, pid: int) -> bool:
    """Whether the process ``pid`` is labeling: it holds leases on items."""
    return any(w.leases and w.holder.split(":")[1] == str(pid) for w in project.store.workers())


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_the_items_and_the_rate_limit_and_survive_a_kill(tmp_path, workers):
    with postgres_database() as url:
        project = make_project(tmp_path, _rows(ITEMS), database_url=url)
        _with_limits(project, rpm=RPM, rate_window=WINDOW)
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        with StubServer(latency=0.05) as stub:
            cmd = _label_cmd(project, stub.base_url)
            procs = [
                subprocess.Popen(
                    cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )  # fmt: skip
                for _ in range(workers)
            ]
            victim = procs[0]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                len(stub.calls) >= ITEMS // 4 and _holds_items(project, victim.pid)
            ):
                time.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)  # reaped, as a shell would: gone from this machine
            outs = [p.communicate(timeout=120) for p in procs[1:]]
            arrivals = [c.at for c in stub.calls]
            per_item = Counter(c.item_id for c in stub.calls)
        stored = _suggestions(project)
        crew = {w.holder: w for w in project.store.workers()}
        project.store.close()
    assert all(p.returncode == 0 for p in procs[1:]), [
        e[e.find("Traceback") :][-4000:] for _, e in outs
    ]
    # every item answered, and once per cache key in the store
    assert {i for i, _ in stored} == {r["id"] for r in _rows(ITEMS)}, outs
    assert max(Counter(stored).values()) == 1 and len(stored) == ITEMS, Counter(stored)
    # calls at the provider: one per item, but for the killed worker's calls in flight
    assert ITEMS <= len(arrivals) <= ITEMS + CONCURRENCY, per_item.most_common(5)
    # the shared limit held in every sliding window, at the provider's side
    assert most_in_window(arrivals, WINDOW) <= RPM * WINDOW / 60, arrivals
    # the killed worker never finished; the others did, and took over what it held
    states = Counter(w.status for w in crew.values())
    assert states == Counter({"finished": workers - 1, "running": 1}), crew
    said = " ".join(" ".join(o for o, _ in outs).split())  # however the console wrapped it
    assert said.count("Labeled") == workers - 1
    # what the survivors say they took over is what the store counted
    told = sum(int(n) for n in re.findall(r"(\d+) items were taken over", said))
    assert told == sum(w.taken_over for w in crew.values()), said


def test_a_second_process_on_sqlite_says_the_store_takes_one(tmp_path):
    project = make_project(tmp_path, _rows(3))
    other = "elsewhere:4242:abcdef12"
    from datetime import UTC, datetime

    assert project.store.claim_run(f"label:{MODEL}", other, "labelloop label",
                                   datetime.now(UTC)) is None  # fmt: skip
    with pytest.raises(LabelloopError, match="A SQLite store takes one labeling process"):
        loop.label(project, MODEL, api_base="http://127.0.0.1:9/v1")
    with pytest.raises(LabelloopError, match="needs a PostgreSQL store"):
        from labelloop.worker import work

        work(project, MODEL)


def test_a_worker_runs_queued_jobs_then_labels_new_items(tmp_path):
    from labelloop.worker import queue_job, work

    with postgres_database() as url:
        project = make_project(tmp_path, _rows(10), database_url=url)
        with StubServer() as stub:
            job = queue_job(project, "label", {"model": MODEL, "limit": 4,
                                               "api_base": stub.base_url})  # fmt: skip
            with pytest.raises(LabelloopError, match="takes .*not bogus"):
                queue_job(project, "label", {"bogus": 1})
            done = []
            shift = work(load_project(project.root), MODEL, once=True, api_base=stub.base_url,
                         on_job=lambda j, r, e: done.append((j.id, r, e)))  # fmt: skip
            calls = len(stub.calls)
        jobs = {j.id: j for j in project.store.jobs()}
        labeled = project.store.latest_suggestions(model=MODEL)
        project.store.close()
    assert done[0][0] == job and done[0][2] is None and done[0][1]["labeled"] == 4
    assert jobs[job].status == "done" and jobs[job].result["labeled"] == 4
    # then the worker labeled the other 6 as one of the crew, and stopped with none left
    assert shift.labeled == 6 and len(labeled) == 10 and calls == 10


def test_a_batch_leaves_items_workers_hold_and_workers_leave_items_in_a_batch(tmp_path):
    with postgres_database() as url:
        project = make_project(tmp_path, _rows(10), database_url=url)
        store = project.store
        other = "elsewhere:4242:cccc"  # a worker of the crew on another machine
        store.join_crew(other, MODEL, "label", ttl=30, max_cost=None)
        held = [f"w{i:03d}" for i in range(3)]
        assert store.claim_items(MODEL, other, held, ttl=30)[0] == held
        with StubServer(batch_seconds=60) as stub:
            # a worker that listed every item before the batch was submitted
            seen = {i: n[0] for i, n in store.newest_suggestions(MODEL).items()}
            sub = loop.label_batch(project, MODEL, api_base=stub.base_url)
            assert sub.items == 7 and not set(held) & set(store.items_in_open_batches(MODEL))
            from labelloop.label.crew import Crew

            with Crew(store, MODEL) as crew:
                got = crew.source(list(store.iter_items()), seen)
                first = got.next_chunk(64)
            assert first == []  # the batch's items are left, the others' are held
            store.finish_worker(other)
            assert loop.label(project, MODEL, api_base=stub.base_url).labeled == 3
            stub.state.batch_seconds = 0
            loop.collect_batches(project, MODEL, api_base=stub.base_url)
            per_item = Counter(c.item_id for c in stub.calls)
        labeled = store.latest_suggestions(model=MODEL)
        store.close()
    assert len(labeled) == 10 and set(per_item.values()) == {1}, per_item


def test_jobs_queued_from_the_command_line_are_run_by_a_worker_and_shown(tmp_path):
    import json as _json

    from tests.flows.test_cli import cli

    with postgres_database() as url:
        project = make_project(tmp_path, _rows(6), database_url=url)
        p = str(project.root)
        with StubServer() as stub:
            said = cli("label", "--model", MODEL, "--api-base", stub.base_url, "--queue", "-p", p)
            assert "Queued label job 1" in said.output
            assert "Queued calibrate job 2" in cli("calibrate", "--queue", "-p", p).output
            assert "queued" in cli("workers", "-p", p).output
            said = cli("worker", "--once", "--model", MODEL, "--api-base", stub.base_url,
                       "-p", p).output  # fmt: skip
            calls = len(stub.calls)
        shown = _json.loads(cli("workers", "--json", "-p", p).output)
        project.store.close()
    assert "Job 1 (label) done" in said and "Job 2 (calibrate)" in said, said
    jobs = {j["id"]: j for j in shown["jobs"]}
    assert jobs[1]["status"] == "done" and jobs[1]["result"]["labeled"] == 6
    assert jobs[2]["status"] in ("done", "failed") and jobs[2]["finished_at"]
    assert calls == 6 and all(w["status"] == "finished" for w in shown["workers"])
    assert {w["command"] for w in shown["workers"]} == {"worker"}


def test_a_worker_waits_while_another_process_labels_with_the_embedded_model(tmp_path):
    from datetime import UTC, datetime

    from labelloop.worker import work

    with postgres_database() as url:
        project = make_project(tmp_path, _rows(4), database_url=url)
        other = "elsewhere:4242:dddd"
        assert project.store.claim_run("label:local", other, "labelloop worker",
                                       datetime.now(UTC)) is None  # fmt: skip
        shift = work(project, "local", once=True)  # no error: it leaves the run to the other
        assert shift.runs == 0 and not project.store.latest_suggestions(model="local")
        project.store.release_run("label:local", other)
        assert work(project, "local", once=True).labeled == 4
        project.store.close()
