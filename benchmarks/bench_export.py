"""Benchmark ``labelloop export``: rows/s and peak memory exporting a large SQLite store.

Builds a store of N items (default 1,000,000; the rows of ``bench_import.py``: 8-24 words,
a human label on every tenth) with a suggestion from the local model on every item, then
exports it in each format, each export in its own process so its peak RSS is its own:
jsonl, csv, labelstudio and conll stream row by row; hf writes Parquet in batches. A
second, smaller store (``--compare``, default 100,000) shows whether memory stays flat as
the store grows, which is what streaming promises.

    python benchmarks/bench_export.py                     # 1,000,000 + 100,000 items
    python benchmarks/bench_export.py --rows 200000 --compare 0 --formats jsonl,csv

CoNLL needs a spans guideline: the store's single labels give every token ``O``, which
measures the tokenising and writing a real span export does.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_import import LABELS, RssSampler, generate, machine  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "export.json"
FORMATS = ("jsonl", "csv", "labelstudio", "conll", "hf")
BATCH = 20_000


def guideline(kind: str = "single"):
    from labelloop.core.types import Guideline, LabelDef

    return Guideline(
        task="bench", labels=tuple(LabelDef(name=n) for n in LABELS), kind=kind, version="bench"
    )


def build(db: Path, n: int, tmp: Path) -> dict:
    """A store of n imported items with one local-model suggestion each; build timings."""
    import sqlalchemy as sa

    from labelloop.ingest.importer import import_file
    from labelloop.store import Store
    from labelloop.store.tables import SuggestionRow

    rows = tmp / f"rows_{n}.jsonl"
    generate(rows, n)
    store = Store.open(f"sqlite:///{db}")
    start = time.perf_counter()
    import_file(store, guideline(), rows, reviewer="bench")
    rnd, table, now = random.Random(1), SuggestionRow.__table__, time.time()
    ids = store.item_ids()
    with store.engine.begin() as c:
        for i in range(0, len(ids), BATCH):
            c.execute(sa.insert(table), [_suggestion(x, rnd, now) for x in ids[i : i + BATCH]])
    store.close()
    rows.unlink()
    return {"build_seconds": round(time.perf_counter() - start, 1)}


def _suggestion(item_id: str, rnd: random.Random, now: float) -> dict:
    from datetime import UTC, datetime

    label = rnd.choice(LABELS)
    return {
        "item_id": item_id,
        "model": "local",
        "prompt_version": "local:bench",
        "guideline_version": "bench",
        "fewshot_ids": [],
        "cache_key": "",
        "value": {"label": label},
        "confidence": round(rnd.random(), 4),
        "rationale": f"nearest to {label}",
        "signals": {"margin": 0.1},
        "status": "ok",
        "cost_usd": 0.0,
        "created_at": datetime.fromtimestamp(now, UTC),
    }


def run_one(db: Path, fmt: str, out: Path) -> dict:
    """Export the store at ``db`` in ``fmt`` (in this process); the measurements."""
    from labelloop.export.writer import export
    from labelloop.store import Store

    store = Store.open(f"sqlite:///{db}")
    g = guideline("spans" if fmt == "conll" else "single")
    before = RssSampler.now()
    sampler = RssSampler()
    sampler.start()
    start, cpu = time.perf_counter(), time.process_time()
    n = export(store, out, fmt, model="local", guideline=g)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    sampler.stop.set()
    sampler.join()
    store.close()
    size = sum(p.stat().st_size for p in out.rglob("*")) if out.is_dir() else out.stat().st_size
    return {
        "format": fmt,
        "rows": n,
        "seconds": round(seconds, 1),
        "rows_per_s": round(n / seconds),
        "cpu_seconds": round(cpu, 1),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(sampler.peak, 1),
        "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "output_mib": round(size / 2**20, 1),
    }


def measure(db: Path, fmt: str, out: Path) -> dict:
    """``run_one`` in a child process, so each export's peak memory is its own."""
    cmd = [sys.executable, __file__, "--child", str(db), "--format", fmt, "--to", str(out)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(done.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--compare", type=int, default=100_000, help="a smaller store (0: none)")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--format", help=argparse.SUPPRESS)
    ap.add_argument("--to", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.format, args.to)))
        return
    formats = [f for f in args.formats.split(",") if f]
    runs = []
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as tmp:
        for n in [x for x in (args.compare, args.rows) if x]:
            db = Path(tmp) / f"store_{n}.db"
            built = build(db, n, Path(tmp))
            print(json.dumps({"items": n, **built}), flush=True)
            for fmt in formats:
                out = Path(tmp) / f"export_{n}.{fmt}"
                res = {"items": n, **measure(db, fmt, out), **built}
                runs.append({**res, "db_mib": round(db.stat().st_size / 2**20, 1)})
                print(json.dumps(runs[-1]), flush=True)
                _remove(out)
            db.unlink()
    report = {"benchmark": "export", "date": time.strftime("%Y-%m-%d"), "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**report, "runs": runs}, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    config = path.with_suffix(".config.xml")
    if config.exists():
        config.unlink()


if __name__ == "__main__":
    main()
