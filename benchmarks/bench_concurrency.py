"""Benchmark a review day under load: many reviewers while labeling, imports and calibration run.

Builds a project of N items (default 2,000) labeled by the local model, then for S seconds
(default 120) C reviewer clients (default 20) decide items as fast as they come: accept,
fix, reject, skip and undo, seeded. Two ways of reaching the store (``--modes``):

- ``service``: each client calls a ``ReviewService`` in this process, as the console's
  handlers do; a few share one (one console process serving several people), the others
  have one each (processes of their own);
- ``http``: each client signs in to a console served over HTTP (``--servers`` of them,
  each with its own service) and sends what the page's keys send through Gradio's queue,
  so the figures include the console's whole path.

Beside them, each on its own project handle: ``labelloop label --stale`` every 5 s (it
routes), an import every 10 s (new items, or a second annotator's labels on items already
there; it routes), ``labelloop calibrate`` every 20 s (it routes), an admin adjudicating
every 5 s and a bulk accept (or its undo) every 15 s.

It reports items decided, decisions per second, p50/p95 of a decision (``decide()``, or the
HTTP round trip) and the broken promises counted from the store afterwards
(tests/support/concurrency.py; all must be 0): items decided twice outside overlap, overlap
items with more reviewers than they need, reviews lost or duplicated, undo rows not as
undone, undos that did not restore, refusals on items the reviewer held, calibration pairs
from items that moved, items with two calibration pairs, and errors.

    python benchmarks/bench_concurrency.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/bench_concurrency.py --sqlite --modes service --seconds 60
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_console import database  # noqa: E402
from benchmarks.bench_import import machine  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "concurrency.json"


def one_run(load, server_url: str | None) -> dict:
    """Build, run and check one day on PostgreSQL (``server_url``) or SQLite (None)."""
    from tests.support.concurrency import build, check, figures, run

    with tempfile.TemporaryDirectory(prefix="labelloop-bench-conc-") as tmp:
        with database(server_url) as url:
            t0 = time.perf_counter()
            project = build(Path(tmp), load, url)
            built = time.perf_counter() - t0
            try:
                log, took = run(project, load)
                broken = check(project, load, log)
            finally:
                project.store.close()
    return {
        "backend": "postgresql" if server_url else "sqlite",
        "mode": "http" if load.over_http else "service",
        "build_seconds": round(built, 1),
        **figures(log, took),
        "broken": broken,
        "errors": [
            e.strip().splitlines()[0] + " ... " + e.strip().splitlines()[-1] for e in log.errors
        ],
    }


def main() -> None:
    from tests.support.concurrency import Load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to run against")
    ap.add_argument("--sqlite", action="store_true", help="run against SQLite too")
    ap.add_argument("--modes", default="service,http", help="service and/or http")
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--shared", type=int, default=4, help="service mode: clients sharing one")
    ap.add_argument("--servers", type=int, default=2, help="http mode: consoles served")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--label-every", type=float, default=5.0)
    ap.add_argument("--import-every", type=float, default=10.0)
    ap.add_argument("--calibrate-every", type=float, default=20.0)
    ap.add_argument("--think", type=float, default=0.0, help="most seconds between decisions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    if not args.postgres and not args.sqlite:
        ap.error("name a store: --postgres URL and/or --sqlite")
    base = Load(
        items=args.items,
        clients=args.clients,
        shared=args.shared,
        servers=args.servers,
        seconds=args.seconds,
        label_every=args.label_every,
        import_every=args.import_every,
        calibrate_every=args.calibrate_every,
        route_every=None,  # label, import and calibrate route, as the CLI's do
        adjudicate_every=5.0,
        bulk_every=15.0,
        import_size=50,
        think=args.think,
        seed=args.seed,
    )
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    for url in ([args.postgres] if args.postgres else []) + ([None] if args.sqlite else []):
        for mode in args.modes.split(","):
            load = replace(base, over_http=args.clients if mode == "http" else 0)
            result = {**one_run(load, url), "load": asdict(load)}
            print(json.dumps(result, indent=2), flush=True)
            key = (result["backend"], result["mode"])
            runs = [r for r in runs if (r["backend"], r["mode"]) != key] + [result]
    report = {
        "benchmark": "concurrency: reviewers beside labeling, imports and calibration",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "runs": sorted(runs, key=lambda r: (r["backend"], r["mode"])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
