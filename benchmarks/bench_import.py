"""Benchmark ``labelloop import``: rows/s and peak memory for a large JSONL file.

Generates N rows (``{"id", "text"}``, a ``label`` on 10% of them) in a temp folder and
imports them into a fresh store, once at N (default 1,000,000) and once at 100,000 for
comparison. Each import runs in its own process, so its peak RSS is its own; memory that
stays flat from 100k to 1M rows is what bounded streaming promises.

    python benchmarks/bench_import.py                       # SQLite, from the repo root
    python benchmarks/bench_import.py --postgres postgresql+psycopg://postgres@127.0.0.1/test

``--postgres`` takes the URL of any database on a server; the benchmark creates a
throwaway database next to it and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "import.json"
LABELS = [f"intent_{i:02d}" for i in range(20)]
WORDS = (
    "card arrive new account refund money transfer pending declined fee charge exchange rate "
    "top up cash withdrawal atm pin blocked stolen lost app verify identity still waiting "
    "week days why when how can I my the a is was not please help"
).split()


def generate(path: Path, n: int, seed: int = 0, random_ids: bool = False) -> None:
    """N JSONL rows of 8-24 words; every tenth row carries a label."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            item_id = f"{rnd.getrandbits(128):032x}" if random_ids else f"r{i:07d}"
            row = {"id": item_id, "text": " ".join(rnd.choices(WORDS, k=rnd.randint(8, 24)))}
            if i % 10 == 0:
                row["label"] = rnd.choice(LABELS)
            fh.write(json.dumps(row) + "\n")


class RssSampler(threading.Thread):
    """Samples VmRSS from /proc every 50 ms; ``peak`` is the highest seen (MiB)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = self.now()
        self.stop = threading.Event()

    @staticmethod
    def now() -> float:
        with open("/proc/self/status") as fh:
            line = next(x for x in fh if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.now())


def run_one(path: Path, url: str) -> dict:
    """Import ``path`` into a fresh store at ``url`` (in this process); the measurements."""
    from labelloop.core.types import Guideline, LabelDef
    from labelloop.ingest.importer import import_file
    from labelloop.store import Store

    guideline = Guideline(
        task="bench", labels=tuple(LabelDef(name=n) for n in LABELS), version="bench"
    )
    store = Store.open(url)
    before = RssSampler.now()
    sampler = RssSampler()
    sampler.start()
    result = import_file(store, guideline, path, reviewer="bench")
    sampler.stop.set()
    sampler.join()
    items, reviews = store.count_items(), store.count_reviews()
    store.close()
    return {
        "rows": result.rows,
        "items": items,
        "reviews": reviews,
        "seconds": result.seconds,
        "rows_per_s": round(result.rows_per_second),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(sampler.peak, 1),
        "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def measure(path: Path, url: str) -> dict:
    """``run_one`` in a child process, so each import's peak memory is its own."""
    cmd = [sys.executable, __file__, "--child", str(path), "--url", url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def sqlite_run(path: Path, tmp: Path, label: str) -> dict:
    db = tmp / f"{label}.db"
    res = measure(path, f"sqlite:///{db}")
    res.update(backend="sqlite", db_mib=round(db.stat().st_size / 2**20, 1))
    return res


def postgres_run(path: Path, server_url: str) -> dict:
    """Import into a throwaway database created on the server of ``server_url``."""
    import sqlalchemy as sa

    from labelloop.store.db import normalise_url

    base = sa.engine.make_url(normalise_url(server_url))
    name = f"labelloop_bench_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        url = base.set(database=name).render_as_string(hide_password=False)
        res = measure(path, url)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()
    return {**res, "backend": "postgresql"}


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--compare", type=int, default=100_000, help="a smaller run (0: none)")
    ap.add_argument("--postgres", metavar="URL", help="also run against this PostgreSQL server")
    ap.add_argument(
        "--random-ids", action="store_true", help="uuid-like ids (default: sequential r0000001)"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.url)))
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as tmp:
        for n in [x for x in (args.compare, args.rows) if x]:
            path = Path(tmp) / f"rows_{n}.jsonl"
            generate(path, n, random_ids=args.random_ids)
            mib = round(path.stat().st_size / 2**20, 1)
            runs.append({**sqlite_run(path, Path(tmp), f"db_{n}"), "file_mib": mib})
            print(json.dumps(runs[-1]), flush=True)
            if args.postgres:
                runs.append({**postgres_run(path, args.postgres), "file_mib": mib})
                print(json.dumps(runs[-1]), flush=True)
    report = {
        "benchmark": "import",
        "date": time.strftime("%Y-%m-%d"),
        "ids": "random" if args.random_ids else "sequential",
        "machine": machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "runs": runs}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
