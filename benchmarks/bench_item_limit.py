"""Benchmark ``labelloop label`` (local model) on an item at ``max_item_chars``: peak memory.

Builds a project in a temp folder per case (the demo guideline, 77 intents), imports one
item of exactly the limit (100,000 characters by default) beside some ordinary ones, and
runs ``labelloop label`` as its own process; its peak RSS is what ``/usr/bin/time -v``
reports (``ru_maxrss`` of that process). A case without the large item is the baseline.

    python benchmarks/bench_item_limit.py                     # ~30 s, from the repo root
    python benchmarks/bench_item_limit.py --huge 50000000     # also a 50 MB item, limit raised
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "item_limit.json"
GUIDELINE = ROOT / "guidelines" / "support-intent.md"
WORDS = (
    "card arrive new account refund money transfer pending declined fee charge exchange rate "
    "top up cash withdrawal atm pin blocked stolen lost app verify identity still waiting "
    "week days why when how can I my the a is was not please help"
).split()


def words(rnd: random.Random, chars: int) -> str:
    """Random words, exactly ``chars`` characters long."""
    out: list[str] = []
    size = 0
    while size < chars:
        out.append(rnd.choice(WORDS))
        size += len(out[-1]) + 1
    return " ".join(out)[:chars]


def write_items(path: Path, big: int, normal: int, seed: int = 0) -> None:
    """One item of ``big`` characters (none if 0), then ``normal`` items of 40-200."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8") as fh:
        if big:
            fh.write(json.dumps({"id": "big", "text": words(rnd, big)}) + "\n")
        for i in range(normal):
            row = {"id": f"n{i:04d}", "text": words(rnd, rnd.randint(40, 200))}
            fh.write(json.dumps(row) + "\n")


def peak_of(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; its own peak RSS (MiB) and wall seconds."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()}")
    return usage.ru_maxrss / 1024, seconds


def run_case(tmp: Path, big: int, normal: int, limit: int) -> dict:
    """Init, import and label one project; the label run's peak RSS and time."""
    from labelloop import loop
    from labelloop.project import init_project

    name = f"big{big}_n{normal}"
    items = tmp / f"{name}.jsonl"
    write_items(items, big, normal)
    project = init_project(tmp / name, GUIDELINE, max_item_chars=limit)
    loop.import_file(project, items)
    project.store.close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "labelloop.ui.cli", "label", "--project", str(tmp / name)]
    peak, seconds = peak_of(cmd, env)
    return {
        "big_item_chars": big,
        "normal_items": normal,
        "max_item_chars": limit,
        "label_seconds": round(seconds, 2),
        "label_peak_rss_mib": round(peak, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=100_000, help="the item size (max_item_chars)")
    ap.add_argument("--normal", default="5,300", help="ordinary items beside it, per case")
    ap.add_argument("--huge", type=int, default=0, help="also an item this large (limit raised)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    counts = [int(n) for n in args.normal.split(",") if n]
    cases = [(0, max(counts), args.limit)] + [(args.limit, n, args.limit) for n in counts]
    if args.huge:
        cases.append((args.huge, max(counts), args.huge))
    runs = []
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-") as tmp:
        for big, normal, limit in cases:
            runs.append(run_case(Path(tmp), big, normal, limit))
            print(json.dumps(runs[-1]), flush=True)
    report = {
        "benchmark": "item_limit",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
