"""Items decided twice or lost with concurrent reviewers and routing.

A short review day of ``benchmarks/bench_concurrency.py`` (``tests/support/concurrency.py``):
6 reviewer clients (2 of them through a console served over HTTP, the others calling a
review service in this process, 2 sharing one) decide, fix, reject, skip and undo as fast as
items come for 20 s, over 300 items labeled by the local model, while ``labelloop label
--stale``, imports, ``labelloop calibrate``, routing, an admin's adjudications and bulk
accepts run beside them. Afterwards the store is read against what each client was told,
and every broken promise counted (items with standing decisions by two people outside
overlap, overlap items over their reviewers, reviews lost or duplicated, undos not as made
or not restored, refusals on held items, calibration pairs from moved items, errors).
``deep``: the benchmark's own day (20 clients, 2,000 items, 120 s, in this process).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path


def run(store_url: str, workdir: Path, deep: bool = False) -> dict:
    from tests.support.concurrency import Load, build, check, figures
    from tests.support.concurrency import run as review_day

    if deep:
        load = Load(
            items=2000,
            clients=20,
            shared=4,
            seconds=120.0,
            label_every=5.0,
            import_every=10.0,
            calibrate_every=20.0,
            route_every=None,  # label, import and calibrate route, as the CLI's do
            adjudicate_every=5.0,
            bulk_every=15.0,
            import_size=50,
        )
    else:
        load = Load(items=300, clients=6, shared=2, seconds=20.0, over_http=2, servers=1)
    project = build(workdir, load, store_url)
    try:
        log, took = review_day(project, load)
        broken = check(project, load, log)
    finally:
        project.store.close()
    seen = figures(log, took)
    twice = sum(v for k, v in broken.items() if "twice" in k or "over" in k)
    lost = sum(v for k, v in broken.items() if "lost" in k or "duplicated" in k)
    other = sum(broken.values()) - twice - lost
    note = f"{seen['decisions']} decisions by {load.clients} reviewers in {seen['seconds']} s"
    return {
        "rows": [
            {
                "measure": "items decided twice or lost, concurrent reviewers and routing",
                "value": twice + lost,
                "should_be": 0,
                "note": note,
            },
            {"measure": "  other broken promises of a review day", "value": other, "should_be": 0},
        ],
        "broken": broken,
        "figures": seen,
        "errors": [e.strip().splitlines()[-1] for e in log.errors],
        "load": asdict(load),
    }
