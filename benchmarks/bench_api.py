"""Benchmark the JSON API (``/api/v1``) on PostgreSQL: pushes of items, and pages of items.

The console runs as a user runs it, ``labelloop review -p PROJECT`` in its own process, and
a plain async client (``httpx.AsyncClient``) sends it requests with API tokens (an admin's
and a reviewer's, ``labelloop.review.tokens.create_token``). Two stores: a small one
(``--small``, default 10,000 items) and a large one (``--items``, default 1,000,000).

- **push**: ``POST /api/v1/items`` with batches of ``--batch`` (1,000) new items without
  labels, after 5 unmeasured ones: latency p50 / p95 per request, items/s over the case
  and the console's CPU per batch; ``--pushes`` (20) batches one after another, then as
  many again from ``--pushers`` (4) clients at once; last, ``--labeled-pushes`` (1) batches
  where every tenth row carries a label, which routes the whole store.
- **page**: ``GET /api/v1/items?limit=100``, p50 / p95 over ``--requests`` (30) requests
  per case after 2 unmeasured, with the admin's token and with the reviewer's: all items,
  ``route=auto_accepted``, ``route=reviewed`` and ``label=<the second most frequent
  label>``, each from the first page, after the cursor of an item drawn uniformly from the
  store (``deep``), and after one drawn from the last 2% of the ids.

Each store is labeled and routed as a real project is: the guideline of
``guidelines/support-intent.md`` (77 intents), items of 8-24 words imported in one import,
suggestions by an LLM (``openai/gpt-4o-mini``) on 95% of them (1% failed; 5% also hold an
older suggestion of an earlier prompt version), reviews on ~5% (active-queue accepts and
fixes by three reviewers, blind answers to the calibration draw), and a fixed threshold
of 0.9 with a 2% calibration draw in ``labelloop.toml``. The rows are made by the store's
own conversions (``item_to_values``, ``suggestion_to_values``, ``review_to_values``) and
copied in with COPY (PostgreSQL generates the ``words`` column of m008); every table is
analyzed, then ``labelloop.route.router.route`` routes the whole store once, as
``labelloop label`` would.

Building 1M items takes ~5 min (1 min to load, 3.5 min to route): each store is built once
into a template database (``bench_api_N``) and each run works on a fresh copy of it
(``bench_api_N_run``), dropped at the end. ``--reuse`` keeps the templates for the next run
(built again if missing or of another build); without it they are dropped too.

    python benchmarks/bench_api.py --reuse                  # ~9 min the first time, ~4 after
    python benchmarks/bench_api.py --items 20000 --small 0  # smoke run, ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "api.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
GUIDELINE = ROOT / "guidelines" / "support-intent.md"
MODEL = "openai/gpt-4o-mini"
ROUTING = {"threshold": 0.9, "calibration_rate": 0.02}
#: the store's layout: a cached template of another build is built again
BUILD = 2
ADMIN, REVIEWER, OTHERS = "ada", "rita", ("sam",)
PREFIX = "/api/v1"
WORDS = (
    "card arrive new account refund money transfer pending declined fee charge exchange rate "
    "top up cash withdrawal atm pin blocked stolen lost app verify identity still waiting "
    "week days why when how can I my the a is was not please help"
).split()
#: unmeasured pushes before the first push case
WARM_PUSHES = 5


# --- the store ------------------------------------------------------------------------------


def admin_db(server: str):
    import psycopg

    return psycopg.connect(server, autocommit=True)


def db_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


def build_tag(n: int) -> str:
    return f"labelloop bench_api build {BUILD}, {n} items"


def cached(server: str, name: str, n: int) -> dict | None:
    """The build figures of the template ``name`` if it holds this build of ``n`` items
    (kept in the database's comment), else None."""
    with admin_db(server) as c:
        row = c.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (name,),
        ).fetchone()
    tag, _, figures = (row[0] or "").partition("\n") if row else ("", "", "")
    return {**json.loads(figures), "cached": True} if tag == build_tag(n) and figures else None


def drop(server: str, name: str) -> None:
    with admin_db(server) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_project(root: Path, url: str):
    """The project folder for the store at ``url`` (a store that holds a project is joined)."""
    from labelloop.project import init_project

    return init_project(root, GUIDELINE, model=MODEL, routing=ROUTING, database_url=url)


def build(server: str, name: str, n: int, work: Path, seed: int = 0) -> dict:
    """Build the template database ``name``: ``n`` items labeled, reviewed and routed."""
    from psycopg import sql

    from labelloop.route.router import route
    from labelloop.route.state import set_routing_model

    drop(server, name)
    with admin_db(server) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    url = db_url(server, name)
    project = make_project(Path(tempfile.mkdtemp(dir=work, prefix="build-")), url)
    set_routing_model(project, MODEL)
    times = {}
    t = time.perf_counter()
    counts = load(url, project.guideline(), n, seed)
    with admin_db(url) as c:
        c.execute("ANALYZE")  # as autovacuum would after a large import
    times["load_s"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    routes = route(project)
    times["route_s"] = round(time.perf_counter() - t, 1)
    project.store.close()
    with admin_db(url) as c:
        c.execute("VACUUM ANALYZE")
        size = c.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    figures = {**counts, **times, "routes": routes, "database_mib": round(size / 2**20)}
    comment = sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(name), sql.Literal(build_tag(n) + "\n" + json.dumps(figures))
    )
    with admin_db(server) as c:
        c.execute(comment)
    return figures


def load(url: str, guideline, n: int, seed: int) -> dict:
    """Items, suggestions and reviews, copied in with their secondary indexes dropped and
    made again afterwards (as a bulk load does)."""
    import psycopg

    rng = random.Random(seed)
    labels = [d.name for d in guideline.labels]
    weights = [1 / (k + 1) ** 0.7 for k in range(len(labels))]  # a few common intents
    with psycopg.connect(url) as c:
        c.execute("SET session_replication_role = replica")  # consistent by construction
        indexes = _drop_indexes(c, ("items", "suggestions", "reviews"))
        c.execute(
            "INSERT INTO imports (id, path, format, sha256, reviewer, rows, items_added, "
            "reviews_added, sample, created_at) VALUES (1, 'items.jsonl', 'jsonl', %s, "
            "'items', %s, %s, 0, false, now())",
            ("0" * 64, n, n),
        )
        plan = _plan(rng, n, labels, weights, guideline.version)
        _copy(c, "items", _item_rows(rng, n))
        _copy(c, "suggestions", _suggestion_rows(plan))
        _copy(c, "reviews", _review_rows(rng, plan, labels))
        for table in ("imports", "suggestions", "reviews"):
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        for sql in indexes:
            c.execute(sql)
    return {
        "items": n,
        "suggestions": plan["suggestions"],
        "reviews": plan["reviews"],
    }


def _drop_indexes(c, tables: tuple[str, ...]) -> list[str]:
    """Drop the tables' indexes that back no constraint; the statements that make them."""
    rows = c.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
        "WHERE t.relname = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.oid)",
        (list(tables),),
    ).fetchall()
    for name, _ in rows:
        c.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def _copy(c, table: str, rows) -> None:
    """COPY dict rows (the store's conversions) into ``table``; JSON columns as JSON text."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    cols = list(first)
    kinds = dict(
        c.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            (table,),
        ).fetchall()
    )
    as_json = [kinds[k] in ("json", "jsonb") for k in cols]
    with c.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
        for row in itertools.chain([first], rows):
            copy.write_row(
                [json.dumps(row[k]) if j else row[k] for k, j in zip(cols, as_json, strict=True)]
            )


def item_id(i: int) -> str:
    return f"it{i:07d}"


def _item_rows(rng: random.Random, n: int):
    from labelloop.core.types import Item
    from labelloop.store.base import item_to_values

    start = datetime.now(UTC) - timedelta(days=30)
    for i in range(n):
        text = " ".join(rng.choices(WORDS, k=rng.randint(8, 24)))
        row = item_to_values(Item(id=item_id(i), text=text), import_id=1, line=i + 1)
        row["created_at"] = start
        yield row


def _plan(rng: random.Random, n: int, labels, weights, version: str) -> dict:
    """Who gets what: per item its label, confidence, failure, older suggestion, review."""
    from labelloop.route import rules as routing

    rate = ROUTING["calibration_rate"]
    out = []
    sid = rid = 0
    for i in range(n):
        if rng.random() < 0.05:
            out.append(None)  # not labeled yet
            continue
        label = rng.choices(labels, weights)[0]
        conf = min(0.999, rng.betavariate(9, 1.2))
        failed = rng.random() < 0.01
        older = rng.random() < 0.05
        sid += 1 + older
        review = None
        if not failed:
            drawn = routing.uniform_draw(item_id(i), 0) < rate
            if drawn and rng.random() < 0.5:
                review = ("calibration", True)
            elif conf < ROUTING["threshold"] and rng.random() < 0.1:
                review = ("active", False)
        rid += review is not None
        out.append((label, conf, failed, older, sid, review))
    return {"items": out, "suggestions": sid, "reviews": rid, "version": version}


def _suggestion_rows(plan: dict):
    from labelloop.core.types import LabelValue, Suggestion
    from labelloop.store.base import suggestion_to_values

    at = datetime.now(UTC) - timedelta(days=20)
    for i, p in enumerate(plan["items"]):
        if p is None:
            continue
        label, conf, failed, older, sid, _ = p
        versions = [("p-old", sid - 1)] if older else []
        for prompt, number in [*versions, ("p-bench", sid)]:
            value = None if failed else LabelValue(label=label)
            renorm = min(1.0, conf + 0.02)
            s = Suggestion(
                item_id=item_id(i),
                model=MODEL,
                value=value,
                confidence=None if failed else round(conf, 4),
                rationale="" if failed else f"The customer asks about {label.replace('_', ' ')}.",
                signals={} if failed else {"logprob_renorm": round(renorm, 4), "verbalized": 0.9},
                prompt_version=prompt,
                guideline_version=plan["version"],
                cache_key=f"{number:064x}",
                status="failed" if failed else "ok",
                error="the model's answer did not parse as the label schema" if failed else None,
                raw=None if failed else json.dumps({"label": label, "confidence": 0.9}),
                cost_usd=0.00004,
                created_at=at,
            )
            yield {"id": number, **suggestion_to_values(s)}


def _review_rows(rng: random.Random, plan: dict, labels):
    from labelloop.core.types import LabelValue, Review
    from labelloop.store.base import review_to_values

    at = datetime.now(UTC) - timedelta(days=10)
    rid = 0
    for i, p in enumerate(plan["items"]):
        if p is None or p[5] is None:
            continue
        label, _, _, _, sid, (queue, blind) = p
        fix = rng.random() < 0.25
        value = LabelValue(label=rng.choice(labels) if fix else label)
        r = Review(
            item_id=item_id(i),
            reviewer=rng.choice((REVIEWER, ADMIN, *OTHERS)),
            action="fix" if fix or blind else "accept",
            value=value,
            queue=queue,
            blind=blind,
            suggestion_id=sid,
            duration_ms=rng.randint(2000, 40000),
            created_at=at + timedelta(seconds=rid),
        )
        rid += 1
        yield {"id": rid, **review_to_values(r)}


# --- a run on a copy of the store ---------------------------------------------------------


def open_run(server: str, template: str, work: Path) -> tuple[str, Path, dict[str, str]]:
    """A fresh copy of the template, its project folder, and a token per role."""
    from labelloop.review.auth import add_user
    from labelloop.review.tokens import create_token

    name = f"{template}_run"
    drop(server, name)
    with admin_db(server) as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    project = make_project(Path(tempfile.mkdtemp(dir=work, prefix="run-")), db_url(server, name))
    store = project.store
    add_user(store, ADMIN, "admin", "bench-password-1")
    for user in (REVIEWER, *OTHERS):
        add_user(store, user, "reviewer", "bench-password-1")
    tokens = {"admin": create_token(store, ADMIN), "reviewer": create_token(store, REVIEWER)}
    store.close()
    return name, project.root, tokens


def start_console(root: Path, port: int, log: Path) -> subprocess.Popen:
    """``labelloop review`` in its own process, once its API answers."""
    import httpx

    cmd = [sys.executable, "-m", "labelloop.ui.cli", "review", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen([*cmd, "-p", str(root)], stdout=out, stderr=out, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the console exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{PREFIX}/openapi.json").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the console did not answer within 180 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def summary(ms: list[float]) -> dict:
    return {
        "requests": len(ms),
        "p50_ms": round(percentile(ms, 0.5), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1),
    }


# --- pushes ----------------------------------------------------------------------------------


def push_rows(tag: str, size: int, labels: list[str] | None, rng: random.Random) -> list[dict]:
    """A batch of new items; with ``labels``, every tenth row carries one."""
    rows = []
    for j in range(size):
        row = {"id": f"push-{tag}-{j:04d}", "text": " ".join(rng.choices(WORDS, k=12))}
        if labels and j % 10 == 0:
            row["label"] = rng.choice(labels)
        rows.append(row)
    return rows


async def push(client, token: str, rows: list[dict]) -> float:
    """One push; its latency in ms (a refusal stops the benchmark)."""
    t = time.perf_counter()
    r = await client.post(
        f"{PREFIX}/items", json=rows, headers={"Authorization": f"Bearer {token}"}
    )
    ms = (time.perf_counter() - t) * 1000
    if r.status_code != 200 or r.json()["items_added"] != len(rows):
        raise RuntimeError(f"push refused: {r.status_code} {r.text[:500]}")
    return ms


async def pushes(client, token: str, batches: list[list[dict]], pushers: int, pid: int) -> dict:
    """Send the batches from ``pushers`` tasks at once; latency, items/s, console CPU."""
    queue = list(reversed(batches))
    ms: list[float] = []

    async def pusher() -> None:
        while queue:
            ms.append(await push(client, token, queue.pop()))

    cpu, t = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(pusher() for _ in range(pushers)))
    wall = time.perf_counter() - t
    items = sum(len(b) for b in batches)
    return {
        "pushers": pushers,
        "batches": len(batches),
        "batch": len(batches[0]),
        **summary(ms),
        "items_per_s": round(items / wall),
        "wall_s": round(wall, 2),
        "console_cpu_s_per_batch": round((cpu_seconds(pid) - cpu) / len(batches), 3),
        "latencies_ms": [round(x) for x in ms],
    }


async def push_cases(client, token: str, args, labels: list[str], pid: int) -> list[dict]:
    rng = random.Random(1)

    def batches(tag: str, k: int, labeled: bool = False) -> list[list[dict]]:
        return [push_rows(f"{tag}{b:04d}", args.batch, labels if labeled else None, rng)
                for b in range(k)]  # fmt: skip

    for k in range(WARM_PUSHES):  # the fresh copy's indexes into the cache, as in a live store
        await push(client, token, push_rows(f"warm{k}", args.batch, None, rng))
    out = [{"case": "one pusher", **await pushes(client, token, batches("a", args.pushes), 1, pid)}]
    if args.pushers > 1:
        got = await pushes(client, token, batches("b", args.pushes), args.pushers, pid)
        out.append({"case": f"{args.pushers} pushers", **got})
    if args.labeled_pushes:
        got = await pushes(client, token, batches("c", args.labeled_pushes, True), 1, pid)
        out.append({"case": "one pusher, every tenth row labeled", **got})
    return out


# --- pages -----------------------------------------------------------------------------------


#: where a case's pages start: the first page, after a random item, after one of the last 2%
STARTS = ("first page", "deep", "last 2%")


def page_cases(label: str) -> list[tuple[str, dict, str]]:
    """(name, query, start): each filter from each of ``STARTS``."""
    cases = []
    for name, query in (
        ("all items", {}),
        ("route=auto_accepted", {"route": "auto_accepted"}),
        ("route=reviewed", {"route": "reviewed"}),
        (f"label={label}", {"label": label}),
    ):
        cases += [(f"{name}, {start}", query, start) for start in STARTS]
    return cases


async def page_case(client, token: str, query: dict, cursors: list[str] | None, n: int) -> dict:
    """``n`` measured GETs of a page of 100 (after 2 unmeasured); the rows they held."""
    ms, rows = [], []
    for k in range(n + 2):
        params = {"limit": 100, **query}
        if cursors:
            params["cursor"] = cursors[k % len(cursors)]
        t = time.perf_counter()
        r = await client.get(
            f"{PREFIX}/items", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        took = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"page refused: {r.status_code} {r.text[:500]}")
        if k >= 2:
            ms.append(took)
            rows.append(len(r.json()["items"]))
    return {**summary(ms), "rows_min": min(rows), "rows_max": max(rows)}


async def page_all(client, tokens: dict[str, str], n_items: int, label: str, args) -> list[dict]:
    from labelloop.ui.api.listing import encode_cursor

    rng = random.Random(2)
    lows = {"first page": None, "deep": 0, "last 2%": n_items * 49 // 50}
    cursors = {
        start: [encode_cursor(item_id(rng.randrange(low, n_items))) for _ in range(args.requests)]
        for start, low in lows.items()
        if low is not None
    }
    out = []
    for name, query, start in page_cases(label):
        row = {"case": name}
        for role, token in tokens.items():
            got = await page_case(client, token, query, cursors.get(start), args.requests)
            row[role] = got
        out.append(row)
        print(json.dumps(row), flush=True)
    return out


# --- one store, and main -----------------------------------------------------------------------


async def measure(base: str, tokens: dict[str, str], n: int, pid: int, args) -> dict:
    import httpx

    from labelloop.core.guideline import load_guideline

    labels = [d.name for d in load_guideline(GUIDELINE).labels]
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        pages = await page_all(client, tokens, n, labels[1], args) if args.requests else []
        pushed = await push_cases(client, tokens["admin"], args, labels, pid) if args.pushes else []
    for row in pushed:
        print(json.dumps(row), flush=True)
    return {"pages": pages, "pushes": pushed}


def one_store(n: int, args, work: Path) -> dict:
    template = f"bench_api_{n}"
    built = cached(args.postgres, template, n) if args.reuse else None
    if built is None:
        print(f"building {n:,} items into {template}", flush=True)
        built = build(args.postgres, template, n, work)
        print(json.dumps(built), flush=True)
    if args.build_only:
        return {"items": n, "built": built, "pages": [], "pushes": []}
    from tests.support.console import free_port

    run, root, tokens = open_run(args.postgres, template, work)
    port = free_port()
    proc = start_console(root, port, work / f"console-{n}.log")
    load = os.getloadavg()[0]
    try:
        got = asyncio.run(measure(f"http://127.0.0.1:{port}", tokens, n, proc.pid, args))
    finally:
        stop(proc)
        drop(args.postgres, run)
        if not args.reuse:
            drop(args.postgres, template)
    loads = {"load_average_before": round(load, 2), "load_average_after": os.getloadavg()[0]}
    return {"items": n, "built": built, **got, **loads}


def tables(stores: list[dict]) -> str:
    lines = ["| store items | pushers | batches x rows | p50 ms | p95 ms | items/s |",
             "|---:|---|---:|---:|---:|---:|"]  # fmt: skip
    for s in stores:
        for p in s["pushes"]:
            lines.append(
                f"| {s['items']:,} | {p['case']} | {p['batches']} x {p['batch']:,} | "
                f"{p['p50_ms']:.0f} | {p['p95_ms']:.0f} | {p['items_per_s']:,} |"
            )
    lines += [
        "",
        "| store items | page of 100 | admin p50 ms | p95 ms | reviewer p50 ms | p95 ms |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for s in stores:
        for p in s["pages"]:
            a, r = p["admin"], p["reviewer"]
            lines.append(
                f"| {s['items']:,} | {p['case']} | {a['p50_ms']:.1f} | {a['p95_ms']:.1f} | "
                f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} |"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", metavar="URL", default=DEFAULT_PG, help="the server to use")
    ap.add_argument("--items", type=int, default=1_000_000, help="items in the large store")
    ap.add_argument("--small", type=int, default=10_000, help="items in the small store (0: none)")
    ap.add_argument("--batch", type=int, default=1000, help="rows per push")
    ap.add_argument("--pushes", type=int, default=20, help="batches per push case (0: no pushes)")
    ap.add_argument("--pushers", type=int, default=4, help="pushers at once (1: skip the case)")
    ap.add_argument(
        "--labeled-pushes", type=int, default=1, help="batches with labels (0: skip the case)"
    )
    ap.add_argument("--requests", type=int, default=30, help="measured GETs per page case")
    ap.add_argument("--reuse", action="store_true", help="keep and reuse the built stores")
    ap.add_argument(
        "--build-only", action="store_true", help="with --reuse: build the stores, measure nothing"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    started = time.time()
    stores = []
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-api-") as tmp:
        for n in [x for x in (args.small, args.items) if x]:
            stores.append(one_store(n, args, Path(tmp)))
    print(tables(stores))
    report = {
        "benchmark": "api: pushes and pages of /api/v1/items on PostgreSQL",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "postgres")},
        "seconds": round(time.time() - started, 1),
        "stores": stores,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
