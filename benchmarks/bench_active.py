"""Benchmark the active queue's order on BANKING77: the local model's accuracy after N reviews.

Each seed starts from 10 reviews per intent drawn (seeded) from the train split; the stream
is the test split (3,080 items). A round labels the stream with the local model, takes the
next BATCH items of the active queue in each order (``diverse``, ``uncertainty``,
``random``, as ``labelloop.route.active.reorder`` orders them) among the items not reviewed yet,
reviews them with their gold labels, and retrains, until N = 800 active reviews. After each
N it scores:

- ``unreviewed``: accuracy on the stream items not reviewed yet (what the loop would
  auto-label; uncertainty picks remove the hard items, so this flatters them);
- ``stream``: out-of-sample accuracy on all 3,080 stream items (a reviewed item is predicted
  by the model trained without its fold, as the local model does);
- ``heldout``: accuracy on the train items that were never seed reviews (the same ~9,200
  items for every order: the model's quality, whichever items were picked);
- ``intents``: distinct gold intents among the active reviews.

It also times ``router.route()`` on a project of the 3,080 test items (labeled by the local
model) in each order: the time a diverse order adds to routing.

    python benchmarks/bench_active.py                 # 5 seeds, 5 to 12 min on 2 cores (load)
    python benchmarks/bench_active.py --seeds 10      # the figures in benchmarks/README.md
    python benchmarks/bench_active.py --route-only    # route() timing only, into --out
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelloop.core.types import Item, LabelValue, Route, RouteDecision  # noqa: E402
from labelloop.label.providers.base import Example, LabelContext  # noqa: E402
from labelloop.route import active  # noqa: E402
from labelloop.route import rules as routing  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "banking77"
DEFAULT_GUIDELINE = ROOT / "guidelines" / "support-intent.md"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "active.json"
ORDERS = ("diverse", "uncertainty", "random")
CHECKPOINTS = (0, 100, 200, 400, 800)
METRICS = ("unreviewed", "stream", "heldout", "intents")


def load_split(path: Path, split: str) -> list[dict]:
    """Rows of train.csv or test.csv as {id, text, label}; ids name the split and row."""
    with path.open(encoding="utf-8", newline="") as f:
        return [
            {"id": f"banking77-{split}-{i:05d}", "text": r["text"], "label": r["category"]}
            for i, r in enumerate(csv.DictReader(f))
        ]


def seed_rows(train: list[dict], per_label: int, seed: int) -> list[dict]:
    """``per_label`` train rows of each intent, drawn with ``seed``."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in train:
        by_label[r["label"]].append(r)
    rng = random.Random(seed)
    return [r for lab in sorted(by_label) for r in rng.sample(by_label[lab], per_label)]


def example(row: dict) -> Example:
    return Example(item=Item(id=row["id"], text=row["text"]), value=LabelValue(label=row["label"]))


def accuracy(suggestions, rows: list[dict]) -> float:
    right = sum(
        s.value is not None and s.value.label == r["label"]
        for s, r in zip(suggestions, rows, strict=True)
    )
    return right / len(rows) if rows else float("nan")


def run_seed(job: tuple[int, dict]) -> dict:
    """Every order's rounds for one seed: {order: {N: {metric: value}}}, and seconds taken."""
    seed, cfg = job
    from labelloop.core.guideline import load_guideline
    from labelloop.label.fewshot import item_vectors
    from labelloop.label.providers.local import LocalProvider

    start = time.perf_counter()
    guideline = load_guideline(cfg["guideline"])
    train = load_split(Path(cfg["data"]) / "train.csv", "train")
    stream = load_split(Path(cfg["data"]) / "test.csv", "test")
    seeds = seed_rows(train, cfg["per_label"], seed)
    seed_ids = {r["id"] for r in seeds}
    heldout = [r for r in train if r["id"] not in seed_ids]
    items = [Item(id=r["id"], text=r["text"]) for r in stream]
    held_items = [Item(id=r["id"], text=r["text"]) for r in heldout]
    by_id = {r["id"]: r for r in stream}
    vecs = item_vectors(items)
    row_of = {r["id"]: k for k, r in enumerate(stream)}

    def vectors(ids):
        return vecs[[row_of[i] for i in ids]]

    provider = LocalProvider()
    out: dict[str, dict] = {}
    for order in cfg["orders"]:
        reviewed: list[str] = []
        rounds: dict[int, dict] = {}
        while True:
            ctx = LabelContext(
                guideline=guideline,
                examples=tuple(example(r) for r in seeds)
                + tuple(example(by_id[i]) for i in reviewed),
            )
            sugg = provider.label(items, ctx)
            n = len(reviewed)
            if n in cfg["checkpoints"]:
                done = set(reviewed)
                rest = [(s, r) for s, r in zip(sugg, stream, strict=True) if r["id"] not in done]
                rounds[n] = {
                    "unreviewed": accuracy([s for s, _ in rest], [r for _, r in rest]),
                    "stream": accuracy(sugg, stream),
                    "heldout": accuracy(provider.label(held_items, ctx), heldout),
                    "intents": len({by_id[i]["label"] for i in reviewed}),
                }
            if n >= max(cfg["checkpoints"]):
                break
            reviewed += next_batch(sugg, set(reviewed), order, vectors, seed, cfg)
        out[order] = rounds
    return {"seed": seed, "orders": out, "seconds": time.perf_counter() - start}


def next_batch(suggestions, reviewed: set[str], order: str, vectors, seed: int, cfg: dict):
    """The next ``batch`` items of the active queue in ``order``, as routing would order them."""
    priorities = {}
    for s in suggestions:
        if s.item_id in reviewed:
            continue
        d = RouteDecision(item_id=s.item_id, route=Route.ACTIVE, reason="", suggestion_id=None)
        priorities[s.item_id] = routing.priority(d, s)
    new = active.reorder(
        priorities, order, vectors, seed, batch=cfg["batch"], pool_factor=cfg["pool_factor"]
    )
    return sorted(new, key=lambda i: (new[i], i))[: cfg["batch"]]


def spread(values: list[float]) -> dict:
    """Median and quartiles of the values over seeds."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {
        "median": round(statistics.median(values), 4),
        "q1": round(q[0], 4),
        "q3": round(q[2], 4),
    }


def summarise(runs: list[dict], orders, checkpoints) -> dict:
    """order -> N -> metric -> {median, q1, q3, values} over seeds."""
    out: dict = {}
    for order in orders:
        for n in checkpoints:
            for m in METRICS:
                vals = [r["orders"][order][n][m] for r in runs]
                out.setdefault(order, {}).setdefault(str(n), {})[m] = spread(vals) | {
                    "values": [round(v, 4) for v in vals]
                }
    return out


ROUTE_TIMER = """
import json, sys, time
from labelloop.project import load_project
from labelloop import loop
from labelloop.route import router
project = load_project(sys.argv[1])
cfg = project.config
routing_cfg = cfg.routing.model_copy(update={"active_order": sys.argv[2]})
project.config = cfg.model_copy(update={"routing": routing_cfg})
project.store.count_items()  # the store opened: not the time measured
t = time.perf_counter(); router.route(project); cold = time.perf_counter() - t
print(json.dumps(cold))
"""


def route_timing(cfg: dict, repeat: int) -> dict:
    """Seconds of ``router.route()`` per order on a project of the test split (10 reviews
    per intent imported, then labeled by the local model): ``cold`` in a fresh process
    (what `labelloop import` pays: embedding model and scikit-learn loaded), ``warm`` in
    the process that labeled (what `labelloop label` pays). Orders are timed in turn,
    ``repeat`` times, and the best time of each is kept: other load on the machine only
    ever adds time."""
    from labelloop import loop
    from labelloop.project import init_project
    from labelloop.route import router

    stream = load_split(Path(cfg["data"]) / "test.csv", "test")
    train = load_split(Path(cfg["data"]) / "train.csv", "train")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{"id": r["id"], "text": r["text"]} for r in stream]
        rows += [{**r} for r in seed_rows(train, 10, 0)]
        data = Path(tmp) / "items.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        project = init_project(Path(tmp) / "p", cfg["guideline"])
        loop.import_file(project, data)
        loop.label(project, "local")
        out: dict = {"items": len(stream), "active_items": project.store.route_counts()["active"]}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        base = project.config
        times: dict = {o: {"cold": [], "warm": []} for o in ORDERS}
        for _ in range(repeat):
            for order in ORDERS:
                routing_cfg = base.routing.model_copy(update={"active_order": order})
                project.config = base.model_copy(update={"routing": routing_cfg})
                router.route(project)  # the order's priorities written: steady state next
                start = time.perf_counter()
                router.route(project)
                times[order]["warm"].append(time.perf_counter() - start)
                cmd = [sys.executable, "-c", ROUTE_TIMER, str(project.root), order]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                times[order]["cold"].append(json.loads(done.stdout.splitlines()[-1]))
        for order in ORDERS:
            out[order] = {k: round(min(v), 3) for k, v in times[order].items()}
        project.store.close()
    return out


def print_table(summary: dict, orders, checkpoints, n_seeds: int) -> None:
    print(
        "\nBANKING77, local model, accuracy after N active reviews "
        f"(median [q1, q3], {n_seeds} seeds)"
    )
    for m, what in (
        ("unreviewed", "stream items not reviewed yet"),
        ("stream", "all 3,080 stream items, out of sample"),
        ("heldout", "held-out train items"),
        ("intents", "distinct intents among the active reviews (of 77)"),
    ):
        print(f"\n{m}: {what}")
        head = f"{'N':>5}" + "".join(f"{o:>24}" for o in orders)
        print(head + "\n" + "-" * len(head))
        for n in checkpoints:
            cells = []
            for o in orders:
                s = summary[o][str(n)][m]
                fmt = "{:.0f}" if m == "intents" else "{:.3f}"
                cells.append(
                    f"{fmt.format(s['median'])} [{fmt.format(s['q1'])}, {fmt.format(s['q3'])}]"
                )
            print(f"{n:>5}" + "".join(f"{c:>24}" for c in cells))


def paired(runs: list[dict], checkpoints, a: str = "diverse", b: str = "uncertainty") -> dict:
    """N -> metric -> the per-seed difference a - b: median, quartiles, seeds where a won."""
    out: dict = {}
    for n in checkpoints[1:]:
        for m in METRICS[:3]:
            d = [r["orders"][a][n][m] - r["orders"][b][n][m] for r in runs]
            out.setdefault(str(n), {})[m] = spread(d) | {
                "wins": sum(x > 0 for x in d),
                "seeds": len(d),
            }
    return out


def print_paired(diff: dict) -> None:
    print("\ndiverse - uncertainty, paired by seed (median [q1, q3], seeds where diverse is ahead)")
    for n, by_metric in diff.items():
        cells = [
            f"{m} {v['median']:+.4f} [{v['q1']:+.4f}, {v['q3']:+.4f}] {v['wins']}/{v['seeds']}"
            for m, v in by_metric.items()
        ]
        print(f"{n:>5}  " + ";  ".join(cells))


def print_timing(timing: dict) -> None:
    print(
        f"\nroute() on {timing['items']:,} items ({timing['active_items']:,} active), "
        "seconds (best of repeats):"
    )
    for o in ORDERS:
        print(f"  {o:<12} cold {timing[o]['cold']:.2f}  warm {timing[o]['warm']:.2f}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of train.csv, test.csv")
    p.add_argument("--guideline", type=Path, default=DEFAULT_GUIDELINE)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--jobs", type=int, default=2, help="seeds run in parallel processes")
    p.add_argument("--per-label", type=int, default=10, help="seed reviews per intent")
    p.add_argument("--batch", type=int, default=active.BATCH, help="active reviews per round")
    p.add_argument("--pool-factor", type=int, default=active.POOL_FACTOR)
    p.add_argument("--orders", default=",".join(ORDERS))
    p.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)))
    p.add_argument("--route-repeat", type=int, default=5, help="0 skips the route() timing")
    p.add_argument(
        "--route-only", action="store_true", help="time route() only, into the --out file"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    orders = args.orders.split(",")
    checkpoints = tuple(int(n) for n in args.checkpoints.split(","))
    cfg = {
        "data": str(args.data),
        "guideline": str(args.guideline),
        "per_label": args.per_label,
        "batch": args.batch,
        "pool_factor": args.pool_factor,
        "orders": orders,
        "checkpoints": checkpoints,
    }
    if args.route_only:
        result = json.loads(args.out.read_text(encoding="utf-8"))
    else:
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            runs = list(pool.map(run_seed, [(s, cfg) for s in range(args.seeds)]))
        loop_seconds = time.perf_counter() - start
        summary = summarise(runs, orders, checkpoints)
        print_table(summary, orders, checkpoints, args.seeds)
        diff = paired(runs, checkpoints) if {"diverse", "uncertainty"} <= set(orders) else None
        if diff:
            print_paired(diff)
        print(f"\n{args.seeds} seeds in {loop_seconds:.0f}s with {args.jobs} processes")
        result = {
            "benchmark": "active",
            "data": "BANKING77 (train: seed reviews and held-out; test: the stream)",
            "settings": {k: v for k, v in cfg.items() if k not in ("data", "guideline")}
            | {"seeds": args.seeds, "jobs": args.jobs, "guideline": args.guideline.name},
            "summary": summary,
            "diverse_minus_uncertainty": diff,
            "loop_seconds": round(loop_seconds, 1),
            "seconds_per_seed": [round(r["seconds"], 1) for r in runs],
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        }
    if args.route_repeat:
        result["route_seconds"] = route_timing(cfg, args.route_repeat)
        print_timing(result["route_seconds"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
