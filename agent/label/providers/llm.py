"""The LLM provider: any litellm model string, structured output validated by pydantic.

One item's way through: few-shot examples chosen -> prompt rendered (static prefix first)
-> one call (the OpenAI SDK for OpenAI-wire servers, litellm for other providers: see
``wire``) with the guideline's JSON schema (logprobs requested) -> the
raw response committed to the call log -> parsed and validated; a schema violation or an
out-of-set label is re-asked through instructor with the validation error; after the last
attempt the item fails with its raw output kept. A raw response already committed for the
same cache key is parsed again instead of paying for a new call, so a killed run resumes.

A guideline that asks several questions is answered in one call per item: one answer
object keyed by question (``schemas``), each question with its own answer, rationale and
confidence; its signals are kept per question (``"{question}.{signal}"``), and an invalid
answer to any question is re-asked, then fails the whole item.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import openai
from pydantic import BaseModel, ValidationError

from labelloop.core.context import context_lines
from labelloop.core.positions import from_shown
from labelloop.core.types import Guideline, Item, LabelValue, Suggestion
from labelloop.label import judging, prompting, schemas, signals
from labelloop.label.fewshot import FewShotPool
from labelloop.label.injection import detect_item_injection
from labelloop.label.providers import transport
from labelloop.label.providers.base import TRANSIENT_FAULT, Example, LabelContext, cache_key
from labelloop.label.providers.transport import ItemFault, Limits
from labelloop.label.providers.wire import Reply, client_for, make_wire, provider_of
from labelloop.label.questions import lowest
from labelloop.label.redact import env_secrets, redact_item, redact_secrets

# instructor logs every failed call at ERROR: with no handler configured, Python would print
# each to stderr between the progress lines. An application that configures logging sees them.
logging.getLogger("instructor").addHandler(logging.NullHandler())

DEFAULT_CONCURRENCY = 16
#: rough answer length (label, rationale, section, confidence) for cost estimates
OUTPUT_TOKENS = 80
#: the call log's kind (and cache key suffix) of a pairwise item's reversed-order call
SWAP = "swap"


class CallLog(Protocol):
    """Where raw calls are committed (the store implements it)."""

    def log_call(self, row: dict) -> int: ...
    def save_prefix(self, digest: str, text: str) -> None: ...
    def committed_responses(self, cache_keys: list[str]) -> dict[str, str]: ...


class NoLog:
    """A call log that keeps nothing (for one-off use without a store)."""

    def log_call(self, row: dict) -> int:
        return 0

    def save_prefix(self, digest: str, text: str) -> None:
        return None

    def committed_responses(self, cache_keys: list[str]) -> dict[str, str]:
        return {}


@dataclass
class Job:
    """One item, ready to send."""

    item: Item
    examples: tuple[Example, ...]
    prompt: prompting.RenderedPrompt
    key: str
    injection: Any = None
    #: a judged item's second showing: the replies in reverse order (``judging.orders``)
    swapped: prompting.RenderedPrompt | None = None
    #: simulated annotators: the item with few-shot examples of one reviewer each
    annotators: tuple[prompting.RenderedPrompt, ...] = ()
    #: what its calls cost so far
    cost: float = 0.0


@dataclass
class Spend:
    """Money and outcomes so far in this run."""

    cost_usd: float = 0.0
    calls: int = 0
    errors: int = 0
    stopped_at_budget: bool = False
    costs: list[float] = field(default_factory=list)
    in_flight: int = 0
    #: the price of one call estimated from the prompt, until answers tell the real one
    estimate: float = 0.0
    #: calls one item makes (2 for a pairwise item: one per order)
    calls_per_item: int = 1

    def expected_next(self) -> float:
        """What the next item is expected to cost: its calls at the dearest recent price."""
        recent = self.costs[-50:]
        return (max(recent) if recent else self.estimate) * self.calls_per_item


class LLMProvider:
    """Labels through any litellm model (OpenAI, Anthropic, Azure, Ollama, vLLM, ...)."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        concurrency: int | None = None,
        max_cost: float | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
        temperature: float = 0.0,
        timeout: float = 60.0,
        attempts: int = 6,
        reasks: int = 2,
        k_shot: int = 8,
        logprobs: bool = True,
        redact: bool = False,
        self_consistency: int = 0,
        consistency_band: tuple[float, float] = (0.0, 0.9),
        simulated_annotators: int = 0,
        retry_wait: float = 1.0,
        rate_window: float = 60.0,
        client: str = "auto",
        prompt_template: str | None = None,
        **_ignored: Any,
    ):
        self.model = model
        self.api_base = api_base
        self.provider = provider_of(model, api_base)  # refuses a name litellm cannot place
        self.client = client_for(model, client)  # "openai" or "litellm"
        self.concurrency = concurrency or DEFAULT_CONCURRENCY
        self.max_cost = max_cost
        self.limits = Limits(rpm=rpm, tpm=tpm)
        #: the sliding window rate limits are counted over when workers share them
        self.rate_window = rate_window
        #: a budget shared with other workers (``labelloop.label.crew``): reserve/settle
        self.shared_budget: Any = None
        self.temperature, self.timeout = temperature, timeout
        self.attempts, self.reasks, self.k_shot = attempts, reasks, k_shot
        self.logprobs, self.redact = logprobs, redact
        self.self_consistency, self.band = self_consistency, consistency_band
        self.annotators = simulated_annotators
        self.retry_wait = retry_wait
        #: a template file other than the shipped one (``--prompt-version``)
        self.template = Path(prompt_template) if prompt_template else None
        #: few-shot examples fixed per item id: a batch's answers are parsed under the
        #: prompts they were asked with, whatever was reviewed since
        self.pinned: dict[str, tuple[Example, ...]] = {}
        self.spend = Spend()
        self.run_id = uuid.uuid4().hex[:12]

    # --- the Provider protocol -----------------------------------------------------------

    def version(self, ctx: LabelContext) -> str:
        return prompting.prompt_version(ctx.guideline, self.template)

    def label(self, items: Sequence[Item], ctx: LabelContext) -> list[Suggestion]:
        """Label synchronously, keeping nothing (the store path uses ``stream``)."""

        async def collect() -> list[Suggestion]:
            got = {s.item_id: s async for s in self.stream(items, ctx, NoLog())}
            return [got[i.id] for i in items if i.id in got]

        return asyncio.run(collect())

    def params(self) -> dict[str, Any]:
        """What changes an answer besides the prompt: part of the cache key."""
        out = {"temperature": self.temperature, "k": self.k_shot, "redact": self.redact}
        if self.annotators:
            out["annotators"] = self.annotators
        return out

    def preview(self, items: Sequence[Item], ctx: LabelContext, sample: int = 20) -> str:
        """One full rendered prompt and the run's estimated tokens and cost; no call made."""
        litellm = transport.load_litellm()
        step = max(1, len(items) // sample)
        jobs = self.plan(list(items)[::step][:sample], ctx)
        counts = [
            litellm.token_counter(model=self.model, messages=list(j.prompt.messages)) for j in jobs
        ]
        mean_in = sum(counts) / len(counts)
        static = litellm.token_counter(model=self.model, messages=[jobs[0].prompt.messages[0]])
        shown = "\n\n".join(f"--- {m['role']} ---\n{m['content']}" for m in jobs[0].prompt.messages)
        per = judging.calls_per_item(ctx.guideline, self.annotators)
        try:
            cin, cout = litellm.cost_per_token(
                model=self.model,
                prompt_tokens=int(mean_in),
                completion_tokens=output_tokens(ctx.guideline),
            )
            each = (cin + cout) * per
            cost = f"about ${each * len(items):.2f} (${each:.5f} per item)"
        except Exception:
            cost = f"unknown: litellm has no price for {self.model!r}"
        why = "both reply orders" + (
            f", and {self.annotators} simulated annotators" if self.annotators else ""
        )
        calls = f" {per} calls per item ({why}): {per * len(items)} calls." if per > 1 else ""
        return (
            f"{shown}\n\n--- estimate ---\nWould label {len(items)} items with {self.model} "
            f"(prompt {jobs[0].prompt.version}).{calls} Prompt tokens per call: {mean_in:.0f} on a "
            f"sample of {len(jobs)}, of which {static} are the static prefix that providers "
            f"can cache; about {output_tokens(ctx.guideline)} output tokens. Cost: {cost}. "
            "Nothing was sent or spent."
        )

    # --- planning --------------------------------------------------------------------------

    def plan(self, items: Sequence[Item], ctx: LabelContext) -> list[Job]:
        """Few-shot examples, prompt and cache key for every item, in one batch."""
        return Planner(self, ctx).jobs(items)

    # --- running ---------------------------------------------------------------------------

    async def stream(
        self, items: Sequence[Item], ctx: LabelContext, log: CallLog
    ) -> AsyncIterator[Suggestion]:
        """Suggestions as they finish; stops scheduling new calls at ``max_cost``."""
        transport.check_credentials(self.model, self.api_base)
        if not items:
            return
        with _gc_for_run() as freeze_more:
            feed = _Feed(Planner(self, ctx), items, log, first=self.concurrency)
            first = await feed.peek()
            if first is None:  # every item went to other workers
                return
            self._save_prefix(first.prompt, log)
            self.spend.calls_per_item = judging.calls_per_item(ctx.guideline, self.annotators)
            if self.max_cost is not None:
                self.spend.estimate = self.estimate_cost(first.prompt, ctx.guideline)
            results: asyncio.Queue = asyncio.Queue()
            wire = make_wire(self.model, self.api_base, self.timeout, self.client)
            runner = _Runner(self, ctx.guideline, log, feed.reused, wire)
            freeze_more()  # the guideline, pool and static prefix live as long as the run
            workers = [
                asyncio.create_task(runner.work(feed, results))
                for _ in range(min(self.concurrency, len(items)))
            ]
            finished = 0
            try:
                while finished < len(workers):
                    got = await results.get()
                    if got is None:
                        finished += 1
                    elif isinstance(got, BaseException):
                        raise got
                    else:
                        yield got
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                await wire.aclose()

    def _save_prefix(self, prompt: prompting.RenderedPrompt, log: CallLog) -> None:
        text = prompt.messages[0]["content"]
        log.save_prefix(prefix_hash(text), text)

    def estimate_cost(
        self, prompt: prompting.RenderedPrompt, guideline: Guideline | None = None
    ) -> float:
        """The price of one call with this prompt; 0 when litellm knows no price."""
        litellm = transport.load_litellm()
        try:
            tokens = litellm.token_counter(model=self.model, messages=list(prompt.messages))
            cin, cout = litellm.cost_per_token(
                model=self.model, prompt_tokens=tokens, completion_tokens=output_tokens(guideline)
            )
        except Exception:  # unknown model (local server): the answers' costs will tell
            return 0.0
        return cin + cout

    def budget_left(self) -> bool:
        if self.max_cost is None:
            return True
        # the calls in flight will be billed too: reserve what each is expected to cost
        reserved = (self.spend.in_flight + 1) * self.spend.expected_next()
        if self.spend.cost_usd + reserved > self.max_cost:
            self.spend.stopped_at_budget = True
            return False
        return True

    def reserve(self) -> float | None:
        """Room in the budget for one more item: what is reserved for it (0 without a
        shared budget), or None when the budget is spent (the run stops)."""
        if not self.budget_left():
            return None
        if self.shared_budget is None:
            return 0.0
        amount = self.spend.expected_next()
        if not self.shared_budget.reserve(amount):
            self.spend.stopped_at_budget = True
            return None
        return amount

    def settle(self, reserved: float | None, cost: float) -> None:
        if self.shared_budget is not None and reserved is not None:
            self.shared_budget.settle(reserved, cost)


#: objects allocated between two young-generation collections while calls run
GC_YOUNG_THRESHOLD = 50_000


class _GcForRuns:
    """Garbage collection settings while runs are streaming, restored when the last ends.

    What is alive when a run starts (litellm's price map and modules, the guideline: ~400k
    objects), and then its planned prompts (``freeze_more``), are frozen, out of the
    collector's passes: otherwise each full pass walks them all, 0.2-0.5 s that block the
    event loop while answers queue. And the young generation is collected every 50,000
    allocations rather than 700: a call allocates ~1,500 containers, and every young pass
    walked the requests and responses of all the calls in flight. Together they cost a few
    ms of CPU per call. Reference counting frees everything as before; only cyclic garbage
    waits a little longer. Runs may overlap (threads): the first one in changes the settings,
    the last one out restores them; an application that froze its heap itself keeps that.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.threshold: tuple[int, ...] = gc.get_threshold()
        self.froze = False

    @contextmanager
    def __call__(self) -> Iterator[Callable[[], None]]:
        with self.lock:
            if self.active == 0:
                self.threshold = gc.get_threshold()
                self.froze = not gc.get_freeze_count()
                gc.set_threshold(max(self.threshold[0], GC_YOUNG_THRESHOLD), *self.threshold[1:])
            self.active += 1
        self.freeze_more()
        try:
            yield self.freeze_more
        finally:
            with self.lock:
                self.active -= 1
                if self.active == 0:
                    if self.froze:
                        gc.unfreeze()
                    gc.set_threshold(*self.threshold)

    def freeze_more(self) -> None:
        with self.lock:
            if self.froze and self.active:
                gc.freeze()


_gc_for_run = _GcForRuns()


def output_tokens(guideline: Guideline | None) -> int:
    """The output tokens one answer is priced at: one answer's worth per question."""
    return OUTPUT_TOKENS * max(1, len(guideline.questions) if guideline is not None else 1)


@lru_cache(maxsize=8)  # the same prefix string on every call of a run: hash 37 kB once
def prefix_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Planner:
    """Few-shot examples, prompt and cache key per item, for one run's context.

    The example pool is embedded once, and each example's messages are rendered once, however
    many batches of items are planned."""

    def __init__(self, provider: LLMProvider, ctx: LabelContext):
        self.p = provider
        self.ctx = ctx
        self.labels = ctx.guideline.all_label_names
        usable = prompting.complete_examples(ctx.examples, ctx.guideline)
        with _one_blas_thread():
            self.pool = FewShotPool(usable, excluded_ids=set(ctx.excluded_ids))
            groups = judging.by_reviewer(ctx.examples, provider.annotators)
            self.reviewer_pools = [
                FewShotPool(group, excluded_ids=set(ctx.excluded_ids))
                for group in (groups if ctx.guideline.judges else [])
            ]
        self.memo: dict = {}

    def jobs(self, items: Sequence[Item]) -> list[Job]:
        p, ctx = self.p, self.ctx
        shots = None
        if ctx.examples and p.k_shot:
            with _one_blas_thread():
                shots = self.pool.select_many(items, p.k_shot)
        per_reviewer = []
        if self.reviewer_pools:
            with _one_blas_thread():
                per_reviewer = [pool.select_many(items, p.k_shot) for pool in self.reviewer_pools]
        out = []
        for n, item in enumerate(items):
            examples = tuple(shots[n]) if shots is not None else ()
            examples = p.pinned.get(item.id, examples)
            shown = redact_item(item, ctx.guideline.context) if p.redact else item
            prompt = prompting.render(
                ctx.guideline, shown, examples, memo=self.memo, template=p.template
            )
            params = {**p.params(), "fewshot": [e.item.id for e in examples]}
            if ctx.guideline.context:  # the prompt shows it: the same text in another context
                params["context"] = context_lines(item, ctx.guideline.context)
            key = cache_key(p.model, prompt.version, ctx.guideline.version, item, params)
            flag = detect_item_injection(item, self.labels, ctx.guideline.context)
            swapped = None
            if ctx.guideline.judges_any:
                swapped = prompting.render(
                    ctx.guideline,
                    shown,
                    examples,
                    memo=self.memo,
                    template=p.template,
                    order=judging.orders(item)[1],
                )
            annotators = tuple(
                prompting.render(
                    ctx.guideline, shown, shots[n], memo=self.memo, template=p.template
                )
                for shots in per_reviewer
            )
            out.append(
                Job(
                    item=item,
                    examples=examples,
                    prompt=prompt,
                    key=key,
                    injection=flag,
                    swapped=swapped,
                    annotators=annotators,
                )
            )
        return out


def _one_blas_thread():
    """BLAS on the calling thread only, for the planner's small matrix products: OpenBLAS
    would wake its worker threads for each, and they spin on a core after every product
    (0.5 ms of CPU per item at 64 calls in flight, taken from the event loop's core)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


#: items planned at a time once the first calls are out
PLAN_CHUNK = 256


class _Feed:
    """A run's jobs, planned a chunk at a time as the workers take them.

    The first chunk is one job per worker, so the first calls leave as soon as those few
    are planned, not after the whole run; later chunks are planned when the ready ones run
    out, and memory holds a chunk of prompts, not the run's. Each chunk also looks up the
    answers (and re-ask and self-consistency answers) already committed for its keys: a
    resumed run pays for none of them.

    ``items`` is a sequence, or a source that hands out items as they are claimed
    (``labelloop.label.crew.Claims``: ``next_chunk(n)`` gives a list, [] when the items
    left are held by other workers for now, None when none are left)."""

    def __init__(self, planner: Planner, items, log: CallLog, first: int):
        self.planner, self.log = planner, log
        if not hasattr(items, "next_chunk"):
            items = _Listed(items if isinstance(items, list | tuple) else list(items))
        self.source = items
        self.size = max(1, first)
        self.ready: deque[Job] = deque()
        self.reused: dict[str, str] = {}
        self.finished = False
        self._filling: asyncio.Lock | None = None

    async def peek(self) -> Job | None:
        await self._fill()
        return self.ready[0] if self.ready else None

    async def take(self) -> Job | None:
        """The next job, or None when there is none left."""
        await self._fill()
        return self.ready.popleft() if self.ready else None

    async def _fill(self) -> None:
        if self._filling is None:
            self._filling = asyncio.Lock()
        async with self._filling:
            while not self.ready and not self.finished:
                if isinstance(self.source, _Listed):
                    chunk = self.source.next_chunk(self.size)
                else:  # claims go through the store: off the event loop
                    chunk = await asyncio.to_thread(self.source.next_chunk, self.size)
                if chunk is None:
                    self.finished = True
                elif not chunk:  # held by other workers for now: look again later
                    await asyncio.sleep(self.source.wait)
                elif not self.ready and self.size < PLAN_CHUNK:
                    self.size = PLAN_CHUNK
                    self._plan(chunk)  # the first calls: out as soon as they are planned
                else:
                    # later chunks are planned on a thread: the calls in flight are sent
                    # and answered meanwhile, not held up behind the planning
                    await asyncio.to_thread(self._plan, chunk)

    def _plan(self, chunk: Sequence[Item]) -> None:
        jobs = self.planner.jobs(chunk)
        keys = [j.key for j in jobs]
        p = self.planner.p
        kinds = [reask_kind(n) for n in range(1, p.reasks + 1)]
        kinds += [f"sample{n}" for n in range(p.self_consistency)]
        if self.planner.ctx.guideline.judges_any:
            kinds.append(SWAP)
        if self.planner.ctx.guideline.judges:
            kinds += [annotator_kind(n) for n in range(p.annotators)]
        extra = [f"{k}:{kind}" for k in keys for kind in kinds]
        self.reused.update(self.log.committed_responses(keys + extra))
        self.ready.extend(jobs)


class _Listed:
    """A list of items as a feed's source."""

    wait = 0.0

    def __init__(self, items: Sequence[Item]):
        self.items, self.done = items, 0

    def __len__(self) -> int:
        return len(self.items)

    def next_chunk(self, size: int) -> list[Item] | None:
        if self.done >= len(self.items):
            return None
        chunk = list(self.items[self.done : self.done + size])
        self.done += len(chunk)
        return chunk


class _Runner:
    """Works through the jobs: call, log, parse, re-ask, build suggestions."""

    def __init__(
        self, provider: LLMProvider, guideline: Guideline, log: CallLog, reused: dict, wire
    ):
        self.p = provider
        self.wire = wire
        self.guideline = guideline
        self.log = log
        self.reused = reused
        self.out_model = schemas.output_model(guideline)
        self.response_format = schemas.response_format(guideline)
        self.semaphore = asyncio.Semaphore(provider.concurrency)
        # once per run, not once per call: the credentials to redact, and the JSON schema
        # (77 labels) as logged, already redacted
        self.secrets = env_secrets()
        self.redact_message = message_redactor(self.secrets)
        self.static = {
            "response_format": (
                self.response_format,
                redact_secrets(self.response_format, self.secrets),
            )
        }

    async def work(self, feed: _Feed, results: asyncio.Queue) -> None:
        try:
            while True:
                job = await feed.take()
                if job is None:
                    break
                # an answer already paid for (a killed run's, a collected batch's) costs
                # nothing more to read
                reserved = 0.0 if job.key in self.reused else self.p.reserve()
                if reserved is None:  # the budget is spent: the item is left for later
                    break
                self.p.spend.in_flight += 1
                try:
                    done = await self.one(job)
                finally:
                    self.p.spend.in_flight -= 1
                    self.p.settle(reserved, job.cost)
                await results.put(done)
        except Exception as exc:  # a run abort: hand it to the consumer
            await results.put(exc)
        finally:
            await results.put(None)

    async def one(self, job: Job) -> Suggestion:
        raw = self.reused.get(job.key)
        try:
            if raw is None:
                reply = await self.call(job, job.prompt.messages, kind="label")
                raw = reply.raw  # as committed to the call log
                return await self.finish(job, raw, reply.data())  # parsed once, for usage
            return await self.finish(job, raw)
        except ItemFault as fault:
            self.p.spend.errors += 1
            return self.failed(job, str(fault), raw, transient=fault.transient)

    async def call(self, job: Job, messages, kind: str, temperature: float | None = None) -> Reply:
        """One logical call with transport retries; every attempt goes to the call log, and
        the reply's ``raw`` is the response exactly as committed there."""
        request = self.request(messages, temperature)
        tokens = sum(len(str(m.get("content", ""))) for m in messages) // 4

        async def send() -> Reply:
            await self.p.limits.acquire(tokens)
            return await self.wire.send(request)

        def record(attempt: transport.Attempt) -> None:
            self.record(job, request, attempt, kind)

        try:
            reply = await transport.call_with_retries(
                send, attempts=self.p.attempts, on_attempt=record, initial_wait=self.p.retry_wait
            )
        except Exception as exc:
            raise transport.classify(exc, self.p.model) from exc
        return reply

    def request(
        self, messages, temperature: float | None = None, schema: bool = True
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if schema:
            params["response_format"] = self.response_format
        params["temperature"] = self.p.temperature if temperature is None else temperature
        params["timeout"] = self.p.timeout
        if self.p.logprobs:
            params.update(logprobs=True, top_logprobs=20)
        return self.wire.request(messages, **params)

    def record(self, job: Job, request: dict, attempt: transport.Attempt, kind: str) -> None:
        """Commit the raw response (or the error) before anything parses it."""
        reply = attempt.response
        if reply is not None and not isinstance(reply, Reply):  # instructor's parsed answer
            reply = self.wire.reply_of(reply)
        usage = reply.usage if reply is not None else {}
        cost = reply.cost if reply is not None else 0.0
        self.p.spend.cost_usd += cost
        self.p.spend.calls += 1
        job.cost += cost
        if reply is not None:
            self.p.spend.costs.append(cost)
        raw = reply.raw if reply is not None else None
        self.log.log_call(
            {
                "model": self.p.model,
                "cache_key": job.key if kind == "label" else f"{job.key}:{kind}",
                "item_id": job.item.id,
                "request": logged_request(
                    request,
                    kind,
                    secrets=self.secrets,
                    static=self.static,
                    redact_message=self.redact_message,
                ),
                "response": raw,
                "status": "ok" if attempt.error is None else "error",
                "error": redact_secrets(transport.short(attempt.error), self.secrets)
                if attempt.error
                else None,
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
                "cost_usd": cost,
                "latency_ms": attempt.latency_ms,
                "attempt": attempt.number,
                "run_id": self.p.run_id,
            }
        )

    async def finish(self, job: Job, raw: str, data: dict | None = None) -> Suggestion:
        """Parse a committed raw response (``data``: already parsed); re-ask on a validation
        error."""
        data = json.loads(raw) if data is None else data
        content, tokens = _content_and_logprobs(data)
        try:
            out = self.validate(job, content)
        except (ValidationError, ValueError) as exc:
            out, content, tokens = await self.reask(job, content, exc)
            if out is None:
                self.p.spend.errors += 1
                return self.failed(
                    job, f"invalid answer after re-asking: {_first_error(exc)}", content
                )
        return await self.suggestion(job, out, content, tokens)

    def validate(self, job: Job, content: str | None) -> BaseModel:
        if not content:
            raise ValueError("the model returned no content")
        return self.out_model.model_validate_json(content, context=self.context(job))

    def context(self, job: Job) -> dict[str, Any]:
        return schemas.validation_context(job.item, self.guideline)

    def resumed_reask(self, job: Job) -> tuple[int, str | None, list | None]:
        """The last re-ask answer an earlier (killed) run committed: how many re-ask calls
        it had made, and that answer's content and logprobs; (0, None, None) if none."""
        for n in range(self.p.reasks, 0, -1):
            raw = self.reused.get(f"{job.key}:{reask_kind(n)}")
            if raw is not None:
                return n, *_content_and_logprobs(json.loads(raw))
        return 0, None, None

    async def reask(self, job: Job, content: str | None, exc: Exception):
        """Re-ask through instructor with the validation error; None when it still fails.

        Each call instructor makes goes through the same retry policy as the first call
        (429s after their Retry-After, 5xx, timeouts): a fault that outlasts it fails the
        item with that fault as its reason (``ItemFault``), not with the validation error.
        """
        done, answer, tokens = self.resumed_reask(job)
        if done:  # a killed run's re-ask goes on from its last answer, never starts over
            try:
                return self.validate(job, answer), answer, tokens
            except (ValidationError, ValueError) as err:
                content, exc = answer, err
        if self.p.reasks - done <= 0:
            return None, content, None
        messages = [
            *job.prompt.messages,
            {"role": "assistant", "content": content or ""},
            {"role": "user", "content": schemas.reask_message(exc)},
        ]
        tries = _Tries(asked=done)
        client = self.wire.reasker(lambda create: self._retrying(job, create, tries))
        request = self.request(messages, schema=False)  # instructor sets the schema
        try:
            # bind_context, not context=: instructor renders every message through Jinja
            # when given a context, which would rewrite items containing "{{" or "{%"
            with schemas.bind_context(job.item, self.guideline):
                out, completion = await client.create_with_completion(
                    response_model=self.out_model, max_retries=self.p.reasks - done - 1, **request
                )
        except Exception as err:  # instructor's retry exception keeps the last completion
            fault = transport.provider_fault(err)
            if fault is not None:
                raise _reask_fault(transport.classify(fault, self.p.model)) from fault
            if not tries.done:  # it failed before any call ended: log why
                attempt = transport.Attempt(1, time.perf_counter(), None, err)
                self.record(job, request, attempt, reask_kind(done + 1))
            final = tries.answers[-1] if tries.answers else None
            text = _content_and_logprobs(final.model_dump())[0] if final is not None else content
            return None, text, None
        text, tokens = _content_and_logprobs(completion.model_dump())
        return out, text, tokens

    def _retrying(self, job: Job, create: Callable, tries: _Tries) -> Callable:
        """``create`` (the client's completion call, as instructor makes it) with the
        transport's retries and rate limits; every attempt logged, and billed, as it ends."""

        async def create_with_retries(*args: Any, **request: Any) -> Any:
            tokens = sum(len(str(m.get("content", ""))) for m in request["messages"]) // 4
            tries.asked += 1
            kind = reask_kind(tries.asked)  # each re-ask's answer has a key of its own

            async def send() -> Any:
                await self.p.limits.acquire(tokens)
                return await create(*args, **request)

            def ended(attempt: transport.Attempt) -> None:
                tries.done += 1  # numbered over the whole re-ask, as the call log shows it
                self.record(job, request, replace(attempt, number=tries.done), kind)
                if attempt.response is not None:
                    tries.answers.append(attempt.response)

            try:
                return await transport.call_with_retries(
                    send, attempts=self.p.attempts, on_attempt=ended, initial_wait=self.p.retry_wait
                )
            except openai.APIError as exc:  # past instructor's error log without the key
                raise transport.ProviderFault(exc) from None

        return create_with_retries

    async def suggestion(self, job: Job, out: BaseModel, content: str, tokens) -> Suggestion:
        value = schemas.to_value(out, self.guideline)
        if self.guideline.asks_questions:
            return await self.questions_suggestion(job, out, value, content, tokens)
        if job.swapped is not None:  # judging: positions, judged again in the other order
            choices = schemas.label_choices(self.guideline)
            sig = signals.value_signals(tokens, value, choices)
            sig["verbalized"] = _verbalized(out)
            mine = from_shown(value, judging.orders(job.item)[0])
            other, other_sig = await self.swapped(job, choices)
            space = judging.answer_space(
                self.guideline.kind, len(job.item.replies or ()), len(choices)
            )
            value, sig = judging.combine(mine, sig, other, other_sig, space)
            if job.annotators:
                sig[judging.SIMULATED] = await self.simulated(job, value)
        else:
            sig = signals.value_signals(tokens, value, self.guideline.label_names)
            sig["verbalized"] = _verbalized(out)
        if job.injection is not None:
            sig["injection"] = job.injection.score
        if self.p.self_consistency and job.swapped is None and _in_band(sig, self.p.band):
            sig["self_consistency"] = await self.consistency(job, value)
        conf = _best(sig)
        return Suggestion(
            item_id=job.item.id,
            model=self.p.model,
            value=value,
            confidence=conf,
            rationale=_rationale(out, job),
            signals=sig,
            prompt_version=job.prompt.version,
            guideline_version=self.guideline.version,
            fewshot_ids=tuple(e.item.id for e in job.examples),
            cache_key=job.key,
            raw=content,
            cost_usd=0.0,
        )

    async def questions_suggestion(
        self, job: Job, out: BaseModel, value: LabelValue, content: str, tokens
    ) -> Suggestion:
        """The suggestion of an answer to several questions: each question's signals under
        its name, its confidence chosen as for one question; the item's own signals and
        confidence are the lowest over its questions (it is as sure as its least sure
        answer), and its rationale names each question's."""
        own = schemas.question_guidelines(self.guideline)
        parts = schemas.question_answers(out)
        answers = dict(value.answers or {})
        judged = [q for q, g in own.items() if g.judges]
        other = await self.swapped_out(job) if judged and job.swapped is not None else None
        sig: dict[str, float | None] = {}
        per: list[dict[str, float | None]] = []
        confidences: list[float | None] = []
        for q, g in own.items():
            choices = schemas.label_choices(g) if g.judges else g.label_names
            got = signals.question_signals(tokens, q, answers[q], choices)
            got["verbalized"] = _verbalized(parts[q])
            if g.judges:  # positions as shown, judged again in the other order
                answers[q], got = self.judged_answer(job, q, g, answers[q], got, other)
            conf = _best(got)
            sig.update({f"{q}.{k}": v for k, v in got.items()})
            sig[f"{q}.confidence"] = conf
            per.append(got)
            confidences.append(conf)
        sig.update(lowest(per))
        if job.injection is not None:
            sig["injection"] = job.injection.score
        if self.p.self_consistency and _in_band(sig, self.p.band):
            sig["self_consistency"] = await self.consistency(job, value)
        rationale = "; ".join(f"{q}: {getattr(parts[q], 'rationale', '')}" for q in own)
        if job.injection is not None:
            rationale += f" [flagged: possible prompt injection ({job.injection.rule})]"
        value = LabelValue(answers=answers)
        return Suggestion(
            item_id=job.item.id,
            model=self.p.model,
            value=value,
            confidence=None if None in confidences else min(confidences),
            rationale=rationale,
            signals=sig,
            prompt_version=job.prompt.version,
            guideline_version=self.guideline.version,
            fewshot_ids=tuple(e.item.id for e in job.examples),
            cache_key=job.key,
            raw=content,
            cost_usd=0.0,
        )

    def judged_answer(self, job: Job, q: str, g: Guideline, mine, sig, other):
        """A judging question's answer as a reply id, from the item's own order and, where
        the reversed showing answered, that one too (``labelloop.label.judging.combine``)."""
        orders = judging.orders(job.item)
        choices = schemas.label_choices(g)
        theirs = their_sig = None
        if other is not None:
            out, tokens = other
            shown = (schemas.to_value(out, self.guideline).answers or {}).get(q)
            if shown is not None:
                their_sig = signals.question_signals(tokens, q, shown, choices)
                their_sig["verbalized"] = _verbalized(schemas.question_answers(out)[q])
                theirs = from_shown(shown, orders[1])
        space = judging.answer_space(g.kind, len(job.item.replies or ()), len(choices))
        return judging.combine(from_shown(mine, orders[0]), sig, theirs, their_sig, space)

    async def swapped_out(self, job: Job) -> tuple[BaseModel, Any] | None:
        """The answer (and its tokens) of the item shown with its replies in reverse order;
        None when that call fails or its answer is invalid (the first order stands)."""
        try:
            raw = self.reused.get(f"{job.key}:{SWAP}")
            if raw is None:
                data = (await self.call(job, job.swapped.messages, kind=SWAP)).data()
            else:
                data = json.loads(raw)
            content, tokens = _content_and_logprobs(data)
            return self.validate(job, content), tokens
        except (ItemFault, ValidationError, ValueError):
            return None

    async def swapped(self, job: Job, choices) -> tuple[LabelValue | None, dict | None]:
        """The verdict (as a reply id) and signals of the item shown in reverse order; None
        when that call fails or its answer is invalid (no re-ask: the first order stands)."""
        got = await self.swapped_out(job)
        if got is None:
            return None, None
        out, tokens = got
        value = schemas.to_value(out, self.guideline)
        sig = signals.value_signals(tokens, value, choices)
        sig["verbalized"] = _verbalized(out)
        return from_shown(value, judging.orders(job.item)[1]), sig

    async def simulated(self, job: Job, verdict: LabelValue) -> float | None:
        """Share of the simulated annotators (one reviewer's examples each) whose answer,
        in the item's own order, is the verdict; None when none answered."""
        agree = answered = 0
        for n, prompt in enumerate(job.annotators):
            kind = annotator_kind(n)
            try:
                raw = self.reused.get(f"{job.key}:{kind}")
                if raw is None:
                    data = (await self.call(job, prompt.messages, kind=kind)).data()
                else:
                    data = json.loads(raw)
                out = self.validate(job, _content_and_logprobs(data)[0])
            except (ItemFault, ValidationError, ValueError):
                continue
            value = schemas.to_value(out, self.guideline)
            answered += 1
            agree += from_shown(value, job.item.reply_ids).key() == verdict.key()
        return agree / answered if answered else None

    async def consistency(self, job: Job, value: LabelValue) -> float | None:
        """Share of k samples at temperature 1 that agree with the answer (a sample that a
        killed run had committed is read again, not paid for again)."""
        agree = n = 0
        for k in range(self.p.self_consistency):
            kind = f"sample{k}"
            try:
                raw = self.reused.get(f"{job.key}:{kind}")
                if raw is None:
                    reply = await self.call(job, job.prompt.messages, kind=kind, temperature=1.0)
                    data = reply.data()
                else:
                    data = json.loads(raw)
                out = self.validate(job, _content_and_logprobs(data)[0])
            except (ItemFault, ValidationError, ValueError):
                continue
            n += 1
            agree += schemas.to_value(out, self.guideline).key() == value.key()
        return agree / n if n else None

    def failed(self, job: Job, reason: str, raw: str | None, transient: bool = False) -> Suggestion:
        """A failed suggestion; a ``transient`` one (the provider's fault outlasted the
        retries) is labeled again by the next run."""
        sig: dict[str, float | None] = {"injection": job.injection.score} if job.injection else {}
        if transient:
            sig[TRANSIENT_FAULT] = 1.0
        return Suggestion(
            item_id=job.item.id,
            model=self.p.model,
            value=None,
            status="failed",
            error=reason,
            raw=raw,
            prompt_version=job.prompt.version,
            guideline_version=self.guideline.version,
            fewshot_ids=tuple(e.item.id for e in job.examples),
            cache_key=job.key,
            signals=sig,
        )


@dataclass
class _Tries:
    """The calls of one instructor re-ask: how many were asked (a resumed re-ask counts
    the killed run's), how many attempts ended, and the answers."""

    asked: int = 0
    done: int = 0
    answers: list = field(default_factory=list)


def annotator_kind(n: int) -> str:
    """The call log's kind (and cache key suffix) of the n-th simulated annotator's call."""
    return f"annotator{n}"


def reask_kind(n: int) -> str:
    """The call log's kind (and cache key suffix) of a re-ask's n-th call."""
    return "reask" if n == 1 else f"reask{n}"


def _reask_fault(fault: BaseException) -> BaseException:
    """A provider fault during a re-ask: a run abort as it is, an item's fault saying when."""
    if isinstance(fault, ItemFault):
        return ItemFault(f"re-asking after an invalid answer: {fault}", fault.transient)
    return fault


def logged_request(
    request: dict,
    kind: str,
    *,
    secrets: tuple[str, ...] | None = None,
    static: dict[str, tuple[Any, Any]] | None = None,
    redact_message: Callable[[dict], dict] | None = None,
) -> dict:
    """The request as logged: secrets removed, the static prefix by reference.

    ``secrets``: the credential values to remove (default: read from the environment now).
    ``static``: key -> (value, that value already redacted), reused when the request holds
    that very object (the run's JSON schema), instead of scrubbing it again on every call.
    ``redact_message``: redacts one message (see ``message_redactor``).
    """
    messages = list(request["messages"])
    first = messages[0]
    if first.get("role") == "system":
        messages[0] = {"role": "system", "prefix": prefix_hash(first["content"])}
    params = {k: v for k, v in request.items() if k not in ("messages", "api_key")}
    done = {k: pair[1] for k, pair in (static or {}).items() if params.get(k) is pair[0]}
    params.update(dict.fromkeys(done))  # placeholders: keep the keys' order
    secrets = env_secrets() if secrets is None else secrets
    if redact_message is None:
        logged = redact_secrets({"kind": kind, "messages": messages, **params}, secrets)
    else:
        logged = redact_secrets({"kind": kind, "messages": [], **params}, secrets)
        logged["messages"] = [redact_message(m) for m in messages]
    logged.update(done)
    return logged


def message_redactor(secrets: tuple[str, ...]) -> Callable[[dict], dict]:
    """``redact_secrets`` for one chat message, remembering plain ``{role, content}`` ones:
    the few-shot examples recur in most prompts of a run."""

    @lru_cache(maxsize=4096)
    def plain(role: str, content: str) -> dict:
        return redact_secrets({"role": role, "content": content}, secrets)

    def redact(message: dict) -> dict:
        role, content = message.get("role"), message.get("content")
        if len(message) == 2 and isinstance(role, str) and isinstance(content, str):
            return dict(plain(role, content))
        return redact_secrets(message, secrets)

    return redact


def _content_and_logprobs(data: dict) -> tuple[str | None, list | None]:
    choice = (data.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = message.get("content")
    if content is None and message.get("tool_calls"):
        content = message["tool_calls"][0]["function"]["arguments"]
    logprobs = choice.get("logprobs") or {}
    return content, logprobs.get("content") if isinstance(logprobs, dict) else None


def _verbalized(out: BaseModel) -> float | None:
    conf = getattr(out, "confidence", None)
    return None if conf is None else max(0.0, min(1.0, float(conf) / 100.0))


def _best(sig: dict) -> float | None:
    """The confidence a suggestion takes from its signals: the first there is of the
    renormalised logprob, the logprob, the verbalized confidence."""
    return next(
        (
            sig[k]
            for k in ("logprob_renorm", "logprob_prob", "verbalized")
            if sig.get(k) is not None
        ),
        None,
    )


def _in_band(sig: dict, band: tuple[float, float]) -> bool:
    conf = sig.get("logprob_renorm") or sig.get("logprob_prob") or sig.get("verbalized")
    return conf is not None and band[0] <= conf < band[1]


def _rationale(out: BaseModel, job: Job) -> str:
    text = getattr(out, "rationale", "") or ""
    section = getattr(out, "guideline_section", "") or ""
    note = f" [guideline: {section}]" if section else ""
    if job.injection is not None:
        note += f" [flagged: possible prompt injection ({job.injection.rule})]"
    return text + note


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return transport.short(exc, 200)
