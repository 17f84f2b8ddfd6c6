"""Benchmark LLM judges of pairwise chatbot replies: auto-accept with a guarantee of agreement
with people, on recorded verdicts (no LLM is called).

Data (``../shared/datasets``, override with ``--data``):

- LLMBar: 1,200 pairs with one gold label (A/B) and the recorded verdicts of 6 judge LLMs
  (GPT-4, ChatGPT, ChatGPT-0301, PaLM2, LLaMA2, Falcon) under many prompting strategies, each
  in both presentation orders (choices already mapped back to the original order).
- PandaLM test set: 999 pairs, 3 human annotators (gold: their majority, tie included), one
  verdict each of gpt-3.5-turbo and PandaLM-7B, one presentation order.
- Tülu-1 human evaluation: human preferences between model pairs (no LLM verdicts).

Protocol.

- Signals come only from what was recorded; no confidence is invented. On LLMBar each judge
  is read five ways:

  * ``all runs / consistency``: its verdict is the majority over all its recorded
    strategy × order runs (unparsed runs left out); a tie is broken by its Metrics_Reference
    AB verdict, then Metrics_Reference BA, Vanilla_NoRules AB, Vanilla_NoRules BA (the two
    strategies recorded on the most items; Metrics_Reference is on every item of every
    judge). Score: the share of its parsed runs that agree with the verdict.
  * ``all runs / consistency (k+1)/(n+2)``: the same verdict; score: k runs of n agreeing,
    smoothed, so that 30 runs in agreement weigh more than 4 (LLMBar records 2 strategies
    on its Processed items, 5 on CaseStudy and 8 to 15 on the LLMBar split).
  * ``all runs / order agreement``: the same verdict; score: the share of its strategies
    (both orders parsed) whose AB and BA verdicts agree.
  * ``all runs / Platt(both)``: the same verdict; score: the share of runs agreeing and the
    order agreement combined by ``Calibrator`` (Platt scaling) fitted on ``fit_pairs`` of
    the calibration pairs, the threshold tested on the others.
  * ``Metrics_Reference x2 / order agreement`` (``--strategy``): one strategy run in both
    orders (2 judge calls per item); verdict: the AB verdict (the BA one when AB is
    unparsed); score: 1 when both orders are parsed and agree, else 0.

  On PandaLM the judge is gpt-3.5-turbo (its one verdict, tie included) and its score is
  whether PandaLM-7B gives the same verdict (1 or 0).
- Correct: the verdict equals the people's (LLMBar: gold; PandaLM: the annotators'
  majority, tie included). An unparsed verdict is wrong.
- Repeated random splits (``--draws``, seeds ``--seed`` + 0, 1, ...): a uniform calibration
  set of n items (``--llmbar-cal``, ``--pandalm-cal``; at most half the items a judge has),
  the rest held out with their gold hidden. ``choose_threshold`` (Learn-then-Test,
  fixed-sequence testing with Clopper-Pearson bounds, ``labelloop.route.calibrator``) picks
  the threshold on the calibration pairs among ``candidate_thresholds`` of the held-out
  items' scores (no label read). For each ε (``--epsilons``) at δ (``--delta``): coverage
  (share of held-out items auto-accepted), realized agreement of the auto-accepted held-out
  verdicts (mean and 5th percentile over draws that accepted any), the share of draws whose
  realized held-out error exceeds ε, the share of draws whose threshold errs above ε on the
  whole pool of items (the population the calibration pairs are a uniform draw from: what
  the guarantee bounds by δ), the oracle's coverage (the largest share of held-out items, taken in
  score order down to a distinct score, whose realized agreement is >= 1-ε) and the
  judge's unselective agreement (every item). The held-out rate can exceed δ while the
  pool's stays below it: the held-out items are the pool less the calibration pairs, so a
  calibration set luckier than the pool leaves a held-out set unluckier than it, and a
  finite held-out set adds its own sampling noise around the pool's rate.
- Position bias of each LLMBar judge (``labelloop.evals.judging.position_bias``): the share
  of (item, strategy) whose AB and BA verdicts disagree, both parsed, and among those the
  share that chose the reply shown first both times.
- Cascade on LLMBar (``--cascade WEAK,STRONG``): the weak judge (``--strategy`` in both
  orders) labels every item; the strong judge only the items the weak one could not
  auto-accept; people the rest. Each stage is calibrated only on the calibration pairs that
  reached it, at δ, so all auto-accepted verdicts together err at most ε with probability
  >= 1-2δ (union bound). Strong-judge calls saved are counted against running the strong
  judge on every held-out item, 2 calls per item (both orders); calls only, no prices.
- Tülu-1: Bradley-Terry scores of the models from the people's preferences, one battle per
  human judgment, ties half a win each (``labelloop.evals.judging.bootstrap_bradley_terry``,
  Elo-like scale), with bootstrap intervals over battles (``--bootstrap``).

    python benchmarks/bench_judge.py                  # from the repository root, 30 s to 1 min
    python benchmarks/bench_judge.py --draws 50 --epsilons 0.2
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelloop.evals.calibration import oracle_coverage  # noqa: E402
from labelloop.evals.judging import (  # noqa: E402
    bootstrap_bradley_terry,
    position_bias,
)
from labelloop.route.calibrator import (  # noqa: E402
    Calibrator,
    candidate_thresholds,
    choose_threshold,
    fit_pairs,
)

SHARED = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "judge.json"
DATASETS = ("llmbar", "pandalm_testset", "tulu1_human_eval")
JUDGES = ("GPT-4", "ChatGPT", "ChatGPT-0301", "PaLM2", "LLaMA2", "Falcon")
TIE_BREAK = ("Metrics_Reference", "Vanilla_NoRules")
PANDALM_JUDGE, PANDALM_SECOND = "gpt-3.5-turbo", "WeOpenML/PandaLM-7B-v1"
CALLS_PER_ITEM = 2  # one judge call per presentation order
#: the signals the Platt combination reads
SIGNAL_NAMES = ("self_consistency", "order_agreement")


# --- data ---------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_data(data: Path) -> dict[str, int]:
    """Line counts of the three data files; exit with a message when one is missing."""
    missing = [d for d in DATASETS if not (data / d / "data.jsonl").is_file()]
    if missing:
        names = ", ".join(f"{d}/data.jsonl" for d in missing)
        sys.exit(f"bench_judge: {names} not found under {data} (pass the datasets folder: --data)")
    counts = {}
    for d in DATASETS:
        with (data / d / "data.jsonl").open("rb") as f:
            counts[d] = sum(1 for line in f if line.strip())
    return counts


# --- LLMBar judges ------------------------------------------------------------------------------


def _majority(runs: dict[tuple[str, str], str | None]) -> tuple[str | None, int, int]:
    """The majority verdict over parsed runs (tie broken by TIE_BREAK), the runs agreeing
    with it and the parsed runs."""
    votes = Counter(c for c in runs.values() if c is not None)
    if not votes:
        return None, 0, 0
    top = votes.most_common()
    verdict = top[0][0]
    if len(top) > 1 and top[0][1] == top[1][1]:
        order = [(s, o) for s in TIE_BREAK for o in ("AB", "BA")]
        first = next((runs[k] for k in order if runs.get(k) is not None), None)
        verdict = first or sorted(votes)[0]
    return verdict, votes[verdict], sum(votes.values())


def judge_table(rows: list[dict], judge: str, strategy: str) -> dict:
    """One judge's verdicts, scores and correctness on the items it judged."""
    out = defaultdict(list)
    pairs = defaultdict(list)  # strategy -> (item, AB verdict, BA verdict)
    for r in rows:
        runs = {
            (j["strategy"], j["presented_order"]): j["choice"]
            for j in r["llm_judgments"]
            if j["model"] == judge
        }
        if not runs:
            continue
        verdict, agreeing, parsed = _majority(runs)
        strategies = sorted({s for s, _ in runs})
        paired = [s for s in strategies if None not in (runs.get((s, "AB")), runs.get((s, "BA")))]
        agree = [runs[(s, "AB")] == runs[(s, "BA")] for s in paired]
        for s in strategies:
            pairs[s].append((r["id"], runs.get((s, "AB")), runs.get((s, "BA"))))
        ab, ba = runs.get((strategy, "AB")), runs.get((strategy, "BA"))
        out["id"].append(r["id"])
        out["split"].append(r["split"])
        out["gold"].append(r["gold"])
        out["runs"].append(parsed)
        out["verdict"].append(verdict)
        out["consistency"].append(agreeing / parsed if parsed else 0.0)
        out["smoothed"].append((agreeing + 1) / (parsed + 2))
        out["order"].append(float(np.mean(agree)) if agree else 0.0)
        out["has_single"].append((strategy, "AB") in runs or (strategy, "BA") in runs)
        out["single_verdict"].append(ab if ab is not None else ba)
        out["single"].append(float(ab is not None and ab == ba))
    t = {k: np.array(v) for k, v in out.items()}
    t["correct"] = t["verdict"] == t["gold"]
    t["single_correct"] = t["single_verdict"] == t["gold"]
    t["position_bias"] = bias_summary(pairs)
    return t


def bias_summary(pairs: dict[str, list]) -> dict:
    """Position bias over every (item, strategy) and per strategy (``position_bias``)."""

    def one(rows) -> dict:
        b = position_bias((((i, s), ab, ba) for i, s, ab, ba in rows), replies=("A", "B"))
        return {
            "pairs": b.n,
            "rate": _r(b.position_bias),
            "first_position_preference": _r(b.first_position_preference),
            "second_position_preference": _r(b.second_position_preference),
        }

    flat = [(i, s, ab, ba) for s, rows in pairs.items() for i, ab, ba in rows]
    by = {s: one([(i, s, ab, ba) for i, ab, ba in pairs[s]]) for s in sorted(pairs)}
    return {**one(flat), "by_strategy": {s: v["rate"] for s, v in by.items()}, "strategies": by}


# --- one draw -----------------------------------------------------------------------------------


def split(n: int, n_cal: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[:n_cal]), np.sort(perm[n_cal:])


def threshold(scores, correct, cal, test, eps: float, delta: float) -> float | None:
    """The threshold chosen on the calibration pairs among the held-out scores' quantiles."""
    cands = candidate_thresholds(scores[test])
    return choose_threshold(scores[cal], correct[cal], eps, delta, candidates=cands).threshold


def outcome(scores, correct, test, t: float | None, eps: float) -> dict:
    """Coverage and realized agreement on the held-out items (``test``), the oracle's
    coverage there, and the error of the accepted items among all items (the pool the
    calibration pairs were drawn from: the population the guarantee speaks of)."""
    pool = scores >= t if t is not None else np.zeros(len(scores), bool)
    held, y = scores[test], correct[test]
    accepted = pool[test]
    _, oracle = oracle_coverage(held, y, eps)
    n = int(accepted.sum())
    return {
        "coverage": n / len(held),
        "accepted": n,
        "agreement": float(y[accepted].mean()) if n else None,
        "pool_error": float(1 - correct[pool].mean()) if pool.any() else None,
        "oracle": oracle,
        "heldout_agreement": float(y.mean()),
        "threshold": t,
    }


def platt_draw(signals, correct, cal, test, seed: int, epsilons, delta: float) -> dict:
    """Combine the signals with Platt scaling fitted on part of the calibration pairs."""
    n_fit = fit_pairs(len(cal), 2)
    perm = np.random.default_rng(10_000 + seed).permutation(cal)
    fit, check = np.sort(perm[:n_fit]), np.sort(perm[n_fit:])
    cal_model = Calibrator.fit(signals[fit], correct[fit], method="platt", names=SIGNAL_NAMES)
    scores = cal_model.predict(signals)
    cands = candidate_thresholds(scores[test])
    out = {}
    for eps in epsilons:
        r = choose_threshold(scores[check], correct[check], eps, delta, candidates=cands)
        out[eps] = outcome(scores, correct, test, r.threshold, eps)
    return out


# --- summaries ----------------------------------------------------------------------------------


def _r(x, nd: int = 4):
    return None if x is None else round(float(x), nd)


def summarise(draws: list[dict], eps: float) -> dict:
    """Means over draws; realized agreement over draws that accepted any item."""
    agree = [d["agreement"] for d in draws if d["agreement"] is not None]
    over = [d["agreement"] is not None and 1 - d["agreement"] > eps + 1e-12 for d in draws]
    pool = [d["pool_error"] is not None and d["pool_error"] > eps + 1e-12 for d in draws]
    cov = np.array([d["coverage"] for d in draws])
    oracle = np.array([d["oracle"] for d in draws])
    accepted = sum(d["accepted"] for d in draws)
    right = sum(d["accepted"] * (d["agreement"] or 0.0) for d in draws)
    return {
        "epsilon": eps,
        "mean_coverage": _r(cov.mean()),
        "coverage_p5_p95": [_r(np.percentile(cov, 5)), _r(np.percentile(cov, 95))],
        "mean_oracle_coverage": _r(oracle.mean()),
        "coverage_to_oracle": _r(cov.mean() / oracle.mean()) if oracle.mean() else None,
        "draws": len(draws),
        "draws_with_coverage": len(agree),
        "mean_agreement_auto": _r(np.mean(agree)) if agree else None,
        "p5_agreement_auto": _r(np.percentile(agree, 5)) if agree else None,
        "pooled_agreement_auto": _r(right / accepted) if accepted else None,
        "violation_rate": _r(np.mean(over)),
        "violation_rate_pool": _r(np.mean(pool)),
        "mean_heldout_agreement": _r(np.mean([d["heldout_agreement"] for d in draws])),
    }


def by_score(scores, correct) -> list[dict]:
    """Agreement per score level (all items): how well the score separates right from wrong."""
    levels = np.round(scores, 4)
    return [
        {
            "score": float(v),
            "items": int((levels == v).sum()),
            "agreement": _r(correct[levels == v].mean()),
        }
        for v in sorted(set(levels.tolist()), reverse=True)
    ]


def evaluate(name, scores, correct, n_cal, seeds, args, platt_signals=None) -> dict:
    """Every draw for one (judge, signal); the summary per ε."""
    runs = {eps: [] for eps in args.epsilons}
    for seed in seeds:
        cal, test = split(len(correct), n_cal, seed)
        if platt_signals is not None:
            for eps, o in platt_draw(
                platt_signals, correct, cal, test, seed, args.epsilons, args.delta
            ).items():
                runs[eps].append(o)
            continue
        for eps in args.epsilons:
            t = threshold(scores, correct, cal, test, eps, args.delta)
            runs[eps].append(outcome(scores, correct, test, t, eps))
    out = {
        "signal": name,
        "items": len(correct),
        "calibration_items": n_cal,
        "heldout_items": len(correct) - n_cal,
        "agreement": _r(correct.mean()),
        "by_eps": [summarise(runs[eps], eps) for eps in args.epsilons],
    }
    if scores is not None and len(set(np.round(scores, 4).tolist())) <= 40:
        out["agreement_by_score"] = by_score(scores, correct)
    return out


def llmbar(rows: list[dict], seeds, args) -> dict:
    out = {}
    for judge in JUDGES:
        t = judge_table(rows, judge, args.strategy)
        n = len(t["correct"])
        n_cal = min(args.llmbar_cal, n // 2)
        signals = np.array(
            [
                {"self_consistency": c, "order_agreement": o}
                for c, o in zip(t["consistency"], t["order"], strict=True)
            ]
        )
        c = t["correct"]
        setups = [
            evaluate("all runs / consistency", t["consistency"], c, n_cal, seeds, args),
            evaluate("all runs / consistency (k+1)/(n+2)", t["smoothed"], c, n_cal, seeds, args),
            evaluate("all runs / order agreement", t["order"], c, n_cal, seeds, args),
            evaluate("all runs / Platt(both)", None, c, n_cal, seeds, args, signals),
        ]
        has = t["has_single"]
        s_n = int(has.sum())
        setups.append(
            evaluate(
                f"{args.strategy} x2 / order agreement",
                t["single"][has],
                t["single_correct"][has],
                min(args.llmbar_cal, s_n // 2),
                seeds,
                args,
            )
        )
        splits = sorted(set(t["split"].tolist()))
        out[judge] = {
            "items": n,
            "mean_runs_per_item": _r(t["runs"].mean(), 2),
            "agreement": _r(c.mean()),
            "agreement_by_split": {s: _r(c[t["split"] == s].mean()) for s in splits},
            f"{args.strategy}_agreement": _r(t["single_correct"][has].mean()),
            "position_bias": t["position_bias"],
            "setups": setups,
        }
        print(f"  LLMBar {judge}: done", file=sys.stderr)
    return out


# --- PandaLM ------------------------------------------------------------------------------------


def pandalm(rows: list[dict], seeds, args) -> dict:
    verdicts = [{j["model"]: j["choice"] for j in r["llm_judgments"]} for r in rows]
    gold = np.array([r["gold"] for r in rows])
    first = np.array([v.get(PANDALM_JUDGE) for v in verdicts])
    second = np.array([v.get(PANDALM_SECOND) for v in verdicts])
    correct = first == gold
    score = ((first == second) & (first != None)).astype(float)  # noqa: E711
    n_cal = min(args.pandalm_cal, len(rows) // 2)
    row = evaluate(f"{PANDALM_SECOND} agrees (0/1)", score, correct, n_cal, seeds, args)
    print("  PandaLM: done", file=sys.stderr)
    return {
        "judge": PANDALM_JUDGE,
        "second_judge": PANDALM_SECOND,
        "items": len(rows),
        "second_judge_agreement": _r((second == gold).mean()),
        "judges_agree_share": _r(score.mean()),
        **row,
    }


# --- cascade ------------------------------------------------------------------------------------


def cascade(rows: list[dict], weak: str, strong: str, seeds, args) -> dict:
    """Weak judge first, the strong one on what the weak could not auto-accept, people last."""
    tw, ts = judge_table(rows, weak, args.strategy), judge_table(rows, strong, args.strategy)
    common = sorted(set(tw["id"][tw["has_single"]]) & set(ts["id"][ts["has_single"]]))
    pos_w = {i: k for k, i in enumerate(tw["id"])}
    pos_s = {i: k for k, i in enumerate(ts["id"])}
    iw, is_ = [pos_w[i] for i in common], [pos_s[i] for i in common]
    s1, c1 = tw["single"][iw], tw["single_correct"][iw]
    s2, c2 = ts["single"][is_], ts["single_correct"][is_]
    n_cal = min(args.llmbar_cal, len(common) // 2)
    per_eps = []
    for eps in args.epsilons:
        draws = []
        for seed in seeds:
            cal, test = split(len(common), n_cal, seed)
            t1 = threshold(s1, c1, cal, test, eps, args.delta)
            keep1 = s1 >= t1 if t1 is not None else np.zeros(len(s1), bool)
            reach_cal, reach_test = cal[~keep1[cal]], test[~keep1[test]]
            keep2 = np.zeros(len(s2), bool)  # on every item the weak judge did not keep
            if len(reach_cal) and len(reach_test):
                t2 = threshold(s2, c2, reach_cal, reach_test, eps, args.delta)
                if t2 is not None:
                    keep2 = ~keep1 & (s2 >= t2)
            auto1, auto2 = keep1[test], keep2[test]
            pool = int(keep1.sum() + keep2.sum())
            pool_right = int(c1[keep1].sum() + c2[keep2].sum())
            n1, n2, n = int(auto1.sum()), int(auto2.sum()), len(test)
            right = int(c1[test][auto1].sum() + c2[test][auto2].sum())
            t_alone = threshold(s2, c2, cal, test, eps, args.delta)
            alone = outcome(s2, c2, test, t_alone, eps)
            draws.append(
                {
                    "weak": n1 / n,
                    "strong": n2 / n,
                    "people": 1 - (n1 + n2) / n,
                    "accepted": n1 + n2,
                    "agreement": right / (n1 + n2) if n1 + n2 else None,
                    "pool_error": 1 - pool_right / pool if pool else None,
                    "weak_agreement": float(c1[test][auto1].mean()) if n1 else None,
                    "strong_agreement": float(c2[test][auto2].mean()) if n2 else None,
                    "strong_calls": CALLS_PER_ITEM * len(reach_test),
                    "strong_calls_all": CALLS_PER_ITEM * n,
                    "alone_coverage": alone["coverage"],
                    "alone_agreement": alone["agreement"],
                }
            )
        agree = [d["agreement"] for d in draws if d["agreement"] is not None]
        over = [d["agreement"] is not None and 1 - d["agreement"] > eps + 1e-12 for d in draws]
        over_pool = [d["pool_error"] is not None and d["pool_error"] > eps + 1e-12 for d in draws]
        alone_agree = [d["alone_agreement"] for d in draws if d["alone_agreement"] is not None]
        calls = np.mean([d["strong_calls"] for d in draws])
        calls_all = np.mean([d["strong_calls_all"] for d in draws])
        per_eps.append(
            {
                "epsilon": eps,
                "coverage_weak": _r(np.mean([d["weak"] for d in draws])),
                "coverage_strong": _r(np.mean([d["strong"] for d in draws])),
                "to_people": _r(np.mean([d["people"] for d in draws])),
                "mean_agreement_auto": _r(np.mean(agree)) if agree else None,
                "p5_agreement_auto": _r(np.percentile(agree, 5)) if agree else None,
                "violation_rate": _r(np.mean(over)),
                "violation_rate_pool": _r(np.mean(over_pool)),
                "mean_strong_calls": _r(calls, 1),
                "strong_calls_if_all": _r(calls_all, 1),
                "strong_calls_saved_share": _r(1 - calls / calls_all),
                "weak_calls": _r(calls_all, 1),
                "strong_alone_coverage": _r(np.mean([d["alone_coverage"] for d in draws])),
                "strong_alone_agreement": _r(np.mean(alone_agree)) if alone_agree else None,
            }
        )
    print(f"  cascade {weak} -> {strong}: done", file=sys.stderr)
    return {
        "stages": [weak, strong, "people"],
        "strategy": args.strategy,
        "signal": "order agreement (0/1)",
        "items": len(common),
        "calibration_items": n_cal,
        "heldout_items": len(common) - n_cal,
        "calls": f"judge calls, {CALLS_PER_ITEM} per item (both orders); no prices",
        "by_eps": per_eps,
    }


# --- Tülu-1: Bradley-Terry from people ----------------------------------------------------------


def battles(rows: list[dict]) -> list[tuple[str, str, str]]:
    """One battle (model_a, model_b, "x" | "y" | "tie") per human judgment."""
    outcome = {"A": "x", "B": "y", "tie": "tie"}
    return [
        (r["model_a"], r["model_b"], outcome[h["choice"]])
        for r in rows
        for h in r["human_judgments"]
        if h["choice"] in outcome
    ]


def tulu(rows: list[dict], args) -> dict:
    fights = battles(rows)
    scores = bootstrap_bradley_terry(fights, n_boot=args.bootstrap, seed=args.seed)
    counts = Counter(fights)
    print("  Tülu-1: done", file=sys.stderr)
    return {
        "method": "labelloop.evals.judging.bootstrap_bradley_terry (ties half a win each; "
        "intervals: percentiles over battles resampled with replacement)",
        "scale": "Elo-like: 400 points = 10:1 odds, mean 1000",
        "battles": len(fights),
        "items": sum(bool(r["human_judgments"]) for r in rows),
        "annotators": len({h["annotator"] for r in rows for h in r["human_judgments"]}),
        "bootstrap": args.bootstrap,
        "ranking": [
            {
                "rank": k + 1,
                "model": m,
                "score": _r(v["score"], 1),
                "ci95": [_r(v["lower"], 1), _r(v["upper"], 1)],
                "battles": v["battles"],
            }
            for k, (m, v) in enumerate(scores.items())
        ],
        "outcomes": [
            {"model_a": a, "model_b": b, **{o: counts[(a, b, o)] for o in ("x", "y", "tie")}}
            for a, b in sorted({(a, b) for a, b, _ in counts})
        ],
    }


# --- output -------------------------------------------------------------------------------------


def _pct(v, nd: int = 1) -> str:
    return "-" if v is None else f"{100 * v:.{nd}f}"


def print_tables(result: dict, args, console) -> None:
    from rich.table import Table

    for k, eps in enumerate(args.epsilons):
        tab = Table(
            title=f"Auto-accept at ε = {eps}, δ = {args.delta} (held-out items, "
            f"{args.draws} draws; %)",
            title_justify="left",
        )
        for c in ("judge", "signal", "agree all", "cover", "oracle", "agree auto"):
            tab.add_column(c, justify="left" if c in ("judge", "signal") else "right")
        for c in ("p5 auto", "err>ε held-out", "err>ε pool", "draws>0"):
            tab.add_column(c, justify="right")
        rows = [("LLMBar " + j, s) for j, v in result["llmbar"].items() for s in v["setups"]]
        rows.append(("PandaLM " + PANDALM_JUDGE, result["pandalm"]))
        for judge, s in rows:
            e = s["by_eps"][k]
            tab.add_row(
                judge,
                s["signal"],
                _pct(s["agreement"]),
                _pct(e["mean_coverage"]),
                _pct(e["mean_oracle_coverage"]),
                _pct(e["mean_agreement_auto"]),
                _pct(e["p5_agreement_auto"]),
                _pct(e["violation_rate"]),
                _pct(e["violation_rate_pool"]),
                f"{e['draws_with_coverage']}/{e['draws']}",
            )
        console.print(tab)

    tab = Table(title="LLMBar position bias: AB and BA verdicts disagree (%)", title_justify="left")
    tab.add_column("judge")
    for c in ("items", "runs/item", "all strategies", args.strategy, "Vanilla_NoRules"):
        tab.add_column(c, justify="right")
    tab.add_column("flips to the reply shown first", justify="right")
    for j, v in result["llmbar"].items():
        pb = v["position_bias"]
        tab.add_row(
            j,
            str(v["items"]),
            f"{v['mean_runs_per_item']:.1f}",
            _pct(pb["rate"]),
            _pct(pb["by_strategy"].get(args.strategy)),
            _pct(pb["by_strategy"].get("Vanilla_NoRules")),
            _pct(pb["first_position_preference"]),
        )
    console.print(tab)

    tab = Table(
        title=f"LLMBar cascade ({args.strategy} in both orders, order-agreement signal; "
        f"{args.draws} draws; %)",
        title_justify="left",
    )
    for c in ("cascade", "ε", "weak", "strong", "people", "agree auto", "p5", "err>ε", "pool"):
        tab.add_column(c, justify="left" if c == "cascade" else "right")
    for c in ("strong calls saved", "strong alone: cover", "agree"):
        tab.add_column(c, justify="right")
    for c in result["cascades"]:
        for e in c["by_eps"]:
            tab.add_row(
                " -> ".join(c["stages"]),
                f"{e['epsilon']:g}",
                _pct(e["coverage_weak"]),
                _pct(e["coverage_strong"]),
                _pct(e["to_people"]),
                _pct(e["mean_agreement_auto"]),
                _pct(e["p5_agreement_auto"]),
                _pct(e["violation_rate"]),
                _pct(e["violation_rate_pool"]),
                _pct(e["strong_calls_saved_share"]),
                _pct(e["strong_alone_coverage"]),
                _pct(e["strong_alone_agreement"]),
            )
    console.print(tab)

    t = result["tulu"]
    tab = Table(
        title=f"Tülu-1 Bradley-Terry from people ({t['battles']} judgments, "
        f"{t['annotators']} annotators, {t['bootstrap']} bootstrap draws)",
        title_justify="left",
    )
    for c in ("rank", "model", "score", "95% interval", "judgments"):
        tab.add_column(c, justify="left" if c == "model" else "right")
    for r in t["ranking"]:
        tab.add_row(
            str(r["rank"]),
            r["model"],
            f"{r['score']:.0f}",
            f"[{r['ci95'][0]:.0f}, {r['ci95'][1]:.0f}]",
            str(r["battles"]),
        )
    console.print(tab)
    console.print(f"Bradley-Terry: {t['method']}; {t['scale']}.")


def markdown(result: dict, args) -> str:
    """The same tables as Markdown (``judge.md`` next to the JSON)."""
    p = result["parameters"]
    out = [
        "# LLM judges with a guarantee of agreement with people",
        "",
        f"`python benchmarks/bench_judge.py --draws {p['draws']} --seed {args.seed}` "
        f"({result['seconds']} s). δ = {p['delta']}; calibration items: LLMBar "
        f"{p['llmbar_calibration_items']} (at most half a judge's items), PandaLM "
        f"{p['pandalm_calibration_items']}; figures in %, means over draws.",
        "",
        PROTOCOL,
        "",
    ]
    rows = [("LLMBar " + j, s) for j, v in result["llmbar"].items() for s in v["setups"]]
    rows.append(("PandaLM " + PANDALM_JUDGE, result["pandalm"]))
    head = "| judge | signal | agree all |"
    for eps in p["epsilons"]:
        head += f" ε={eps:g} cover | oracle | agree auto | p5 | err>ε held-out | pool |"
    out += [head, "|" + "---|" * (3 + 6 * len(p["epsilons"]))]
    for judge, s in rows:
        line = f"| {judge} | {s['signal']} | {_pct(s['agreement'])} |"
        for e in s["by_eps"]:
            line += f" {_pct(e['mean_coverage'])} | {_pct(e['mean_oracle_coverage'])} |"
            line += f" {_pct(e['mean_agreement_auto'])} | {_pct(e['p5_agreement_auto'])} |"
            line += f" {_pct(e['violation_rate'])} | {_pct(e['violation_rate_pool'])} |"
        out.append(line)
    out += ["", "Position bias (AB and BA verdicts disagree, %):", ""]
    out += [
        f"| judge | items | all strategies | {p['strategy']} | Vanilla_NoRules "
        "| flips to the reply shown first |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for j, v in result["llmbar"].items():
        b = v["position_bias"]["by_strategy"]
        out.append(
            f"| {j} | {v['items']} | {_pct(v['position_bias']['rate'])} | "
            f"{_pct(b.get(p['strategy']))} | {_pct(b.get('Vanilla_NoRules'))} | "
            f"{_pct(v['position_bias']['first_position_preference'])} |"
        )
    out += ["", f"Cascade ({p['strategy']} in both orders, order-agreement signal, %):", ""]
    out += [
        "| cascade | ε | weak | strong | people | agree auto | p5 | err>ε held-out | pool "
        "| strong calls saved | strong alone: cover | agree |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in result["cascades"]:
        for e in c["by_eps"]:
            out.append(
                f"| {' -> '.join(c['stages'])} | {e['epsilon']:g} | {_pct(e['coverage_weak'])} | "
                f"{_pct(e['coverage_strong'])} | {_pct(e['to_people'])} | "
                f"{_pct(e['mean_agreement_auto'])} | {_pct(e['p5_agreement_auto'])} | "
                f"{_pct(e['violation_rate'])} | {_pct(e['violation_rate_pool'])} | "
                f"{_pct(e['strong_calls_saved_share'])} | "
                f"{_pct(e['strong_alone_coverage'])} | {_pct(e['strong_alone_agreement'])} |"
            )
    t = result["tulu"]
    out += [
        "",
        f"Tülu-1 from people, {t['method']}; {t['scale']}; 95% intervals from "
        f"{t['bootstrap']} bootstrap draws ({t['battles']} judgments, {t['annotators']} "
        "annotators):",
        "",
        "| rank | model | score | 95% interval | judgments |",
        "|---:|---|---:|---|---:|",
    ]
    for r in t["ranking"]:
        out.append(
            f"| {r['rank']} | {r['model']} | {r['score']:.0f} | "
            f"[{r['ci95'][0]:.0f}, {r['ci95'][1]:.0f}] | {r['battles']} |"
        )
    return "\n".join(out) + "\n"


PROTOCOL = (
    "Signals only from recorded verdicts. LLMBar: verdict = majority over the judge's "
    "strategy x order runs (tie: Metrics_Reference AB, then BA, then Vanilla_NoRules); "
    "signals = share of runs agreeing (raw, and k+1 of n+2), share of strategies whose orders "
    "agree, the first and third combined (Platt), and one strategy in both orders (1 if they "
    "agree). PandaLM: gpt-3.5-turbo's "
    "verdict, signal = PandaLM-7B agrees. Correct = equals the people's label. Each draw: a "
    "uniform calibration set, the rest held out; Learn-then-Test threshold (Clopper-Pearson, "
    "fixed sequence) among the held-out scores' quantiles. err>ε: share of draws whose "
    "auto-accepted verdicts err above ε on the held-out items / on the whole pool (what the "
    "guarantee bounds by δ). Cascade stages each tested at δ (all auto-accepted: >= 1-2δ); "
    "calls counted, no prices."
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=SHARED, help="the datasets folder")
    p.add_argument("--draws", type=int, default=200, help="random calibration/held-out splits")
    p.add_argument("--seed", type=int, default=0, help="draw k uses seed + k")
    p.add_argument("--epsilons", default="0.2,0.1", help="target error rates, comma-separated")
    p.add_argument("--delta", type=float, default=0.05)
    p.add_argument("--llmbar-cal", type=int, default=500, help="calibration items on LLMBar")
    p.add_argument("--pandalm-cal", type=int, default=400, help="calibration items on PandaLM")
    p.add_argument("--strategy", default="Metrics_Reference", help="single-strategy judge")
    p.add_argument(
        "--cascade",
        action="append",
        default=None,
        help="WEAK,STRONG judges of a cascade (repeatable; default ChatGPT,GPT-4 and LLaMA2,GPT-4)",
    )
    p.add_argument("--bootstrap", type=int, default=200, help="Bradley-Terry bootstrap draws")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    args.epsilons = [float(e) for e in args.epsilons.split(",") if e.strip()]
    cascades = [c.split(",") for c in (args.cascade or ["ChatGPT,GPT-4", "LLaMA2,GPT-4"])]
    for c in cascades:
        if len(c) != 2 or not set(c) <= set(JUDGES):
            p.error(f"--cascade takes two of {', '.join(JUDGES)}, got {','.join(c)}")

    from rich.console import Console

    console = Console(width=160)
    lines = check_data(args.data)
    console.print(f"Protocol: {PROTOCOL}")
    start = time.perf_counter()
    seeds = [args.seed + k for k in range(args.draws)]
    llm_rows = read_jsonl(args.data / "llmbar" / "data.jsonl")
    result = {
        "parameters": {
            "draws": args.draws,
            "seeds": seeds,
            "epsilons": args.epsilons,
            "delta": args.delta,
            "llmbar_calibration_items": args.llmbar_cal,
            "pandalm_calibration_items": args.pandalm_cal,
            "strategy": args.strategy,
            "tie_break": [f"{s} {o}" for s in TIE_BREAK for o in ("AB", "BA")],
            "bootstrap": args.bootstrap,
            "candidates": "candidate_thresholds(held-out scores)",
        },
        "protocol": __doc__.split("Protocol.")[1].split("    python")[0].strip(),
        "datasets": {
            d: {"path": str(args.data / d / "data.jsonl"), "lines": n} for d, n in lines.items()
        },
        "llmbar": llmbar(llm_rows, seeds, args),
        "pandalm": pandalm(read_jsonl(args.data / "pandalm_testset" / "data.jsonl"), seeds, args),
        "cascades": [cascade(llm_rows, w, s, seeds, args) for w, s in cascades],
        "tulu": tulu(read_jsonl(args.data / "tulu1_human_eval" / "data.jsonl"), args),
    }
    seconds = time.perf_counter() - start
    result["seconds"] = round(seconds, 1)
    result["machine"] = {"python": platform.python_version()}
    print_tables(result, args, console)
    console.print(f"{seconds:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md = args.out.with_suffix(".md")
    md.write_text(markdown(result, args), encoding="utf-8")
    console.print(f"wrote {args.out} and {md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
