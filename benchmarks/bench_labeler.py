"""Benchmark the offline labeler (``model="local"``) on BANKING77.

Measures, on the test split: zero-shot accuracy from the guideline (and from label names
alone), accuracy after k reviewed examples per label drawn (seeded) from the train split,
with the full train split for context, the expected calibration error of the model's own
probability, cross-fitted accuracy on the training items themselves, and throughput.

    python benchmarks/bench_labeler.py            # from the repository root
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelloop.core.types import Guideline, Item, LabelDef, LabelValue  # noqa: E402
from labelloop.label.providers.base import Example, LabelContext, get_provider  # noqa: E402
from labelloop.label.providers.local import LocalProvider  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "banking77" / "banking77.jsonl"
DEFAULT_GUIDELINE = ROOT / "guidelines" / "support-intent.md"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "labeler.json"


def ece(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """Expected calibration error: bin-weighted |accuracy - mean confidence|, equal-width bins."""
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for c, ok in zip(confidences, correct, strict=True):
        b = sums[min(int(c * bins), bins - 1)]
        b[0] += 1
        b[1] += c
        b[2] += ok
    n = len(confidences)
    return sum(abs(s[1] - s[2]) for s in sums.values()) / n if n else 0.0


def load_rows(path: Path) -> tuple[list[dict], list[dict]]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"]


def names_guideline(path: Path) -> Guideline:
    """A guideline with the label names only (from categories.json next to the data)."""
    names = json.loads((path.parent / "categories.json").read_text(encoding="utf-8"))
    return Guideline(
        task="banking77-names", labels=tuple(LabelDef(name=n) for n in names), version="names"
    )


def file_guideline(path: Path) -> Guideline | None:
    try:
        from labelloop.core.guideline import load_guideline
    except ImportError:
        return None
    return load_guideline(path) if path.exists() else None


def sample_examples(train: list[dict], per_label: int | None, seed: int) -> tuple[Example, ...]:
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in train:
        by_label[r["label"]].append(r)
    rng = random.Random(seed)
    picked = []
    for label in sorted(by_label):
        rows = by_label[label]
        picked.extend(rows if per_label is None else rng.sample(rows, min(per_label, len(rows))))
    return tuple(
        Example(item=Item(id=r["id"], text=r["text"]), value=LabelValue(label=r["label"]))
        for r in picked
    )


def evaluate(provider, rows: list[dict], ctx: LabelContext, batch: int) -> dict:
    """Accuracy, ECE and mean confidence of the provider on rows (labeled in batches)."""
    items = [Item(id=r["id"], text=r["text"]) for r in rows]
    start = time.perf_counter()
    out = []
    for i in range(0, len(items), batch):
        out.extend(provider.label(items[i : i + batch], ctx))
    seconds = time.perf_counter() - start
    correct = [s.value.label == r["label"] for s, r in zip(out, rows, strict=True)]
    conf = [s.confidence for s in out]
    return {
        "n": len(rows),
        "accuracy": round(sum(correct) / len(rows), 4),
        "ece": round(ece(conf, correct), 4),
        "mean_confidence": round(sum(conf) / len(conf), 4),
        "seconds": round(seconds, 3),
    }


def setting(provider, name: str, ctx: LabelContext, test, batch: int, crossfit: bool) -> dict:
    """One row of the table: fit (timed), test metrics, cross-fitted training metrics."""
    start = time.perf_counter()
    provider.label([Item(id="__warmup__", text="hello")], ctx)  # fits the full model
    fit = time.perf_counter() - start
    row = {"setting": name, "reviews": len(ctx.examples), "fit_seconds": round(fit, 3)}
    row["test"] = evaluate(provider, test, ctx, batch)
    if crossfit and ctx.examples:
        train_rows = [
            {"id": e.item.id, "text": e.item.text, "label": e.value.label} for e in ctx.examples
        ]
        row["crossfit_train"] = evaluate(provider, train_rows, ctx, batch)
        # the same texts under new ids: what in-sample prediction would have claimed
        copies = [{**r, "id": r["id"] + "-copy"} for r in train_rows]
        row["insample_train"] = evaluate(provider, copies, ctx, batch)
    print(f"  {name}: done in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    return row


def throughput(provider, test, ctx: LabelContext, n: int, batch: int, repeat: int) -> dict:
    """Best of ``repeat`` runs labeling n items (test repeated, fresh ids) in batches."""
    runs = [_throughput_once(provider, test, ctx, n, batch) for _ in range(repeat)]
    return max(runs, key=lambda r: r["items_per_second"]) | {"repeats": repeat}


def _throughput_once(provider, test, ctx: LabelContext, n: int, batch: int) -> dict:
    items = [Item(id=f"tp-{i}", text=test[i % len(test)]["text"]) for i in range(n)]
    provider.label(items[:batch], ctx)  # warm: model fitted, embeddings loaded
    lat = []
    start = time.perf_counter()
    for i in range(0, n, batch):
        t = time.perf_counter()
        provider.label(items[i : i + batch], ctx)
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - start
    lat.sort()
    return {
        "items": n,
        "batch_size": batch,
        "reviews": len(ctx.examples),
        "seconds": round(total, 3),
        "items_per_second": round(n / total, 1),
        "batch_p50_ms": round(1000 * statistics.median(lat), 1),
        "batch_p95_ms": round(1000 * lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
    }


def print_table(rows: list[dict], tp: list[dict]) -> None:
    head = f"{'setting':<34}{'reviews':>8}{'fit s':>8}{'acc':>8}{'ECE':>7}{'conf':>7}"
    head += f"{'xfit acc':>10}{'xfit ECE':>10}{'in-sample acc':>15}"
    print("\nBANKING77 test split (3,080 items), local model\n" + head + "\n" + "-" * len(head))
    for r in rows:
        t, x = r["test"], r.get("crossfit_train")
        line = f"{r['setting']:<34}{r['reviews']:>8}{r['fit_seconds']:>8.2f}"
        line += f"{t['accuracy']:>8.3f}{t['ece']:>7.3f}{t['mean_confidence']:>7.3f}"
        if x:
            line += f"{x['accuracy']:>10.3f}{x['ece']:>10.3f}"
            line += f"{r['insample_train']['accuracy']:>15.3f}"
        print(line)
    print("xfit: the reviewed training items themselves, each predicted by the model trained")
    print("without its fold (what calibration sees); in-sample: the same texts under new ids.")
    print("\nThroughput")
    for t in tp:
        print(
            f"  {t['items']} items, {t['reviews']} reviews, batches of {t['batch_size']}: "
            f"{t['items_per_second']:.0f} items/s ({t['seconds']:.2f}s), "
            f"batch p50 {t['batch_p50_ms']:.0f} ms, p95 {t['batch_p95_ms']:.0f} ms"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="banking77.jsonl")
    p.add_argument("--guideline", type=Path, default=DEFAULT_GUIDELINE)
    p.add_argument("--shots", default="10,25", help="reviews per label, comma-separated")
    p.add_argument("--no-full", action="store_true", help="skip the full-train setting")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=1000, help="items per label() call")
    p.add_argument("--throughput-items", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3, help="throughput runs (the best is kept)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    train, test = load_rows(args.data)
    import sklearn.linear_model  # noqa: F401  (import time is not fit time)

    provider = get_provider("local")
    assert isinstance(provider, LocalProvider)
    names = names_guideline(args.data)
    guide = file_guideline(args.guideline)
    main_g = guide or names
    zs_rows = []
    if guide is not None:
        zs_rows.append(("zero-shot, guideline", guide))
    zs_rows.append(("zero-shot, label names only", names))
    rows = [
        setting(provider, n, LabelContext(guideline=g), test, args.batch_size, False)
        for n, g in zs_rows
    ]
    shots = [int(s) for s in args.shots.split(",") if s.strip()]
    ctxs = {}
    for k in shots + ([] if args.no_full else [None]):
        name = f"{k}/label reviews" if k else "full train"
        ctx = LabelContext(
            guideline=main_g, examples=sample_examples(train, k, args.seed), seed=args.seed
        )
        ctxs[k] = ctx
        rows.append(setting(provider, name, ctx, test, args.batch_size, k is not None))
    tp_ctx = [LabelContext(guideline=main_g)] + [ctxs[k] for k in (shots[:1] + [None]) if k in ctxs]
    tp = [
        throughput(provider, test, c, args.throughput_items, args.batch_size, args.repeat)
        for c in tp_ctx
    ]
    print_table(rows, tp)

    result = {
        "dataset": str(args.data),
        "guideline": str(args.guideline) if guide else "label names only (fallback)",
        "guideline_version": main_g.version,
        "seed": args.seed,
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "settings": rows,
        "throughput": tp,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
