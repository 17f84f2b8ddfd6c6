"""Benchmark the whole calibration loop as a team lives it, on BANKING77 with the local model.

Per seed: a project whose guideline holds the 77 intent names (humanised), 10 reviews per
label drawn (seeded) from the train split as seed reviews (not counted), and the 3,080 test
items as the stream. Then rounds of ``label`` -> ``calibrate`` -> a simulated reviewer who
answers from gold through the review console's service: every item waiting in the
calibration and audit queues (blind), then ``--active`` items of the active queue in queue
order. The run ends when every stream item is reviewed or auto-accepted, or after
``--rounds`` rounds.

Two code trees run side by side, each (method, seed) in its own process with
``PYTHONPATH`` on its tree and a fresh project folder as working directory: ``baseline``,
the project at ``BASELINE_COMMIT`` (extracted with ``git archive``), and ``current``, this
checkout. The harness uses only APIs both trees have.

Reported per method, medians and quartiles over seeds:

- blind reviews (calibration + audit) until the first certified threshold;
- certified coverage (the share of the unreviewed stream routed to auto-accept or audit)
  divided by the oracle's, after 200, 400 and 800 blind reviews (the state of the last
  ``calibrate`` that had at most that many); the oracle is the largest share of the same
  unreviewed items a threshold on the final model's confidence auto-accepts at the target
  accuracy, against gold. ``oracle now`` is the same for the model in force at that round:
  the gap between the two is the model's, the gap to the certified coverage the method's;
- total human reviews (calibration + audit + active, plus what is left for people at the
  end) to finish the 3,080 items, against 3,080 by hand;
- the true accuracy of auto-accepted items against gold in every round.

    python benchmarks/bench_loop.py --quick                # 3 seeds, 5 rounds
    python benchmarks/bench_loop.py --seeds 20 --jobs 2    # the full run
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
#: the shared datasets folder beside the checkout (or beside a folder of worktrees)
DATA = next(
    (d / "shared" / "datasets" / "banking77" for d in ROOT.parents if (d / "shared").is_dir()),
    ROOT.parent / "shared" / "datasets" / "banking77",
)
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "loop.json"
#: calibrate.py before the calibration rework
BASELINE_COMMIT = "60d001b"
TARGET, DELTA = 0.95, 0.05
CHECKPOINTS = (200, 300, 400, 800)
REVIEWER = "sim"


# --- data ---------------------------------------------------------------------------------------


def read_split(data: Path, split: str) -> list[dict]:
    """Rows of train.csv or test.csv as {id, text, label}; ids name the split and the row."""
    with (data / f"{split}.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {"id": f"{split}-{k:05d}", "text": r["text"], "label": r["category"]}
        for k, r in enumerate(rows)
    ]


def humanise(name: str) -> str:
    return name.replace("_", " ").strip(" ?").capitalize()


def guideline_text(names: list[str]) -> str:
    """A guideline from the intent names alone: what a team writes on day one."""
    head = (
        "---\ntask: banking77\nkind: single\n---\n# Banking support intents\n\n"
        "Each item is one message a customer wrote to an online bank's support chat. "
        "Choose the one intent it expresses.\n\n## Labels\n"
    )
    return head + "".join(f"\n### {n}\n{humanise(n)}.\n" for n in names)


def seed_reviews(train: list[dict], per_label: int, seed: int) -> list[dict]:
    """``per_label`` train rows per intent, drawn by the seed."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in train:
        by_label[r["label"]].append(r)
    rng = random.Random(seed)
    return [r for label in sorted(by_label) for r in rng.sample(by_label[label], per_label)]


def _write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


# --- one (method, seed): runs in its own process, on its own code tree --------------------------


def labelloop_layout(tree: Path) -> bool:
    """Whether ``tree`` is the ``labelloop`` package (else a tree from before that name)."""
    return (tree / "agent" / "api.py").exists()


def tree_path(tree: Path, where: Path) -> str:
    """PYTHONPATH that imports ``tree``: as installed (``labelloop``, its ``agent/`` with
    ``ui/`` and ``evals/`` inside, laid out with links in ``where``), or, for a tree from
    before that name, the tree itself."""
    if not labelloop_layout(tree):
        return str(tree)
    from tests.support.layout import installed_layout

    return os.pathsep.join([str(installed_layout(tree, where / "site")), str(tree)])


def stages() -> SimpleNamespace:
    """The entry points the harness drives, from the worker's tree (``BENCH_LOOP_TREE``):
    the ``labelloop`` package, or a tree from before that name (``agent`` at the top, the
    loop in ``agent.pipeline``). The same functions under both names."""
    if labelloop_layout(Path(os.environ["BENCH_LOOP_TREE"])):
        import labelloop as package
        from labelloop import loop
        from labelloop.project import init_project
        from labelloop.review.auth import add_user
        from labelloop.review.service import ReviewService
        from labelloop.route.calibrate import calibrate
        from labelloop.store.tables import RouteRow
    else:
        from agent.auth import add_user
        from agent.calibrate import calibrate
        from agent.config import init_project

        import agent as package
        from agent import pipeline as loop
        from agent.review import ReviewService
        from agent.store.tables import RouteRow
    return SimpleNamespace(
        package=package,
        loop=loop,
        init_project=init_project,
        add_user=add_user,
        ReviewService=ReviewService,
        calibrate=calibrate,
        RouteRow=RouteRow,
    )


def worker(args) -> int:
    """Build the project in the working directory, walk the loop, write the raw trace."""
    api = stages()
    loop, init_project, add_user = api.loop, api.init_project, api.add_user
    tree = Path(api.package.__file__).resolve().parents[1]
    assert tree == Path(args.tree).resolve(), f"the loop imported from {tree}, not {args.tree}"
    started = time.perf_counter()
    data, here = Path(args.data), Path.cwd()
    names = json.loads((data / "categories.json").read_text(encoding="utf-8"))
    (here / "guideline.md").write_text(guideline_text(names), encoding="utf-8")
    stream = read_split(data, "test")
    gold = {r["id"]: r["label"] for r in stream}
    _write_jsonl(here / "seed.jsonl", seed_reviews(read_split(data, "train"), 10, args.seed))
    _write_jsonl(here / "stream.jsonl", ({"id": r["id"], "text": r["text"]} for r in stream))
    # one reviewer per item (no overlap), no similar examples shown: neither changes a label
    project = init_project(
        here / "p", here / "guideline.md", review={"overlap": 0.0, "similar_k": 0}
    )
    loop.import_file(project, here / "seed.jsonl", reviewer="seed")
    loop.import_file(project, here / "stream.jsonl")
    add_user(project.store, REVIEWER, "reviewer", "sim-password-0")
    setup = time.perf_counter() - started
    rounds, reviewed_in = walk(project, gold, args)
    final = final_scores(project, gold, args.stale)
    out = {
        "method": args.method,
        "seed": args.seed,
        "tree": str(tree),
        "setup_seconds": round(setup, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time(), 2),
        "rounds": rounds,
        "reviewed_in": reviewed_in,
        "final": final,
    }
    Path(args.out).write_text(json.dumps(out) + "\n", encoding="utf-8")
    return 0


def walk(project, gold: dict[str, str], args) -> tuple[list[dict], dict[str, int]]:
    """Up to ``args.rounds`` rounds of label -> calibrate -> review, and a closing label ->
    calibrate; the trace, and the round each item was reviewed in."""
    loop, calibrate = stages().loop, stages().calibrate

    rounds: list[dict] = []
    reviewed_in: dict[str, int] = {}
    blind = active = 0
    for k in range(args.rounds + 1):
        t0 = time.perf_counter()
        loop.label(project, stale=args.stale)
        t1 = time.perf_counter()
        report = calibrate(project, target_accuracy=TARGET, delta=DELTA)
        t2 = time.perf_counter()
        row = {"round": k, "blind": blind, "active": active, **summary(report)}
        row |= routed_state(project, gold)
        row |= {"label_s": round(t1 - t0, 2), "calibrate_s": round(t2 - t1, 2)}
        rounds.append(row)
        print(_progress(args, row), file=sys.stderr, flush=True)
        if row["left"] == 0 or k == args.rounds:
            break
        done = answer(project, gold, args.active)
        reviewed_in |= dict.fromkeys(done["ids"], k)
        blind, active = blind + done["blind"], active + done["active"]
        row |= {"answered_blind": done["blind"], "answered_active": done["active"]}
        row["review_s"] = round(time.perf_counter() - t2, 2)
        # the team is done once nothing is left for people under the calibration in force
        row["left_after_review"] = left_for_people(project, gold)
        if row["left_after_review"] == 0:
            break
    return rounds, reviewed_in


def summary(report: dict) -> dict:
    """What calibrate reported (keys both methods have)."""
    keys = ("threshold", "coverage", "calibration_pairs", "more_reviews_needed")
    got = {k: report.get(k) for k in keys}
    o = report.get("outlook") or {}
    got["outlook"] = {k: o.get(k) for k in ("waiting", "more_needed", "expected_coverage")}
    for k in ("error_upper_bound", "n_above", "errors_above", "expected_coverage", "reason"):
        got[k] = report.get(k)
    return got


def routed_state(project, gold: dict[str, str]) -> dict:
    """Routes of the stream items, and the auto-accepted ones' accuracy against gold."""
    store = project.store
    routes = {i: r for i, r in store.routes().items() if i in gold}
    latest = store.latest_suggestions(model="local")
    counts: dict[str, int] = defaultdict(int)
    for r in routes.values():
        counts[r] += 1
    auto = [i for i, r in routes.items() if r == "auto_accepted"]
    # an auto-accepted label is the suggestion the item was routed on (it may be of an
    # earlier model version than the latest)
    routed = routed_suggestions(store, auto)
    right = sum(_label(routed.get(i)) == gold[i] for i in auto)
    unreviewed = [i for i in gold if routes.get(i) != "reviewed"]
    scores = [_confidence(latest.get(i)) for i in unreviewed]
    correct = [_label(latest.get(i)) == gold[i] for i in unreviewed]
    return {
        "routes": dict(counts),
        "unreviewed": len(unreviewed),
        "left": len(unreviewed) - counts["auto_accepted"],
        "auto_accepted": len(auto),
        "auto_correct": right,
        "model_accuracy_unreviewed": _ratio(sum(correct), len(correct)),
        "oracle_now": oracle_coverage(scores, correct, 1 - TARGET),
        "one_test": {
            str(c): one_test_coverage(scores, correct, c, 1 - TARGET, DELTA) for c in CHECKPOINTS
        },
    }


def routed_suggestions(store, item_ids: list[str]) -> dict:
    """item -> the suggestion its route row names."""
    import sqlalchemy as sa

    RouteRow = stages().RouteRow  # noqa: N806

    with store.session() as s:
        rows = s.exec(sa.select(RouteRow.item_id, RouteRow.suggestion_id)).all()
    sid = {i: x for i, x in rows if x is not None}
    wanted = set(item_ids)
    by_id = {x.id: x for x in store.suggestions_by_id([sid[i] for i in wanted if i in sid])}
    return {i: by_id.get(sid.get(i)) for i in wanted}


def left_for_people(project, gold: dict[str, str]) -> int:
    """Stream items neither reviewed nor auto-accepted, as routed now."""
    routes = project.store.routes()
    return sum(routes.get(i) not in ("reviewed", "auto_accepted") for i in gold)


def answer(project, gold: dict[str, str], active_batch: int) -> dict:
    """The simulated reviewer in the console: every calibration and audit item (blind),
    then ``active_batch`` active items in queue order, each answered from gold."""
    service = stages().ReviewService(project, background_prefetch=False)
    ids: list[str] = []
    blind = active = 0
    try:
        while (view := service.next_item(REVIEWER)) is not None:
            if view.queue == "active" and active >= active_batch:
                break
            truth = gold[view.item.id]
            shown = view.suggestion.value.label if view.suggestion is not None else None
            action = "accept" if shown == truth else "fix"
            service.decide(REVIEWER, view.item.id, action, value=truth)
            ids.append(view.item.id)
            blind += view.queue in ("calibration", "audit")
            active += view.queue == "active"
        service.release(REVIEWER)
    finally:
        service.close()
    return {"ids": ids, "blind": blind, "active": active}


def final_scores(project, gold: dict[str, str], stale: bool) -> dict:
    """The final model (trained on every review of the run) on every stream item: its
    confidence and whether its label is right; reviewed items are predicted cross-fitted."""
    stages().loop.label(project, stale=True)
    latest = project.store.latest_suggestions(model="local")
    ids = sorted(gold)
    return {
        "ids": ids,
        "confidence": [round(_confidence(latest.get(i)), 6) for i in ids],
        "correct": [_label(latest.get(i)) == gold[i] for i in ids],
    }


def _label(s) -> str | None:
    return s.value.label if s is not None and s.value is not None else None


def _confidence(s) -> float:
    return float(s.confidence) if s is not None and s.confidence is not None else 0.0


def _progress(args, row: dict) -> str:
    t = row["threshold"]
    shown = "none" if t is None else f"{t:.3f}"
    return (
        f"  {args.method} seed {args.seed} round {row['round']}: blind {row['blind']}, "
        f"active {row['active']}, threshold {shown}, auto {row['auto_accepted']}, "
        f"left {row['left']}"
    )


# --- metrics (pure) -----------------------------------------------------------------------------


def oracle_coverage(scores, correct, epsilon: float) -> float:
    """The largest share of the items a threshold on ``scores`` accepts with an error rate
    at most ``epsilon``, knowing the labels (ties accepted together)."""
    n = len(scores)
    if not n:
        return 0.0
    pairs = sorted(zip(scores, correct, strict=True), key=lambda p: -p[0])
    best = wrong = 0
    for k, (s, ok) in enumerate(pairs):
        wrong += not ok
        last_of_tie = k + 1 == n or pairs[k + 1][0] < s
        if last_of_tie and wrong <= epsilon * (k + 1) + 1e-12:
            best = k + 1
    return best / n


def one_test_coverage(
    scores, correct, pairs: int, epsilon: float, delta: float, draws: int = 100
) -> tuple[float, float]:
    """The reference for what ``pairs`` blind reviews can certify with this model: the
    median coverage (over ``draws`` seeded draws), and the share of draws that certify
    anything, of one fixed-sequence Clopper-Pearson test
    at the full δ, on ``pairs`` items drawn uniformly from these (the items still
    unreviewed). Its thresholds are 200 quantiles of the items' scores, walked down to the
    first failure from the start a pass is likeliest to cover most, chosen knowing every
    item's gold (not the drawn pairs', so each test stays valid). One look, no δ spent
    before, the best start: a loop of looks can only do worse, so the gap between the two
    is the method's and the gap to the oracle the model's."""
    import numpy as np
    from scipy import special, stats

    s, ok = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    if len(s) < pairs or not len(s):
        return 0.0, 0.0
    order = np.argsort(-s, kind="stable")
    at = np.unique(np.ceil(np.arange(1, 201) / 200 * len(s)).astype(int) - 1)
    cands = np.unique(s[order][at])[::-1]  # high to low
    share = np.array([np.mean(s >= t) for t in cands])
    error = np.array([1 - np.mean(ok[s >= t]) for t in cands])
    n = np.maximum(np.round(pairs * share), 1)
    kmax = stats.binom.ppf(delta, n, epsilon)  # the most errors a pass allows, +1 at most
    kmax = np.where(special.bdtr(kmax, n, epsilon) <= delta, kmax, kmax - 1)
    chance = np.where(kmax >= 0, special.bdtr(np.maximum(kmax, 0), n, error), 0.0)
    first = int(np.argmax(share * chance))
    rng = np.random.default_rng(len(s))
    got = []
    for _ in range(draws):
        pick = rng.choice(len(s), pairs, replace=False)
        ps, wrong = s[pick], ~ok[pick]
        above = ps[None, :] >= cands[first:, None]
        k, m = (above & wrong[None, :]).sum(1), above.sum(1)
        passes = (m > 0) & (special.bdtr(k, m, epsilon) <= delta)
        n_pass = len(passes) if passes.all() else int(np.argmin(passes))
        got.append(float(share[first + n_pass - 1]) if n_pass else 0.0)
    return float(np.median(got)), float(np.mean(np.array(got) > 0))


def certified_coverage(row: dict) -> float:
    """The share of the unreviewed stream routed past people (auto-accepted or audited)."""
    routed = row["routes"].get("auto_accepted", 0) + row["routes"].get("audit", 0)
    return routed / row["unreviewed"] if row["unreviewed"] else 0.0


def oracle_final(run: dict, k: int) -> float:
    """The oracle coverage of the final model on the items unreviewed at round ``k``."""
    f = run["final"]
    keep = [j for j, i in enumerate(f["ids"]) if run["reviewed_in"].get(i, len(run["rounds"])) >= k]
    return oracle_coverage(
        [f["confidence"][j] for j in keep], [f["correct"][j] for j in keep], 1 - TARGET
    )


def at_blind(rounds: list[dict], count: int) -> dict:
    """The state of the last calibration made with at most ``count`` blind reviews (a run
    that ended with fewer carries its last state)."""
    return [r for r in rounds if r["blind"] <= count][-1]


def auto_accuracy(row: dict) -> float | None:
    return _ratio(row["auto_correct"], row["auto_accepted"])


def seed_metrics(run: dict) -> dict:
    """One (method, seed)'s figures from its raw trace."""
    rounds, n = run["rounds"], len(run["final"]["ids"])
    last = rounds[-1]
    done = len(run["reviewed_in"])
    left = last.get("left_after_review", last["left"])
    out = {
        "seed": run["seed"],
        "first_certified_blind": next(
            (r["blind"] for r in rounds if r["threshold"] is not None), None
        ),
        "rounds": len(rounds),
        "finished": left == 0,
        "to_finish": done + left,
        "blind_total": last["blind"] + last.get("answered_blind", 0),
        "active_total": last["active"] + last.get("answered_active", 0),
        "by_hand_at_end": left,
        "auto_accepted_final": last["auto_accepted"],
        "auto_accuracy_final": auto_accuracy(last),
        "dataset_accuracy": 1 - (last["auto_accepted"] - last["auto_correct"]) / n,
        "bad_rounds": {
            r["round"]: round(auto_accuracy(r), 4)
            for r in rounds
            if r["auto_accepted"] and auto_accuracy(r) < TARGET
        },
        # no threshold, nothing waiting for a blind review: the loop asks for nothing
        "stalled_rounds": sum(
            r["threshold"] is None and not r["routes"].get("calibration") for r in rounds[:-1]
        ),
        # auto-acceptance lost at the next calibration: its items go back to people
        "revoked": [
            {"round": b["round"], "auto_accepted_before": a["auto_accepted"]}
            for a, b in zip(rounds[:-1], rounds[1:], strict=True)
            if a["auto_accepted"] and not b["auto_accepted"]
        ],
        "seconds": run["seconds"],
        "cpu_seconds": run.get("cpu_seconds"),
        "seconds_per_round": run["seconds"] / len(rounds),
    }
    for c in CHECKPOINTS:
        r = at_blind(rounds, c)
        cov, oracle = certified_coverage(r), oracle_final(run, r["round"])
        out[f"coverage@{c}"] = cov
        out[f"oracle@{c}"] = oracle
        out[f"ratio@{c}"] = _ratio(cov, oracle)
        out[f"ratio_now@{c}"] = _ratio(cov, r["oracle_now"])
        if str(c) in r.get("one_test", {}):  # older traces lack the reference
            median, certifies = r["one_test"][str(c)]
            out[f"one_test@{c}"] = _ratio(median, oracle)
            out[f"one_test_certifies@{c}"] = certifies
    return out


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def quartiles(values: list[float | None]) -> dict:
    """Median and quartiles; None (it never happened) ranks above every value."""
    got = sorted(math.inf if v is None else v for v in values)
    out: dict = {"n": len(got), "never": sum(v is None for v in values)}
    for name, q in (("q1", 0.25), ("median", 0.5), ("q3", 0.75)):
        v = _quantile(got, q) if got else math.inf
        out[name] = None if math.isinf(v) else v
    return out


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between order statistics (infinite next to an infinite one)."""
    pos = q * (len(ordered) - 1)
    k, frac = math.floor(pos), pos - math.floor(pos)
    if frac == 0:
        return ordered[k]
    lo, hi = ordered[k], ordered[k + 1]
    return math.inf if math.isinf(hi) else lo + (hi - lo) * frac


SUMMARY_KEYS = (
    "first_certified_blind",
    *(
        f"{p}@{c}"
        for c in CHECKPOINTS
        for p in ("ratio", "ratio_now", "coverage", "oracle", "one_test", "one_test_certifies")
    ),
    "to_finish",
    "blind_total",
    "active_total",
    "by_hand_at_end",
    "auto_accuracy_final",
    "dataset_accuracy",
    "stalled_rounds",
    "seconds",
    "cpu_seconds",
    "seconds_per_round",
)


def method_summary(seeds: list[dict]) -> dict:
    out = {k: quartiles([s.get(k) for s in seeds]) for k in SUMMARY_KEYS}
    out["seeds"] = len(seeds)
    out["finished"] = sum(s["finished"] for s in seeds)
    out["bad_rounds"] = {s["seed"]: s["bad_rounds"] for s in seeds if s["bad_rounds"]}
    out["revoked"] = {s["seed"]: s["revoked"] for s in seeds if s["revoked"]}
    return out


# --- the driver ---------------------------------------------------------------------------------


def extract_baseline(commit: str, into: Path) -> Path:
    """The project at ``commit``, as files (``git archive``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_one(method: str, tree: Path, seed: int, args, tmp: Path) -> dict:
    """One (method, seed) in its own process; its raw trace (a trace kept in ``--work``
    from an earlier, interrupted run is read instead)."""
    work = tmp / f"{method}-{seed}"
    out = work / "trace.json"
    if out.exists():
        return json.loads(out.read_text(encoding="utf-8"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        f"--method={method}",
        f"--tree={tree}",
        f"--seed={seed}",
        f"--rounds={args.rounds}",
        f"--active={args.active}",
        f"--data={args.data}",
        f"--out={out}",
        *(["--stale"] if args.stale else []),
    ]
    env = os.environ | {"PYTHONPATH": tree_path(tree, work), "BENCH_LOOP_TREE": str(tree)}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env |= dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
    log = work / "log.txt"
    with log.open("w") as fh:
        done = subprocess.run(cmd, cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8")[-3000:]
        return {"method": method, "seed": seed, "error": tail}
    print(f"{method} seed {seed}: done", flush=True)
    return json.loads(out.read_text(encoding="utf-8"))


def _fmt(q: dict, spec: str = ".2f") -> str:
    """median [q1, q3], "never" for a quantile that falls on runs where it never happened."""
    if not q.get("n"):
        return "-"
    f = lambda v: "never" if v is None else format(v, spec)  # noqa: E731
    never = f" ({q['never']} never)" if q.get("never") else ""
    return f"{f(q['median'])} [{f(q['q1'])}, {f(q['q3'])}]{never}"


TABLE = (
    ("blind reviews to first threshold", "first_certified_blind", ".0f"),
    *((f"coverage / oracle, {c} blind", f"ratio@{c}", ".2f") for c in CHECKPOINTS),
    *((f"coverage / oracle now, {c} blind", f"ratio_now@{c}", ".2f") for c in CHECKPOINTS),
    *((f"certified coverage, {c} blind", f"coverage@{c}", ".2f") for c in CHECKPOINTS),
    *((f"oracle coverage, {c} blind", f"oracle@{c}", ".2f") for c in CHECKPOINTS),
    *((f"one test on {c} pairs / oracle", f"one_test@{c}", ".2f") for c in CHECKPOINTS),
    *((f"one test on {c} pairs certifies", f"one_test_certifies@{c}", ".2f") for c in CHECKPOINTS),
    ("human reviews to finish 3,080", "to_finish", ".0f"),
    ("  blind (calibration + audit)", "blind_total", ".0f"),
    ("  active", "active_total", ".0f"),
    ("  left by hand at the end", "by_hand_at_end", ".0f"),
    ("accuracy of auto-accepted, end", "auto_accuracy_final", ".3f"),
    ("accuracy of the finished data", "dataset_accuracy", ".4f"),
    ("rounds stalled (no threshold, none due)", "stalled_rounds", ".0f"),
    ("seconds per seed (wall)", "seconds", ".0f"),
    ("CPU seconds per seed", "cpu_seconds", ".0f"),
    ("seconds per round (wall)", "seconds_per_round", ".1f"),
)


def print_table(summaries: dict[str, dict]) -> None:
    methods = list(summaries)
    print(f"\nmedian [q1, q3] over seeds; target accuracy {TARGET:.0%}, delta {DELTA}")
    print(f"{'':40}" + "".join(f"{m:>34}" for m in methods))
    for title, key, spec in TABLE:
        cells = "".join(f"{_fmt(summaries[m][key], spec):>34}" for m in methods)
        print(f"{title:40}{cells}")
    for m in methods:
        s = summaries[m]
        bad = s["bad_rounds"] or "none"
        print(
            f"{m}: {s['seeds']} seeds, finished {s['finished']}; rounds whose auto-accepted "
            f"items are < {TARGET:.0%} right (seed: {{round: accuracy}}): {bad}"
        )
        lost = {
            k: [(r["round"], r["auto_accepted_before"]) for r in v] for k, v in s["revoked"].items()
        }
        print(
            f"{m}: thresholds revoked (seed: [(round, auto-accepted items lost)]): {lost or 'none'}"
        )


def parse(argv: list[str] | None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--methods", default="baseline,current", help="baseline and/or current")
    p.add_argument("--quick", action="store_true", help="3 seeds, 5 rounds")
    p.add_argument("--jobs", type=int, default=2, help="processes at once")
    p.add_argument("--rounds", type=int, default=12, help="most review rounds per seed")
    p.add_argument("--active", type=int, default=200, help="active items answered per round")
    p.add_argument("--stale", action="store_true", help="label --stale every round")
    p.add_argument("--baseline", default=BASELINE_COMMIT, help="commit of the baseline tree")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--work", type=Path, help="keep projects and traces here; resume from it")
    # one (method, seed) in this process
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--tree", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.rounds = min(args.seeds, 3), min(args.rounds, 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(ROOT))  # the harness (never a worker, which runs its own tree)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    started = time.perf_counter()
    with _workdir(args.work) as tmp:
        trees = {"baseline": extract_baseline(args.baseline, tmp / "baseline"), "current": ROOT}
        jobs = [(m, trees[m], s) for s in range(args.seeds) for m in methods]
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(lambda j: run_one(*j, args, tmp), jobs))
    failed = [r for r in runs if "error" in r]
    for r in failed:
        print(f"\n{r['method']} seed {r['seed']} failed:\n{r['error']}", file=sys.stderr)
    per_seed = {
        m: [seed_metrics(r) for r in runs if r["method"] == m and "error" not in r] for m in methods
    }
    summaries = {m: method_summary(v) for m, v in per_seed.items()}
    print_table(summaries)
    wall = time.perf_counter() - started
    print(f"\n{len(runs)} runs in {wall:.0f} s with {args.jobs} jobs")
    result = {
        "settings": {
            "seeds": args.seeds,
            "rounds": args.rounds,
            "active_per_round": args.active,
            "stale": args.stale,
            "target_accuracy": TARGET,
            "delta": DELTA,
            "baseline_commit": args.baseline,
            "current": _head(),
            "jobs": args.jobs,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "wall_seconds": round(wall, 1),
        "summary": summaries,
        "per_seed": per_seed,
        "failed": [{"method": r["method"], "seed": r["seed"]} for r in failed],
        "trace": [
            {k: r[k] for k in ("method", "seed", "seconds", "rounds")}
            for r in runs
            if "error" not in r
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failed else 0


@contextmanager
def _workdir(kept: Path | None) -> Iterator[Path]:
    """``--work`` (kept: traces there survive an interrupted run), else a temporary folder."""
    if kept is None:
        with tempfile.TemporaryDirectory(prefix="bench-loop-") as t:
            yield Path(t)
        return
    kept.mkdir(parents=True, exist_ok=True)
    yield kept


def _head() -> str:
    got = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return got.stdout.strip()


if __name__ == "__main__":
    raise SystemExit(main())
