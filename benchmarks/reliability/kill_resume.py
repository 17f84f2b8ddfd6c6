"""Calls paid again after ``kill -9``: ``labelloop label`` killed mid-run, then run again.

Every response is committed to the call log before it is parsed, and a rerun reads the
committed ones again instead of calling. What a killed run loses is the calls it had in
flight: sent (so billed) but not yet committed. Each of the ``--concurrency`` workers has
at most one call in flight, so a rerun pays again for at most ``concurrency`` calls.

The run is the real CLI in a process of its own, against the stub LLM (its own process,
``latency`` seconds per answer), killed with SIGKILL once ``committed`` answers are in the
call log (random when not given) and ``in_flight`` calls are open (default: all
``concurrency``, the worst case); the rerun labels the rest. The stub counts the requests:
an uninterrupted run makes one per item, so ``calls_repaid`` = requests - items.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.reliability.common import (
    MODEL,
    ROOT,
    Stub,
    backend,
    child_env,
    item_rows,
    make_project,
    stub_process,
)
from labelloop import loop


def run(
    store_url: str | None = None,
    *,
    items: int = 200,
    concurrency: int = 16,
    latency: float = 0.5,
    in_flight: int | None = None,
    committed: int | None = None,
    seed: int | None = None,
    workdir: Path | None = None,
    timeout: float = 120.0,
) -> dict:
    """Kill a label run with SIGKILL mid-way, run it again; the calls paid twice."""
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    in_flight = concurrency if in_flight is None else in_flight
    if committed is None:
        committed = random.Random(seed).randint(1, max(1, items - 2 * concurrency))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="labelloop-kill-", dir=workdir) as tmp:
        rows = item_rows(items)
        project = make_project(Path(tmp), rows, store_url)
        try:
            with stub_process(latency) as stub:
                _kill_mid_run(project, stub, concurrency, committed, in_flight, timeout)
                time.sleep(0.2)  # requests already on the wire reach the stub
                received, before = stub.counts()
                logged = project.store.llm_totals_by_model().get(MODEL, {}).get("calls", 0)
                answered = _answered(project, [r["id"] for r in rows])
                rerun = loop.label(project, MODEL, api_base=stub.base_url, concurrency=concurrency)
                total, after = stub.counts()
            latest = project.store.latest_suggestions(model=MODEL)
            made = project.store.suggestion_totals().get(MODEL, {}).get("suggestions", 0)
        finally:
            project.store.close()
    repaid = total - items
    return {
        "store": backend(store_url),
        "items": items,
        "concurrency": concurrency,
        "latency_s": latency,
        "seed": seed,
        "committed_at_kill": len(answered),
        "in_flight_at_kill": received - logged,  # sent, never logged
        "calls_before_kill": received,
        "calls_rerun": total - received,
        "calls_repaid": repaid,
        "repaid_within_concurrency": repaid <= concurrency,
        "items_lost": sum(1 for r in rows if getattr(latest.get(r["id"]), "value", None) is None),
        "suggestions_stored": made,
        "rerun_failed": rerun.failed,
        "seconds": round(time.perf_counter() - started, 1),
        "detail": {"answered": sorted(answered), "before": before, "after": after},
    }


def _kill_mid_run(
    project, stub: Stub, concurrency: int, committed: int, in_flight: int, timeout: float
) -> None:
    """Start ``labelloop label`` and SIGKILL it once ``committed`` answers are logged with
    ``in_flight`` calls open."""
    command = [sys.executable, "-m", "labelloop.ui.cli", "label", "--model", MODEL]
    command += ["--api-base", stub.base_url, "--concurrency", str(concurrency)]
    command += ["-p", str(project.root)]
    child = subprocess.Popen(
        command, env=child_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + timeout
    seen = False
    try:
        while time.monotonic() < deadline and child.poll() is None:
            totals = project.store.llm_totals_by_model().get(MODEL, {})
            logged = totals.get("calls", 0)
            if logged - totals.get("errors", 0) < committed:
                time.sleep(0.05 if logged == 0 else 0.005)
                continue
            received, _ = stub.counts()
            if received - logged >= in_flight:
                seen = True
                break
            time.sleep(0.002)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    if child.returncode != -signal.SIGKILL:
        said = child.stderr.read().decode(errors="replace")[-2000:] if child.stderr else ""
        raise RuntimeError(f"the label run was not killed mid-run (rc {child.returncode}): {said}")
    if not seen:
        raise RuntimeError(f"never saw {committed} answers logged with {in_flight} calls open")


def _answered(project, ids: list[str]) -> set[str]:
    """Items with an answer committed to the call log."""
    return {i for i in ids if any(c.status == "ok" for c in project.store.calls_for(i))}


if __name__ == "__main__":  # python -m benchmarks.reliability.MODULE [STORE_URL]
    import sys

    got = run(sys.argv[1] if len(sys.argv) > 1 else None)
    got.pop("detail")
    print(json.dumps(got, indent=1))
