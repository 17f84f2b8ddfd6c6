"""Benchmark a crew of `labelloop label` processes sharing one PostgreSQL store.

For 1, 2 and 4 workers (``--workers``), each at 64 calls in flight (``--concurrency``),
against the stub LLM at 1 s a call (``--latency``), it labels a fresh project twice:
without a rate limit, and with a shared limit of 3,000 requests per minute (``--rpm``)
counted by every worker together in the store's sliding window (``[llm] rate_window``,
60 s; ``--quick`` scales it to 10 s, 500 requests in any 10 s).

Every process is its own: the stub (this script with ``--serve-stub``: the same
``StubServer`` as ``python -m labelloop.testing.stub_llm``, which on exit writes the
arrival time of every request it received) and each worker
(``python -m labelloop.ui.cli label --model openai/stub-model --api-base URL
--concurrency 64 -p PROJECT``). The driver only starts them, samples CPU from ``/proc``
and reads the store afterwards.

Figures per run:

- **steady calls/s** without a limit: the rate of call completions (the call log's
  ``created_at``) between the 10th and 90th percentile of completion times, so process
  start-up and the tail are left out; its ratio is to workers x concurrency / latency.
  By Little's law it is **in flight** (calls started and not yet answered, averaged over
  that span) over their mean **latency** (as the call log has it), so a ratio below 1
  is either slots left empty (in flight below workers x concurrency) or calls that take
  longer than the stub's latency (the processes' event loops lagging).
- **steady calls/s** with the limit: the store counts grants over the window plus
  ``MARGIN`` (0.5 s), and a sliding window lets its whole quota go at once, so the
  first window is a burst at whatever the crew can do, then a wait. The arrivals at the
  stub are cut into consecutive spans of window + margin from the first; the steady rate
  is the mean of the spans after the first (the crew refilling the window as the first
  span's grants leave it), per second; its ratio is to the limit (at most window /
  (window + margin): 0.992 for 60 s, 0.952 for 10 s). **max window** is the most
  requests the stub received in any window, sliding over the whole run, as a ratio of
  the limit (it must not pass 1.0). Here in flight and latency include the wait for a
  grant.
- **start-up**: seconds from starting the workers to the first request at the stub, and
  until every worker had sent its first (the call log's ``run_id`` tells the workers
  apart); **tail**: from the last answer until the last worker exited (each routes the
  project's items after labeling).
- **calls per item**: requests the stub received per item (1.00: none asked twice).
- **CPU**: each worker's total (``wait4``), and the cores used in the steady span by the
  workers, the stub, PostgreSQL (its own processes and the backends of this run's
  database), everything else on the machine (``other``) and the whole machine
  (``/proc/stat``): on a shared machine, ``other`` says how much of it the run had.

Items per run: workers x concurrency / latency x ``--seconds`` without a limit; with it,
``--windows`` windows' quota (2.2: two whole spans, and work left for the third).

    python benchmarks/bench_workers.py              # ~9.5 min on 2 cores
    python benchmarks/bench_workers.py --quick      # ~2 min: fewer items, a 10 s window
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results" / "workers.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
MODEL = "openai/stub-model"
TICK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.25
#: a backend serving a client, as its process title shows it
CLIENT = re.compile(r"\(\d+\)|\[local\]")


# --- the stub, in its own process -------------------------------------------------------------


def serve_stub(latency: float, arrivals: Path) -> int:
    """Serve the stub until SIGTERM, then write each request's arrival time to ``arrivals``."""
    from labelloop.testing.stub_llm import StubServer

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with StubServer(latency=latency) as stub:
        print(f"READY {stub.base_url}", flush=True)
        stop.wait()
        calls = list(stub.calls)
    arrivals.write_text(json.dumps([c.at for c in calls]))
    return 0


def start_stub(latency: float, arrivals: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, __file__, "--serve-stub", "--latency", str(latency)]
    proc = subprocess.Popen(
        [*cmd, "--arrivals", str(arrivals)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the stub did not start: {line!r}")
    return proc, line.split()[1]


# --- CPU from /proc ----------------------------------------------------------------------------


def proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of a running process; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the machine since boot, every core together."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    total = sum(parts[:8])
    return (total - idle) / TICK, total / TICK


def postgres_pids(database: str) -> list[int]:
    """PostgreSQL's own processes (checkpointer, WAL writer...) and the backends serving
    ``database``; backends of other databases on the server are left out."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/comm") as f:
                    if not f.read().startswith("postgres"):
                        continue
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    line = f.read().decode(errors="replace")
            except OSError:
                continue
            if f" {database} " in line or not CLIENT.search(line):
                out.append(int(name))
    return out


class Sampler(threading.Thread):
    """Cumulative CPU seconds of the workers, the stub, PostgreSQL (for this database), this
    driver and the whole machine, every ``SAMPLE_EVERY`` seconds. A process's last reading
    stands once it is gone, so the sums only grow."""

    PARTS = ("workers", "stub", "postgres", "driver", "machine")

    def __init__(self, workers: list[int], stub: int, database: str) -> None:
        super().__init__(daemon=True, name="cpu-sampler")
        self.workers, self.stub, self.database = workers, stub, database
        self.last: dict[int, float] = {}
        self.pg_seen: set[int] = set()
        self.samples: list[dict] = []
        self.halt = threading.Event()

    def _read(self, pids) -> float:
        total = 0.0
        for pid in pids:
            now = proc_cpu(pid)
            if now is not None:
                self.last[pid] = now
            total += self.last.get(pid, 0.0)
        return total

    def sample(self) -> None:
        self.pg_seen |= set(postgres_pids(self.database))
        busy, _ = machine_busy()
        self.samples.append(
            {
                "t": time.time(),
                "workers": self._read(self.workers),
                "stub": self._read([self.stub]),
                "postgres": self._read(self.pg_seen),
                "driver": time.process_time(),
                "machine": busy,
            }
        )

    def run(self) -> None:
        while True:
            self.sample()
            if self.halt.wait(SAMPLE_EVERY):
                self.sample()
                return

    def at(self, t: float) -> dict[str, float]:
        """The first sample at or after ``t`` (the last one if none)."""
        return next((s for s in self.samples if s["t"] >= t), self.samples[-1])

    def cores(self, t0: float, t1: float) -> dict[str, float]:
        """Cores each part used between ``t0`` and ``t1`` (the samples inside), and the
        rest of the machine (``other``: processes that are none of these)."""
        inside = [s for s in self.samples if t0 <= s["t"] <= t1]
        if len(inside) < 2:
            return {}
        a, b = inside[0], inside[-1]
        span = b["t"] - a["t"]
        out = {k: (b[k] - a[k]) / span for k in self.PARTS}
        out["other"] = max(0.0, out["machine"] - sum(out[k] for k in self.PARTS[:-1]))
        return {k: round(v, 2) for k, v in out.items()}


def wait_all(procs: list[subprocess.Popen]) -> dict[int, tuple[int, float, float]]:
    """Reap the workers as they end: pid -> (exit code, CPU seconds, end time)."""
    out: dict[int, tuple[int, float, float]] = {}
    while len(out) < len(procs):
        for p in procs:
            if p.pid in out:
                continue
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                out[p.pid] = (p.returncode, usage.ru_utime + usage.ru_stime, time.time())
        time.sleep(0.05)
    return out


# --- one run -----------------------------------------------------------------------------------


def rows(n: int) -> list[dict]:
    return [{"id": f"w{i:06d}", "text": f"where is my new card number {i}"} for i in range(n)]


def set_llm(project, **llm) -> None:
    import tomli_w

    from labelloop.project import CONFIG_NAME

    path = project.root / CONFIG_NAME
    config = tomllib.loads(path.read_text())
    config.setdefault("llm", {}).update(llm)
    path.write_text(tomli_w.dumps(config))


def call_log(url: str) -> list[tuple[float, int, str, str]]:
    """(completed at, latency ms, run id, status) of every call in the store."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as c:
            q = sa.text("SELECT created_at, latency_ms, run_id, status FROM llm_calls")
            return [(r[0].timestamp(), r[1] or 0, r[2], r[3]) for r in c.execute(q)]
    finally:
        engine.dispose()


def stored(url: str) -> tuple[int, int]:
    """(suggestions by the model, distinct items they are for)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as c:
            q = sa.text(
                "SELECT count(*), count(DISTINCT item_id) FROM suggestions WHERE model = :m"
            )
            n, distinct = c.execute(q, {"m": MODEL}).one()
            return int(n), int(distinct)
    finally:
        engine.dispose()


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def per_second(times: list[float], t0: float) -> list[int]:
    """How many of ``times`` fall in each second from ``t0``."""
    out = [0] * (int(max(times) - t0) + 1)
    for t in times:
        out[int(t - t0)] += 1
    return out


def tiles(times: list[float], span: float) -> list[int]:
    """Requests in consecutive windows of ``span`` seconds from the first, each one wholly
    before the last request."""
    first, last, out = min(times), max(times), []
    while first + (len(out) + 1) * span <= last:
        lo = first + len(out) * span
        out.append(sum(1 for t in times if lo <= t < lo + span))
    return out


def stop(proc: subprocess.Popen) -> float:
    """End ``proc`` (SIGTERM) if it still runs; the CPU seconds it used."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime
    return 0.0


def one_run(server: str, workers: int, items: int, rpm: float | None, window: float, args) -> dict:
    from tests.support.llm import make_project
    from tests.support.services import postgres_database

    os.environ["LABELLOOP_TEST_POSTGRES_URL"] = server
    with tempfile.TemporaryDirectory(prefix="labelloop-bench-workers-") as tmp:
        tmp = Path(tmp)
        with postgres_database() as url:
            project = make_project(tmp, rows(items), database_url=url)
            set_llm(project, **({"rpm": rpm, "rate_window": window} if rpm else {}))
            project.store.close()
            env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
            stub, base_url = start_stub(args.latency, tmp / "arrivals.json")
            cmd = [sys.executable, "-m", "labelloop.ui.cli", "label", "--model", MODEL]
            cmd += ["--api-base", base_url, "--concurrency", str(args.concurrency)]
            cmd += ["-p", str(project.root)]
            procs: list[subprocess.Popen] = []
            try:
                load = os.getloadavg()[0]
                t0 = time.time()
                for i in range(workers):
                    with open(tmp / f"worker{i}.log", "w") as log:
                        out = {"stdout": log, "stderr": subprocess.STDOUT}
                        procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, **out))
                sampler = Sampler([p.pid for p in procs], stub.pid, url.rsplit("/", 1)[1])
                sampler.start()
                ended = wait_all(procs)
                t_end = time.time()
                sampler.halt.set()
                sampler.join()
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        proc.kill()
                        proc.wait()
                stub_cpu = stop(stub)
            said = [(tmp / f"worker{i}.log").read_text()[-2000:] for i in range(workers)]
            arrived = json.loads((tmp / "arrivals.json").read_text())
            calls = call_log(url)
            n_sugg, n_items = stored(url)
    failed = [s for p, s in zip(procs, said, strict=True) if ended[p.pid][0] != 0]
    if failed:
        raise RuntimeError("a worker failed:\n" + "\n---\n".join(failed))
    ok = [c for c in calls if c[3] == "ok"]
    done = [c[0] for c in ok]
    first_by_run: dict[str, float] = {}
    for at, latency_ms, run, _ in calls:
        sent = at - latency_ms / 1000
        first_by_run[run] = min(first_by_run.get(run, sent), sent)
    per_run: dict[str, int] = {}
    for c in ok:
        per_run[c[2]] = per_run.get(c[2], 0) + 1
    t_all = max(min(arrived), *first_by_run.values())
    t10, t90 = percentile(done, 0.10), percentile(done, 0.90)
    between = sum(1 for t in done if t10 <= t <= t90)
    # Little's law over the steady window: calls in flight on average, and their latency
    busy = sum(max(0.0, min(c[0], t90) - max(c[0] - c[1] / 1000, t10)) for c in ok)
    in_flight = busy / (t90 - t10) if t90 > t10 else float("nan")
    steady_latency = [c[1] for c in ok if t10 <= c[0] <= t90]
    nominal = workers * args.concurrency / args.latency
    result = {
        "workers": workers,
        "concurrency": args.concurrency,
        "latency_s": args.latency,
        "rpm": rpm,
        "rate_window_s": window if rpm else None,
        "items": items,
        "wall_s": round(t_end - t0, 1),
        "startup_first_call_s": round(min(arrived) - t0, 1),
        "startup_all_workers_s": round(t_all - t0, 1),
        "startup_worker_cpu_s": round(sampler.at(t_all)["workers"] / workers, 1),
        "calls_per_worker": sorted(per_run.values(), reverse=True),
        "calls_at_stub": len(arrived),
        "calls_logged": len(calls),
        "calls_failed": len(calls) - len(ok),
        "calls_per_item": round(len(arrived) / items, 3),
        "suggestions": n_sugg,
        "items_with_a_suggestion": n_items,
        "rate_p10_p90_calls_per_s": round(between / (t90 - t10), 1) if t90 > t10 else None,
        "first_to_last_call_s": round(max(done) - min(arrived), 1),
        "mean_in_flight": round(in_flight, 1),
        "in_flight_fill": round(in_flight / (workers * args.concurrency), 3),
        "steady_latency_ms_mean": round(statistics.fmean(steady_latency)),
        "latency_ms_p50": percentile([c[1] for c in ok], 0.5),
        "latency_ms_p95": percentile([c[1] for c in ok], 0.95),
        "worker_cpu_s": [round(ended[p.pid][1], 1) for p in procs],
        "worker_cpu_ms_per_item": round(1000 * sum(ended[p.pid][1] for p in procs) / items, 2),
        "stub_cpu_s": round(stub_cpu, 1),
        "stub_cpu_ms_per_call": round(1000 * stub_cpu / max(1, len(arrived)), 2),
        "steady_cores": sampler.cores(t10, t90),
        "whole_run_cores": sampler.cores(t0, t_end),
        "arrivals_per_s": per_second(arrived, t0),
        "completions_per_s": per_second(done, t0),
        "worker_end_s": [round(ended[p.pid][2] - t0, 1) for p in procs],
        "last_call_s": round(max(done) - t0, 1),
        "tail_s": round(t_end - max(done), 1),
        "cpus": os.cpu_count(),
        "load_average_before": round(load, 2),
    }
    if rpm:
        from labelloop.label.providers.limits import MARGIN
        from labelloop.testing.stub_llm import most_in_window

        per_window = rpm * window / 60
        most = most_in_window(arrived, window)
        span = window + MARGIN  # the span the store counts grants over
        counts = tiles(arrived, span)
        later = counts[1:] or [float("nan")]
        steady = statistics.fmean(later) / span
        used_up = sorted(arrived)[min(len(arrived), int(per_window)) - 1] - min(arrived)
        result.update(
            steady_calls_per_s=round(steady, 1),
            ratio=round(steady / (rpm / 60), 3),
            ratio_basis=f"the limit: {rpm:g} rpm = {rpm / 60:g} calls/s",
            counted_span_s=span,
            calls_per_span=counts,
            first_quota_used_in_s=round(used_up, 1),
            max_in_window=most,
            max_window_ratio=round(most / per_window, 3),
            limit_per_window=per_window,
        )
    else:
        steady = result["rate_p10_p90_calls_per_s"]
        result.update(
            steady_calls_per_s=steady,
            ratio=round(steady / nominal, 3),
            ratio_basis=f"workers x concurrency / latency = {nominal:g} calls/s",
        )
    return result


# --- main ---------------------------------------------------------------------------------------


def table(runs: list[dict]) -> str:
    head = (
        "| workers | limit | items | wall s | start-up s | tail s | steady calls/s | ratio | "
        "in flight | latency ms | max window | calls/item | CPU s: workers / stub | "
        "steady cores: workers / stub / postgres / other / machine |"
    )
    lines = [head, "|" + "---:|" * 14]
    for r in runs:
        limit = f"{r['rpm']:g} rpm / {r['rate_window_s']:g} s" if r["rpm"] else "none"
        c = r["steady_cores"]
        parts = ("workers", "stub", "postgres", "other", "machine")
        cores = " / ".join(f"{c.get(k, float('nan')):.2f}" for k in parts)
        most = f"{r['max_window_ratio']:.3f}" if r["rpm"] else "-"
        lines.append(
            f"| {r['workers']} | {limit} | {r['items']:,} | {r['wall_s']:.1f} | "
            f"{r['startup_first_call_s']:.1f} / {r['startup_all_workers_s']:.1f} | "
            f"{r['tail_s']:.1f} | {r['steady_calls_per_s']:.1f} | {r['ratio']:.3f} | "
            f"{r['mean_in_flight']:.0f} | {r['steady_latency_ms_mean']} | {most} | "
            f"{r['calls_per_item']:.2f} | {sum(r['worker_cpu_s']):.1f} / {r['stub_cpu_s']:.1f} | "
            f"{cores} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres", metavar="URL", default=DEFAULT_PG, help="the server to use")
    ap.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    ap.add_argument("--concurrency", type=int, default=64, help="calls in flight per worker")
    ap.add_argument("--latency", type=float, default=1.0, help="the stub's seconds per call")
    ap.add_argument("--rpm", type=float, default=3000.0, help="the shared limit")
    ap.add_argument(
        "--window", type=float, help="the limit's sliding window, seconds (60; 10 with --quick)"
    )
    ap.add_argument(
        "--seconds",
        type=float,
        help="unlimited runs: items for this many seconds at workers x concurrency / latency "
        "(15; 6 with --quick)",
    )
    ap.add_argument(
        "--windows",
        type=float,
        default=None,
        help="limited runs: items for this many windows' quota (2.2)",
    )
    ap.add_argument("--no-limit", action="store_true", help="skip the limited runs")
    ap.add_argument("--limit-only", action="store_true", help="skip the unlimited runs")
    ap.add_argument("--quick", action="store_true", help="fewer items, a 10 s window")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--serve-stub", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--arrivals", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_stub:
        return serve_stub(args.latency, args.arrivals)
    window = args.window or (10.0 if args.quick else 60.0)
    seconds = args.seconds or (6.0 if args.quick else 15.0)
    windows = args.windows or 2.2
    counts = [int(x) for x in args.workers.split(",")]
    plan = []
    if not args.limit_only:
        for w in counts:
            n = round(w * args.concurrency / args.latency * seconds)
            plan.append((w, n, None))
    if not args.no_limit:
        for w in counts:
            plan.append((w, round(args.rpm * window / 60 * windows), args.rpm))
    runs = []
    started = time.time()
    for w, n, rpm in plan:
        r = one_run(args.postgres, w, n, rpm, window, args)
        runs.append(r)
        print(json.dumps(r), flush=True)
    print(table(runs))
    report = {
        "benchmark": "workers: labelloop label processes sharing one PostgreSQL store",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
        "seconds": round(time.time() - started, 1),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
