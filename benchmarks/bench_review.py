"""Benchmark the review console's backend: decision -> next item ready, and browser pages.

Builds a store of N items (10k, 100k and 1M by default) with one suggestion each, routed
as a calibrated project would be (60% auto-accepted, 25% active, 5% failed, 3%
calibration, 2% audit, 5% reviewed with a review each), then measures with
``labelloop.review.service.ReviewService``:

- **next item**: ``decide()`` from call to return: it records the review, releases the
  lease and hands back the prefetched item (renewing its lease); the item after that is
  leased and prepared (similar reviewed examples included) in the background. Three
  reviewers take turns with 50 ms between decisions (``next_item``), and back to back
  (``next_item_back_to_back``: the background work then competes with the decision);
- **browser page**: ``browse()`` for a page of 30 under a set of filters (none, route,
  label, confidence range, text, reviewer, text + route), first and eleventh page.

    python benchmarks/bench_review.py                                 # SQLite
    python benchmarks/bench_review.py --postgres postgresql://postgres@127.0.0.1:5432/test
    python benchmarks/bench_review.py --sizes 10000 --decisions 100   # a quick look

``--postgres`` takes the URL of any database on a server; the benchmark creates a
throwaway database next to it and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_import import LABELS, WORDS, machine  # noqa: E402
from benchmarks.roundtrips import RoundTrips  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "review.json"
ROUTES = [
    ("auto_accepted", 0.60),
    ("active", 0.25),
    ("failed", 0.05),
    ("calibration", 0.03),
    ("audit", 0.02),
    ("reviewed", 0.05),
]
BATCH = 20_000
REVIEWERS = ("r1", "r2", "r3")
#: seconds between decisions in the main next-item measurement
THINK = 0.05


def guideline_text() -> str:
    sections = "\n".join(f"### {name}\nItems about {name}.\n" for name in LABELS)
    return f"---\ntask: bench\n---\n# Bench\n\nPick one.\n\n## Labels\n\n{sections}"


def rows(n: int, seed: int = 0):
    """Batches of (item, suggestion, route, review-or-None) value dicts."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    cuts, acc = [], 0.0
    for route, share in ROUTES:
        acc += share
        cuts.append((acc, route))
    batch = []
    for i in range(n):
        item_id = f"r{i:07d}"
        label = rnd.choice(LABELS)
        conf = round(rnd.random(), 4)
        u = rnd.random()
        route = next(r for c, r in cuts if u < c) if u < cuts[-1][0] else "auto_accepted"
        item = {
            "id": item_id,
            "kind": "text",
            "text": " ".join(rnd.choices(WORDS, k=rnd.randint(8, 24))),
            "messages": None,
            "target_turn": None,
            "meta": None,
            "content_hash": f"{i:032x}",
            "import_id": None,
            "line": i + 1,
            "created_at": now,
        }
        batch.append((item, label, conf, route, rnd.random()))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def load(store, n: int) -> None:
    """Insert N items with suggestions, routes and reviews, a batch per transaction."""
    import sqlalchemy as sa

    from labelloop.store.imports import _copy
    from labelloop.store.tables import ItemRow, ReviewRow, RouteRow, SuggestionRow

    t_items, t_sugg = ItemRow.__table__, SuggestionRow.__table__
    t_routes, t_reviews = RouteRow.__table__, ReviewRow.__table__
    postgres = store.dialect == "postgresql"
    now = datetime.now(UTC)
    sid = 0
    for batch in rows(n):
        items, suggs, routes, reviews = [], [], [], []
        for item, label, conf, route, prio in batch:
            sid += 1
            items.append(item)
            suggs.append(_suggestion(sid, item["id"], label, conf, now))
            human = LABELS[(LABELS.index(label) + (sid % 5 == 0)) % len(LABELS)]
            routes.append(
                {
                    "item_id": item["id"],
                    "route": route,
                    "reason": "bench",
                    "suggestion_id": sid,
                    "priority": prio,
                    "label": human if route == "reviewed" else label,
                    "confidence": conf,
                    "updated_at": now,
                }
            )
            if route == "reviewed":
                reviews.append(_review(item["id"], human, sid, now))
        with store.transaction() as c:
            for table, data in ((t_items, items), (t_sugg, suggs), (t_routes, routes)):
                _copy(c, table, data) if postgres else c.execute(sa.insert(table), data)
            if reviews:
                c.execute(sa.insert(t_reviews), reviews)
        if postgres:
            with store.transaction() as c:
                c.exec_driver_sql(f"SELECT setval('suggestions_id_seq', {sid})")
    with store.transaction() as c:
        c.exec_driver_sql("ANALYZE")


def _suggestion(sid: int, item_id: str, label: str, conf: float, now) -> dict:
    return {
        "id": sid,
        "item_id": item_id,
        "model": "local",
        "prompt_version": "bench",
        "guideline_version": "bench",
        "fewshot_ids": [],
        "cache_key": "",
        "value": {"label": label},
        "confidence": conf,
        "calibrated": conf,
        "rationale": f"Reads like {label}.",
        "signals": {},
        "status": "ok",
        "error": None,
        "raw": None,
        "cost_usd": 0.0,
        "created_at": now,
    }


def _review(item_id: str, label: str, sid: int, now) -> dict:
    return {
        "item_id": item_id,
        "reviewer": "bench",
        "action": "fix",
        "value": {"label": label},
        "queue": "active",
        "blind": False,
        "suggestion_id": sid,
        "duration_ms": 4000,
        "reason": None,
        "comment": None,
        "source": "console",
        "import_id": None,
        "supersedes": None,
        "bulk": False,
        "created_at": now,
    }


def percentiles(ms: list[float]) -> dict:
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"n": len(ms), "p50_ms": round(q[49], 2), "p95_ms": round(q[94], 2)}


def next_item_latency(service, decisions: int, think: float) -> dict:
    """decide() wall time, three reviewers in turn, each answer a fix; ``think`` seconds
    pass between one decision and the next (people take seconds per item). With the
    round trips to the database per decision, the background prefetch's included."""
    views = {r: service.next_item(r) for r in REVIEWERS}
    trips = RoundTrips().attach(service.store.engine)
    ms = []
    for k in range(decisions):
        who = REVIEWERS[k % len(REVIEWERS)]
        view = views[who]
        if view is None:
            break
        time.sleep(think)
        t0 = time.perf_counter()
        out = service.decide(who, view.item.id, "fix", value=LABELS[k % len(LABELS)])
        ms.append((time.perf_counter() - t0) * 1000)
        views[who] = out.next
    service.next_item(REVIEWERS[0])  # waits for that reviewer's prefetch
    trips.detach()
    return {**percentiles(ms), "round_trips": round(trips.count / max(1, len(ms)), 2)}


def browse_filters():
    from labelloop.review.views import BrowseFilters

    return {
        "none": BrowseFilters(),
        "route=active": BrowseFilters(route="active"),
        "label": BrowseFilters(label=LABELS[3]),
        "confidence 0.2-0.3": BrowseFilters(min_confidence=0.2, max_confidence=0.3),
        "text": BrowseFilters(text="refund"),
        "text rare": BrowseFilters(text="stolen identity"),
        "reviewer": BrowseFilters(reviewer="bench"),
        "text+route": BrowseFilters(text="card", route="audit"),
        "label+confidence": BrowseFilters(label=LABELS[5], min_confidence=0.9),
    }


def browse_latency(service, repeat: int) -> dict:
    per_filter, every = {}, []
    for name, f in browse_filters().items():
        ms = []
        for _ in range(repeat):
            for page in (0, 10):
                t0 = time.perf_counter()
                service.browse("admin", f, page=page, page_size=30)
                ms.append((time.perf_counter() - t0) * 1000)
        per_filter[name] = percentiles(ms)
        every += ms
    return {"all": percentiles(every), "filters": per_filter}


def run(url: str, n: int, decisions: int, repeat: int, similar_k: int) -> dict:
    from labelloop.project import init_project
    from labelloop.review.auth import add_user
    from labelloop.review.service import ReviewService

    with tempfile.TemporaryDirectory(prefix="labelloop-bench-review-") as tmp:
        g = Path(tmp) / "guideline.md"
        g.write_text(guideline_text(), encoding="utf-8")
        project = init_project(Path(tmp) / "p", g, database_url=url)
        store = project.store
        t0 = time.perf_counter()
        load(store, n)
        load_s = time.perf_counter() - t0
        for name in REVIEWERS:
            add_user(store, name, "reviewer", "bench-password")
        add_user(store, "admin", "admin", "bench-password")
        project.config.review.similar_k = similar_k
        service = ReviewService(project)
        t0 = time.perf_counter()
        service.similar.refresh()
        pool_s = time.perf_counter() - t0
        result = {
            "items": store.count_items(),
            "load_s": round(load_s, 1),
            "similar_pool_s": round(pool_s, 1),
            "next_item": next_item_latency(service, decisions, THINK),
            "next_item_back_to_back": next_item_latency(service, decisions, 0.0),
            "browse": browse_latency(service, repeat),
        }
        service.close()
        store.close()
        return result


def postgres_url(server_url: str):
    """(url of a throwaway database, a function that drops it)."""
    import sqlalchemy as sa

    from labelloop.store.db import normalise_url

    base = sa.engine.make_url(normalise_url(server_url))
    name = f"labelloop_bench_review_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")

    def drop() -> None:
        with admin.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--decisions", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=10, help="runs of each browser query")
    ap.add_argument("--similar-k", type=int, default=3)
    ap.add_argument("--postgres", metavar="URL", help="also run against this PostgreSQL server")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    runs = json.loads(args.out.read_text())["runs"] if args.out.exists() else []
    for n in [int(x) for x in args.sizes.split(",")]:
        backends = [] if args.no_sqlite else ["sqlite"]
        backends += ["postgresql"] if args.postgres else []
        for backend in backends:
            with tempfile.TemporaryDirectory(prefix="labelloop-bench-db-") as tmp:
                drop = None
                if backend == "sqlite":
                    url = f"sqlite:///{Path(tmp) / 'bench.db'}"
                else:
                    url, drop = postgres_url(args.postgres)
                try:
                    res = run(url, n, args.decisions, args.repeat, args.similar_k)
                finally:
                    if drop:
                        drop()
            res = {"backend": backend, "size": n, **res}
            print(json.dumps(res), flush=True)
            runs = [r for r in runs if (r["backend"], r["size"]) != (backend, n)] + [res]
    report = {
        "benchmark": "review",
        "date": time.strftime("%Y-%m-%d"),
        "similar_k": args.similar_k,
        "machine": machine(),
        "runs": sorted(runs, key=lambda r: (r["backend"], r["size"])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
