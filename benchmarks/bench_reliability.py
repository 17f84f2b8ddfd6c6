"""The reliability figures as one command: hostile input, faults, kills, the login, the
browser and the host, on SQLite and on PostgreSQL, in one table.

Each section is a module with ``run(store_url, workdir) -> dict`` (``benchmarks/reliability/``,
and ``bench_import_decisions.py`` and ``bench_injection.py``), run here in a process of its
own against a fresh store: SQLite in a temporary folder, or a throwaway database on the
PostgreSQL server (created and dropped here). A section returns its table rows (``rows``:
measure, value, ``of``, ``should_be``, ``ok``, ``note``) and its details, or its figures
for an adapter here to make rows of; a section whose module is not there yet is shown as
not measured.

    python benchmarks/bench_reliability.py                       # both stores, ~10 min
    python benchmarks/bench_reliability.py --store sqlite --only xss,access
    python benchmarks/bench_reliability.py --deep                # larger settings

Output: the table on stdout, ``benchmarks/results/reliability.json`` (a run with ``--only``
or one store replaces those sections' figures and keeps the others').
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "reliability.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
STORES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass(frozen=True)
class Section:
    name: str
    module: str
    #: the first row's measure, shown while the section has no figures, and its target
    title: str
    target: str = "0"


SECTIONS = [
    Section(
        "faults", "benchmarks.reliability.faults", "items lost under 25% injected provider faults"
    ),
    Section(
        "kill_resume",
        "benchmarks.reliability.kill_resume",
        "calls repaid after kill -9",
        "<= concurrency",
    ),
    Section(
        "hostile_imports",
        "benchmarks.reliability.hostile_imports",
        "hostile import files refused with a line-numbered one-line error",
        "all",
    ),
    Section(
        "import_wait",
        "benchmarks.bench_import_decisions",
        "decision wait during a 400,000-row import (p95)",
        "<= 2 s",
    ),
    Section("injection", "benchmarks.bench_injection", "injection items auto-accepted"),
    Section("xss", "benchmarks.reliability.xss", "XSS payloads executed"),
    Section(
        "access", "benchmarks.reliability.access", "access checks accepted that should be refused"
    ),
    Section(
        "key_copies", "benchmarks.reliability.key_copies", "copies of a distinctive API key found"
    ),
    Section(
        "concurrency",
        "benchmarks.reliability.concurrency",
        "items decided twice or lost, concurrent reviewers and routing",
    ),
]
BY_NAME = {s.name: s for s in SECTIONS}


# --- rows of the sections that return their own figures only --------------------------------


def _faults_rows(r: dict) -> list[dict]:
    return [
        {
            "measure": f"items lost under {r['fault_rate']:.0%} injected provider faults",
            "value": r["items_lost"],
            "of": r["items"],
            "should_be": 0,
            "note": f"{r['faults_scripted']} faults in {r['calls']} calls",
        },
        {
            "measure": "  items still failed after a rerun",
            "value": r["items_failed_for_good"],
            "of": r["items"],
            "should_be": 0,
        },
    ]


def _kill_rows(r: dict) -> list[dict]:
    return [
        {
            "measure": "calls repaid after kill -9",
            "value": r["calls_repaid"],
            "should_be": f"<= {r['concurrency']}",
            "ok": bool(r["repaid_within_concurrency"]),
            "note": f"concurrency {r['concurrency']}, {r['in_flight_at_kill']} in flight",
        },
        {
            "measure": "  items lost after kill -9 and a rerun",
            "value": r["items_lost"],
            "of": r["items"],
            "should_be": 0,
        },
    ]


def _hostile_rows(r: dict) -> list[dict]:
    return [
        {
            "measure": "hostile import files refused with a line-numbered one-line error",
            "value": r["refused"],
            "of": r["files"],
            "should_be": "all",
            "ok": r["refused"] == r["files"],
            "note": f"slowest {r['slowest']}",
        },
        {"measure": "  tracebacks", "value": r["tracebacks"], "should_be": 0},
        {"measure": "  files where the store changed", "value": r["store_changed"], "should_be": 0},
        {
            "measure": "  accepted, or refused with another message",
            "value": r["accepted"] + r["wrong_message"],
            "should_be": 0,
        },
    ]


def _import_wait_rows(r: dict) -> list[dict]:
    during = r["decisions_during_import"]
    return [
        {
            "measure": "decision wait during a 400,000-row import (p95)",
            "value": f"{r['wait_p95_s']:.2f} s",
            "should_be": "<= 2 s",
            "ok": r["wait_p95_s"] <= 2.0,
            "note": f"import {r['import_seconds']} s, max wait {r['wait_max_s']} s",
        },
        {
            "measure": "  decisions failed during it",
            "value": r["failures"],
            "of": during,
            "should_be": 0,
        },
        {
            "measure": "  decisions that waited over 2 s",
            "value": r["decisions_over_2s"],
            "of": during,
        },
    ]


def _injection_rows(r: dict) -> list[dict]:
    s = r["summary"]
    pipe = r.get("pipeline", {})
    return [
        {
            "measure": "injection items auto-accepted",
            "value": s["injection_items_auto_accepted"],
            "of": pipe.get("injection_items"),
            "should_be": 0,
            "note": f"at threshold 0: {s['injection_items_auto_accepted_worst_case']}",
        },
        {
            "measure": "  held-out injections detected",
            "value": f"{s['heldout_detection']:.1%}",
            "should_be": "",
            "note": f"phrase rules alone {s['heldout_detection_phrase_rules_only']:.1%}",
        },
        {
            "measure": "  clean items flagged (false positives)",
            "value": s["clean_false_positives"],
            "should_be": "",
            "note": f"rate {s.get('clean_false_positive_rate', '-')}",
        },
    ]


ADAPTERS = {
    "faults": _faults_rows,
    "kill_resume": _kill_rows,
    "hostile_imports": _hostile_rows,
    "import_wait": _import_wait_rows,
    "injection": _injection_rows,
}


def rows_of(section: Section, result: dict) -> list[dict]:
    """The table rows of a section's result: its own, an adapter's, or its plain figures."""
    own = result.get("rows")
    if isinstance(own, list) and all(isinstance(r, dict) and "measure" in r for r in own):
        return own
    if section.name in ADAPTERS:
        try:
            return ADAPTERS[section.name](result)
        except (KeyError, TypeError):
            pass
    plain = [
        {"measure": f"  {section.name}: {k}", "value": v, "should_be": ""}
        for k, v in result.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    return [{"measure": section.title, "value": "see the JSON", "should_be": ""}, *plain]


def meets(row: dict) -> bool | None:
    """Whether a row's value meets its target (None: no target to compare)."""
    if "ok" in row:
        return bool(row["ok"])
    target, value = row.get("should_be"), row.get("value")
    if isinstance(target, int | float) and isinstance(value, int | float):
        return value == target
    return None


def shown(row: dict) -> str:
    value = row.get("value")
    text = f"{value:,}" if isinstance(value, int) else str(value)
    if row.get("of") is not None:
        text += f" of {row['of']:,}"
    return text + (" *" if meets(row) is False else "")


# --- running a section -----------------------------------------------------------------------


def child(name: str, store_url: str, workdir: Path, deep: bool, out: Path) -> None:
    """In the section's own process: run it, write its result (or its error) to ``out``."""
    section = BY_NAME[name]
    module = importlib.import_module(section.module)
    params = inspect.signature(module.run).parameters
    kwargs: dict = {}
    for name in ("store_url", "database_url", "url"):  # the store, by whatever name
        if name in params:
            kwargs[name] = store_url
            break
    if "workdir" in params:
        kwargs["workdir"] = workdir
    if "deep" in params:
        kwargs["deep"] = deep
    started = time.perf_counter()
    try:
        result = {"result": module.run(**kwargs)}
    except Exception as exc:
        trace = traceback.format_exc().strip().splitlines()
        result = {"error": f"{type(exc).__name__}: {exc}"[:2000], "traceback": trace[-12:]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    out.write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")


def present(section: Section) -> bool:
    try:
        return importlib.util.find_spec(section.module) is not None
    except ModuleNotFoundError:
        return False


def run_section(section: Section, store: str, server: str, deep: bool, limit: float) -> dict:
    """One section against a fresh store, in a process of its own; its record."""
    from benchmarks.bench_console import database

    if not present(section):
        return {"missing": True}
    with tempfile.TemporaryDirectory(prefix=f"labelloop-rel-{section.name}-") as tmp:
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        out, log = Path(tmp) / "result.json", Path(tmp) / "log.txt"
        started = time.perf_counter()
        with database(server if store == "postgres" else None) as url:
            url = url or f"sqlite:///{workdir / 'labelloop.db'}"
            command = [sys.executable, __file__, "--child", section.name, "--store-url", url]
            command += ["--workdir", str(workdir), "--result", str(out)]
            command += ["--deep"] if deep else []
            with log.open("wb") as sink:
                proc = subprocess.Popen(
                    command,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    env=child_env(),
                    cwd=ROOT,
                    start_new_session=True,
                )
                try:
                    proc.wait(timeout=limit)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        wall = round(time.perf_counter() - started, 1)
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        if not out.exists():
            why = f"timed out after {limit:.0f} s" if proc.returncode == -9 else "no result"
            return {"error": f"{why} (exit {proc.returncode})", "log": tail, "wall": wall}
        record = json.loads(out.read_text(encoding="utf-8"))
        record["wall"] = wall
        if "error" in record:
            record["log"] = tail
        return record


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return env


# --- the table -------------------------------------------------------------------------------


def table(sections: dict[str, dict], stores: list[str]) -> list[dict]:
    """Rows: measure, should be, and the value on each store."""
    rows: list[dict] = []
    for section in SECTIONS:
        runs = sections.get(section.name, {})
        per_store: dict[str, list[dict]] = {}
        for store in stores:
            record = runs.get(store)
            if record is None:
                continue
            if record.get("missing"):
                per_store[store] = [
                    {"measure": section.title, "value": "not measured (module missing)"}
                ]
            elif "error" in record:
                per_store[store] = [{"measure": section.title, "value": "error (see the JSON)"}]
            else:
                try:
                    per_store[store] = rows_of(section, record["result"])
                except Exception as exc:  # a result of another shape: still a table
                    bad = f"rows not read ({type(exc).__name__}: {exc})"
                    per_store[store] = [{"measure": section.title, "value": bad}]
        order: list[str] = []
        for store_rows in per_store.values():
            order += [r["measure"] for r in store_rows if r["measure"] not in order]
        if not order:
            order = [section.title]
        for measure in order:
            target = section.target if measure == section.title else ""
            row = {"section": section.name, "measure": measure, "should_be": target}
            for store in stores:
                found = [r for r in per_store.get(store, []) if r["measure"] == measure]
                if not found:
                    row[store] = "not run" if store not in per_store else ""
                    continue
                row[store] = shown(found[0])
                if found[0].get("should_be") not in (None, ""):
                    row["should_be"] = str(found[0]["should_be"])
                if found[0].get("note"):
                    row.setdefault("notes", {})[store] = found[0]["note"]
            rows.append(row)
    return rows


def markdown(rows: list[dict], stores: list[str], sections: dict[str, dict]) -> str:
    head = ["measure", "should be", *(STORES[s] for s in stores)]
    lines = ["| " + " | ".join(head) + " |", "|---|---:|" + "---:|" * len(stores)]
    for r in rows:
        lines.append(
            "| " + " | ".join([r["measure"], r["should_be"], *(r[s] for s in stores)]) + " |"
        )
    lines.append("")
    lines.append("`*`: misses its target.")
    lines.append("")
    lines.append("| section | " + " | ".join(f"{STORES[s]} s" for s in stores) + " |")
    lines.append("|---|" + "---:|" * len(stores))
    for section in SECTIONS:
        runs = sections.get(section.name, {})
        cells = []
        for s in stores:
            record = runs.get(s, {})
            cells.append(
                "-" if record.get("missing") or not record else f"{record.get('wall', 0):.0f}"
            )
        lines.append(f"| {section.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres", default=os.environ.get("LABELLOOP_TEST_POSTGRES_URL", DEFAULT_PG))
    ap.add_argument("--only", help="comma-separated sections: " + ",".join(BY_NAME))
    ap.add_argument("--deep", action="store_true", help="the sections' larger settings")
    ap.add_argument("--timeout", type=float, default=420.0, help="seconds a section may take")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--store-url", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.store_url, args.workdir, args.deep, args.result)
    names = args.only.split(",") if args.only else list(BY_NAME)
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        ap.error(f"unknown section(s) {unknown}: choose from {', '.join(BY_NAME)}")
    stores = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    sections: dict[str, dict] = report.get("sections", {})
    started = time.perf_counter()
    for store in stores:
        for name in names:
            record = run_section(BY_NAME[name], store, args.postgres, args.deep, args.timeout)
            sections.setdefault(name, {})[store] = record
            state = "missing" if record.get("missing") else record.get("error", "done")
            print(
                f"{STORES[store]:>10} {name:<16} {record.get('wall', 0):>6.1f} s  {state}",
                flush=True,
            )
            report = save(args.out, sections, args.deep, time.perf_counter() - started)
    print()
    print(markdown(report["table"], report["stores"], sections))
    print(f"\nthis run: {report['last_run_seconds']:.0f} s; wrote {args.out}")


def save(out: Path, sections: dict[str, dict], deep: bool, seconds: float) -> dict:
    """Write the report as it stands (after each section: an interrupted run keeps its
    figures); the report."""
    from benchmarks.bench_import import machine

    stores = [s for s in STORES if any(s in runs for runs in sections.values())]
    report = {
        "benchmark": "reliability: hostile input, faults, kills, login, browser and host",
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "deep": deep,
        "last_run_seconds": round(seconds, 1),
        "stores": stores,
        "table": table(sections, stores),
        "sections": sections,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
