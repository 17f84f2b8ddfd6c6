"""Several questions per item, offline, through labelloop's own code as a user would run it:
the embedded model (one model per question), calibration and routing per question, and how
many questions people are still asked.

Data (``../shared/datasets``, override with ``--data``):

- ConvAbuse (CC BY 4.0): short human-chatbot exchanges, the user's last turn judged by 2-7
  expert annotators. Three questions on the judged turn (``target_turn`` 3):
  ``abusive`` (abusive | not_abusive: severity < 0), ``severity`` (not_abusive, ambiguous,
  mild, strong, very_strong: severity 1, 0, -1, -2, -3) and ``at_system`` (yes | no: the
  abuse targets the bot; no when not abusive). The people's answer to a question is the
  majority of the annotators' first passes; an item whose annotators split evenly on a
  question has no answer to it (that question is left out of its row).
- USS-SGD (research data, no licence file; the dialogues are CC BY-SA 4.0): task-oriented
  dialogues, every user turn rated 1-5 by 3-7 annotators, and the dialogue as a whole. Two
  questions: ``satisfaction`` asked of each user turn (``unit: turn``) and ``overall``. The
  people's answer is the median rating (the lower middle one for an even count).

Protocol, per dataset: items are shuffled (``--seed``) and split into ``train`` (imported with
the people's answers by one reviewer, ``people``: the embedded model's training set),
``calibration`` (imported with the people's answers as a uniform sample,
``import --sample``: calibration pairs) and ``test`` (imported without answers). Then
``label --model local``, ``calibrate`` at each target accuracy, which routes every item.

Reported per question: the embedded model's accuracy on the test items (vs the people's
answer; per turn for ``satisfaction``), the majority-answer baseline, the certified coverage
on the test items (share whose answer to that question was auto-accepted) and the accuracy
of those auto-accepted answers that people answered (a per-turn answer is right only when
every turn is: that is what is certified); per item: the share auto-accepted whole, the
share sent to people, and of those the share where people were asked only some of the questions (the
others auto-accepted): the questions that needed them, not the item.

    python benchmarks/bench_rubric.py                  # from the repository root
    python benchmarks/bench_rubric.py --datasets convabuse --limit 1500
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before litellm is imported

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "rubric.json"
REVIEWER = "people"

CONVABUSE = """\
---
task: convabuse-rubric
unit: conversation
questions:
  abusive: {kind: single, labels: [abusive, not_abusive]}
  severity:
    kind: single
    scale: ordinal
    labels: [not_abusive, ambiguous, mild, strong, very_strong]
  at_system: {kind: single, labels: ["yes", "no"]}
---
# Abuse towards a chatbot

Read the exchange and judge the user's last message (the marked turn) only.

## abusive
Is the user's last message abusive?

### abusive
Insults, threats, harassment, slurs or sexual harassment aimed at anyone.
### not_abusive
Anything else, including rude but harmless messages.

## severity
How abusive is it?

### not_abusive
No abuse.
### ambiguous
Could be read as abusive or not.
### mild
Mildly abusive.
### strong
Strongly abusive.
### very_strong
Very strongly abusive.

## at_system
Does the abuse target the chatbot itself? "no" when the message is not abusive.

### yes
The bot is the target.
### no
Someone else, a group, or nobody is the target.
"""

USS = """\
---
task: uss-satisfaction
unit: conversation
questions:
  satisfaction:
    kind: single
    unit: turn
    scale: ordinal
    labels: [1, 2, 3, 4, 5]
  overall: {kind: single, scale: ordinal, labels: [1, 2, 3, 4, 5]}
---
# User satisfaction with an assistant

## satisfaction
For each user turn: how satisfied is the user with the assistant so far? 1 very
dissatisfied, 2 dissatisfied, 3 normal, 4 satisfied, 5 very satisfied.

## overall
How satisfied is the user with the whole dialogue (same scale)?
"""

SEVERITY = {1: "not_abusive", 0: "ambiguous", -1: "mild", -2: "strong", -3: "very_strong"}


# --- the people's answers ------------------------------------------------------------------


def majority(votes: list[str]) -> str | None:
    """The most common vote; None on an even split at the top."""
    top = Counter(votes).most_common()
    if not top or (len(top) > 1 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def median_rating(ratings: list[int]) -> str:
    return str(statistics.median_low(ratings))


def convabuse_rows(data: Path) -> list[dict]:
    rows = []
    for line in (data / "convabuse" / "convabuse.jsonl").open(encoding="utf-8"):
        raw = json.loads(line)
        first = [a for a in raw["annotations"] if a["pass"] == 1]
        answers = {
            "abusive": majority(["abusive" if a["severity"] < 0 else "not_abusive" for a in first]),
            "severity": majority([SEVERITY[a["severity"]] for a in first]),
            "at_system": majority(
                ["yes" if a["severity"] < 0 and "system" in a["target"] else "no" for a in first]
            ),
        }
        rows.append(
            {
                "id": raw["id"],
                "messages": [{"role": m["role"], "content": m["text"]} for m in raw["messages"]],
                "target_turn": raw["target_message_index"],
                "answers": {q: v for q, v in answers.items() if v is not None},
            }
        )
    return rows


def uss_rows(data: Path) -> list[dict]:
    rows = []
    for line in (data / "uss_sgd_satisfaction" / "uss-sgd.jsonl").open(encoding="utf-8"):
        raw = json.loads(line)
        msgs = [{"role": m["role"], "content": m["text"]} for m in raw["messages"]]
        turns = {
            str(i): median_rating(m["satisfaction"])
            for i, m in enumerate(raw["messages"])
            if m["role"] == "user"
        }
        rows.append(
            {
                "id": raw["id"],
                "messages": msgs,
                "answers": {
                    "satisfaction": turns,
                    "overall": median_rating(raw["dialogue_satisfaction"]),
                },
            }
        )
    return rows


DATASETS = {"convabuse": (CONVABUSE, convabuse_rows), "uss": (USS, uss_rows)}


# --- one run -------------------------------------------------------------------------------


def split(rows: list[dict], seed: int, train: float, calibration: float):
    rows = rows[:]
    random.Random(seed).shuffle(rows)
    a = int(len(rows) * train)
    b = a + int(len(rows) * calibration)
    return rows[:a], rows[a:b], rows[b:]


def as_import(row: dict, with_answers: bool) -> dict:
    out = {k: v for k, v in row.items() if k != "answers"}
    if with_answers and row["answers"]:
        out["labels"] = row["answers"]
    return out


def units(question: str, value: Any) -> dict[str, str]:
    """A question's answer as {unit: label}: one unit, or one per turn."""
    if isinstance(value, dict):
        return {f"turn {k}": v for k, v in value.items()}
    return {"": value}


def model_answer(s, question: str) -> Any:
    if s is None or s.value is None or not s.value.answers or question not in s.value.answers:
        return None
    v = s.value.answers[question]
    if v.turns is not None:
        return {str(k): lab for k, lab in v.turns.items()}
    return v.label


def run(name: str, data: Path, args) -> dict:
    from labelloop import api

    guideline, read = DATASETS[name]
    rows = read(data)
    if args.limit:
        rows = rows[: args.limit]
    train, cal, test = split(rows, args.seed, args.train, args.calibration)
    with tempfile.TemporaryDirectory(prefix=f"bench-rubric-{name}-") as tmp:
        g = Path(tmp) / "guideline.md"
        g.write_text(guideline, encoding="utf-8")
        project = api.create_project(Path(tmp) / "p", g)
        questions = project.guideline().question_names
        t0 = time.perf_counter()
        api.import_rows(project, [as_import(r, True) for r in train], reviewer=REVIEWER)
        api.import_rows(project, [as_import(r, True) for r in cal], reviewer=REVIEWER, sample=True)
        api.import_rows(project, [as_import(r, False) for r in test])
        t_import = time.perf_counter() - t0
        t0 = time.perf_counter()
        labeled = api.label_items(project, "local")
        t_label = time.perf_counter() - t0
        by_target = {}
        for target in args.targets:
            cal_report = api.calibrate(project, target_accuracy=target, delta=args.delta)
            by_target[str(target)] = measure(project, test, questions, cal_report)
        return {
            "dataset": name,
            "items": {"train": len(train), "calibration": len(cal), "test": len(test)},
            "questions": questions,
            "seconds": {"import": round(t_import, 1), "label": round(t_label, 1)},
            "label_failed": labeled.failed,
            "baseline": baselines(train, test, questions),
            "accuracy": accuracy(project, test, questions),
            "targets": by_target,
        }


def baselines(train, test, questions) -> dict[str, float | None]:
    """Per question, the accuracy on the test items of always answering the training
    items' most common answer."""
    out = {}
    for q in questions:
        seen = Counter(
            v for r in train if q in r["answers"] for v in units(q, r["answers"][q]).values()
        )
        top = seen.most_common(1)[0][0] if seen else None
        got = [
            v == top for r in test if q in r["answers"] for v in units(q, r["answers"][q]).values()
        ]
        out[q] = round(sum(got) / len(got), 4) if got else None
    return out


def accuracy(project, test, questions) -> dict[str, dict]:
    made = project.store.latest_suggestions(model="local")
    out = {}
    for q in questions:
        right = n = 0
        for r in test:
            if q not in r["answers"]:
                continue
            mine = units(q, model_answer(made.get(r["id"]), q) or {})
            for unit, truth in units(q, r["answers"][q]).items():
                n += 1
                right += mine.get(unit) == truth
        out[q] = {"units": n, "accuracy": round(right / n, 4) if n else None}
    return out


def measure(project, test, questions, cal) -> dict:
    """Per question: certified coverage on the test items and the accuracy of the answers
    auto-accepted; per item: auto-accepted whole, sent to people, asked only some."""
    from labelloop.core.consensus import rule_of
    from labelloop.core.questions import final_answers

    guideline = project.guideline()
    ids = {r["id"]: r for r in test}
    records = {
        rec.item.id: rec
        for rec in project.store.iter_records(model="local", consensus=rule_of(guideline))
        if rec.item.id in ids
    }
    per_q: dict[str, dict] = {}
    whole = people = partial = 0
    for item_id, rec in records.items():
        rec = _with_questions(rec, guideline)
        accepted = set(rec.accepted) if rec.route != "auto_accepted" else set(questions)
        if rec.route == "auto_accepted":
            whole += 1
        elif rec.route in ("active", "calibration", "audit"):
            people += 1
            if accepted and len(accepted) < len(questions):
                partial += 1
        answers, sources = final_answers(rec, guideline)
        truth = ids[item_id]["answers"]
        for q in questions:
            d = per_q.setdefault(q, {"accepted": 0, "judged": 0, "right": 0, "items": 0})
            d["items"] += 1
            if sources.get(q) == "model":
                d["accepted"] += 1
                if q in truth:  # an even split of the annotators: no answer to check against
                    d["judged"] += 1
                    mine, got = units(q, _plain(answers[q])), units(q, truth[q])
                    d["right"] += all(mine.get(u) == v for u, v in got.items())
    n = len(records) or 1
    return {
        "certified": {
            q: {
                "threshold": ((cal.details.get("questions") or {}).get(q) or {}).get("threshold"),
                "coverage": round(d["accepted"] / d["items"], 4) if d["items"] else None,
                "accepted_with_an_answer": d["judged"],
                "accuracy_of_accepted": round(d["right"] / d["judged"], 4) if d["judged"] else None,
            }
            for q, d in per_q.items()
        },
        "items_auto_accepted_whole": round(whole / n, 4),
        "items_sent_to_people": round(people / n, 4),
        "of_those_asked_only_some_questions": round(partial / people, 4) if people else None,
    }


def _with_questions(rec, guideline):
    from dataclasses import replace

    return rec if rec.questions is not None else replace(rec, questions=guideline)


def _plain(value) -> Any:
    if value.turns is not None:
        return {str(k): v for k, v in value.turns.items()}
    return value.label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--limit", type=int, default=None, help="first N items of each dataset")
    ap.add_argument("--train", type=float, default=0.5)
    ap.add_argument("--calibration", type=float, default=0.25)
    ap.add_argument("--targets", type=float, nargs="+", default=[0.9, 0.95])
    ap.add_argument("--delta", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    for name in args.datasets:
        folder = {"convabuse": "convabuse", "uss": "uss_sgd_satisfaction"}[name]
        if not (args.data / folder).is_dir():
            sys.exit(f"{args.data / folder} is missing: pass --data, the shared datasets folder")
    results = [run(name, args.data, args) for name in args.datasets]
    out = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "params": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
