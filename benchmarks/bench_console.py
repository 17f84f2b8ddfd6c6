"""Benchmark the review console: keypress to the next item on screen, in Chromium.

Builds a project with N active items (default 100,000), serves the console, signs a
reviewer in with headless Chromium and reviews K items (default 300) with the keyboard:
``a`` (accept) on most, ``1`` + Enter (fix) on every fifth. The page itself measures each
decision with ``performance.now()``: from the keydown to the first animation frame after
the next item is in the DOM (``window.llLatency``, kept by ``ui/static/console.js``), so
the figure includes the queue round trip, the server's decision and next-item work,
Gradio's update and the browser's layout. A warm-up of 20 items is not counted.

    python benchmarks/bench_console.py                   # from the repo root
    python benchmarks/bench_console.py --items 1000000 --keys 500

Needs Chromium (``LABELLOOP_CHROMIUM`` or /usr/bin/chromium) and Playwright.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "console.json"
LABELS = [f"intent_{i:02d}" for i in range(20)]
WARMUP = 20
BATCH = 20_000


def build(root: Path, n: int, database_url: str | None = None):
    """A project with ``n`` active items, each with a suggestion, and one reviewer."""
    from labelloop.core.types import Item, LabelValue, Route, RouteDecision, Suggestion
    from labelloop.project import init_project
    from labelloop.review.auth import add_user
    from tests.conftest import add_items
    from tests.support.console import PASSWORD
    from tests.support.console import guideline_text as guideline

    path = root / "guideline.md"
    path.write_text(guideline(LABELS), encoding="utf-8")
    settings: dict = {"review": {"overlap": 0.0}}
    if database_url:
        settings["database_url"] = database_url
    project = init_project(root / "project", path, **settings)
    add_user(project.store, "bench", "reviewer", PASSWORD)
    for start in range(0, n, BATCH):
        ids = range(start, min(n, start + BATCH))
        items = [Item(id=f"b{i:07d}", text=f"benchmark item {i}: where is my card") for i in ids]
        add_items(project.store, items)
        sids = project.store.add_suggestions(
            [
                Suggestion(
                    item_id=it.id,
                    model="local",
                    value=LabelValue(label=LABELS[i % len(LABELS)]),
                    confidence=0.5,
                    rationale="benchmark",
                )
                for i, it in zip(ids, items, strict=True)
            ]
        )
        routes = [
            RouteDecision(item_id=it.id, route=Route.ACTIVE, reason="bench", suggestion_id=sid)
            for it, sid in zip(items, sids, strict=True)
        ]
        project.store.set_routes(
            routes, {it.id: float(i) for i, it in zip(ids, items, strict=True)}
        )
    return project


def measure(url: str, keys: int) -> list[float]:
    """Review ``WARMUP + keys`` items with the keyboard; the page's latencies in ms."""
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import CHROMIUM_ARGS, chromium_path
    from tests.support.console import Browser

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        browser = Browser(chromium, url)
        page = browser.page("bench")
        item = page.locator("#ll-item .ll-item")
        for n in range(WARMUP + keys):
            if n == WARMUP:
                page.evaluate("window.llLatency.length = 0")
            before = item.get_attribute("data-item")
            if n % 5 == 4:
                page.keyboard.press("1")
                page.keyboard.press("Enter")
            else:
                page.keyboard.press("a")
            expect(item).not_to_have_attribute("data-item", before, timeout=10_000)
        page.wait_for_function(f"window.llLatency.length >= {keys}")
        latencies = page.evaluate("window.llLatency")
        browser.close()
        chromium.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=300)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server URL: the store goes in a throwaway database there",
    )
    args = ap.parse_args()

    from tests.support.console import served

    with tempfile.TemporaryDirectory() as tmp, database(args.postgres) as database_url:
        t0 = time.perf_counter()
        project = build(Path(tmp), args.items, database_url)
        built = time.perf_counter() - t0
        with served(project) as url:
            latencies = measure(url, args.keys)
        project.store.close()
    result = {
        "store": "postgresql" if args.postgres else "sqlite",
        "items": args.items,
        "keypresses": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1),
        "target_p95_ms": 150,
        "build_seconds": round(built, 1),
        "machine": f"{platform.system()} {platform.machine()}, {platform.python_version()}",
    }
    runs = json.loads(args.out.read_text()).get("runs", []) if args.out.exists() else []
    runs = [r for r in runs if (r["store"], r["items"]) != (result["store"], args.items)]
    report = {
        "benchmark": "console keypress to next item on screen (Chromium, in-page)",
        "runs": sorted([*runs, result], key=lambda r: (r["store"], r["items"])),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


@contextlib.contextmanager
def database(server_url: str | None):
    """None for SQLite, or a throwaway database on the PostgreSQL server, dropped after."""
    if server_url is None:
        yield None
        return
    os.environ["LABELLOOP_TEST_POSTGRES_URL"] = server_url
    from tests.support.services import postgres_database

    with postgres_database() as url:
        yield url


if __name__ == "__main__":
    main()
