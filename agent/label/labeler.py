"""The labeling stage: pick the items a model still has to label and store its suggestions."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING

from labelloop.core.consensus import Consensus, rule_of
from labelloop.core.errors import ConfigError
from labelloop.core.types import Frozen, Guideline, Item, Suggestion
from labelloop.label.injection import detect_item_injection
from labelloop.label.providers import get_provider
from labelloop.label.providers.base import (
    TRANSIENT_FAULT,
    Example,
    LabelContext,
    Provider,
    cache_key,
)

Progress = Callable[..., None]  # progress(done, total, cost_usd=..., errors=...)
FLUSH_EVERY = 32
FLUSH_SECONDS = 0.5

if TYPE_CHECKING:
    from labelloop.label.crew import Crew
    from labelloop.project import Project
    from labelloop.store import Store


class LabelRun(Frozen):
    """What one ``label`` run did."""

    model: str
    version: str
    candidates: int
    labeled: int
    failed: int
    seconds: float
    cost_usd: float = 0.0
    calls: int = 0
    stopped_at_budget: bool = False
    #: with ``stale``: items that had an older suggestion, how many of those now have
    #: another label, and the most frequent changes ("old -> new": items)
    relabeled: int = 0
    changed: int = 0
    changes: dict[str, int] = {}
    #: why items failed, most frequent first (reason: items)
    failures: dict[str, int] = {}
    #: whether the run routed its items (the model is the routing model or a cascade
    #: stage), and the routing model
    routed: bool = True
    routing_model: str | None = None
    #: the model's version changed under a calibration in force: the re-test's outcome
    retested: dict | None = None
    #: the model's provider batches: found again, collected, or still waiting (one line each)
    batches: tuple[str, ...] = ()
    #: with other workers on the store: items of this run's list that other workers
    #: labeled, and items it took over from a worker whose lease lapsed
    by_others: int = 0
    taken_over: int = 0

    @property
    def items_per_second(self) -> float:
        return self.labeled / self.seconds if self.seconds > 0 else 0.0


def training_examples(store: Store, consensus: Consensus | None = None) -> tuple[Example, ...]:
    """Every item whose standing review gives a label, as a teaching example (a judging
    task's: the people's consensus where several answered)."""
    finals = store.final_reviews(consensus)
    items = store.get_items(finals)
    return tuple(
        Example(item=items[i], value=r.value, reviewer=r.reviewer, review_id=r.id)
        for i, r in sorted(finals.items())
        if i in items
    )


def label_context(store: Store, guideline: Guideline) -> LabelContext:
    """The guideline and the reviewed examples a model may learn from: never an item of a
    frozen eval set, nor a near-duplicate of one."""
    from labelloop.label.fewshot import without_eval_leaks

    frozen = store.eval_set_item_ids()
    eval_items = list(store.get_items(frozen).values()) if frozen else []
    return LabelContext(
        guideline=guideline,
        examples=without_eval_leaks(training_examples(store, rule_of(guideline)), eval_items),
        excluded_ids=frozenset(frozen),
    )


def items_to_label(
    store: Store,
    model: str,
    version: str,
    guideline: Guideline,
    stale: bool,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
    batch: int = 2000,
    newest: dict[str, tuple[int, str, str]] | None = None,
) -> Iterator[Item]:
    """Items with no suggestion from ``model``, or whose last one failed for a transient
    fault; with ``stale``, also outdated ones.

    ``only``: the items that may be labeled at all (a cascade stage's: those that reached it);
    ``skip``: items not to label (those people decided, for a paid model); ``newest``: the
    model's newest suggestions (``Store.newest_suggestions``), when the caller read them.
    """
    newest = store.newest_suggestions(model) if newest is None else newest
    done = {i: (p, g) for i, (_, p, g) in newest.items()}
    retry = store.failed_with_signal(model, TRANSIENT_FAULT)
    for item in store.iter_items(batch=batch):
        if (only is not None and item.id not in only) or item.id in skip:
            continue
        seen = done.get(item.id)
        if seen is None or item.id in retry:
            yield item
        elif stale and seen != (version, guideline.version):
            yield item


def label_items(
    store: Store,
    guideline: Guideline,
    provider: Provider,
    *,
    limit: int | None = None,
    stale: bool = False,
    batch_size: int = 1000,
    progress: Progress | None = None,
    only: Collection[str] | None = None,
    skip: Collection[str] = (),
    crew: Crew | None = None,
) -> LabelRun:
    """Label what is missing (of ``only``, but for ``skip``), writing suggestions to the
    store as they are made; with a ``crew``, sharing the work with the other workers on the
    store (each item claimed before it is labeled)."""
    start = time.perf_counter()
    ctx = label_context(store, guideline)
    version = provider.version(ctx)
    # the list is made from this read: an item whose newest suggestion changes after it
    # was labeled by another worker
    newest = store.newest_suggestions(provider.model)
    seen = {i: n[0] for i, n in newest.items()} if crew is not None else {}
    missing = items_to_label(
        store, provider.model, version, guideline, stale, only, skip, newest=newest
    )
    todo = list(_take(missing, limit))
    before = _values(store, provider.model, [i.id for i in todo]) if stale else {}
    reasons: Counter = Counter()
    counted = (crew.by_others, crew.taken_over) if crew is not None else (0, 0)
    if hasattr(provider, "stream"):
        source = todo
        if crew is not None:
            crew.attach(provider)
            source = crew.source(todo, seen)
        labeled, failed = asyncio.run(
            _stream(store, provider, source, ctx, progress, guideline, reasons, crew)
        )
    else:
        labeled, failed = _batches(
            store, provider, todo, ctx, batch_size, progress, guideline, reasons
        )
    spend = getattr(provider, "spend", None)
    changes = label_changes(before, _values(store, provider.model, list(before)))
    return LabelRun(
        relabeled=len(before),
        changed=sum(changes.values()),
        changes=dict(changes.most_common(10)),
        failures=dict(reasons.most_common(3)),
        model=provider.model,
        version=version,
        candidates=len(todo),
        labeled=labeled,
        failed=failed,
        seconds=time.perf_counter() - start,
        cost_usd=spend.cost_usd if spend else 0.0,
        calls=spend.calls if spend else 0,
        stopped_at_budget=spend.stopped_at_budget if spend else False,
        by_others=crew.by_others - counted[0] if crew is not None else 0,
        taken_over=crew.taken_over - counted[1] if crew is not None else 0,
    )


def suggest(
    store: Store, provider: Provider, items: Sequence[Item], ctx: LabelContext
) -> list[Suggestion]:
    """Suggestions for ``items`` in order, not stored as suggestions (an eval run keeps its
    own); LLM calls still go through the store's call log, so their cost is counted."""
    if not hasattr(provider, "stream"):
        return list(provider.label(list(items), ctx))

    async def collect() -> dict[str, Suggestion]:
        return {s.item_id: s async for s in provider.stream(items, ctx, store)}

    got = asyncio.run(collect())
    return [got[i.id] for i in items if i.id in got]


def label_changes(before: dict[str, str], after: dict[str, str]) -> Counter:
    """Counts of "old -> new" for items whose suggested label changed between two runs."""
    return Counter(
        f"{before[i]} -> {after[i]}" for i in before if i in after and after[i] != before[i]
    )


def _values(store: Store, model: str, ids: list[str], chunk: int = 900) -> dict[str, str]:
    """item -> the model's latest suggested value in short form ("(failed)" when it failed)."""
    out: dict[str, str] = {}
    for start in range(0, len(ids), chunk):
        got = store.latest_suggestions(model=model, item_ids=ids[start : start + chunk])
        out.update((i, s.value.short() if s.value else "(failed)") for i, s in got.items())
    return out


def _batches(
    store: Store,
    provider,
    todo: list[Item],
    ctx,
    batch_size: int,
    progress,
    guideline: Guideline,
    reasons: Counter,
) -> tuple[int, int]:
    labeled = failed = 0
    labels = guideline.all_label_names
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        made = provider.label(batch, ctx)
        suggestions = [
            screened(_keyed(s, item, provider.model), item, labels, guideline.context)
            for s, item in zip(made, batch, strict=True)
        ]
        store.add_suggestions(suggestions)
        labeled += len(suggestions)
        failed += sum(s.status == "failed" for s in suggestions)
        reasons.update(s.error or "no reason given" for s in suggestions if s.status == "failed")
        if progress:
            progress(labeled, len(todo))
    return labeled, failed


async def _stream(
    store: Store,
    provider,
    todo,
    ctx,
    progress,
    guideline: Guideline,
    reasons: Counter,
    crew: Crew | None = None,
) -> tuple[int, int]:
    """Write suggestions in small batches as they arrive; what finished is kept on abort.
    ``todo``: the items, or a crew's claims of them (released once stored)."""
    buffer: list[Suggestion] = []
    labeled = failed = 0
    last = time.monotonic()
    items = todo.items if crew is not None else {item.id: item for item in todo}

    def flush() -> None:
        store.add_suggestions(buffer)
        if crew is not None:
            crew.done([s.item_id for s in buffer])

    async def flush_while_waiting() -> None:
        # a worker waiting for items another holds must not sit on stored-to-be answers:
        # that other may be waiting for these (their leases go once they are stored)
        nonlocal buffer, last
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            if buffer and time.monotonic() - last > FLUSH_SECONDS:
                flush()
                buffer, last = [], time.monotonic()

    flusher = asyncio.create_task(flush_while_waiting()) if crew is not None else None
    try:
        async for s in provider.stream(todo, ctx, store):
            buffer.append(
                screened(s, items[s.item_id], guideline.all_label_names, guideline.context)
            )
            labeled += 1
            failed += s.status == "failed"
            if s.status == "failed":
                reasons[s.error or "no reason given"] += 1
            if len(buffer) >= FLUSH_EVERY or time.monotonic() - last > FLUSH_SECONDS:
                flush()
                buffer, last = [], time.monotonic()
            if progress:
                spend = provider.spend
                total = todo.expected() if crew is not None else len(todo)
                progress(labeled, total, cost_usd=spend.cost_usd, errors=spend.errors)
    finally:
        if flusher is not None:
            flusher.cancel()
        flush()
    return labeled, failed


def screened(
    s: Suggestion, item: Item, labels: Sequence[str], context: Sequence[str] = ()
) -> Suggestion:
    """The suggestion with the item's prompt-injection flag (``signals["injection"]``, its
    score) when the item (or a value of its ``context`` fields) looks like it instructs the
    labeler, whatever model made it: routing never auto-accepts a flagged item
    (``routing.route_item``)."""
    if s.signals.get("injection") is not None:
        return s
    flag = detect_item_injection(item, labels, context)
    if flag is None:
        return s
    note = f" [flagged: possible prompt injection ({flag.rule})]"
    return s.model_copy(
        update={
            "signals": {**s.signals, "injection": flag.score},
            "rationale": (s.rationale or "") + note,
        }
    )


def _keyed(s: Suggestion, item: Item, model: str) -> Suggestion:
    if s.cache_key:
        return s
    key = cache_key(model, s.prompt_version, s.guideline_version, item, {})
    return s.model_copy(update={"cache_key": key})


def _take(it: Iterator[Item], limit: int | None) -> Iterator[Item]:
    for n, item in enumerate(it):
        if limit is not None and n >= limit:
            return
        yield item


def make_provider(project: Project, model: str | None, options: dict):
    """The provider for the model, with labelloop.toml's [llm] settings under the flags."""
    name = project.model(model)
    given = {k: v for k, v in options.items() if v is not None}
    if name == "local":
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in sorted(given))
            raise ConfigError(f"{flags} apply to LLM models only: add --model MODEL, or drop them")
        return get_provider(name)
    settings = project.config.llm.model_dump(exclude={"log_retention_days"})
    return get_provider(name, **{**settings, **given})
