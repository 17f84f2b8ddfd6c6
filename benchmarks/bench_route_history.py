"""Benchmark what the route history costs on a PostgreSQL store of ``--items`` items
(default 1,000,000, spread over five routes), and what the dashboard pays to read it.

Timings, each the median of ``--runs`` (default 3):

* **count**: items per route, as a record takes them (``count_routes``);
* **record**: ``note_routes`` when the newest record is older than ``EVERY`` (once an hour
  at most, after a route write);
* **in memory**: ``note_routes`` right after, answered without a query (every other write);
* **new process**: ``note_routes`` by a store that has not looked yet (one indexed query);
* **read**: ``route_history`` with a year of hourly records.

Needs PostgreSQL (``LABELLOOP_TEST_POSTGRES_URL``, default the tests' own server).

    python benchmarks/bench_route_history.py
    python benchmarks/bench_route_history.py --items 100000 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from labelloop.store import Store  # noqa: E402
from labelloop.store.history import EVERY, T_HISTORY  # noqa: E402
from labelloop.store.routes import count_routes  # noqa: E402
from tests.support.services import postgres_database  # noqa: E402

ROUTES = "ARRAY['auto_accepted','active','reviewed','calibration','audit']"


def seed(store: Store, n: int) -> None:
    """``n`` items, each on a route, and a year of hourly records."""
    with store.engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO items (id, kind, text, content_hash, created_at) SELECT 'i' || "
                "lpad(g::text, 8, '0'), 'text', 'text ' || g, md5(g::text), now() "
                "FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        c.execute(
            sa.text(
                "INSERT INTO routes (item_id, route, reason, priority, updated_at) SELECT 'i' || "
                f"lpad(g::text, 8, '0'), ({ROUTES})[1 + g % 5], '', 0, now() "
                "FROM generate_series(1, :n) g"
            ),
            {"n": n},
        )
        start = datetime.now(UTC) - timedelta(days=365)
        rows = [
            {"at": start + timedelta(hours=h), "route": r, "items": n // 5}
            for h in range(24 * 365)
            for r in ("auto_accepted", "active", "reviewed", "calibration", "audit")
        ]
        c.execute(sa.insert(T_HISTORY), rows)
        c.execute(sa.text("ANALYZE items"))
        c.execute(sa.text("ANALYZE routes"))


def timed(fn, runs: int) -> float:
    took = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        took.append(time.perf_counter() - t)
    return statistics.median(took)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with postgres_database() as url:
        store = Store.open(url)
        seed(store, args.items)
        later = [datetime.now(UTC) + EVERY]

        def record():
            later[0] += EVERY  # each run finds the newest record an hour old
            assert store.note_routes(later[0])

        def in_memory():
            assert not store.note_routes(later[0])

        def new_process():
            assert not Store(store.engine).note_routes(later[0])

        def count():
            with store.engine.connect() as c:
                count_routes(c)

        print(f"PostgreSQL, {args.items:,} items, median of {args.runs}")
        for name, fn in (
            ("count", count),
            ("record", record),
            ("in memory", in_memory),
            ("new process", new_process),
            ("read a year", store.route_history),
        ):
            print(f"{name:>12}: {timed(fn, args.runs) * 1000:9.3f} ms")
        store.close()


if __name__ == "__main__":
    main()
