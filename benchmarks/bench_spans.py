"""Benchmark the offline span labeler (``model="local"``, ``kind: spans``) on WNUT-17.

For each n in ``--ns`` (default 0, 10, 50, 200) a fresh project is made the way the CLI
makes one (``init`` with ``guidelines/wnut17-entities.md``), n TRAIN sentences are imported
as gold reviews (``reviewer="gold"``), the TEST sentences as unlabeled items, and
``loop.label(project)`` labels them with the local model: n = 0 is zero-shot, trained on the
guideline's span-marked examples alone. Reported on the test split:

- exact span P/R/F1 (micro; a span counts when start, end and label all match:
  ``labelloop.evals.agreement.span_exact_prf``) and exact match (the sentence's span set
  equals the gold set), on the sentences with at least one gold entity and on all of them,
  next to the all-empty baseline (predict no spans: span-F1 0, exact match = the share of
  sentences without an entity);
- the label run's wall time (``loop.label``: fit, predict, store, route) and items/s.

Then the routing guarantee at 95% (epsilon 0.05, delta 0.05): a uniform random sample of
the test items (``--cal-share``, a third by default; the same draw for every n) is imported
with its gold spans as a blind calibration sample (``sample=True``, as ``labelloop demo``
imports its reviewed part), ``labelloop.route.calibrate.calibrate`` fits and tests the
threshold, and the routes are read back from the store. On the test items outside the
calibration sample: the certified coverage (the share routed past people: auto-accepted or
audit) and the exact-match accuracy of those accepted items, split into suggestions that
hold spans and suggestions with none.

By default the calibration look tests the suggestions the n-review model already made (the
calibration items were labeled before their gold was imported, so they are out of sample
and blind), so every column of a row describes the same model. ``--relabel`` also runs
``loop.label`` again after the import, as a team would: the local model then retrains on
n + calibration reviews (the calibration items cross-fitted) and relabels everything before
the look; that block is reported beside the first.

Reviewed train sentences are a seeded uniform draw (``--draw uniform``, the default: what a
team that reviews its stream in order gets, about a third of WNUT train sentences holding an
entity); ``--draw half`` takes half with an entity, ``--draw entities`` only sentences with
one. Draws are nested: the 10 sentences of n = 10 are the first 10 of n = 50.

    python benchmarks/bench_spans.py --quick              # n = 10, 300 test sentences
    python benchmarks/bench_spans.py                      # n = 0, 10, 50, 200; 1,287 test
    python benchmarks/bench_spans.py --draw entities --relabel
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_loop import oracle_coverage  # noqa: E402
from labelloop import loop  # noqa: E402
from labelloop.core.errors import LabelloopError  # noqa: E402
from labelloop.core.types import Route  # noqa: E402
from labelloop.evals.agreement import (  # noqa: E402
    exact_set_accuracy,
    span_exact_prf,
    span_overlap_prf,
)
from labelloop.project import init_project  # noqa: E402
from labelloop.route.calibrate import calibrate  # noqa: E402

#: the shared datasets folder beside the checkout (or beside a folder of worktrees)
DEFAULT_DATA = next(
    (
        d / "shared" / "datasets" / "wnut17" / "wnut17.jsonl"
        for d in ROOT.parents
        if (d / "shared" / "datasets" / "wnut17").is_dir()
    ),
    ROOT.parent / "shared" / "datasets" / "wnut17" / "wnut17.jsonl",
)
DEFAULT_GUIDELINE = ROOT / "guidelines" / "wnut17-entities.md"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "spans.json"
QUICK_OUT = ROOT / "benchmarks" / "results" / "spans_quick.json"
LABELS = ("person", "location", "group", "creative-work", "corporation", "product")
TARGET, DELTA = 0.95, 0.05
ACCEPTED = (Route.AUTO_ACCEPTED.value, Route.AUDIT.value)
#: the labeler's code, hashed into the results (it is being worked on)
LABELER_FILES = (
    "agent/label/providers/local_spans.py",
    "agent/label/providers/local.py",
    "agent/label/lexicons.py",
)


# --- data ---------------------------------------------------------------------------------------


def load_rows(path: Path) -> tuple[list[dict], list[dict]]:
    """Train and test sentences as import rows {id, text, spans: [{start, end, label}]}."""
    if not path.is_file():
        raise SystemExit(
            f"error: WNUT-17 data not found at {path}: pass --data PATH/wnut17.jsonl "
            "(the shared copy is shared/datasets/wnut17/wnut17.jsonl)"
        )
    out: dict[str, list[dict]] = {"train": [], "test": []}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("split") not in out:
                continue
            spans = [{k: s[k] for k in ("start", "end", "label")} for s in r["spans"]]
            out[r["split"]].append({"id": short_id(r["id"]), "text": r["text"], "spans": spans})
    if not out["train"] or not out["test"]:
        raise SystemExit(f"error: {path} has no train or no test rows: is it wnut17.jsonl?")
    return out["train"], out["test"]


def short_id(source_id: str) -> str:
    """``wnut17-test-0042`` -> ``w17-test-0042``."""
    return "w17-" + source_id.split("-", 1)[1]


def draw_order(train: list[dict], how: str, seed: int) -> list[dict]:
    """The train sentences in the order reviews are taken (n reviews: the first n)."""
    rng = random.Random(seed)
    if how == "uniform":
        rows = list(train)
        rng.shuffle(rows)
        return rows
    with_e = [r for r in train if r["spans"]]
    without = [r for r in train if not r["spans"]]
    rng.shuffle(with_e)
    rng.shuffle(without)
    if how == "entities":
        return with_e
    # half: alternate, one with an entity and one without
    return [r for pair in zip(with_e, without, strict=False) for r in pair]


def _write_jsonl(path: Path, rows) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )


def doc(spans) -> tuple[tuple[int, int, str], ...]:
    """A sentence's spans as sorted (start, end, label) tuples (rows or ``Span`` objects)."""
    out = []
    for s in spans or ():
        if isinstance(s, dict):
            out.append((s["start"], s["end"], s["label"]))
        else:
            out.append((s.start, s.end, s.label))
    return tuple(sorted(out))


# --- metrics ------------------------------------------------------------------------------------


def token_offsets(text: str) -> list[tuple[int, int]]:
    """(start, end) of each whitespace-separated token (WNUT texts are tokens joined by
    single spaces)."""
    out, at = [], 0
    for tok in text.split(" "):
        out.append((at, at + len(tok)))
        at += len(tok) + 1
    return out


def scores(pred: list[tuple], gold: list[tuple], tokens: list[list[tuple[int, int]]]) -> dict:
    """Exact span P/R/F1 (micro), exact match, per label F1; untyped exact spans (labels
    ignored) and token overlap F1 (same label) to tell boundary and type errors apart."""
    prf = span_exact_prf(pred, gold)
    untyped = span_exact_prf(_untyped(pred), _untyped(gold))
    overlap = span_overlap_prf(pred, gold, tokens)
    per_label = {}
    for lab in LABELS:
        p = [tuple(s for s in d if s[2] == lab) for d in pred]
        g = [tuple(s for s in d if s[2] == lab) for d in gold]
        per_label[lab] = _round(span_exact_prf(p, g)["f1"])
    return {
        "sentences": len(gold),
        "gold_spans": sum(map(len, gold)),
        "predicted_spans": sum(map(len, pred)),
        "precision": _round(prf["precision"]),
        "recall": _round(prf["recall"]),
        "f1": _round(prf["f1"]),
        "exact_match": _round(exact_set_accuracy(pred, gold)),
        "f1_untyped": _round(untyped["f1"]),
        "f1_token_overlap": _round(overlap["f1"]),
        "f1_per_label": per_label,
    }


def _untyped(docs: list[tuple]) -> list[tuple]:
    return [tuple((a, b, "entity") for a, b, _ in d) for d in docs]


def span_scores(pred_by_id: dict[str, tuple], test: list[dict]) -> dict:
    """``scores`` on all test sentences and on those with at least one gold entity."""
    gold = [doc(r["spans"]) for r in test]
    pred = [pred_by_id.get(r["id"], ()) for r in test]
    toks = [token_offsets(r["text"]) for r in test]
    keep = [i for i, g in enumerate(gold) if g]
    return {
        "all": scores(pred, gold, toks),
        "with_entity": scores(
            [pred[i] for i in keep], [gold[i] for i in keep], [toks[i] for i in keep]
        ),
        "no_suggestion": sum(r["id"] not in pred_by_id for r in test),
    }


def baseline(test: list[dict]) -> dict:
    """Predicting no spans anywhere."""
    empty = {r["id"]: () for r in test}
    return span_scores(empty, test)


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


# --- one n --------------------------------------------------------------------------------------


def predictions(project, model: str, ids: set[str]) -> dict[str, tuple]:
    """The model's latest spans per item (items with no usable suggestion are left out)."""
    latest = project.store.latest_suggestions(model=model)
    out = {}
    for i, s in latest.items():
        if i in ids and s is not None and s.value is not None and s.value.spans is not None:
            out[i] = doc(s.value.spans)
    return out


def timed_label(project) -> tuple[object, float]:
    t = time.perf_counter()
    run = loop.label(project)
    return run, time.perf_counter() - t


def one_n(n: int, order: list[dict], test: list[dict], cal_ids: set[str], args, work: Path):
    root = work / f"n{n}"
    project = init_project(root, args.guideline)
    data = root / "data"
    data.mkdir()
    reviewed = order[:n]
    if reviewed:
        _write_jsonl(data / "reviewed.jsonl", reviewed)
        loop.import_file(project, data / "reviewed.jsonl", reviewer="gold")
    _write_jsonl(data / "test.jsonl", ({"id": r["id"], "text": r["text"]} for r in test))
    loop.import_file(project, data / "test.jsonl")

    run, wall = timed_label(project)
    ids = {r["id"] for r in test}
    pred = predictions(project, run.model, ids)
    row = {
        "n": n,
        "reviews": len(reviewed),
        "reviews_with_entity": sum(bool(r["spans"]) for r in reviewed),
        "review_spans": sum(len(r["spans"]) for r in reviewed),
        "label": {
            "model": run.model,
            "version": run.version,
            "labeled": run.labeled,
            "failed": run.failed,
            "failures": dict(run.failures),
            "wall_seconds": round(wall, 3),
            "run_seconds": round(run.seconds, 3),
            "items_per_second": _ratio(run.labeled, wall) if wall else None,
        },
        "test": span_scores(pred, test),
    }
    stream = [r for r in test if r["id"] not in cal_ids]
    # the calibration sample: a uniform draw of test items, answered with gold (blind)
    _write_jsonl(data / "calibration.jsonl", (r for r in test if r["id"] in cal_ids))
    loop.import_file(project, data / "calibration.jsonl", reviewer="gold", sample=True)
    row["routing"] = routing(project, run.model, stream)
    row["routing"]["stream_scores"] = span_scores(
        {i: d for i, d in pred.items() if i not in cal_ids}, stream
    )
    if args.relabel:
        run2, wall2 = timed_label(project)
        block = routing(project, run2.model, stream)
        block["label"] = {
            "labeled": run2.labeled,
            "failed": run2.failed,
            "wall_seconds": round(wall2, 3),
        }
        block["stream_scores"] = span_scores(
            predictions(project, run2.model, {r["id"] for r in stream}), stream
        )
        row["routing_relabeled"] = block
    print(_progress(row), file=sys.stderr, flush=True)
    return row


def warm_up(test: list[dict], guideline: Path, work: Path) -> None:
    """Label a few items once, so the first row's time is not the process's start-up
    (imports, first model build)."""
    project = init_project(work / "warm-up", guideline)
    path = work / "warm-up" / "items.jsonl"
    _write_jsonl(path, ({"id": r["id"], "text": r["text"]} for r in test[:20]))
    loop.import_file(project, path)
    loop.label(project)


def routing(project, model: str, stream: list[dict]) -> dict:
    """Calibrate at TARGET/DELTA; routes and accepted items' exact match on the stream
    (test items outside the calibration sample)."""
    gold = {r["id"]: doc(r["spans"]) for r in stream}
    signal = confidence_signal(project, model, gold)
    t = time.perf_counter()
    report = calibrate(project, target_accuracy=TARGET, delta=DELTA)
    seconds = time.perf_counter() - t
    routes: Counter = Counter()
    groups = {"spans": [0, 0], "none": [0, 0]}  # [accepted, right]
    for rec in project.store.iter_records(model=model):
        i = rec.item.id
        if i not in gold:
            continue
        routes[str(rec.route)] += 1
        if str(rec.route) not in ACCEPTED:
            continue
        s = rec.suggestion
        got = doc(s.value.spans) if s is not None and s.value is not None else None
        g = groups["spans" if got else "none"]
        g[0] += 1
        g[1] += got == gold[i]
    accepted = sum(g[0] for g in groups.values())
    right = sum(g[1] for g in groups.values())
    keys = (
        "threshold",
        "coverage",
        "calibration_pairs",
        "n_above",
        "errors_above",
        "error_upper_bound",
        "more_reviews_needed",
        "reason",
        "guarantee",
    )
    return {
        "calibrate": {k: report.get(k) for k in keys},
        "calibrate_seconds": round(seconds, 3),
        "stream": len(stream),
        "routes": dict(routes),
        "accepted": accepted,
        "certified_coverage": _ratio(accepted, len(stream)),
        "accepted_accuracy": _ratio(right, accepted),
        "accepted_with_spans": groups["spans"][0],
        "accepted_with_spans_accuracy": _ratio(groups["spans"][1], groups["spans"][0]),
        "accepted_no_spans": groups["none"][0],
        "accepted_no_spans_accuracy": _ratio(groups["none"][1], groups["none"][0]),
        "confidence_signal": signal,
    }


def confidence_signal(project, model: str, gold: dict[str, tuple]) -> dict:
    """How far the suggestions' confidence (before this calibration) separates right from
    wrong on the stream, knowing gold: the oracle coverage at TARGET (the largest share a
    threshold accepts with at most 1 - TARGET wrong), and the exact match of the most
    confident tenth, with how many of those suggest no spans."""
    latest = project.store.latest_suggestions(model=model, item_ids=list(gold))
    rows = []
    for i, g in gold.items():
        s = latest.get(i)
        got = doc(s.value.spans) if s is not None and s.value is not None else None
        rows.append((float(s.confidence or 0.0) if s is not None else 0.0, got == g, not got))
    rows.sort(key=lambda r: -r[0])
    top = rows[: max(1, len(rows) // 10)]
    return {
        "oracle_coverage": _round(
            oracle_coverage([r[0] for r in rows], [r[1] for r in rows], 1 - TARGET)
        ),
        "top_tenth": len(top),
        "top_tenth_exact_match": _ratio(sum(r[1] for r in top), len(top)),
        "top_tenth_no_spans": sum(r[2] for r in top),
    }


def _progress(row: dict) -> str:
    t, r = row["test"], row["routing"]
    return (
        f"  n={row['n']}: F1 {t['all']['f1']}, exact match {t['all']['exact_match']}, "
        f"label {row['label']['wall_seconds']:.1f}s, coverage {r['certified_coverage']}, "
        f"accepted accuracy {r['accepted_accuracy']}"
    )


# --- report -------------------------------------------------------------------------------------


def _f(x, width: int, digits: int = 3) -> str:
    if x is None:
        return f"{'-':>{width}}"
    if isinstance(x, float):
        return f"{x:>{width}.{digits}f}"
    return f"{x:>{width}}"


def print_table(result: dict) -> None:
    test_n, ent_n = result["test_sentences"], result["test_with_entity"]
    print(
        f"\nWNUT-17 test ({test_n:,} sentences, {ent_n:,} with an entity), local span model, "
        f"{result['draw']} draw of train reviews, seed {result['seed']}"
    )
    head = (
        f"{'setting':<22}{'F1 ent':>8}{'F1 all':>8}{'P all':>7}{'R all':>7}"
        f"{'EM ent':>8}{'EM all':>8}{'untyped':>9}{'overlap':>9}{'label s':>9}{'items/s':>9}"
    )
    print(head + "\n" + "-" * len(head))
    b = result["baseline"]
    print(
        f"{'all-empty baseline':<22}{_f(0.0, 8)}{_f(0.0, 8)}{_f(None, 7)}{_f(None, 7)}"
        f"{_f(b['with_entity']['exact_match'], 8)}{_f(b['all']['exact_match'], 8)}"
        f"{_f(0.0, 9)}{_f(0.0, 9)}"
    )
    for row in result["rows"]:
        t, lab = row["test"], row["label"]
        name = "zero-shot (guideline)" if row["n"] == 0 else f"{row['n']} reviews"
        print(
            f"{name:<22}{_f(t['with_entity']['f1'], 8)}{_f(t['all']['f1'], 8)}"
            f"{_f(t['all']['precision'], 7, 2)}{_f(t['all']['recall'], 7, 2)}"
            f"{_f(t['with_entity']['exact_match'], 8)}{_f(t['all']['exact_match'], 8)}"
            f"{_f(t['all']['f1_untyped'], 9)}{_f(t['all']['f1_token_overlap'], 9)}"
            f"{_f(lab['wall_seconds'], 9, 1)}{_f(lab['items_per_second'], 9, 0)}"
        )
    print("F1: exact span match (start, end, label), micro; EM: the sentence's spans all exact;")
    print("ent: sentences with at least one gold entity; untyped: exact-span F1 ignoring labels;")
    print("overlap: token-overlap F1 with the same label (all sentences); label s: wall time of")
    print("loop.label (fit, predict, store, route); items/s: items it labeled (test + reviewed,")
    print("the reviewed ones cross-fitted) per wall second.")
    for key, title in (
        ("routing", "suggestions of the n-review model"),
        ("routing_relabeled", "relabeled after importing the calibration sample"),
    ):
        if not any(key in r for r in result["rows"]):
            continue
        cal = result["calibration_sample"]
        print(
            f"\nRouting at {TARGET:.0%} (epsilon {1 - TARGET:.2f}, delta {DELTA}), {title}; "
            f"{cal} test items as blind calibration sample, {test_n - cal} in the stream"
        )
        head = (
            f"{'setting':<22}{'F1':>7}{'EM':>7}{'pairs':>7}{'thresh':>8}{'coverage':>10}"
            f"{'oracle':>8}{'top10% EM':>10}{'accepted':>10}"
            f"{'acc':>7}{'spans: n':>10}{'acc':>7}{'none: n':>9}{'acc':>7}"
        )
        print(head + "\n" + "-" * len(head))
        for row in result["rows"]:
            r = row.get(key)
            if r is None:
                continue
            name = "zero-shot (guideline)" if row["n"] == 0 else f"{row['n']} reviews"
            c, sc = r["calibrate"], r["stream_scores"]["all"]
            print(
                f"{name:<22}{_f(sc['f1'], 7)}{_f(sc['exact_match'], 7)}"
                f"{_f(c['calibration_pairs'], 7)}{_f(c['threshold'], 8)}"
                f"{_f(r['certified_coverage'], 10)}"
                f"{_f(r['confidence_signal']['oracle_coverage'], 8)}"
                f"{_f(r['confidence_signal']['top_tenth_exact_match'], 10)}{_f(r['accepted'], 10)}"
                f"{_f(r['accepted_accuracy'], 7)}{_f(r['accepted_with_spans'], 10)}"
                f"{_f(r['accepted_with_spans_accuracy'], 7)}{_f(r['accepted_no_spans'], 9)}"
                f"{_f(r['accepted_no_spans_accuracy'], 7)}"
            )
        print("F1, EM: the routed suggestions on the stream; coverage: stream items routed")
        print("auto_accepted or audit; acc: their exact match vs gold (spans: suggestions with")
        print("spans, none: suggestions of no spans); oracle: the largest share of the stream a")
        print("threshold on the confidence accepts at the target, knowing gold; top10% EM: exact")
        print("match of the most confident tenth of the stream.")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="wnut17.jsonl")
    p.add_argument("--guideline", type=Path, default=DEFAULT_GUIDELINE)
    p.add_argument("--ns", default="0,10,50,200", help="reviewed train sentences, comma-separated")
    p.add_argument("--draw", choices=("uniform", "half", "entities"), default="uniform")
    p.add_argument("--test", type=int, default=None, help="a seeded draw of N test sentences")
    p.add_argument("--cal-share", type=float, default=1 / 3, help="test items that calibrate")
    p.add_argument("--relabel", action="store_true", help="also label again before calibrating")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="n = 10, 300 test sentences")
    p.add_argument("--workdir", type=Path, default=None, help="keep the projects here")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.ns, args.test = "10", args.test or 300
    out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    if not args.guideline.is_file():
        raise SystemExit(f"error: guideline not found at {args.guideline}: pass --guideline")

    train, test = load_rows(args.data)
    if args.test is not None and args.test < len(test):
        test = sorted(random.Random(args.seed).sample(test, args.test), key=lambda r: r["id"])
    cal_n = round(len(test) * args.cal_share)
    cal_ids = {r["id"] for r in random.Random(args.seed + 1).sample(test, cal_n)}
    order = draw_order(train, args.draw, args.seed)
    ns = [int(x) for x in args.ns.split(",") if x.strip()]
    if max(ns) > len(order):
        raise SystemExit(f"error: n = {max(ns)} but the {args.draw} draw has {len(order)} rows")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-spans-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        try:
            warm_up(test, args.guideline, work)
        except LabelloopError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for n in ns:
            try:
                rows.append(one_n(n, order, test, cal_ids, args, work))
            except LabelloopError as err:
                print(f"error: n = {n}: {err}", file=sys.stderr)
                return 2

    result = {
        "dataset": str(args.data),
        "guideline": str(args.guideline.relative_to(ROOT))
        if args.guideline.is_relative_to(ROOT)
        else str(args.guideline),
        "draw": args.draw,
        "seed": args.seed,
        "quick": args.quick,
        "test_sentences": len(test),
        "test_with_entity": sum(bool(r["spans"]) for r in test),
        "calibration_sample": cal_n,
        "target_accuracy": TARGET,
        "delta": DELTA,
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "labeler_sources": {
            f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:16]
            for f in LABELER_FILES
            if (ROOT / f).is_file()
        },
        "baseline": baseline(test),
        "rows": rows,
    }
    print_table(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    raise SystemExit(main())
