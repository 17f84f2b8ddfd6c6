"""Items lost under injected provider faults: a quarter of the calls to the model fail.

Every call an item makes (its first call, retries and re-asks alike) fails with
probability ``rate``, with one of: 429 (with Retry-After), 500, 502, 503, a stall past the
client's timeout, a dropped connection, or malformed JSON (which is re-asked); a
``rate`` share of the items also answer with a label outside the guideline first (re-asked
too). The faults are drawn per item from ``seed`` and scripted into the stub LLM, so a run
is reproducible. ``labelloop label``'s code path labels every item; a second run then
labels what the first left failed for a transient reason.

An item is *lost* when it ends the first run with neither a suggestion nor a recorded
failure; *failed for good* when it is still failed after the second run. Both should be 0.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.reliability.common import MODEL, backend, item_rows, make_project, stub_process
from labelloop import loop

FAULTS = (429, 500, 502, 503, "timeout", "drop_connection", "malformed")
#: a fault list this long has one chance in 4^12 of not ending at the rate of 0.25
MAX_STEPS = 12


def script(ids: list[str], rate: float, seed: int) -> dict[str, dict]:
    """The stub's script: per item, the faults its calls meet in order, then answers."""
    rng = random.Random(seed)
    out: dict[str, dict] = {}
    for item_id in ids:
        steps: list = []
        while len(steps) < MAX_STEPS and rng.random() < rate:
            steps.append(rng.choice(FAULTS))
        entry: dict = {"fail": steps} if steps else {}
        if rng.random() < rate:
            entry.update(out_of_set="spam", out_of_set_attempts=1)
        if entry:
            out[item_id] = entry
    return out


def run(
    store_url: str | None = None,
    *,
    items: int = 400,
    rate: float = 0.25,
    concurrency: int = 16,
    seed: int = 0,
    timeout: float = 1.0,
    retry_wait: float = 0.05,
    workdir: Path | None = None,
) -> dict:
    """Label ``items`` with a ``rate`` share of calls failing; what was lost or failed."""
    started = time.perf_counter()
    rows = item_rows(items)
    ids = [r["id"] for r in rows]
    faults = script(ids, rate, seed)
    options = {"concurrency": concurrency, "timeout": timeout, "retry_wait": retry_wait}
    with tempfile.TemporaryDirectory(prefix="labelloop-faults-", dir=workdir) as tmp:
        path = Path(tmp) / "script.json"
        path.write_text(json.dumps(faults), encoding="utf-8")
        project = make_project(Path(tmp), rows, store_url)
        try:
            with stub_process(script=path) as stub:
                first = loop.label(project, MODEL, api_base=stub.base_url, **options)
                after_first = project.store.latest_suggestions(model=MODEL)
                second = loop.label(project, MODEL, api_base=stub.base_url, **options)
                calls, _ = stub.counts()
            latest = project.store.latest_suggestions(model=MODEL)
        finally:
            project.store.close()
    failed = {i: s.error for i, s in latest.items() if s.status == "failed"}
    return {
        "store": backend(store_url),
        "items": items,
        "fault_rate": rate,
        "seed": seed,
        "calls": calls,
        "faults_scripted": sum(len(e.get("fail", ())) for e in faults.values()),
        "out_of_set_scripted": sum("out_of_set" in e for e in faults.values()),
        "items_lost": sum(1 for i in ids if i not in after_first),
        "items_failed_first_run": first.failed,
        "items_retried_second_run": second.candidates,
        "items_failed_for_good": len(failed),
        "failure_reasons": dict(Counter(failed.values()).most_common(5)),
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":  # python -m benchmarks.reliability.MODULE [STORE_URL]
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else None), indent=1))
