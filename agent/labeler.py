"""The labeling stage: pick the items a model still has to label and store its suggestions."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator

from agent.providers.base import Example, LabelContext, Provider
from agent.types import Frozen, Guideline, Item, Suggestion

Progress = Callable[[int, int], None]


class LabelRun(Frozen):
    """What one ``label`` run did."""

    model: str
    version: str
    candidates: int
    labeled: int
    failed: int
    seconds: float

    @property
    def items_per_second(self) -> float:
        return self.labeled / self.seconds if self.seconds > 0 else 0.0


def training_examples(store) -> tuple[Example, ...]:
    """Every item whose latest decisive review gives a label, as a teaching example."""
    finals = store.final_reviews()
    items = store.get_items(finals)
    return tuple(
        Example(item=items[i], value=r.value, reviewer=r.reviewer, review_id=r.id)
        for i, r in sorted(finals.items())
        if i in items
    )


def cache_key(model: str, version: str, guideline_version: str, item: Item, params: dict) -> str:
    """What makes a suggestion reusable: model, versions, the item's content, parameters."""
    raw = json.dumps(
        [model, version, guideline_version, item.content_hash(), params], sort_keys=True
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def items_to_label(
    store, model: str, version: str, guideline: Guideline, stale: bool, batch: int = 2000
) -> Iterator[Item]:
    """Items with no suggestion from ``model``; with ``stale``, also outdated ones."""
    done = store.suggestion_versions(model)
    for item in store.iter_items(batch=batch):
        seen = done.get(item.id)
        if seen is None:
            yield item
        elif stale and seen != (version, guideline.version):
            yield item


def label_items(
    store,
    guideline: Guideline,
    provider: Provider,
    *,
    limit: int | None = None,
    stale: bool = False,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> LabelRun:
    """Label what is missing, writing suggestions to the store batch by batch."""
    start = time.perf_counter()
    ctx = LabelContext(guideline=guideline, examples=training_examples(store))
    version = provider.version(ctx)
    todo = list(_take(items_to_label(store, provider.model, version, guideline, stale), limit))
    labeled = failed = 0
    for i in range(0, len(todo), batch_size):
        batch = todo[i : i + batch_size]
        suggestions = [
            _keyed(s, item, provider.model)
            for s, item in zip(provider.label(batch, ctx), batch, strict=True)
        ]
        store.add_suggestions(suggestions)
        labeled += len(suggestions)
        failed += sum(s.status == "failed" for s in suggestions)
        if progress:
            progress(labeled, len(todo))
    return LabelRun(
        model=provider.model,
        version=version,
        candidates=len(todo),
        labeled=labeled,
        failed=failed,
        seconds=time.perf_counter() - start,
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
