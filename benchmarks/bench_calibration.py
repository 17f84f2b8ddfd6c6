"""Benchmark calibration with a guarantee on real model outputs.

For each labeler: half the gold-labeled items (a seeded uniform split) are calibration pairs
(``fit_and_choose`` fits on half of them and chooses the threshold on the other half); the
other half is the stream. On the stream it measures the share auto-accepted (coverage) at
ε = δ = 0.05, the accuracy of the auto-accepted items against gold, and the coverage of the
best threshold knowing all the stream's gold (the oracle), over several seeded splits.

- ``llm_predictions_css`` (read at run time only; it has no license file, nothing of it is
  copied): real zero-shot answers of 13 models. The labeler is one of the stronger models;
  its confidence signal is the share of the other stronger models that gave the same label.
- BANKING77 with the local model: 10 (and 25) reviews per label from train, the test split
  labeled; signals ``local_prob`` and ``margin``.

    python benchmarks/bench_calibration.py            # from the repository root, ~1 min
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelloop.evals.calibration import oracle_coverage, plot_reliability, plot_risk_coverage  # noqa: E402
from labelloop.route.calibrator import fit_and_choose, guarantee_sentence  # noqa: E402

SHARED = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "calibration.json"
#: the stronger models, chosen by size and vintage before looking at any accuracy
STRONG = (
    "chatgpt",
    "text-davinci-003",
    "text-davinci-002",
    "flan-ul2",
    "flan-t5-xxl",
    "flan-t5-xl",
)
MAJORITY = "majority of the stronger models"


# --- labelers -----------------------------------------------------------------------------------


def css_labeler(rows: list[dict], model: str) -> tuple[list[dict], np.ndarray]:
    """Signals and correctness of one model's answers; agreement with the other strong models."""
    signals, correct = [], []
    for r in rows:
        votes = {m: r["predictions"].get(m, {}).get("label") for m in STRONG}
        if model == MAJORITY:
            counts = Counter(v for v in votes.values() if v is not None)
            label, n = counts.most_common(1)[0] if counts else (None, 0)
            agreement = n / len(STRONG)
        else:
            label = votes[model]
            others = [v for m, v in votes.items() if m != model]
            agreement = sum(v == label for v in others) / len(others) if label else 0.0
        signals.append({"agreement": agreement})
        correct.append(label is not None and label == r["label"])
    return signals, np.array(correct)


def local_labeler(data: Path, guideline: Path, per_label: int, seed: int):
    """The local model's signals and correctness on the BANKING77 test split."""
    from bench_labeler import file_guideline, load_rows, names_guideline, sample_examples

    from labelloop.core.types import Item
    from labelloop.label.providers.base import LabelContext
    from labelloop.label.providers.local import LocalProvider

    train, test = load_rows(data)
    g = file_guideline(guideline) or names_guideline(data)
    ctx = LabelContext(guideline=g, examples=sample_examples(train, per_label, seed), seed=seed)
    start = time.perf_counter()
    out = LocalProvider().label([Item(id=r["id"], text=r["text"]) for r in test], ctx)
    seconds = time.perf_counter() - start
    signals = [dict(s.signals) for s in out]
    correct = np.array([s.value.label == r["label"] for s, r in zip(out, test, strict=True)])
    return signals, correct, seconds


# --- measuring ----------------------------------------------------------------------------------


def one_split(signals, correct, seed: int, eps: float, delta: float, start: str) -> dict:
    """Calibrate on a seeded half, route the other half, compare with the oracle."""
    order = np.random.default_rng(1000 + seed).permutation(len(correct))
    cal, stream = np.sort(order[: len(order) // 2]), np.sort(order[len(order) // 2 :])
    t0 = time.perf_counter()
    r = fit_and_choose([signals[i] for i in cal], correct[cal], eps, delta, seed, start=start)
    fit_ms = 1000 * (time.perf_counter() - t0)
    scores = r.calibrator.predict([signals[i] for i in stream])
    y = correct[stream]
    t = r.threshold.threshold
    accepted = scores >= t if t is not None else np.zeros(len(y), bool)
    _, oracle = oracle_coverage(scores, y, eps)
    coverage = float(accepted.mean())
    return {
        "seed": seed,
        "calibration_pairs": len(cal),
        "stream_items": len(stream),
        "method": r.calibrator.method,
        "threshold": t,
        "test_coverage": r.threshold.coverage,
        "upper_bound": r.threshold.upper_bound,
        "more_reviews_needed": r.threshold.more_reviews_needed,
        "reason": r.threshold.reason,
        "coverage": coverage,
        "accepted": int(accepted.sum()),
        "accepted_accuracy": float(y[accepted].mean()) if accepted.any() else None,
        "oracle_coverage": oracle,
        "ratio_to_oracle": coverage / oracle if oracle else None,
        "stream_accuracy": float(y.mean()),
        "ece_before": r.ece_before,
        "ece_after": r.ece_after,
        "brier_before": r.brier_before,
        "brier_after": r.brier_after,
        "fit_and_choose_ms": round(fit_ms, 1),
        "_result": r,
    }


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 4) if values else None


def summarise(name: str, signals, correct, args, start: str = "min_items") -> dict:
    """Figures over ``args.splits`` seeded splits: means, and the first split in full."""
    runs = [
        one_split(signals, correct, s, args.epsilon, args.delta, start) for s in range(args.splits)
    ]
    first = runs[0].pop("_result")
    for r in runs[1:]:
        r.pop("_result")
    accepted = sum(r["accepted"] for r in runs)
    right = sum(r["accepted"] * (r["accepted_accuracy"] or 0) for r in runs)
    keys = ("coverage", "oracle_coverage", "ece_before", "ece_after", "brier_before")
    out = {
        "labeler": name,
        "start": start,
        "items": len(correct),
        "accuracy": round(float(np.mean(correct)), 4),
        "splits": args.splits,
        **{f"mean_{k}": _mean(r[k] for r in runs) for k in keys + ("brier_after",)},
        "mean_ratio_to_oracle": _mean(r["ratio_to_oracle"] for r in runs),
        "splits_with_coverage": sum(r["coverage"] > 0 for r in runs),
        "splits_with_oracle_coverage": sum(r["oracle_coverage"] > 0 for r in runs),
        "pooled_accepted": accepted,
        "pooled_accepted_accuracy": round(right / accepted, 4) if accepted else None,
        "splits_accepted_accuracy_below_target": sum(
            r["accepted_accuracy"] is not None and r["accepted_accuracy"] < 1 - args.epsilon
            for r in runs
        ),
        "guarantee": guarantee_sentence(first.threshold),
        "first_split": runs[0],
        "runs": [{k: v for k, v in r.items() if k != "reason"} for r in runs],
    }
    if args.plots:
        stem = args.plots / name.replace(" ", "-").replace("/", "-")
        plot_reliability(first.reliability_before, first.reliability_after, f"{stem}-rel.png")
        plot_risk_coverage(
            first.risk_coverage, first.threshold.threshold, args.epsilon, f"{stem}-rc.png"
        )
    print(f"  {name} ({start}): done", file=sys.stderr)
    return out


def by_agreement(signals, correct) -> list[dict]:
    """Accuracy per agreement level: why a threshold can or cannot reach the target."""
    levels = np.array([s["agreement"] for s in signals])
    return [
        {
            "agreement": round(float(a), 3),
            "items": int((levels == a).sum()),
            "accuracy": round(float(correct[levels == a].mean()), 4),
        }
        for a in sorted(set(levels.tolist()), reverse=True)
    ]


def css(args) -> list[dict]:
    out = []
    for task in ("discourse", "flute"):
        path = args.css / f"{task}.jsonl"
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for model in (*STRONG, MAJORITY):
            signals, correct = css_labeler(rows, model)
            row = summarise(f"{task}/{model}", signals, correct, args)
            row["accuracy_by_agreement"] = by_agreement(signals, correct)
            out.append(row)
    return out


def banking(args) -> list[dict]:
    out = []
    for k in args.shots:
        signals, correct, seconds = local_labeler(args.banking, args.guideline, k, args.seed)
        for start in ("min_items", "predicted"):
            row = summarise(f"banking77/local, {k}/label reviews", signals, correct, args, start)
            row["label_seconds"] = round(seconds, 2)
            out.append(row)
    return out


# --- output -------------------------------------------------------------------------------------


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict], eps: float, delta: float) -> None:
    head = f"{'labeler':<46}{'start':>10}{'acc':>7}{'cover':>8}{'acc@auto':>10}"
    head += f"{'oracle':>8}{'ratio':>7}{'splits>0':>10}{'ECE b/a':>13}"
    print(f"\nCoverage at ε = {eps}, δ = {delta} (means over splits; acc@auto pooled)")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        line = f"{r['labeler']:<46}{r['start']:>10}{r['accuracy']:>7.3f}"
        line += f"{_fmt(r['mean_coverage']):>8}{_fmt(r['pooled_accepted_accuracy']):>10}"
        line += f"{_fmt(r['mean_oracle_coverage']):>8}{_fmt(r['mean_ratio_to_oracle'], '.2f'):>7}"
        line += f"{r['splits_with_coverage']:>5}/{r['splits']:<4}"
        line += f"{_fmt(r['mean_ece_before'])}/{_fmt(r['mean_ece_after'])}".rjust(13)
        print(line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--css", type=Path, default=SHARED / "llm_predictions_css")
    p.add_argument("--banking", type=Path, default=SHARED / "banking77" / "banking77.jsonl")
    p.add_argument("--guideline", type=Path, default=ROOT / "guidelines" / "support-intent.md")
    p.add_argument("--shots", default="10,25", help="reviews per label, comma-separated")
    p.add_argument("--epsilon", type=float, default=0.05)
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--splits", type=int, default=20, help="seeded calibration/stream splits")
    p.add_argument("--seed", type=int, default=0, help="which reviews are drawn from train")
    p.add_argument("--plots", type=Path, default=None, help="folder for PNGs of the first split")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    args.shots = [int(s) for s in args.shots.split(",") if s.strip()]
    sys.path.insert(0, str(ROOT / "benchmarks"))

    rows = css(args) + banking(args)
    print_table(rows, args.epsilon, args.delta)
    result = {
        "epsilon": args.epsilon,
        "delta": args.delta,
        "splits": args.splits,
        "strong_models": list(STRONG),
        "machine": {"python": platform.python_version()},
        "labelers": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
