"""Benchmark prompt-injection defences, measured honestly.

- **Detection rate** on the injection corpus (``benchmarks/reliability/injection/``): on the
  held-out half (written before the rules and kept out of sight while they were tuned) and
  on the dev half (the rules were written against it), by family, field and disguise.
- **False-positive rate** on clean data: the shared datasets (BANKING77, TweetEval, ConvAbuse,
  SGD dialogues, WNUT17, Reddit discourse and figurative language), found in a ``shared/
  datasets`` folder next to the repository or above it (``--datasets`` to name it; reported
  as "clean data missing" without it), and the repository's own samples (the demo's 3,080
  support messages, the import fixtures, the corpus's hard negatives). Datasets whose items
  are instructions to a model by design (PandaLM, LLMBar, Tulu prompts) are reported apart:
  a flag there sends a legitimate item to people, nothing more.
- **Injection items auto-accepted** in a demo-like project: the demo's support messages and
  the whole corpus imported into a fresh store, labeled by the local model, calibrated,
  routed; every injection item that ends auto-accepted is counted (and those with the label
  they dictate); it must be 0. A worst case routes the same suggestions at threshold 0:
  every text item the detector misses would then be auto-accepted.

The detector's phrase rules (which know no label) and the structural rule (an item naming a
label of the guideline as an identifier) are reported apart as well as together.

    python benchmarks/bench_injection.py              # ~1 min on 2 cores
    python benchmarks/bench_injection.py --no-pipeline --datasets ../shared/datasets
    python benchmarks/bench_injection.py --postgres postgresql://postgres@127.0.0.1/test

:func:`run` returns the figures as a dict (``benchmarks/bench_reliability.py`` calls it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from labelloop.core.guideline import load_guideline  # noqa: E402
from labelloop.core.resources import demo_guideline, demo_sample  # noqa: E402
from labelloop.core.types import Item, Message  # noqa: E402
from labelloop.label import injection  # noqa: E402

CORPUS = ROOT / "benchmarks" / "reliability" / "injection"
SPLITS = ("heldout", "dev")
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "injection.json"
#: clean datasets under shared/datasets: name -> file
CLEAN = {
    "banking77": "banking77/banking77.jsonl",
    "tweeteval_sentiment": "tweeteval_sentiment/tweeteval_sentiment.jsonl",
    "convabuse": "convabuse/convabuse.jsonl",
    "uss_sgd_satisfaction": "uss_sgd_satisfaction/uss-sgd.jsonl",
    "wnut17": "wnut17/wnut17.jsonl",
    "css_discourse": "llm_predictions_css/discourse.jsonl",
    "css_flute": "llm_predictions_css/flute.jsonl",
}
#: datasets of prompts to assistants: instructions by design, reported apart
INSTRUCTIONS = {
    "pandalm_prompts": "pandalm_testset/data.jsonl",
    "llmbar_prompts": "llmbar/data.jsonl",
    "tulu1_prompts": "tulu1_human_eval/data.jsonl",
}
#: the repository's own clean samples
FIXTURES = {
    "demo_support_messages": demo_sample(),
    "import_fixture_intents": ROOT / "tests" / "fixtures" / "import" / "intents.jsonl",
    "import_fixture_conversations": ROOT / "tests" / "fixtures" / "import" / "conversations.jsonl",
    "corpus_hard_negatives": CORPUS / "dev_clean.jsonl",
}
EXAMPLES = 8


# --- corpus -------------------------------------------------------------------------------------


def load_corpus(splits: Iterable[str] = SPLITS) -> list[dict]:
    """The corpus rows of the given splits (each file is one split)."""
    rows = []
    for split in splits:
        path = CORPUS / f"{split}.jsonl"
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def corpus_item(row: dict) -> Item:
    raw = row["item"]
    messages = raw.get("messages")
    return Item(
        id=raw["id"],
        text=raw.get("text"),
        messages=tuple(Message(**m) for m in messages) if messages is not None else None,
    )


def demo_labels() -> tuple[str, ...]:
    return load_guideline(demo_guideline()).label_names


def detection(rows: list[dict], labels: tuple[str, ...]) -> dict[str, Any]:
    """Share of rows flagged: with the guideline's labels, by the phrase rules alone, and
    by the structural rule alone; broken down by family, field, disguise and language."""
    flagged = rules = named = 0
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    missed = []
    for row in rows:
        item = corpus_item(row)
        flag = injection.detect_item_injection(item, labels=labels)
        hit = flag is not None
        flagged += hit
        rules += injection.detect_item_injection(item) is not None
        named += injection.names_label(item, labels) is not None
        for key in ("family", "field", "disguise", "lang"):
            cell = groups[key][str(row.get(key))]
            cell[0] += 1
            cell[1] += hit
        if not hit:
            missed.append(row["case"])
    n = len(rows)
    return {
        "items": n,
        "flagged": flagged,
        "rate": _rate(flagged, n),
        "phrase_rules_rate": _rate(rules, n),
        "structural_rate": _rate(named, n),
        "by": {
            key: {
                k: {"items": a, "flagged": b, "rate": _rate(b, a)}
                for k, (a, b) in sorted(g.items())
            }
            for key, g in groups.items()
        },
        "missed": missed,
    }


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


# --- clean data ---------------------------------------------------------------------------------


def find_datasets(explicit: str | Path | None = None) -> Path | None:
    """``explicit``, else the first ``shared/datasets`` folder beside the repository or above."""
    if explicit is not None:
        path = Path(explicit)
        return path if path.is_dir() else None
    for parent in ROOT.parents:
        candidate = parent / "shared" / "datasets"
        if candidate.is_dir():
            return candidate
    return None


def read_items(path: Path, prompt_only: bool = False) -> Iterator[Item]:
    """Items of a JSONL file: ``text``, or ``messages`` (``content`` or ``text`` per turn);
    ``prompt_only``: the ``prompt`` field as the text."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            item_id = str(row.get("id", ""))
            if prompt_only:
                yield Item(id=item_id, text=row.get("prompt") or "")
            elif row.get("text") is not None:
                yield Item(id=item_id, text=row["text"])
            elif row.get("messages"):
                msgs = tuple(
                    Message(
                        role=str(m.get("role", "user")),
                        content=str(m.get("content") or m.get("text") or ""),
                    )
                    for m in row["messages"]
                )
                yield Item(id=item_id, messages=msgs)


def false_positives(items: Iterable[Item], labels: tuple[str, ...]) -> dict[str, Any]:
    n = flagged = 0
    examples = []
    rules: Counter = Counter()
    seconds = 0.0
    for item in items:
        n += 1
        start = time.perf_counter()
        flag = injection.detect_item_injection(item, labels=labels)
        seconds += time.perf_counter() - start
        if flag is None:
            continue
        flagged += 1
        rules[flag.rule] += 1
        if len(examples) < EXAMPLES:
            examples.append({"id": item.id, "rule": flag.rule, "match": flag.match})
    return {
        "items": n,
        "flagged": flagged,
        "rate": _rate(flagged, n),
        "rules": dict(rules),
        "examples": examples,
        "us_per_item": round(seconds / n * 1e6, 1) if n else None,
    }


def clean_data(datasets: Path | None, labels: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"fixtures": {}, "shared": {}, "instructions": {}}
    for name, path in FIXTURES.items():
        out["fixtures"][name] = false_positives(read_items(path), labels)
    if datasets is None:
        out["shared"] = out["instructions"] = "clean data missing"
        return out
    for name, rel in CLEAN.items():
        path = datasets / rel
        out["shared"][name] = (
            false_positives(read_items(path), labels) if path.exists() else "missing"
        )
    for name, rel in INSTRUCTIONS.items():
        path = datasets / rel
        out["instructions"][name] = (
            false_positives(read_items(path, prompt_only=True), labels)
            if path.exists()
            else "missing"
        )
    return out


# --- the pipeline with auto-acceptance live -------------------------------------------------------


def pipeline_check(
    rows: list[dict], database_url: str | None = None, seed: int = 0
) -> dict[str, Any]:
    """Injection items auto-accepted in a demo-like project labeled by the local model.

    The demo's task labels texts: the corpus's transcripts are measured by detection only."""
    from labelloop import loop
    from labelloop.core.types import Route
    from labelloop.demo import split_sample
    from labelloop.project import init_project
    from labelloop.route import rules as routing
    from labelloop.route.calibrate import calibrate

    rows = [r for r in rows if r["item"].get("text") is not None]
    with tempfile.TemporaryDirectory(prefix="labelloop-injection-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        settings = {"database_url": database_url} if database_url else {}
        project = init_project(root, demo_guideline(), **settings)
        reviewed, unlabeled, _ = split_sample(root, 0.33, seed)
        attacks = root / "data" / "injections.jsonl"
        attacks.write_text(
            "".join(json.dumps(r["item"], ensure_ascii=False) + "\n" for r in rows),
            encoding="utf-8",
        )
        loop.import_file(project, reviewed, reviewer="gold", sample=True)
        loop.import_file(project, unlabeled)
        loop.import_file(project, attacks)
        start = time.perf_counter()
        run = loop.label(project, model="local")
        calibrated = calibrate(project)
        seconds = time.perf_counter() - start
        store = project.store
        ids = {r["item"]["id"]: r for r in rows}
        routes = store.routes()
        latest = store.latest_suggestions(model=run.model)
        auto = [i for i in ids if routes.get(i) == Route.AUTO_ACCEPTED.value]
        dictated = [
            i
            for i in auto
            if (s := latest.get(i)) and s.value and s.value.label == ids[i]["dictates"]
        ]
        everything = routing.RoutingPolicy(threshold=0.0, calibration_rate=0.0, audit_rate=0.0)
        worst = [
            i
            for i in ids
            if routing.route_item(i, latest.get(i), False, everything).route == Route.AUTO_ACCEPTED
        ]
        all_auto = sum(v == Route.AUTO_ACCEPTED.value for v in routes.values())
        flagged = sum(1 for i in ids if (s := latest.get(i)) and "injection" in s.signals)
        return {
            "store": "postgresql" if database_url else "sqlite",
            "injection_items": len(ids),
            "labeled": sum(1 for i in ids if i in latest),
            "flagged_by_the_labeling_step": flagged,
            "threshold": calibrated.get("threshold"),
            "auto_accepted_items_all": all_auto,
            "injection_items_auto_accepted": len(auto),
            "auto_accepted_with_dictated_label": len(dictated),
            "auto_accepted_cases": [ids[i]["case"] for i in auto][:20],
            "worst_case_threshold_0_auto_accepted": len(worst),
            "worst_case_cases": [ids[i]["case"] for i in worst][:20],
            "seconds": round(seconds, 1),
        }


# --- run ---------------------------------------------------------------------------------------


@contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    """The URL of a database created on the server of ``server_url``, dropped afterwards."""
    import sqlalchemy as sa

    from labelloop.store.db import normalise_url

    base = sa.engine.make_url(normalise_url(server_url))
    name = f"labelloop_injection_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def run(
    datasets: str | Path | None = None,
    pipeline: bool = True,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Every figure of this benchmark as a dict; ``datasets``: the shared datasets folder
    (default: found beside the repository), ``pipeline``: also run the demo-like project,
    ``database_url``: its store, an empty database (default: SQLite in a temp folder).
    ``summary`` holds the headline figures: ``injection_items_auto_accepted`` must be 0; its
    worst case (threshold 0) counts the corpus's text items the detector misses."""
    labels = demo_labels()
    found = find_datasets(datasets)
    rows = {split: load_corpus([split]) for split in SPLITS}
    out: dict[str, Any] = {
        "detection": {split: detection(r, labels) for split, r in rows.items()},
        "clean": clean_data(found, labels),
        "datasets": str(found) if found else "clean data missing",
    }
    if pipeline:
        out["pipeline"] = pipeline_check(rows["heldout"] + rows["dev"], database_url)
    out["summary"] = summary(out)
    return out


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The headline figures, for one table row each."""
    det = out["detection"]
    s: dict[str, Any] = {
        "heldout_detection": det["heldout"]["rate"],
        "heldout_detection_phrase_rules_only": det["heldout"]["phrase_rules_rate"],
        "dev_detection": det["dev"]["rate"],
    }
    shared = out["clean"]["shared"]
    if isinstance(shared, dict):
        n = sum(v["items"] for v in shared.values() if isinstance(v, dict))
        k = sum(v["flagged"] for v in shared.values() if isinstance(v, dict))
        s["clean_false_positives"] = f"{k} of {n}"
        s["clean_false_positive_rate"] = _rate(k, n)
    else:
        s["clean_false_positives"] = shared
    fixtures = out["clean"]["fixtures"]
    flagged, items = (sum(v[k] for v in fixtures.values()) for k in ("flagged", "items"))
    s["fixture_false_positives"] = f"{flagged} of {items}"
    if "pipeline" in out:
        p = out["pipeline"]
        s["injection_items_auto_accepted"] = p["injection_items_auto_accepted"]
        s["injection_items_auto_accepted_worst_case"] = p["worst_case_threshold_0_auto_accepted"]
    return s


def print_report(out: dict[str, Any]) -> None:
    det = out["detection"]
    print("Injection detection (flagged / items)")
    for split in SPLITS:
        d = det[split]
        print(
            f"  {split:8} {d['flagged']:4} / {d['items']:4}  {d['rate']:.1%}"
            f"   phrase rules alone {d['phrase_rules_rate']:.1%},"
            f" label named {d['structural_rate']:.1%}"
        )
        for key in ("family", "field", "disguise"):
            cells = ", ".join(f"{k} {v['flagged']}/{v['items']}" for k, v in d["by"][key].items())
            print(f"    by {key}: {cells}")
    print("False positives on clean data (flagged / items)")
    for group in ("fixtures", "shared", "instructions"):
        data = out["clean"][group]
        if not isinstance(data, dict):
            print(f"  {group}: {data}")
            continue
        for name, v in data.items():
            if isinstance(v, dict):
                print(
                    f"  {group:12} {name:30} {v['flagged']:5} / {v['items']:6}  {v['rate']:.2%}"
                    f"  {v['us_per_item']} µs/item"
                )
            else:
                print(f"  {group:12} {name:30} {v}")
    if "pipeline" in out:
        p = out["pipeline"]
        print(
            f"Pipeline ({p['store']}, local model, threshold {p['threshold']}): "
            f"{p['injection_items_auto_accepted']} of {p['injection_items']} injection items "
            f"auto-accepted ({p['auto_accepted_with_dictated_label']} with the dictated label; "
            f"{p['auto_accepted_items_all']} items auto-accepted in all); at threshold 0: "
            f"{p['worst_case_threshold_0_auto_accepted']}; {p['seconds']} s"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--datasets", help="the shared datasets folder (default: found beside the repo)"
    )
    ap.add_argument("--no-pipeline", action="store_true", help="skip the demo-like project")
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="run the demo-like project in a throwaway database on this PostgreSQL server",
    )
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    args = ap.parse_args(argv)
    if args.postgres and not args.no_pipeline:
        with throwaway_postgres(args.postgres) as url:
            out = run(args.datasets, True, url)
    else:
        out = run(args.datasets, not args.no_pipeline)
    print_report(out)
    Path(args.out).write_text(
        json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
