"""The whole judging loop on LLMBar, run through labelloop's own code as a user would run it
with a real judge: import, label on an OpenAI-compatible endpoint, review the calibration
queue blind, calibrate, repeat while the loop asks for more reviews, export.

The judge is the project's stub LLM (``labelloop.testing.stub_llm.StubServer``, in-process),
which serves the recorded verdicts of one LLMBar judge. No LLM is called and no verdict is
invented. Data: ``../shared/datasets/llmbar/data.jsonl`` (override the folder with ``--data``).

Protocol.

- Guideline ``kind: pairwise`` without ties (LLMBar's gold has none). All 1,200 items
  (``--limit N``: the first N) are imported WITHOUT labels: ``id``, ``prompt``, ``reply_a``,
  ``reply_b``, with ``subset`` in ``meta``.
- Judge: GPT-4 with strategy Metrics_Reference (``--judge``, ``--strategy``), recorded on
  every item in both presentation orders. Each item's stub script entry is
  ``{"replies": {"a": A, "b": B}, "verdict": {"ab": V_AB, "ba": V_BA}}``: the verdict per
  order shown, as reply ids (LLMBar's choices are already mapped back to the item's order).
  The stub finds the order each prompt shows the replies in and answers with the position.
- A recorded verdict that is null (LLMBar could not parse the judge's output) is scripted as a
  malformed answer (the stub sends the first half of its JSON answer), never as a verdict:
  null in the item's own order (AB): every answer for the item is malformed, so the first
  order fails after the labeler's re-asks and the item fails (the other order is not asked);
  null in the reversed order only (BA): the second call's answer is malformed, so that order
  is missing and the item's ``order_agreement`` is None (the stub builds the malformed answer
  from the AB verdict, and the client cannot read any of it).
- No confidence is recorded, so the stub's default (a constant 0.7, verbalized and in the
  logprobs) is left as it is: the only informative signal is order agreement (whether both
  orders gave the same reply), which ``labelloop.label.judging.combine`` also folds into
  the averaged probability (0.7 when the orders agree, 0.5 when they do not).
- Labeling: ``api.label_items(project, "openai/stub-model", api_base=stub.base_url,
  retry_wait=0.01)`` (OPENAI_API_KEY=sk-test), calls counted and timed.
- People: the calibration queue (the project's uniform draw) is answered blind with the gold
  label through ``api.review_session`` by ``gold-reviewer`` (``fix`` with the gold reply id:
  blind items show no suggestion, and ``accept`` is refused on them). The project's default
  overlap (10% of queue items need a second reviewer) leaves some calibration items waiting
  for another person; ``gold-reviewer-2`` answers those, also with gold. Only the calibration
  queue is answered (audit and active queues are left alone).
- Then ``api.calibrate(project, target, --delta)``, one look of the calibration loop. While a
  look asks for more reviews (``more_reviews_needed`` > 0, which grows the draw) and the
  calibration queue gives the reviewers new items, label -> review -> calibrate is repeated,
  at most ``--max-looks`` looks. Each target runs in a project of its own, from scratch.
- Report per target: the threshold; coverage: items routed ``auto_accepted`` / all items,
  and / the items no person reviewed (the held-out stream, comparable with bench_judge's
  held-out coverage; the look's own estimate, its test pairs' share above the threshold, is
  in the JSON); calibration pairs of the last look; blind reviews
  spent; realized agreement with gold of the auto-accepted verdicts (items no person saw: the
  held-out truth); the share of auto-accepted items whose two orders agreed; the judge's
  position-bias rate on the run (share of suggestions with both orders answered whose
  ``order_agreement`` is 0); calls per item (2: one per order; re-asks of malformed answers
  add a few); and the export's consistency: ``api.export_items`` JSONL, every auto-accepted
  row's final label must equal the stored suggestion and every reviewed row's the reviewer's
  decision (mismatches counted; must be 0).
- Reference: ``benchmarks/results/judge.json`` (``bench_judge.py``), the same judge and
  strategy with order agreement as the score, a Learn-then-Test threshold on 500 uniform
  calibration items, mean over 200 draws. The loop draws its own calibration sample.

    python benchmarks/bench_judge_loop.py                       # from the repository root
    python benchmarks/bench_judge_loop.py --limit 300 --targets 0.8
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported
os.environ["OPENAI_API_KEY"] = "sk-test"  # the stub needs a key; never send a real one

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "judge_loop.json"
REFERENCE = ROOT / "benchmarks" / "results" / "judge.json"
MODEL = "openai/stub-model"
REVIEWERS = ("gold-reviewer", "gold-reviewer-2")
PASSWORD = "gold-reviewer-password"
CALIBRATION = "calibration"
GUIDELINE = """\
---
task: reply-preference
kind: pairwise
---
# Which reply is better?

Pick the reply that follows the user's instruction more faithfully: it does what was asked,
as asked, and is correct. Length and style matter only when the instruction asks for them.
"""


# --- data and script ---------------------------------------------------------------------


def load_rows(data: Path, limit: int | None) -> list[dict]:
    """LLMBar's normalized rows, in file order (the first ``limit``)."""
    path = data / "llmbar" / "data.jsonl"
    if not path.is_file():
        sys.exit(
            f"LLMBar data not found: {path} is missing. Pass --data FOLDER, the folder that "
            "holds llmbar/data.jsonl (default: ../shared/datasets beside the repository)."
        )
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def recorded(row: dict, judge: str, strategy: str) -> dict[str, str | None]:
    """The judge's verdict per presentation order ("ab": reply a shown first), as reply ids;
    None where it was recorded unparsed."""
    out: dict[str, str | None] = {}
    for j in row["llm_judgments"]:
        if j["model"] == judge and j["strategy"] == strategy:
            choice = j["choice"]
            out[j["presented_order"].lower()] = choice.lower() if choice else None
    return out


def import_row(row: dict) -> dict:
    return {
        "id": row["id"],
        "prompt": row["prompt"],
        "reply_a": row["reply_a"],
        "reply_b": row["reply_b"],
        "meta": {"subset": row["subset"]},
    }


def script_entry(row: dict, verdicts: dict[str, str | None]) -> tuple[dict, str]:
    """The stub's entry for one item and which case it is: "both" orders recorded,
    "ab_null" (every answer malformed) or "ba_null" (the second call's answer malformed)."""
    entry: dict[str, Any] = {"replies": {"a": row["reply_a"], "b": row["reply_b"]}}
    ab, ba = verdicts.get("ab"), verdicts.get("ba")
    if ab is None:
        # no verdict in the script: the malformed answer is cut from a null label
        entry.update(malformed=True, answer={"label": None})
        return entry, "ab_null"
    if ba is None:
        # the first call answers AB's verdict; the second (the reversed order) is malformed
        entry.update(verdict=ab, fail=[None, "malformed"])
        return entry, "ba_null"
    entry["verdict"] = {"ab": ab, "ba": ba}
    return entry, "both"


# --- the loop ------------------------------------------------------------------------------


def review_blind(project, gold: dict[str, str], decided: dict[str, str]) -> dict[str, int]:
    """Each reviewer answers what the calibration queue gives them, blind, with the gold
    reply id; stops at the first item from another queue. Returns decisions per reviewer."""
    from labelloop import api

    done = {}
    for reviewer in REVIEWERS:
        n = 0
        with api.review_session(project, reviewer) as session:
            while (view := session.next()) is not None and view.queue == CALIBRATION:
                if not view.blind or view.suggestion is not None:
                    raise AssertionError(f"calibration item {view.item.id} is not shown blind")
                session.fix(view.item.id, gold[view.item.id])
                decided[view.item.id] = gold[view.item.id]
                n += 1
        done[reviewer] = n
    return done


def run_target(
    rows: list[dict], script: dict, gold: dict[str, str], target: float, args, workdir: Path
) -> dict[str, Any]:
    """One project from scratch, looped to its end at ``target``."""
    from labelloop import api
    from labelloop.testing.stub_llm import StubServer

    root = workdir / f"target-{target:g}"
    root.mkdir(parents=True)
    (root / "guideline.md").write_text(GUIDELINE, encoding="utf-8")
    t0 = time.perf_counter()
    project = api.create_project(root / "project", root / "guideline.md")
    imported = api.import_rows(project, [import_row(r) for r in rows])
    import_s = time.perf_counter() - t0
    for reviewer in REVIEWERS:
        api.add_user(project, reviewer, "reviewer", PASSWORD)
    decided: dict[str, str] = {}
    looks: list[dict[str, Any]] = []
    cal, stop = None, f"--max-looks {args.max_looks} reached"
    with StubServer(script) as stub:
        for look in range(1, args.max_looks + 1):
            t = time.perf_counter()
            run = api.label_items(project, MODEL, api_base=stub.base_url, retry_wait=0.01)
            label_s = time.perf_counter() - t
            t = time.perf_counter()
            reviewed = review_blind(project, gold, decided)
            review_s = time.perf_counter() - t
            if look > 1 and not sum(reviewed.values()):
                # the draw gave nothing new: the same look again would test nothing new
                stop = "the calibration queue gave the reviewers no new item"
                break
            t = time.perf_counter()
            cal = api.calibrate(project, target, args.delta)
            calibrate_s = time.perf_counter() - t
            d = cal.details
            looks.append(
                {
                    "look": look,
                    "label": {
                        "candidates": run.candidates,
                        "labeled": run.labeled,
                        "failed": run.failed,
                        "calls": run.calls,
                        "seconds": round(label_s, 2),
                    },
                    "blind_reviews": reviewed,
                    "review_seconds": round(review_s, 2),
                    "calibrate_seconds": round(calibrate_s, 2),
                    "threshold": cal.threshold,
                    "coverage": cal.coverage,
                    "calibration_pairs": cal.calibration_pairs,
                    "more_reviews_needed": cal.more_reviews_needed,
                    "fit_pairs": d.get("fit_pairs"),
                    "test_pairs": d.get("test_pairs"),
                    "look_delta": d.get("look_delta"),
                    "drawn": d.get("drawn"),
                    "waiting_blind": d.get("waiting_blind"),
                    "observed_accuracy": d.get("observed_accuracy"),
                    "accuracy_lower_bound": d.get("accuracy_lower_bound"),
                    "n_above": d.get("n_above"),
                    "errors_above": d.get("errors_above"),
                    "method": d.get("method"),
                    "reason": d.get("reason"),
                    "routes": dict(cal.routes),
                    "outlook": (d.get("outlook") or {}).get("summary"),
                }
            )
            if cal.more_reviews_needed <= 0:
                stop = "the look asks for no more reviews"
                break
        stub_calls = len(stub.calls)
    export_path = root / "export.jsonl"
    t = time.perf_counter()
    exported = api.export_items(project, export_path)
    export_s = time.perf_counter() - t
    status = api.status(project)
    result = measure(project, gold, decided, export_path, cal, status)
    result.update(
        target_accuracy=target,
        epsilon=round(1 - target, 10),
        delta=args.delta,
        items=imported.items_added,
        looks=looks,
        stopped=stop,
        calls=sum(lk["label"]["calls"] for lk in looks),
        stub_requests=stub_calls,
        export_rows=exported,
        seconds={
            "import": round(import_s, 2),
            "label": round(sum(lk["label"]["seconds"] for lk in looks), 2),
            "review": round(sum(lk["review_seconds"] for lk in looks), 2),
            "calibrate": round(sum(lk["calibrate_seconds"] for lk in looks), 2),
            "export": round(export_s, 2),
            "total": round(time.perf_counter() - t0, 2),
        },
    )
    result["calls_per_item"] = round(result["calls"] / max(1, result["items"]), 4)
    return result


def measure(project, gold, decided, export_path: Path, cal, status) -> dict[str, Any]:
    """What the run delivered, from the store and the export (gold read only here)."""
    latest = project.store.latest_suggestions(model=MODEL)
    ok = {i: s for i, s in latest.items() if s.status == "ok" and s.value is not None}
    agreement = [s.signals.get("order_agreement") for s in ok.values()]
    both = [a for a in agreement if a is not None]
    rows = [json.loads(line) for line in export_path.open(encoding="utf-8")]
    auto = [r for r in rows if r["route"] == "auto_accepted"]
    reviewed = [r for r in rows if r["route"] == "reviewed"]
    seen = {r["id"] for r in rows if r["reviews"]}
    auto_mismatch = sum(
        r.get("label") is None
        or r.get("label_source") != "model"
        or r["id"] not in ok
        or r["label"] != ok[r["id"]].value.label
        or r["label"] != (r.get("suggestion") or {}).get("label")
        for r in auto
    )
    review_mismatch = sum(
        r.get("label") != decided.get(r["id"]) or r.get("label_source") != "human" for r in reviewed
    )
    auto_agree = [r["label"] == gold[r["id"]] for r in auto]
    auto_orders = [ok[r["id"]].signals.get("order_agreement") for r in auto if r["id"] in ok]
    judge_all = [s.value.label == gold[i] for i, s in ok.items()]
    return {
        "threshold": None if cal is None else cal.threshold,
        "calibrate_coverage": None if cal is None else cal.coverage,
        "calibration_pairs": 0 if cal is None else cal.calibration_pairs,
        "more_reviews_needed": None if cal is None else cal.more_reviews_needed,
        "guarantee": None if cal is None else cal.guarantee,
        "routes": dict(status.routes),
        "queues": dict(status.queues),
        "suggestions": {
            "ok": len(ok),
            "failed": sum(s.status != "ok" for s in latest.values()),
            "both_orders": len(both),
            "one_order_only": len(agreement) - len(both),
        },
        "judge_agreement_all": _share(judge_all),
        "position_bias_rate": _share([a == 0.0 for a in both]),
        "blind_reviews": len(decided),
        "blind_review_decisions": sum(
            len([v for v in r["reviews"] if v.get("blind")]) for r in rows
        ),
        "auto_accepted": len(auto),
        "unreviewed": len(rows) - len(seen),
        "coverage": len(auto) / max(1, len(rows)),
        "coverage_unreviewed": len(auto) / max(1, len(rows) - len(seen)),
        "auto_agreement_with_gold": _share(auto_agree),
        "auto_seen_by_people": sum(r["id"] in seen for r in auto),
        "auto_orders_agreed": _share([a == 1.0 for a in auto_orders]),
        "export": {
            "rows": len(rows),
            "auto_accepted_rows": len(auto),
            "auto_label_mismatches": auto_mismatch,
            "reviewed_rows": len(reviewed),
            "reviewed_label_mismatches": review_mismatch,
            "label_sources": dict(Counter(r.get("label_source") for r in rows)),
        },
    }


def _why_lower(r: dict, refd: dict) -> str:
    """Why the loop certifies less than the reference's draws do on average."""
    last = r["looks"][-1]
    band = refd.get("coverage_p5_p95") or [None, None]
    return (
        f" The threshold accepts the verdicts whose orders agreed "
        f"({pct(r['auto_orders_agreed'])}% of the auto-accepted): the look fits the "
        f"combiner on {last.get('fit_pairs')} pairs and tests on {last.get('test_pairs')} at "
        f"δ={_num(last.get('look_delta'))}, too few to certify also accepting the verdicts "
        "whose orders disagreed, which the reference's draws often do (its coverage runs "
        f"from {pct(band[0])}% to {pct(band[1])}%, 5th to 95th percentile)."
    )


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


# --- reference and output -------------------------------------------------------------------


def reference(judge: str, strategy: str) -> dict[str, Any] | None:
    """bench_judge's figures for the same judge and strategy with the order-agreement score."""
    if not REFERENCE.is_file():
        return None
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    signal = f"{strategy} x2 / order agreement"
    setups = (data.get("llmbar") or {}).get(judge, {}).get("setups") or []
    setup = next((s for s in setups if s.get("signal") == signal), None)
    if setup is None:
        return None
    return {
        "source": "benchmarks/results/judge.json (bench_judge.py)",
        "signal": signal,
        "calibration_items": setup.get("calibration_items"),
        "draws": (data.get("parameters") or {}).get("draws"),
        "by_epsilon": {
            str(e["epsilon"]): {
                "coverage": e.get("mean_coverage"),
                "agreement_auto": e.get("mean_agreement_auto"),
                "coverage_p5_p95": e.get("coverage_p5_p95"),
            }
            for e in setup.get("by_eps") or []
        },
    }


def pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{100 * x:.{digits}f}"


def table_rows(results: list[dict], ref: dict | None) -> list[list[str]]:
    out = []
    for r in results:
        eps = f"{r['epsilon']:g}"
        refd = (ref or {}).get("by_epsilon", {}).get(eps) or {}
        reviews = r["blind_reviews"]
        decisions = r["blind_review_decisions"]
        mismatches = r["export"]["auto_label_mismatches"] + r["export"]["reviewed_label_mismatches"]
        out.append(
            [
                f"{r['target_accuracy']:g}",
                "-" if r["threshold"] is None else f"{r['threshold']:.3f}",
                f"{pct(r['coverage'])} / {pct(r['coverage_unreviewed'])}",
                str(r["calibration_pairs"]),
                f"{reviews} ({decisions})",
                str(len(r["looks"])),
                pct(r["auto_agreement_with_gold"]),
                pct(r["auto_orders_agreed"]),
                pct(r["position_bias_rate"]),
                f"{r['calls_per_item']:.3f}",
                str(mismatches),
                f"{pct(refd.get('coverage'))} / {pct(refd.get('agreement_auto'))}",
            ]
        )
    return out


HEADERS = [
    "target",
    "threshold",
    "coverage % all / unreviewed",
    "cal. pairs",
    "blind items (decisions)",
    "looks",
    "auto agree %",
    "auto orders agree %",
    "position bias %",
    "calls/item",
    "export mismatches",
    "bench_judge cover/agree %",
]


def print_table(results: list[dict], ref: dict | None) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text without rich
        print(" | ".join(HEADERS))
        for row in table_rows(results, ref):
            print(" | ".join(row))
        return
    table = Table(title="Judging loop on LLMBar (recorded verdicts via the stub LLM)")
    for h in HEADERS:
        table.add_column(h, justify="left" if h == "target" else "right")
    for row in table_rows(results, ref):
        table.add_row(*row)
    Console(width=max(160, Console().width)).print(table)


def write_markdown(path: Path, report: dict) -> None:
    p, ref = report["parameters"], report["reference"]
    lines = [
        "# The judging loop on LLMBar, end to end",
        "",
        f"`{report['command']}` ({report['seconds']:.1f} s, {report['machine']['cpus']} CPUs). "
        f"Judge: {p['judge']} / {p['strategy']}, recorded verdicts served by the stub LLM in "
        f"both reply orders; {p['items']} items imported without labels; δ = {p['delta']}; "
        "one project per target, looped (label → blind review of the calibration queue with "
        f"gold → calibrate) while a look asks for more reviews, at most {p['max_looks']} looks.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["results"], ref)]
    lines += ["", "Notes:", ""]
    lines += [f"- {n}" for n in report["notes"]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def notes(results: list[dict], ref: dict | None, cases: Counter, items: int) -> list[str]:
    out = [
        "Signal: no confidence is recorded, so the stub's constant default confidence stands; "
        "the only informative signal is whether the two reply orders gave the same verdict.",
        f"Null recorded verdicts scripted as malformed answers (never as verdicts): "
        f"{cases['ab_null']} in the item's own order (the item fails after re-asks), "
        f"{cases['ba_null']} in the reversed order only (order agreement missing).",
        "Coverage: items routed auto_accepted / all items, and / the items no person "
        "reviewed (the held-out stream; audit-queue items are not counted as auto-accepted). "
        "Auto agreement: those items' "
        "verdicts against gold; no person saw them (see auto_seen_by_people in the JSON). "
        "Blind items: calibration items answered with gold; decisions include the second "
        "reviewer's answers on the project's 10% overlap items.",
        "Calls/item: judge calls the labeler made / items (2 = one per order; malformed "
        "answers add re-asks). Export mismatches: auto-accepted rows whose final label is not "
        "the stored suggestion plus reviewed rows whose label is not the reviewer's decision.",
    ]
    for r in results:
        last = r["looks"][-1] if r["looks"] else {}
        why = last.get("reason") or ""
        out.append(
            f"Target {r['target_accuracy']:g}: threshold "
            f"{'none' if r['threshold'] is None else format(r['threshold'], '.3f')}, "
            f"{r['auto_accepted']} of {r['items']} items auto-accepted after "
            f"{len(r['looks'])} look(s) (stopped: {r['stopped']}), "
            f"{r['calibration_pairs']} calibration pairs (last look: Platt fit on "
            f"{last.get('fit_pairs')}, threshold tested on {last.get('test_pairs')} at "
            f"δ={_num(last.get('look_delta'))}); "
            f"the judge agrees with gold on {pct(r['judge_agreement_all'])}% of its verdicts."
            + (f" Last look: {why.rstrip('.')}." if why else "")
            + (f" Outlook: {last['outlook']}" if last.get("outlook") else "")
        )
    if ref:
        out.append(
            f"Reference (bench_judge, {ref['signal']}, {ref['calibration_items']} uniform "
            f"calibration items, one threshold test at δ, mean of {ref['draws']} draws): "
            + "; ".join(
                f"ε={e}: coverage {pct(v['coverage'])}%, agreement {pct(v['agreement_auto'])}%"
                for e, v in ref["by_epsilon"].items()
            )
            + "."
        )
        for r in results:
            refd = ref["by_epsilon"].get(f"{r['epsilon']:g}")
            if not refd or refd.get("coverage") is None:
                continue
            diff = r["coverage_unreviewed"] - refd["coverage"]
            word = "lower" if diff < -0.005 else "higher" if diff > 0.005 else "the same"
            out.append(
                f"Target {r['target_accuracy']:g} against the reference: coverage of the "
                f"unreviewed items {pct(r['coverage_unreviewed'])}% is {word} "
                f"({100 * diff:+.1f} points) with {r['calibration_pairs']} calibration pairs "
                f"(vs {ref['calibration_items']}); agreement of the auto-accepted "
                f"{pct(r['auto_agreement_with_gold'])}% vs {pct(refd['agreement_auto'])}%."
                + (_why_lower(r, refd) if word == "lower" else "")
            )
    if items < 1200:
        out.append(f"Run on the first {items} items only (--limit).")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with llmbar/")
    ap.add_argument("--judge", default="GPT-4")
    ap.add_argument("--strategy", default="Metrics_Reference")
    ap.add_argument("--targets", default="0.8,0.9", help="target accuracies, one run each")
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--limit", type=int, default=None, help="first N items (a quick run)")
    ap.add_argument("--max-looks", type=int, default=4, help="calibration looks per target")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON (and .md beside it)")
    args = ap.parse_args(argv)
    targets = [float(t) for t in args.targets.split(",") if t.strip()]
    if any(not 0 < t < 1 for t in targets):
        sys.exit("--targets: each target accuracy must be between 0 and 1")

    started = time.perf_counter()
    rows = load_rows(args.data, args.limit)
    script, cases, gold = {}, Counter(), {}
    for row in rows:
        verdicts = recorded(row, args.judge, args.strategy)
        if not verdicts:
            sys.exit(f"{row['id']}: no verdict of {args.judge}/{args.strategy} is recorded")
        script[row["id"]], case = script_entry(row, verdicts)
        cases[case] += 1
        gold[row["id"]] = row["gold"].lower()

    results = []
    with tempfile.TemporaryDirectory(prefix="bench-judge-loop-") as tmp:
        for target in targets:
            results.append(run_target(rows, script, gold, target, args, Path(tmp)))
            print(f"target {target:g}: {results[-1]['seconds']['total']:.1f} s", file=sys.stderr)
    ref = reference(args.judge, args.strategy)
    seconds = time.perf_counter() - started
    given = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/bench_judge_loop.py", *given])
    report = {
        "command": command,
        "parameters": {
            "judge": args.judge,
            "strategy": args.strategy,
            "targets": targets,
            "delta": args.delta,
            "items": len(rows),
            "limit": args.limit,
            "max_looks": args.max_looks,
            "model": MODEL,
            "reviewers": list(REVIEWERS),
            "script_cases": dict(cases),
        },
        "protocol": __doc__.split("Protocol.")[1].split("    python")[0].strip(),
        "results": results,
        "reference": ref,
        "seconds": round(seconds, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }
    report["notes"] = notes(results, ref, cases, len(rows))
    print_table(results, ref)
    for n in report["notes"]:
        print("-", n)
    print(f"{seconds:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    write_markdown(args.out.with_suffix(".md"), report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
