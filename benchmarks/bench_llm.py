"""Benchmark LLM labeling throughput and the labeler's own CPU cost against the stub LLM.

Runs ``labelloop.loop.label`` (the code path of ``labelloop label``) on a fresh temporary
project per setting, against ``python -m labelloop.testing.stub_llm`` running in its own process
with a fixed latency per call (1 s by default). For each concurrency it reports items/s,
the ratio to the limit ``concurrency / latency``, p50/p95 call latency from the call log,
and the labeling process's CPU ms per item (``time.process_time()``); a cProfile pass splits
that CPU between litellm/openai/httpx, labelloop's own code, the store and the event loop.
It also counts prompt tokens per item for the guideline (with and without few-shot
examples) and the share of the prompt that is the cacheable static prefix.

    python benchmarks/bench_llm.py                         # ~2.5 min: 2,000 items x 3, 60 x 1
    python benchmarks/bench_llm.py --items 500 --concurrency 64 --no-sequential --no-profile

Each labeling run happens in a child process (a fresh interpreter, like the CLI) so its CPU
time is its own; the stub's CPU is measured too, to show it was not the bottleneck.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_GUIDELINE = ROOT / "guidelines" / "support-intent.md"
DEFAULT_DATA = ROOT / "agent" / "data" / "demo" / "support-intent.jsonl"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "llm.json"
RESULT = "BENCH-LLM-RESULT "  # marks the child's result line on its stdout
TOKEN_MODEL = "gpt-4o-mini"  # tokenizer for the token counts (what a hosted run is billed on)


# --- data and projects ---------------------------------------------------------------------


def load_demo(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def split_pool(rows: list[dict], per_label: int) -> tuple[list[dict], list[dict]]:
    """The first ``per_label`` rows of each label become reviewed examples; the rest, items."""
    seen: dict[str, int] = defaultdict(int)
    pool, rest = [], []
    for r in rows:
        if seen[r["label"]] < per_label:
            seen[r["label"]] += 1
            pool.append(r)
        else:
            rest.append(r)
    return pool, rest


def write_items(path: Path, rows: list[dict], n: int, per_label: int) -> None:
    """``n`` unlabeled items (demo texts repeated, suffixed when repeated), then the reviewed
    pool, so ``limit=n`` labels exactly the unlabeled ones (import order)."""
    pool, rest = split_pool(rows, per_label)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            r = rest[i % len(rest)]
            rep = i // len(rest)
            text = r["text"] if rep == 0 else f"{r['text']} (#{rep})"
            f.write(json.dumps({"id": f"a{i:06d}", "text": text}) + "\n")
        for j, r in enumerate(pool):
            f.write(json.dumps({"id": f"z{j:06d}", "text": r["text"], "label": r["label"]}) + "\n")


def make_project(tmp: Path, guideline: Path, data: Path, n: int, per_label: int):
    from labelloop import loop
    from labelloop.project import init_project

    project = init_project(tmp / "project", guideline)
    items = tmp / "items.jsonl"
    write_items(items, load_demo(data), n, per_label)
    loop.import_file(project, items, reviewer="bench")
    return project


# --- the stub --------------------------------------------------------------------------------


class Stub:
    """The stub LLM in its own process."""

    def __init__(self, latency: float, labels: list[str]):
        cmd = [sys.executable, "-m", "labelloop.testing.stub_llm", "--port", "0"]
        cmd += ["--latency", str(latency), "--labels", ",".join(labels)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"stub did not start: {line!r}")
        self.url = line.split(" ", 1)[1]

    def cpu_seconds(self) -> float:
        """User + system CPU of the stub process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def calls(self) -> dict:
        import urllib.request

        base = self.url.removesuffix("/v1")
        with urllib.request.urlopen(f"{base}/stub/calls", timeout=10) as r:
            return json.load(r)

    def reset(self) -> None:
        import urllib.request

        base = self.url.removesuffix("/v1")
        req = urllib.request.Request(f"{base}/stub/calls", method="DELETE")
        urllib.request.urlopen(req, timeout=10).close()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- one labeling run (in a child process) ------------------------------------------------


#: parts of the program a profiled function's self time can belong to
LITELLM = "litellm/openai/http"
OWN = "labelloop (incl. its store)"
LOOP = "asyncio event loop"
CLIENT_PACKAGES = frozenset(
    {"litellm", "openai", "httpx", "httpx2", "httpcore", "h11", "anyio", "aiohttp", "yarl"}
    | {"multidict", "aiosignal", "aiohappyeyeballs", "frozenlist", "propcache", "sniffio"}
)
#: packages whose time belongs to whoever called them (found through the call graph)
SHARED = "shared"


def group_of(filename: str) -> str:
    """Which part of the program a profiled function belongs to."""
    f = filename.replace("\\", "/")
    if f.startswith(str(ROOT / "agent")) or f.startswith(str(ROOT / "prompts")):
        return OWN
    if "/site-packages/" in f:
        pkg = f.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        if pkg in CLIENT_PACKAGES:
            return LITELLM
        if pkg in ("sqlalchemy", "sqlmodel", "jinja2", "markupsafe", "numpy", "wordllama"):
            return OWN  # the store, the prompt templates, the few-shot embeddings
        if pkg in ("tenacity", "aiolimiter"):
            return OWN  # labelloop's retry and rate-limit layer
        return SHARED  # pydantic, typing_extensions, ...: attributed to the caller
    if "/asyncio/" in f or f.endswith("selectors.py"):
        return LOOP
    return SHARED  # builtins (~) and the standard library: attributed to the caller


def split_profile(stats: pstats.Stats, items: int) -> dict:
    """CPU per item by part of the program, cumulative time of key entry points, top functions.

    Self time of builtins, the standard library and pydantic goes to whoever called them,
    in proportion, up the call graph (time in ``json.dumps`` called by litellm is litellm's).
    """
    raw = stats.stats
    memo: dict = {}

    def owners(key, depth=0) -> dict[str, float]:
        if key in memo:
            return memo[key]
        group = group_of(key[0])
        if group != SHARED:
            memo[key] = {group: 1.0}
            return memo[key]
        memo[key] = {SHARED: 1.0}  # a cycle or the top: stays shared
        callers = raw[key][4] if key in raw else {}
        weights = {c: v[2] + 1e-12 for c, v in callers.items()}  # self time from each caller
        total = sum(weights.values())
        if not callers or depth > 40 or total <= 0:
            return memo[key]
        out: dict[str, float] = defaultdict(float)
        for c, w in weights.items():
            for g, share in owners(c, depth + 1).items():
                out[g] += share * w / total
        memo[key] = dict(out)
        return memo[key]

    parts: dict[str, float] = defaultdict(float)
    entries = {
        "litellm.acompletion (whole call path)": ("litellm/utils.py", "wrapper_async"),
        "client send (either client)": ("agent/label/providers/wire.py", "send"),
        "litellm success logging (worker task)": ("litellm_logging.py", "async_success_handler"),
        "store.log_call": ("agent/store/calls.py", "log_call"),
        "store.add_suggestions": ("agent/store/suggestions.py", "add_suggestions"),
        "Planner.jobs (few-shot + render)": ("agent/label/providers/llm.py", "jobs"),
        "_Runner.finish (parse + signals)": ("agent/label/providers/llm.py", "finish"),
        "_Runner.record (log row)": ("agent/label/providers/llm.py", "record"),
        "router.route": ("agent/route/router.py", "route"),
    }
    cumulative = dict.fromkeys(entries, 0.0)
    rows = []
    total = 0.0
    for key, (_cc, _nc, tt, ct, _callers) in raw.items():
        filename, line, func = key
        total += tt
        for g, share in owners(key).items():
            parts[g] += tt * share
        for name, (suffix, fn) in entries.items():
            if func == fn and filename.endswith(suffix):
                cumulative[name] += ct
        rows.append((tt, ct, f"{filename.split('site-packages/')[-1]}:{line}({func})"))
    rows.sort(reverse=True)
    per = 1000.0 / items
    return {
        "profiled_cpu_ms_per_item": round(total * per, 3),
        "share_by_part": {
            k: round(v / total, 4) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
        "cumulative_ms_per_item": {k: round(v * per, 3) for k, v in cumulative.items()},
        "top_self": [
            {"ms_per_item": round(tt * per, 4), "cum_ms_per_item": round(ct * per, 4), "fn": name}
            for tt, ct, name in rows[:30]
        ],
    }


def cli_progress(spec: dict):
    """The progress bar ``labelloop label`` shows, drawn to a terminal that goes nowhere."""
    from rich.console import Console

    from labelloop.ui import cli

    cli.err = Console(file=open(os.devnull, "w"), force_terminal=True, width=120)  # noqa: SIM115
    bar = cli._progress(f"Labeling with {spec['model']}")
    bar.__enter__()
    return bar


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU of one thread of this process so far (Linux /proc)."""
    try:
        stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def can_client(spec: dict, guideline) -> None:
    """Replace the clients' ``send`` in this process by one that returns, after the stub's
    latency, a response the stub gave earlier for a real prompt: what is left of the CPU is
    labelloop's own (prompts, logging, parsing, signals, store, asyncio).
    """
    import asyncio

    from labelloop.core.types import Item
    from labelloop.label import prompting, schemas
    from labelloop.label.providers import wire

    prompt = prompting.render(guideline, Item(id="canned", text="Where is my new card?"))

    async def fetch() -> wire.Reply:
        client = wire.make_wire(spec["model"], spec["api_base"], 60.0)
        request = client.request(
            prompt.messages,
            response_format=schemas.response_format(guideline),
            logprobs=True,
            top_logprobs=20,
        )
        try:
            return await client.send(request)
        finally:
            await client.aclose()

    canned = asyncio.run(fetch())
    latency = spec.get("canned_latency", 0.0)

    async def send(self, _request) -> wire.Reply:
        await asyncio.sleep(latency)
        return wire.Reply(raw=canned.raw, cost=canned.cost)

    wire.OpenAIWire.send = send
    wire.LiteLLMWire.send = send


def child(spec: dict) -> dict:
    """One labeling run on a fresh project; prints nothing, returns the measurements."""
    import threading

    import sqlalchemy as sa

    from labelloop import loop

    c0 = time.process_time()
    from labelloop.label.providers import llm  # imports litellm: process start-up, measured apart

    startup_cpu = time.process_time() - c0
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as d:
        project = make_project(
            Path(d), Path(spec["guideline"]), Path(spec["data"]), spec["items"], spec["per_label"]
        )
        timings: dict[str, float] = defaultdict(float)

        def timed(name, fn):
            def wrapper(*a, **kw):
                c0, w0 = time.process_time(), time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    timings[f"{name}_cpu"] += time.process_time() - c0
                    timings[f"{name}_wall"] += time.perf_counter() - w0

            return wrapper

        # instrumentation only: the same functions, timed
        llm.Planner.jobs = timed("plan", llm.Planner.jobs)
        loop.route = timed("route", loop.route)
        if spec.get("canned"):
            can_client(spec, project.guideline())
        done_at: list[float] = []
        bar = cli_progress(spec) if spec.get("progress", "cli") == "cli" else None

        def progress(done, total, **kw):
            done_at.append(time.perf_counter())
            if bar is not None:
                bar(done, total, **kw)

        gc_time = [0.0, 0.0]  # seconds in full (generation 2) and young collections

        def on_gc(phase, info):
            if phase == "start":
                on_gc.t0 = time.perf_counter()
            else:
                gc_time[0 if info["generation"] == 2 else 1] += time.perf_counter() - on_gc.t0

        gc.callbacks.append(on_gc)
        profiler = cProfile.Profile(time.process_time) if spec.get("profile") else None
        threads_before = threading.active_count()
        cpu0, wall0, main0 = time.process_time(), time.perf_counter(), time.thread_time()
        if profiler:
            profiler.enable()
        run = loop.label(
            project,
            spec["model"],
            api_base=spec["api_base"],
            concurrency=spec["concurrency"],
            k_shot=spec["k_shot"],
            limit=spec["items"],
            progress=progress,
        )
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        main_cpu = time.thread_time() - main0  # the rest ran in threads (litellm's executor)
        bar_cpu = 0.0
        if bar is not None:
            refresh = getattr(bar.bar.live, "_refresh_thread", None)
            bar_cpu = thread_cpu_seconds(refresh.native_id) if refresh is not None else 0.0
            bar.__exit__(None, None, None)
        gc.callbacks.remove(on_gc)
        threads_after = threading.active_count()

        store = project.store
        with store.engine.connect() as c:
            lat = [
                r[0]
                for r in c.execute(sa.text("SELECT latency_ms FROM llm_calls WHERE status='ok'"))
            ]
            calls = c.execute(sa.text("SELECT count(*) FROM llm_calls")).scalar_one()
            req_bytes = c.execute(
                sa.text("SELECT avg(length(request)), max(length(request)) FROM llm_calls")
            ).one()
        n = run.labeled
        stream_wall = run.seconds - timings["plan_wall"]
        # steady state: rate between the first and last 10% of completions
        steady = None
        if len(done_at) >= 20:
            a, b = len(done_at) // 10, len(done_at) - 1 - len(done_at) // 10
            if done_at[b] > done_at[a]:
                steady = (b - a) / (done_at[b] - done_at[a])
        out = {
            "items": n,
            "failed": run.failed,
            "calls": run.calls,
            "logged_calls": calls,
            "concurrency": spec["concurrency"],
            "seconds_label_items": round(run.seconds, 3),
            "seconds_pipeline_label": round(wall, 3),
            "items_per_second": round(n / run.seconds, 3),
            "steady_items_per_second": round(steady, 3) if steady else None,
            "plan_seconds": round(timings["plan_wall"], 3),
            "stream_seconds": round(stream_wall, 3),
            "stream_items_per_second": round(n / stream_wall, 3),
            "latency_ms_p50": statistics.median(lat) if lat else None,
            "latency_ms_p95": round(statistics.quantiles(lat, n=20)[-1], 1)
            if len(lat) > 1
            else None,
            "cpu_ms_per_item": round(cpu * 1000 / n, 3),
            "cpu_ms_per_item_plan": round(timings["plan_cpu"] * 1000 / n, 3),
            "cpu_ms_per_item_route": round(timings["route_cpu"] * 1000 / n, 3),
            "cpu_ms_per_item_progress_thread": round(bar_cpu * 1000 / n, 3),
            "cpu_ms_per_item_other_threads": round((cpu - main_cpu - bar_cpu) * 1000 / n, 3),
            "gc_ms_per_item_full": round(gc_time[0] * 1000 / n, 3),
            "gc_ms_per_item_young": round(gc_time[1] * 1000 / n, 3),
            "cpu_ms_per_item_stream": round(
                (cpu - timings["plan_cpu"] - timings["route_cpu"]) * 1000 / n, 3
            ),
            "logged_request_bytes_avg": round(float(req_bytes[0] or 0)),
            "logged_request_bytes_max": int(req_bytes[1] or 0),
            "startup_cpu_seconds": round(startup_cpu, 3),
            "threads_before_after": [threads_before, threads_after],
            "profiled": bool(profiler),
        }
        if profiler:
            out["profile"] = split_profile(pstats.Stats(profiler), n)
        store.close()
        return out


def cpu_split(run: dict, shares: dict[str, float]) -> dict[str, float]:
    """A run's CPU per item split by the profile's shares of the main thread's time; the
    progress bar's thread is labelloop's, the other threads' CPU is charged to the client
    (litellm prepares each request in an executor thread; aiohttp resolves hosts in one)."""
    threads, bar = run["cpu_ms_per_item_other_threads"], run["cpu_ms_per_item_progress_thread"]
    main = run["cpu_ms_per_item"] - threads - bar
    out = {k: round(main * v, 3) for k, v in shares.items()}
    out[LITELLM] = round(out.get(LITELLM, 0.0) + threads, 3)
    out[OWN] = round(out.get(OWN, 0.0) + bar, 3)  # the progress bar's refresh thread
    return out


def run_child(spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed:\n{proc.stderr[-4000:]}")
    lines = [x for x in proc.stdout.splitlines() if x.startswith(RESULT)]  # libraries log too
    return json.loads(lines[-1].removeprefix(RESULT))


# --- tokens ------------------------------------------------------------------------------------


def token_report(guideline: Path, data: Path, per_label: int, sample: int, k_shot: int) -> dict:
    """Prompt tokens per item with and without few-shot examples; the static prefix's share."""
    from labelloop.label import labeler
    from labelloop.label.labeler import training_examples
    from labelloop.label.providers.base import LabelContext
    from labelloop.label.providers.transport import litellm

    with tempfile.TemporaryDirectory(prefix="bench-llm-tok-") as d:
        project = make_project(Path(d), guideline, data, sample, per_label)
        g = project.guideline()
        ctx = LabelContext(guideline=g, examples=training_examples(project.store))
        items = list(project.store.iter_items())[:sample]
        out = {"tokenizer_model": TOKEN_MODEL, "sample_items": len(items), "labels": len(g.labels)}
        for k in (0, k_shot):
            provider = labeler.make_provider(project, "openai/stub-model", {"k_shot": k})
            jobs = provider.plan(items, ctx)
            totals = [
                litellm.token_counter(model=TOKEN_MODEL, messages=list(j.prompt.messages))
                for j in jobs
            ]
            static = litellm.token_counter(model=TOKEN_MODEL, messages=[jobs[0].prompt.messages[0]])
            mean = statistics.fmean(totals)
            out[f"k{k}"] = {
                "few_shot": k,
                "prompt_tokens_mean": round(mean, 1),
                "prompt_tokens_min": min(totals),
                "prompt_tokens_max": max(totals),
                "static_prefix_tokens": static,
                "static_prefix_chars": jobs[0].prompt.static_chars,
                "static_share": round(static / mean, 4),
                "variable_tokens_mean": round(mean - static, 1),
            }
            try:
                cin, cout = litellm.cost_per_token(
                    model=TOKEN_MODEL, prompt_tokens=int(mean), completion_tokens=80
                )
                out[f"k{k}"]["usd_per_item_gpt_4o_mini_uncached"] = round(cin + cout, 6)
                cin, cout = litellm.cost_per_token(
                    model=TOKEN_MODEL,
                    prompt_tokens=int(mean),
                    completion_tokens=80,
                    cache_read_input_tokens=static,
                )
                out[f"k{k}"]["usd_per_item_gpt_4o_mini_prefix_cached"] = round(cin + cout, 6)
            except Exception:  # a litellm without the price or the cache parameter
                pass
        project.store.close()
        return out


# --- main --------------------------------------------------------------------------------------


def table(rows: list[dict], latency: float) -> str:
    head = (
        f"{'conc':>5} {'items':>6} {'items/s':>8} {'limit':>6} {'ratio':>6} {'steady':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'CPU ms/item':>11} {'(stream':>8} {'plan':>6} "
        f"{'route)':>6} {'stub ms/item':>12}"
    )
    lines = [head]
    for r in rows:
        limit = r["concurrency"] / latency
        lines.append(
            f"{r['concurrency']:>5} {r['items']:>6} {r['items_per_second']:>8.2f} {limit:>6.1f} "
            f"{r['ratio']:>6.3f} {r['steady_ratio'] or 0:>7.3f} {r['latency_ms_p50'] or 0:>7.0f} "
            f"{r['latency_ms_p95'] or 0:>7.0f} {r['cpu_ms_per_item']:>11.2f} "
            f"{r['cpu_ms_per_item_stream']:>8.2f} {r['cpu_ms_per_item_plan']:>6.2f} "
            f"{r['cpu_ms_per_item_route']:>6.2f} {r['stub_cpu_ms_per_item']:>12.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=2000, help="items per concurrent run")
    p.add_argument("--concurrency", default="16,64,128", help="comma-separated")
    p.add_argument(
        "--sequential-items",
        type=int,
        default=60,
        help="items at concurrency 1 (2,000 sequential 1-s calls would take 33 minutes)",
    )
    p.add_argument("--no-sequential", action="store_true")
    p.add_argument("--latency", type=float, default=1.0, help="stub seconds per call")
    p.add_argument(
        "--model",
        default="openai/gpt-4o-mini",
        help="any litellm model string; the stub answers for it (gpt-4o-mini: litellm prices it)",
    )
    p.add_argument("--k-shot", type=int, default=8, help="few-shot examples per prompt")
    p.add_argument("--per-label", type=int, default=4, help="reviewed examples per label")
    p.add_argument("--profile-items", type=int, default=1000, help="cProfile pass size")
    p.add_argument("--profile-concurrency", type=int, default=64)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument(
        "--progress",
        choices=("cli", "none"),
        default="cli",
        help="feed the CLI's progress bar (to a terminal that goes nowhere), or nothing",
    )
    p.add_argument(
        "--no-own", action="store_true", help="skip the pass with the client replaced (own CPU)"
    )
    p.add_argument("--token-sample", type=int, default=200)
    p.add_argument("--no-tokens", action="store_true")
    p.add_argument("--guideline", type=Path, default=DEFAULT_GUIDELINE)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        print(RESULT + json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from labelloop.core.guideline import load_guideline

    g = load_guideline(args.guideline)
    stub = Stub(args.latency, [label.name for label in g.labels])
    print(f"stub LLM at {stub.url}, {args.latency:g} s per call, pid {stub.proc.pid}")
    base = {
        "guideline": str(args.guideline),
        "data": str(args.data),
        "model": args.model,
        "api_base": stub.url,
        "k_shot": args.k_shot,
        "per_label": args.per_label,
        "progress": args.progress,
    }
    plan = [(c, args.items, "plain") for c in (int(x) for x in args.concurrency.split(",") if x)]
    if not args.no_sequential:
        plan.insert(0, (1, args.sequential_items, "plain"))
        print(
            f"concurrency 1 runs {args.sequential_items} items: 2,000 sequential "
            f"{args.latency:g}-s calls would take {2000 * args.latency / 60:.0f} minutes"
        )
    if not args.no_own:
        plan.append((args.profile_concurrency, args.items, "canned"))
    if not args.no_profile:
        plan.append((args.profile_concurrency, args.profile_items, "profile"))
    runs = []
    try:
        for conc, n, mode in plan:
            stub.reset()
            s0 = stub.cpu_seconds()
            spec = {**base, "concurrency": conc, "items": n, "profile": mode == "profile"}
            if mode == "canned":
                spec.update(canned=True, canned_latency=args.latency)
            r = run_child(spec)
            r["mode"] = mode
            attempts = stub.calls()
            r["stub_requests"] = attempts["count"]
            r["stub_max_attempts_per_item"] = max(attempts["attempts"].values(), default=0)
            r["stub_cpu_ms_per_item"] = (
                round((stub.cpu_seconds() - s0) * 1000 / r["items"], 3)
                if mode != "canned"
                else None
            )
            limit = conc / args.latency
            r["limit_items_per_second"] = limit
            r["ratio"] = round(r["items_per_second"] / limit, 4)
            r["stream_ratio"] = round(r["stream_items_per_second"] / limit, 4)
            r["steady_ratio"] = (
                round(r["steady_items_per_second"] / limit, 4)
                if r["steady_items_per_second"]
                else None
            )
            tag = {
                "plain": "",
                "canned": " (client replaced by a canned response: labelloop's own CPU)",
                "profile": " (cProfile on: CPU inflated)",
            }[mode]
            print(
                f"concurrency {conc:>3}, {n} items: {r['items_per_second']:.2f} items/s "
                f"(ratio {r['ratio']:.3f}), CPU {r['cpu_ms_per_item']:.2f} ms/item{tag}",
                flush=True,
            )
            runs.append(r)
    finally:
        stub.stop()

    plain = [r for r in runs if r["mode"] == "plain"]
    print()
    print(table(plain, args.latency))
    own = next((r for r in runs if r["mode"] == "canned"), None)
    if own:
        print(
            f"\nlabelloop's own CPU ({own['items']} items at concurrency {own['concurrency']}, "
            f"the client's send replaced by a canned response after {args.latency:g} s): "
            f"{own['cpu_ms_per_item']:.2f} ms/item (plan {own['cpu_ms_per_item_plan']:.2f}, "
            f"route {own['cpu_ms_per_item_route']:.2f}, GC young "
            f"{own['gc_ms_per_item_young']:.2f}, full {own['gc_ms_per_item_full']:.2f})"
        )
        for r in plain:
            if r["concurrency"] == own["concurrency"]:
                r["cpu_ms_per_item_litellm_estimate"] = round(
                    r["cpu_ms_per_item"] - own["cpu_ms_per_item"], 3
                )
                print(
                    f"  so of the {r['cpu_ms_per_item']:.2f} ms/item at concurrency "
                    f"{r['concurrency']}, the HTTP client (openai SDK or litellm) takes about "
                    f"{r['cpu_ms_per_item_litellm_estimate']:.2f}"
                )
    prof = next((r for r in runs if r["mode"] == "profile"), None)
    if prof:
        pr = prof["profile"]
        print(
            f"\ncProfile pass ({prof['items']} items at concurrency {prof['concurrency']}): "
            f"{prof['cpu_ms_per_item']:.2f} ms/item with the profiler on"
        )
        print("  main-thread CPU by part (builtins, stdlib, pydantic charged to their callers):")
        for k, v in pr["share_by_part"].items():
            print(f"    {k:<36} {v:>7.1%}")
        print("  cumulative, profiler on (ms/item):")
        for k, v in pr["cumulative_ms_per_item"].items():
            print(f"    {k:<36} {v:>7.3f}")
        for r in plain:
            if r["concurrency"] == prof["concurrency"]:
                r["cpu_split_ms_per_item"] = split = cpu_split(r, pr["share_by_part"])
                print(
                    f"  applied to the unprofiled run at concurrency {r['concurrency']} "
                    f"({r['cpu_ms_per_item']:.2f} ms/item; other threads charged to the client): "
                    + ", ".join(f"{k} {v:.2f}" for k, v in split.items())
                )

    tokens = None
    if not args.no_tokens:
        tokens = token_report(
            args.guideline, args.data, args.per_label, args.token_sample, args.k_shot
        )
        print(f"\nprompt tokens ({TOKEN_MODEL} tokenizer, {tokens['labels']} labels):")
        for key in ("k0", f"k{args.k_shot}"):
            t = tokens[key]
            print(
                f"  {t['few_shot']} few-shot: {t['prompt_tokens_mean']:.0f} tokens/item "
                f"(min {t['prompt_tokens_min']}, max {t['prompt_tokens_max']}); static prefix "
                f"{t['static_prefix_tokens']} tokens = {t['static_share']:.1%} of the prompt"
            )
            if "usd_per_item_gpt_4o_mini_prefix_cached" in t:
                print(
                    "    gpt-4o-mini, 80 output tokens: "
                    f"${t['usd_per_item_gpt_4o_mini_uncached']:.5f}/item, "
                    f"${t['usd_per_item_gpt_4o_mini_prefix_cached']:.5f} with the prefix "
                    "read from the provider's prompt cache"
                )

    result = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "model": args.model,
        "latency_s": args.latency,
        "k_shot": args.k_shot,
        "reviewed_examples_per_label": args.per_label,
        "note": (
            "concurrency 1 runs on fewer items: 2,000 sequential calls of "
            f"{args.latency:g} s would take {2000 * args.latency / 60:.0f} minutes"
        ),
        "runs": runs,
        "tokens": tokens,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
