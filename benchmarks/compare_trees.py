"""Compare two source trees of labelloop on the same machine, in one sitting: start-up,
import, labeler, review, console and export, each the median of N runs, the trees taking
turns so that a slow spell of the machine hits both.

    python benchmarks/compare_trees.py BEFORE AFTER            # two checkouts (git worktree)
    python benchmarks/compare_trees.py BEFORE AFTER --runs 5 --out benchmarks/results/layout.json

Each benchmark runs with small settings (a quick look, not the published figures in
``benchmarks/results``) as a child process of the tree's own scripts. A tree is importable
as it would be installed: ``labelloop`` (``agent/`` with ``ui/`` and ``evals/`` inside) is
laid out with links in a temp folder put first on ``PYTHONPATH``, and the tree itself is on
the path too, so a tree from before the ``labelloop`` name (``agent``, ``ui``, ``evals`` at
the top) runs as well. Reported: per benchmark, each tree's median and the ratio after/before
(above 1: after is slower, for times; for rates the ratio is before/after, so above 1 is
always worse).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.layout import installed_layout  # noqa: E402

BANKING77 = ROOT.parent / "shared" / "datasets" / "banking77" / "banking77.jsonl"

#: name -> (script args, how to read the figure from its JSON, "time" or "rate")
BENCHES = {
    "import rows/s": (
        ["bench_import.py", "--rows", "50000", "--compare", "0"],
        lambda d: d["runs"][0]["rows_per_s"],
        "rate",
    ),
    "labeler items/s": (
        ["bench_labeler.py", "--shots", "10", "--no-full", "--throughput-items", "5000"]
        + ["--data", str(BANKING77)],
        lambda d: d["throughput"][0]["items_per_second"],
        "rate",
    ),
    "review next item p50 ms": (
        ["bench_review.py", "--sizes", "10000", "--decisions", "100", "--repeat", "3"],
        lambda d: d["runs"][0]["next_item"]["p50_ms"],
        "time",
    ),
    "review browse p50 ms": (
        None,  # read from the review run above
        lambda d: d["runs"][0]["browse"]["all"]["p50_ms"],
        "time",
    ),
    "console keypress p50 ms": (
        ["bench_console.py", "--items", "2000", "--keys", "60"],
        lambda d: d["runs"][0]["p50_ms"],
        "time",
    ),
    "export jsonl rows/s": (
        ["bench_export.py", "--rows", "50000", "--compare", "0", "--formats", "jsonl,csv"],
        lambda d: d["runs"][0]["rows_per_s"],
        "rate",
    ),
    "export csv rows/s": (None, lambda d: d["runs"][1]["rows_per_s"], "rate"),
}
#: a figure read from another benchmark's output
SHARED = {
    "review browse p50 ms": "review next item p50 ms",
    "export csv rows/s": "export jsonl rows/s",
}


def layout(tree: Path, where: Path) -> dict[str, str]:
    """The environment that imports ``tree`` as installed."""
    path = os.pathsep.join([str(installed_layout(tree, where)), str(tree)])
    return {**os.environ, "PYTHONPATH": path, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def cli_module(tree: Path) -> str:
    return "labelloop.ui.cli" if (tree / "agent" / "api.py").exists() else "ui.cli"


def startup_ms(tree: Path, env: dict[str, str]) -> float:
    """``labelloop --help`` from a fresh process, wall time."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", cli_module(tree), "--help"],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
    )
    return (time.perf_counter() - t0) * 1000


def run_bench(tree: Path, env: dict[str, str], args: list[str], out: Path) -> dict:
    cmd = [sys.executable, str(tree / "benchmarks" / args[0]), *args[1:], "--out", str(out)]
    done = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", help="comma-separated benchmark names (substrings)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    names = [n for n in BENCHES if not args.only or any(o in n for o in args.only.split(","))]
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    figures: dict[str, dict[str, list[float]]] = {"startup ms": {"before": [], "after": []}}
    figures |= {n: {"before": [], "after": []} for n in names}
    with tempfile.TemporaryDirectory(prefix="compare-trees-") as tmp:
        envs = {k: layout(t, Path(tmp) / k) for k, t in trees.items()}
        for k in range(args.runs):
            for side in ("before", "after") if k % 2 == 0 else ("after", "before"):
                tree, env = trees[side], envs[side]
                figures["startup ms"][side].append(startup_ms(tree, env))
                outputs: dict[str, dict] = {}
                for name in names:
                    script, read, _ = BENCHES[name]
                    if script is None:
                        data = outputs[SHARED[name]]
                    else:
                        out = Path(tmp) / f"{side}-{k}-{script[0]}.json"
                        data = outputs[name] = run_bench(tree, env, script, out)
                    figures[name][side].append(float(read(data)))
                print(f"run {k + 1}/{args.runs} {side} done", file=sys.stderr, flush=True)
    kinds = {"startup ms": "time"} | {n: BENCHES[n][2] for n in names}
    report = {"runs": args.runs, "trees": {k: str(t) for k, t in trees.items()}, "figures": {}}
    for name, sides in figures.items():
        before, after = (statistics.median(sides[s]) for s in ("before", "after"))
        worse = after / before if kinds[name] == "time" else before / after
        report["figures"][name] = {
            "before_median": round(before, 2),
            "after_median": round(after, 2),
            "worse_ratio": round(worse, 3),
            "before": [round(v, 2) for v in sides["before"]],
            "after": [round(v, 2) for v in sides["after"]],
        }
        print(f"{name:28} before {before:10.2f}  after {after:10.2f}  worse x{worse:.3f}")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
