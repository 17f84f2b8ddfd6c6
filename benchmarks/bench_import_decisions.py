"""Benchmark console decisions made while a large import runs.

Builds a project of a few thousand items labeled by the local model, then runs
``labelloop import`` of N new rows (default 400,000: read, check, stage, store, route) in a
process of its own while reviewers (default 4) in a console process decide items through a
``ReviewService``, each deciding an item and undoing that decision in turn (both are writes;
the items never run out). It reports how long each console write waited (p50, p95, max)
while the import ran, the ones that failed (with their first line), and the import's own
figures: how long its commit and routing's write held the store. An import reads, checks
and stages its rows before it takes the write lock for one short commit: the target is p95
at most 2 s and no failure.

    python benchmarks/bench_import_decisions.py                    # SQLite, 400,000 rows
    python benchmarks/bench_import_decisions.py --rows 20000 --postgres postgresql://postgres@127.0.0.1:5432/test

``run(store_url, rows)`` is the function other benchmarks call: ``store_url`` names an
empty store (None: a SQLite file in a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "import_decisions.json"


def run(
    store_url: str | None = None,
    rows: int = 400_000,
    *,
    items: int = 2000,
    reviewers: int = 4,
    think: float = 0.1,
    seed: int = 0,
) -> dict:
    """Import ``rows`` rows into a fresh project on ``store_url`` while reviewers decide;
    the decision waits and failures."""
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-impdec-") as tmp:
        project = _project(Path(tmp), items, reviewers, store_url, seed)
        path = Path(tmp) / "big.jsonl"
        _generate(path, rows, seed)
        try:
            return _measure(project, path, think, reviewers, seed)
        finally:
            project.store.close()


def _project(root: Path, items: int, reviewers: int, store_url: str | None, seed: int):
    from tests.support.concurrency import Load, build

    load = Load(items=items, clients=reviewers, overlap=0.0, seed=seed)
    return build(root, load, store_url)


def _generate(path: Path, n: int, seed: int) -> None:
    """N JSONL rows of 8-24 words (ids ``r0000000``..., never the project's); every tenth
    carries one of the project's labels."""
    from benchmarks.bench_import import WORDS
    from tests.support.concurrency import LABELS

    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            row = {"id": f"r{i:07d}", "text": " ".join(rnd.choices(WORDS, k=rnd.randint(8, 24)))}
            if i % 10 == 0:
                row["label"] = rnd.choice(LABELS)
            fh.write(json.dumps(row) + "\n")


def _measure(project, path: Path, think: float, reviewers: int, seed: int) -> dict:
    def work() -> dict:  # ``labelloop import`` is a process of its own
        cmd = [sys.executable, __file__, "--child", str(project.root), str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        lines = done.stdout.strip().splitlines()
        if done.returncode == 0 and lines:
            return json.loads(lines[-1])
        return {"import_error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}

    return decisions_during(project, work, reviewers=reviewers, think=think, seed=seed)


def decisions_during(
    project, work: Callable[[], dict], *, reviewers: int = 4, think: float = 0.1, seed: int = 0
) -> dict:
    """Run ``work`` (an import) while ``reviewers`` (``r01``...) decide and undo through
    review services of their own, as one console process serving them; what ``work``
    returned, with the waits and failures of the console's writes made meanwhile."""
    from labelloop.project import load_project
    from labelloop.review.service import ReviewService

    seats = [
        Reviewer(f"r{k + 1:02d}", ReviewService(load_project(project.root)), think, seed + k)
        for k in range(reviewers)
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=s.loop, args=(stop,), daemon=True) for s in seats]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    try:
        done = work()
    finally:
        t1 = time.perf_counter()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(timeout=120)
        for s in seats:
            s.service.store.close()
    during = [d for s in seats for d in s.decisions if t0 <= d[0] <= t1]
    failures = [f for s in seats for f in s.failures]
    waits = sorted(w for _, w in during) or [0.0]
    return {
        "backend": project.store.dialect,
        "import_seconds": round(t1 - t0, 2),
        **done,
        "reviewers": reviewers,
        "decisions_during_import": len(during),
        "decisions_over_2s": sum(w > 2.0 for w in waits),
        "failures": len(failures),
        "failure_samples": sorted(set(failures))[:5],
        "conflicts": sum(s.conflicts for s in seats),
        "ran_out_of_items": any(s.ran_out for s in seats),
        "wait_p50_s": round(statistics.median(waits), 3),
        "wait_p95_s": round(waits[min(len(waits) - 1, int(0.95 * len(waits)))], 3),
        "wait_max_s": round(waits[-1], 3),
    }


def child_import(root: Path, path: Path) -> dict:
    """``labelloop import PATH`` in this process: store, then route; how long each step
    took, and how long it wrote (the times a SQLite store's write lock is held)."""
    from labelloop.core.errors import LabelloopError
    from labelloop.ingest.importer import import_file
    from labelloop.project import load_project
    from labelloop.route import router
    from labelloop.store import Store
    from labelloop.store.imports import ImportWriter

    project = load_project(root)
    timers = {"commit": [], "route_write": []}
    commit = getattr(ImportWriter, "commit", None)  # None: a version without staging
    if commit is not None:
        ImportWriter.commit = _timed(commit, timers["commit"])
    Store.apply_routes = _timed(Store.apply_routes, timers["route_write"])
    out: dict = {"import_error": None}
    t0 = time.perf_counter()
    try:
        result = import_file(
            project.store,
            project.guideline(),
            path,
            reviewer="bench",
            max_item_chars=project.config.max_item_chars,
        )
        out.update(rows=result.rows, store_seconds=round(time.perf_counter() - t0, 2))
        t1 = time.perf_counter()
        router.route(project)
        out["route_seconds"] = round(time.perf_counter() - t1, 2)
    except LabelloopError as exc:
        out["import_error"] = str(exc)[:300]
    out["commit_seconds"] = round(sum(timers["commit"]), 2) if commit is not None else None
    out["route_write_seconds"] = round(sum(timers["route_write"]), 2)
    project.store.close()
    return out


def _timed(fn, into: list[float]):
    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)

    return timed


class Reviewer:
    """Decides items back to back (``think`` s apart), timing each ``decide()``."""

    def __init__(self, name: str, service, think: float, seed: int):
        from tests.support.concurrency import LABELS

        self.name, self.service, self.think = name, service, think
        self.labels = LABELS
        self.rnd = random.Random(seed)
        #: (when it started, seconds it took)
        self.decisions: list[tuple[float, float]] = []
        self.failures: list[str] = []
        self.conflicts = 0
        self.ran_out = False

    def loop(self, stop: threading.Event) -> None:
        """Decide the item on screen, then undo that decision (which leases it back): two
        writes a round, and a supply of items that never runs out."""
        view = self._next()
        while not stop.is_set():
            if view is None:
                self.ran_out = True
                return
            blind = view.suggestion is None
            action = "fix" if blind or self.rnd.random() < 0.3 else "accept"
            value = self.rnd.choice(self.labels) if action == "fix" else None
            decide = partial(self.service.decide, self.name, view.item.id, action, value)
            decided = self._timed(decide)
            if stop.wait(self.think) or decided is None:
                view = self._next() if decided is None else view
                continue
            undone = self._timed(partial(self.service.undo, self.name))
            view = undone if undone is not None else self._next()
            stop.wait(self.think)

    def _timed(self, act):
        """Run one console write; its result, or None when it was refused or failed."""
        from labelloop.core.errors import ReviewConflict

        t0 = time.perf_counter()
        try:
            return act()
        except ReviewConflict:
            self.conflicts += 1
            return None
        except Exception as exc:  # noqa: BLE001 - what a reviewer would have seen
            self.failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            return None
        finally:
            self.decisions.append((t0, time.perf_counter() - t0))

    def _next(self):
        for _ in range(3):
            try:
                return self.service.next_item(self.name)
            except Exception as exc:  # noqa: BLE001
                self.failures.append(f"next: {type(exc).__name__}: {str(exc)[:200]}")
        return None


def main() -> None:
    from benchmarks.bench_console import database
    from benchmarks.bench_import import machine

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--items", type=int, default=2000, help="items the reviewer decides")
    ap.add_argument("--reviewers", type=int, default=4)
    ap.add_argument("--think", type=float, default=0.1, help="seconds between decisions")
    ap.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL server")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child_import(*args.child)))
        return
    servers = ([] if args.no_sqlite else [None]) + ([args.postgres] if args.postgres else [])
    runs = []
    for server in servers:
        with database(server) as url:
            runs.append(
                run(url, args.rows, items=args.items, reviewers=args.reviewers, think=args.think)
            )
        print(json.dumps(runs[-1]), flush=True)
    report = {
        "benchmark": "console decisions during an import",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
