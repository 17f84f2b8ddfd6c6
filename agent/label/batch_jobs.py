"""Labeling through a provider's batch API: submit, find again after a kill, collect.

``submit`` plans the items as a live run would and writes each batch's row (its items,
their cache keys and few-shot examples) before uploading anything; the batch is created
with ``{"labelloop_batch": ROW_ID}`` as metadata. ``recover`` settles rows that a killed
process left "submitting": a batch the provider lists with that metadata is recorded,
and a row with none was never submitted (its items are free again).

``collect`` commits a finished batch's answers to the call log under their cache keys
(once, whatever kills come between), then labels its answered items through the ordinary
path with the few-shot examples each was asked with: that path parses a committed answer
as a rerun does, paying nothing, and re-asks an invalid one live. Items the batch did not
answer (an error line, a failed, expired or cancelled batch) are free again: the next
``labelloop label`` (or ``label --batch``) asks them.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from labelloop.core.guideline import parse_guideline
from labelloop.core.records import BatchJob
from labelloop.core.types import Guideline, Item
from labelloop.label.labeler import label_context, label_items
from labelloop.label.providers.base import Example
from labelloop.label.providers.batch_api import BatchApiError, BatchClient, batch_client
from labelloop.label.providers.batch_files import (
    MAX_BYTES,
    MAX_LINES,
    Line,
    LineMaker,
    batch_price,
    read_results,
)
from labelloop.label.providers.llm import SWAP, Job, LLMProvider, Spend, output_tokens, reask_kind
from labelloop.store import Store
from labelloop.store.base import value_from_json

#: the provider is still at work on these (or the submission is not settled yet)
RUNNING = ("submitting", "validating", "in_progress", "finalizing", "cancelling")
#: the provider is done with these: what they answered can be collected
FINISHED = ("completed", "expired", "cancelled", "failed")


def client_for(provider: LLMProvider) -> BatchClient:
    """The batch client for the provider's model (ConfigError when it has no batch API)."""
    return batch_client(provider.model, provider.api_base, provider.client)


# --- submit ---------------------------------------------------------------------------


@dataclass
class _File:
    """One batch file being filled."""

    data: list[bytes] = field(default_factory=list)
    lines: int = 0
    size: int = 0
    items: list[dict] = field(default_factory=list)
    examples: dict[str, dict] = field(default_factory=dict)
    estimate: float = 0.0

    def fits(self, data: list[bytes]) -> bool:
        more = sum(map(len, data))
        return not self.lines or (
            self.lines + len(data) <= MAX_LINES and self.size + more <= MAX_BYTES
        )

    def add(self, job: Job, lines: list[Line], data: list[bytes], estimate: float) -> None:
        self.data += data
        self.lines += len(lines)
        self.size += sum(map(len, data))
        self.estimate += estimate
        fewshot = [e.item.id for e in job.examples]
        self.items.append({"item_id": job.item.id, "cache_key": job.key, "fewshot": fewshot})
        for e in job.examples:
            self.examples.setdefault(
                e.item.id,
                {"value": e.value.as_dict(), "reviewer": e.reviewer, "review_id": e.review_id},
            )


def submit(
    store: Store,
    guideline: Guideline,
    provider: LLMProvider,
    items: Sequence[Item],
    client: BatchClient,
    project_id: str = "",
) -> tuple[list[BatchJob], int]:
    """Submit ``items`` as batches of at most ``MAX_LINES`` lines and ``MAX_BYTES`` each;
    with the provider's ``max_cost``, only as many items as its estimate at batch prices
    allows. The batches, and how many items were left for the budget."""
    ctx = label_context(store, guideline)
    version = provider.version(ctx)
    answer_tokens = output_tokens(guideline)
    send = _Sender(store, client, provider, version, guideline.version, project_id)
    done: list[BatchJob] = []
    file = _File()
    budget, total, taken = provider.max_cost, 0.0, 0
    for job, lines in LineMaker(provider, ctx).lines(list(items)):
        estimate = sum(_estimate(provider.model, line, answer_tokens) for line in lines)
        if budget is not None and total + estimate > budget:
            break
        total += estimate
        taken += 1
        data = [line.encode() for line in lines]
        if not file.fits(data):
            done.append(send(file))
            file = _File()
        file.add(job, lines, data, estimate)
    if file.lines:
        done.append(send(file))
    return done, len(items) - taken


def _estimate(model: str, line: Line, answer_tokens: int) -> float:
    chars = sum(len(str(m.get("content") or "")) for m in line.body["messages"])
    return batch_price(model, {"prompt_tokens": chars // 4, "completion_tokens": answer_tokens})


@dataclass
class _Sender:
    store: Store
    client: BatchClient
    provider: LLMProvider
    prompt_version: str
    guideline_version: str
    project_id: str

    def __call__(self, file: _File) -> BatchJob:
        """Record the batch, upload its file, create it, record the provider's id."""
        local = uuid.uuid4().hex
        row = {
            "id": local,
            "model": self.provider.model,
            "api_base": self.provider.api_base,
            "status": "submitting",
            "prompt_version": self.prompt_version,
            "guideline_version": self.guideline_version,
            "items": len(file.items),
            "lines": file.lines,
            "examples": file.examples,
            "estimate_usd": file.estimate,
        }
        self.store.add_batch_job(row, file.items)
        metadata = {"labelloop_batch": local, "labelloop_project": self.project_id or ""}
        try:
            file_id = self.client.upload(b"".join(file.data), f"labelloop-{local}.jsonl")
            self.store.update_batch_job(local, input_file_id=file_id)
            batch = self.client.create(file_id, metadata)
        except BatchApiError as exc:
            if exc.refused:  # the provider answered no: nothing was created
                self.store.update_batch_job(local, status="abandoned", note=str(exc))
            raise
        self.store.update_batch_job(local, **provider_state(batch))
        return self.store.batch_job(local)


def provider_state(batch: dict) -> dict:
    """The row's columns from a provider's Batch object."""
    counts = batch.get("request_counts") or {}
    if not isinstance(counts, dict):
        counts = dict(counts)
    return {
        "provider_batch_id": batch.get("id"),
        "input_file_id": batch.get("input_file_id"),
        "status": batch.get("status") or "validating",
        "output_file_id": batch.get("output_file_id"),
        "error_file_id": batch.get("error_file_id"),
        "request_counts": {k: counts.get(k) or 0 for k in ("completed", "failed", "total")},
    }


# --- find again, refresh -----------------------------------------------------------------


def recover(
    store: Store, client: BatchClient, model: str, api_base: str | None = None
) -> list[str]:
    """Settle the model's rows (sent to ``api_base``) left "submitting" by a killed
    process; what became of each."""
    pending = {
        b.id: b
        for b in store.batch_jobs(model, open_only=True)
        if b.status == "submitting" and b.api_base == api_base
    }
    if not pending:
        return []
    found: dict[str, dict] = {}
    for batch in client.batches():
        local = (batch.get("metadata") or {}).get("labelloop_batch")
        if local in pending:
            found[local] = batch
            if len(found) == len(pending):
                break
    notes = []
    for local, row in pending.items():
        if local in found:
            store.update_batch_job(local, **provider_state(found[local]))
            notes.append(
                f"Batch {local} ({row.items} items) was found again at the provider by its "
                f"metadata: {found[local].get('id')}."
            )
        else:
            note = "never created at the provider (the submission was stopped): items free again"
            store.update_batch_job(local, status="abandoned", note=note)
            notes.append(f"Batch {local} ({row.items} items) was {note}.")
    return notes


def refresh(store: Store, client: BatchClient, batch: BatchJob) -> BatchJob:
    """The batch as the provider has it now (a running one is looked up)."""
    if batch.status not in RUNNING or batch.status == "submitting" or not batch.provider_batch_id:
        return batch
    store.update_batch_job(batch.id, **provider_state(client.retrieve(batch.provider_batch_id)))
    return store.batch_job(batch.id)


# --- collect ------------------------------------------------------------------------------


@dataclass
class Collected:
    """What collecting one batch did."""

    batch: BatchJob
    answered: int = 0
    #: items the batch gave no answer for (they are free again), and why
    unanswered: int = 0
    errors: Counter = field(default_factory=Counter)
    labeled: int = 0
    failed: int = 0
    reasked: int = 0
    #: live calls the parse pass made (re-asks, extra samples), and their cost
    calls: int = 0
    live_cost_usd: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)


def collect(
    store: Store, guideline: Guideline, provider: LLMProvider, client: BatchClient, batch: BatchJob
) -> Collected:
    """Commit a finished batch's answers (once) and label its answered items."""
    rows = store.batch_job_items(batch.id)
    pinned = pinned_examples(store, batch, rows)
    p = copy.copy(provider)
    p.spend, p.pinned = Spend(), pinned
    p.api_base = batch.api_base or provider.api_base  # re-asks go where the batch went
    asked = _guideline_of(store, batch, guideline)
    errors: Counter = Counter()
    if batch.logged_at is None:
        errors = _log_results(store, p, asked, client, batch, rows)
    keys = {key: item for item, key, _ in rows}
    answered = set(store.committed_responses(list(keys)))
    only = {keys[k] for k in answered}
    done = Collected(batch, answered=len(only), unanswered=len(rows) - len(only), errors=errors)
    if only:
        run = label_items(store, asked, p, stale=True, only=only)
        reasks = store.committed_responses([f"{k}:{reask_kind(1)}" for k in answered])
        done.labeled, done.failed, done.reasked = run.labeled, run.failed, len(reasks)
        done.calls, done.live_cost_usd, done.failures = run.calls, run.cost_usd, run.failures
    store.update_batch_job(batch.id, collected_at=datetime.now(UTC))
    done.batch = store.batch_job(batch.id)
    return done


def pinned_examples(
    store: Store, batch: BatchJob, rows: list[tuple[str, str, list]]
) -> dict[str, tuple[Example, ...]]:
    """item -> the few-shot examples its lines showed, as they were then."""
    pool = batch.examples or {}
    items = store.get_items(list(pool))
    shown = {
        eid: Example(
            item=items[eid],
            value=value_from_json(e["value"]),
            reviewer=e.get("reviewer") or "",
            review_id=e.get("review_id"),
        )
        for eid, e in pool.items()
        if eid in items
    }
    return {item: tuple(shown[e] for e in fewshot if e in shown) for item, _, fewshot in rows}


def _guideline_of(store: Store, batch: BatchJob, guideline: Guideline) -> Guideline:
    """The guideline the batch was asked under (an edit since does not change its prompts)."""
    if batch.guideline_version in ("", guideline.version):
        return guideline
    text = store.guideline_text(batch.guideline_version)
    return guideline if text is None else parse_guideline(text, guideline.path or "<guideline>")


def _log_results(
    store: Store,
    p: LLMProvider,
    guideline: Guideline,
    client: BatchClient,
    batch: BatchJob,
    rows: list[tuple[str, str, list]],
) -> Counter:
    """Download the result files and commit every line to the call log in one go."""
    results = []
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            results += read_results(client.content(file_id))
    item_of = {key: item for item, key, _ in rows}
    item_of.update({f"{key}:{SWAP}": item for item, key, _ in rows})
    asked = {i.id: i for i in store.get_items(set(item_of.values())).values()}
    maker = LineMaker(p, label_context(store, guideline))
    logged = {
        line.custom_id: line.logged
        for _, lines in maker.lines([asked[i] for i, _, _ in rows if i in asked])
        for line in lines
    }
    calls, errors, cost = [], Counter(), 0.0
    for r in results:
        if r.custom_id not in item_of:
            continue
        price = batch_price(p.model, r.usage) if r.response is not None else 0.0
        cost += price
        if r.error:
            errors[r.error] += 1
        kind = SWAP if r.custom_id.endswith(f":{SWAP}") else "label"
        calls.append(
            {
                "model": p.model,
                "cache_key": r.custom_id,
                "item_id": item_of[r.custom_id],
                "request": logged.get(r.custom_id) or {"kind": kind, "batch": batch.id},
                "response": r.response,
                "status": "ok" if r.response is not None else "error",
                "error": r.error,
                "prompt_tokens": r.usage.get("prompt_tokens"),
                "completion_tokens": r.usage.get("completion_tokens"),
                "cost_usd": price,
                "attempt": 1,
                "run_id": batch.id,
            }
        )
    store.log_batch_results(batch.id, calls, cost)
    return errors


# --- everything open, at once -----------------------------------------------------------


@dataclass
class Settled:
    """Open batches of a model after a look at the provider: what was found again,
    collected, and what still runs."""

    notes: list[str] = field(default_factory=list)
    collected: list[Collected] = field(default_factory=list)
    running: list[BatchJob] = field(default_factory=list)
    #: item -> the running batch it waits in
    waiting: dict[str, str] = field(default_factory=dict)

    def summary(self) -> list[str]:
        """One line per batch found again, collected or still running."""
        lines = list(self.notes)
        lines += [describe_collected(c) for c in self.collected]
        lines += [
            f"{b.items} items wait in batch {b.id} (status {b.status}); "
            "`labelloop batch collect` picks them up"
            for b in self.running
        ]
        return lines


class Clients:
    """One batch client per server the model's batches went to."""

    def __init__(self, provider: LLMProvider):
        self.provider = provider
        self.made: dict[str | None, BatchClient] = {}

    def __call__(self, api_base: str | None) -> BatchClient:
        api_base = api_base or self.provider.api_base
        if api_base not in self.made:
            p = self.provider
            self.made[api_base] = batch_client(p.model, api_base, p.client)
        return self.made[api_base]


def settle(
    store: Store, guideline: Guideline, provider: LLMProvider, collect_finished: bool = True
) -> Settled:
    """Find again what killed submissions left, look up running batches, and collect the
    finished ones (unless ``collect_finished`` is False)."""
    out = Settled()
    rows = store.batch_jobs(provider.model, open_only=True)
    if not rows:
        return out
    clients = Clients(provider)
    for api_base in dict.fromkeys(r.api_base for r in rows if r.status == "submitting"):
        out.notes += recover(store, clients(api_base), provider.model, api_base)
    for row in store.batch_jobs(provider.model, open_only=True):
        row = refresh(store, clients(row.api_base), row)
        if collect_finished and (row.status in FINISHED or row.logged_at is not None):
            out.collected.append(collect(store, guideline, provider, clients(row.api_base), row))
        else:
            out.running.append(row)
    out.waiting = store.items_in_open_batches(provider.model)
    return out


def describe_collected(c: Collected) -> str:
    b = c.batch
    text = (
        f"Collected batch {b.id} ({b.provider_batch_id}, {b.status}): {c.answered} of "
        f"{b.items} items answered, {c.labeled} labeled, {c.failed} failed, {c.reasked} "
        f"re-asked live; ${b.cost_usd:.4f} at batch prices"
        + (f" and ${c.live_cost_usd:.4f} for {c.calls} live calls" if c.calls else "")
    )
    if c.unanswered:
        why = "; ".join(f"{n}: {e}" for e, n in c.errors.most_common(3)) or b.status
        text += f". {c.unanswered} items got no answer ({why}): they are free again"
    return text + "."


@dataclass
class Submission:
    """What ``labelloop label --batch`` did: batches collected first, and those submitted."""

    submitted: list[BatchJob]
    settled: Settled
    #: items not submitted: their estimate at batch prices would pass ``--max-cost``
    left_at_budget: int = 0

    @property
    def items(self) -> int:
        return sum(b.items for b in self.submitted)

    @property
    def lines(self) -> int:
        return sum(b.lines for b in self.submitted)

    @property
    def estimate_usd(self) -> float:
        return sum(b.estimate_usd for b in self.submitted)
