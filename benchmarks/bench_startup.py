"""Benchmark how fast ``labelloop label`` starts on the OpenAI-compatible path.

Two timings, each the median of ``--runs`` fresh processes (default 5, after one warm-up):

* **first request**: from ``exec`` (``subprocess.Popen``) of
  ``labelloop label --model openai/stub-model --api-base URL --limit 1`` to the moment the
  first request arrives at the local stub server (its ``Call.at``), on a project of
  ``--items`` imported items (default 200, from the bundled demo data, without labels):
  its first LLM run (which sizes the calibration sample), and a later run (the project
  labeled once before);
* **missing key**: from ``exec`` of ``labelloop label --model openai/gpt-4o-mini`` with
  ``OPENAI_API_KEY`` unset to the first byte of its error on stderr.

Each run labels a fresh copy of the same project. The stub serves in this process; the
command runs in its own. The commands keep Python's bytecode cache in the benchmark's temp
folder (``PYTHONPYCACHEPREFIX``), so after the warm-up each loads compiled modules as an
installed labelloop does, even where ``PYTHONDONTWRITEBYTECODE`` is set. Quiet machine
first: other load moves these numbers.

    python benchmarks/bench_startup.py
    python benchmarks/bench_startup.py --runs 9 --items 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "startup.json"
DATA = ROOT / "agent" / "data" / "demo" / "support-intent.jsonl"
GUIDELINE = ROOT / "guidelines" / "support-intent.md"
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENAI_BASE_URL")
#: where the commands keep their bytecode cache (set in ``main``: the temp folder)
PYCACHE: list[Path] = []


def labelloop() -> list[str]:
    """The console script next to this interpreter, else the module's ``main``."""
    script = Path(sys.executable).with_name("labelloop")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from labelloop.ui.cli import main; main()"]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARIABLES}
    env.pop("LABELLOOP_DEBUG", None)
    env["COLUMNS"] = "120"
    if PYCACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[0])
    return env


def make_project(folder: Path, n_items: int) -> Path:
    """A project with ``n_items`` imported items and no reviews."""
    items = folder / "items.jsonl"
    with DATA.open(encoding="utf-8") as src, items.open("w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= n_items:
                break
            row = json.loads(line)
            row.pop("label", None)
            dst.write(json.dumps(row) + "\n")
    project = folder / "template"
    env = clean_env()
    for args in (
        ["init", str(project), "--guideline", str(GUIDELINE)],
        ["import", str(items), "-p", str(project)],
    ):
        subprocess.run(labelloop() + args, check=True, env=env, capture_output=True)
    return project


def labeled_once(template: Path, folder: Path, stub) -> Path:
    """A copy of the project after one ``label --limit 1`` run."""
    project = folder / "labeled-once"
    shutil.copytree(template, project)
    cmd = labelloop() + ["label", "--model", "openai/stub-model", "--api-base", stub.base_url]
    subprocess.run(
        cmd + ["--limit", "1", "-p", str(project)], check=True, env=clean_env(), capture_output=True
    )
    return project


def first_request(template: Path, folder: Path, stub, run: int) -> dict:
    """Seconds from exec to the stub's first request, and to the process's exit."""
    project = folder / f"run{run}"
    shutil.copytree(template, project)
    stub.reset()
    cmd = labelloop() + [
        "label",
        "--model",
        "openai/stub-model",
        "--api-base",
        stub.base_url,
        "--limit",
        "1",
        "-p",
        str(project),
    ]
    started = time.time()
    proc = subprocess.run(cmd, env=clean_env(), capture_output=True, text=True)
    ended = time.time()
    if proc.returncode != 0 or not len(stub.calls):
        raise SystemExit(f"label failed ({proc.returncode}): {proc.stderr[-2000:]}")
    shutil.rmtree(project)
    return {"first_request_s": stub.calls[0].at - started, "exit_s": ended - started}


def missing_key(template: Path) -> dict:
    """Seconds from exec to the first byte of the error on stderr, and to the exit."""
    cmd = labelloop() + ["label", "--model", "openai/gpt-4o-mini", "-p", str(template)]
    started = time.time()
    proc = subprocess.Popen(cmd, env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = proc.stderr.read(1)
    said = time.time()
    rest = proc.stderr.read()
    proc.wait()
    ended = time.time()
    text = (first + rest).decode("utf-8", "replace")
    if proc.returncode == 0 or "OPENAI_API_KEY" not in text:
        raise SystemExit(f"expected a missing-key error, got ({proc.returncode}): {text}")
    return {"message_s": said - started, "exit_s": ended - started}


def median(rows: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--items", type=int, default=200)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    from labelloop.testing.stub_llm import StubServer

    with tempfile.TemporaryDirectory() as tmp, StubServer() as stub:
        folder = Path(tmp)
        PYCACHE[:] = [folder / "pycache"]
        template = make_project(folder, args.items)
        again = labeled_once(template, folder, stub)
        first_request(template, folder, stub, -1)  # warm-up: page cache, .pyc files
        missing_key(template)
        label_runs = [first_request(template, folder, stub, i) for i in range(args.runs)]
        later_runs = [first_request(again, folder, stub, i) for i in range(args.runs)]
        key_runs = [missing_key(template) for _ in range(args.runs)]

    result = {
        "benchmark": "startup",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "items": args.items,
        "runs": args.runs,
        "bytecode_cache": True,
        "first_request_s": median(label_runs, "first_request_s"),
        "label_exit_s": median(label_runs, "exit_s"),
        "later_run_first_request_s": median(later_runs, "first_request_s"),
        "later_run_label_exit_s": median(later_runs, "exit_s"),
        "missing_key_message_s": median(key_runs, "message_s"),
        "missing_key_exit_s": median(key_runs, "exit_s"),
        "label_runs": [{k: round(v, 3) for k, v in r.items()} for r in label_runs],
        "later_runs": [{k: round(v, 3) for k, v in r.items()} for r in later_runs],
        "missing_key_runs": [{k: round(v, 3) for k, v in r.items()} for r in key_runs],
    }
    rows = [
        ("first request (first run)", result["first_request_s"]),
        ("label --limit 1 exits", result["label_exit_s"]),
        ("first request (later run)", result["later_run_first_request_s"]),
        ("label --limit 1 exits", result["later_run_label_exit_s"]),
        ("missing-key message", result["missing_key_message_s"]),
        ("missing-key exit", result["missing_key_exit_s"]),
    ]
    print(f"labelloop label start-up, {args.items} items, median of {args.runs} (s from exec)")
    for name, seconds in rows:
        print(f"  {name:<28} {seconds:6.3f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
