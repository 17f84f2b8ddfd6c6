"""Copies of a distinctive API key found where labelloop writes or shows things.

A unique fake key (``distinct-`` and 32 random hex digits: no known key shape) is the
provider key of ``labelloop label`` runs (through its entry point) with every debug switch on
(``LABELLOOP_DEBUG=1``, ``LITELLM_LOG=DEBUG``), against the stub LLM wrapped as a careless
server: it echoes the ``Authorization`` header it got in every error body (tests/support/llm.py
``leaky``). The runs: every call refused with a 401 (the run stops), then 429s that are
retried and one item refused with a 400 (its error is stored); with the ``openai`` client and
with litellm, each as its own model. Then, in this process, ``labelloop export`` in each
text format, ``labelloop status --json``, and the console (as an admin: the review page, the
failed item's page, the item browser, the dashboard, the adjudication list and the console's
own export).

Searched for the whole key and for its random part alone (a partly masked key is a leak
too): the store (SQLite: the database, its WAL and shared-memory files; PostgreSQL: every
row of every table, and the server's WAL segments written meanwhile when they can be read),
every file in the project folder and the work folder (exports included), each command's
stdout and stderr, the console process's log and every console answer.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
import tomllib
import traceback
import uuid
from pathlib import Path

import tomli_w

from labelloop.store.db import sqlite_path

ROOT = Path(__file__).resolve().parents[2]
MODEL = "openai/stub-model"
CLIENTS = ("openai", "litellm")


def run(store_url: str, workdir: Path, deep: bool = False) -> dict:
    from labelloop.testing import stub_llm
    from tests.support.llm import leaky, make_project

    key = f"distinct-{uuid.uuid4().hex}"  # no known key shape: only its variable says so
    secrets = (key.encode(), key.removeprefix("distinct-").encode())
    started = time.time()
    items = [{"id": f"i{n}", "text": f"message {n}"} for n in range(4)]
    items.append({"id": "bad", "text": "a request the server refuses"})
    project = make_project(workdir, items, database_url=store_url)
    places: dict[str, bytes] = {}
    steps: dict[str, float] = {}
    seen: list[str] = []
    os.environ.update(OPENAI_API_KEY=key, LITELLM_LOG="DEBUG", LABELLOOP_DEBUG="1")
    p = str(project.root)
    real_app = stub_llm.create_app
    stub_llm.create_app = lambda state: leaky(real_app(state), seen)
    try:
        with stub_llm.StubServer(retry_after=0.01) as stub:
            for client in CLIENTS:
                _set_client(project.root, client)
                model = f"{MODEL}-{client}"
                label = ["label", "--model", model, "-p", p, "--api-base", stub.base_url]
                stub.reset()
                stub.script = {"*": {"fail": [401]}}
                places |= _main(f"label ({client}, 401)", label, steps)
                stub.reset()
                stub.script = {"*": {"fail": [429]}, "bad": {"fail": [400]}}
                places |= _main(f"label ({client}, 429 and 400)", label, steps)
    finally:
        stub_llm.create_app = real_app
    failed = project.store.latest_suggestions(model=f"{MODEL}-openai").get("bad")
    if not seen or set(seen) != {f"Bearer {key}"} or failed is None or failed.status != "failed":
        raise RuntimeError("the key did not go out, or the 400 did not reach the store")
    for fmt in ("jsonl", "csv", "labelstudio"):
        out = workdir / f"export.{fmt}"
        places |= _command(f"export {fmt}", ["export", str(out), "--format", fmt, "-p", p])
    places |= _command("status", ["status", "--json", "-p", p])
    t0 = time.perf_counter()
    places |= _console(project)
    steps["console"] = round(time.perf_counter() - t0, 1)
    stored, unread = _store(store_url, started, secrets)  # with a connection open: the WAL is kept
    project.store.close()
    places |= stored
    db = sqlite_path(store_url)
    for path in sorted(workdir.rglob("*")):
        if path.is_file() and not (db and path.name.startswith(db.name)):  # searched above
            places[f"file {path.relative_to(workdir)}"] = path.read_bytes()
    leaks = sorted(where for where, data in places.items() if any(s in data for s in secrets))
    return {
        "rows": [
            {
                "measure": "copies of a distinctive API key found",
                "value": len(leaks),
                "of": len(places),
                "should_be": 0,
                "note": "places searched: store, WAL, exports, logs, console answers",
            }
        ],
        "places searched": sorted(places),
        "places holding the key": leaks,
        "not searched": unread,
        "requests with the key": len(seen),
        "seconds": steps,
    }


def _set_client(root: Path, client: str) -> None:
    config = root / "labelloop.toml"
    settings = tomllib.loads(config.read_text())
    settings.setdefault("llm", {})["client"] = client
    config.write_text(tomli_w.dumps(settings))


def _main(name: str, args: list[str], steps: dict) -> dict[str, bytes]:
    """``labelloop ARGS`` through its entry point, as a shell runs it: what it writes to
    stdout and stderr (file descriptors, so loggers' own handlers are caught too), and the
    traceback Python prints when an error escapes (``LABELLOOP_DEBUG=1`` lets it)."""
    from labelloop.ui import cli

    t0 = time.perf_counter()
    argv = sys.argv
    with tempfile.TemporaryFile() as out:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            sys.argv = ["labelloop", *args]
            cli.main()
        except SystemExit:
            pass
        except Exception:
            traceback.print_exc()
        finally:
            sys.argv = argv
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
        out.seek(0)
        written = out.read()
    steps[name] = round(time.perf_counter() - t0, 1)
    return {f"{name}: stdout and stderr": written}


def _command(name: str, args: list[str]) -> dict[str, bytes]:
    """``labelloop ARGS`` in this process (a command that needs no key); its output."""
    from typer.testing import CliRunner

    from labelloop.ui import cli

    result = CliRunner().invoke(cli.app, args)
    if result.exit_code != 0:
        raise RuntimeError(f"labelloop {' '.join(args)}: {result.output}")
    return {f"{name}: output": result.output.encode()}


def _console(project) -> dict[str, bytes]:
    """Every answer of the console an admin gets for the pages that show items and calls,
    its own export, and what the console logged meanwhile."""
    import httpx

    from labelloop.review.auth import add_user
    from tests.support.console import PASSWORD
    from tests.support.console_probes import call, dependencies, served_app, signed_in

    add_user(project.store, "ada", "admin", PASSWORD)
    record = _Capture()
    logging.getLogger().addHandler(record)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    found: dict[str, bytes] = {}
    try:
        with served_app(project) as (url, _), signed_in(url, "ada") as admin:
            deps = dependencies(url)
            page = admin.get("/", headers={"accept": "text/html"})
            found["console page"] = page.content
            asks = {
                "review_load": None,
                "item_open": ["bad"],
                "browse_page": ["", "", "", 0, 100, "", "", "", 0],
                "dashboard": None,
                "adj_list": None,
                "export_file": ["jsonl"],
            }
            for name, data in asks.items():
                answer = call(admin, deps[name], data)
                found[f"console {name}"] = json.dumps(answer).encode()
                for path in _files_in(answer):
                    got = admin.get(f"/gradio_api/file={path}")
                    found[f"console {name} file"] = got.content
                    if Path(path).is_file():
                        found[f"console {name} file on disk"] = Path(path).read_bytes()
            with httpx.Client(base_url=url, timeout=20) as anonymous:
                found["sign-in page"] = anonymous.get("/login").content
    finally:
        logging.getLogger().removeHandler(record)
        logging.getLogger().setLevel(level)
    found["console log"] = "\n".join(record.lines).encode()
    return found


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot format is a record too
            self.lines.append(repr(record.__dict__))


def _files_in(answer: dict) -> list[str]:
    """Paths of the files an event's answer offers for download."""
    paths = []

    def walk(node) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("path"), str) and node.get("meta", {}).get("_type") == (
                "gradio.FileData"
            ):
                paths.append(node["path"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(answer.get("output"))
    return paths


def _store(
    store_url: str, since: float, secrets: tuple[bytes, ...]
) -> tuple[dict[str, bytes], list[str]]:
    """The store's bytes: SQLite's files, or PostgreSQL's rows and the WAL segments written
    since ``since``; and what could not be read."""
    path = sqlite_path(store_url)
    if path is not None:
        files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
        return {f"store {f.name}": f.read_bytes() for f in files if f.exists()}, []
    import psycopg

    found: dict[str, bytes] = {}
    url = store_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        for (table,) in tables:
            rows = conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            found[f"store table {table}"] = "\n".join(r[0] for r in rows).encode()
        try:
            data_dir = Path(conn.execute("SHOW data_directory").fetchone()[0])
        except psycopg.Error:
            data_dir = None
    wal = data_dir / "pg_wal" if data_dir else None
    if wal is None or not os.access(wal, os.R_OK):
        return found, ["the PostgreSQL server's WAL (not readable from here)"]
    segments = [s for s in sorted(wal.iterdir()) if s.is_file() and s.stat().st_mtime >= since - 1]
    held = [s.name for s in segments if any(k in s.read_bytes() for k in secrets)]
    # one place, however many segments: the names of those holding the key, if any
    found[f"store WAL ({len(segments)} segments)"] = " ".join(held).encode() + secrets[0] * bool(
        held
    )
    return found, []
