"""The reviewed examples most similar to an item, for the console's side panel.

Built on :class:`labelloop.label.fewshot.FewShotPool` (the labeler's nearest-neighbour selection, so
the console shows the kind of examples the model is taught with). The pool is built once
and rebuilt in the background when it is older than ``max_age`` seconds, so looking up an
item costs one embedding and one matrix product, never a rebuild.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from labelloop.core.types import Item
from labelloop.label.fewshot import FewShotPool, item_vectors
from labelloop.label.labeler import training_examples

if TYPE_CHECKING:
    from labelloop.store import Store

#: newest reviewed examples kept in the pool (bounds memory and rebuild time)
MAX_POOL = 50_000


class SimilarIndex:
    """Nearest reviewed examples over a store; thread-safe."""

    def __init__(self, store: Store, max_age: float = 300.0, max_pool: int = MAX_POOL) -> None:
        self.store = store
        self.max_age = max_age
        self.max_pool = max_pool
        self._pool: FewShotPool | None = None
        self._built = 0.0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="similar")
        self._pending: Future | None = None

    def lookup(self, item: Item, k: int) -> list[tuple]:
        """(example, similarity) pairs, most similar first; the first call builds the pool."""
        if k <= 0:
            return []
        pool = self._current()
        if not len(pool):
            return []
        vec = item_vectors([item])[0]
        pairs = [(ex, pool.similarity(vec, ex)) for ex in pool.select(item, k, item_vector=vec)]
        return sorted(pairs, key=lambda p: -p[1])

    def refresh(self) -> None:
        """Rebuild the pool now (tests, and after bulk changes)."""
        pool = self._build()
        with self._lock:
            self._pool, self._built = pool, time.monotonic()

    def _current(self) -> FewShotPool:
        with self._lock:
            pool, age = self._pool, time.monotonic() - self._built
        if pool is None:
            self.refresh()
            return self._pool
        if age > self.max_age and (self._pending is None or self._pending.done()):
            self._pending = self._executor.submit(self.refresh)
        return pool

    def _build(self) -> FewShotPool:
        examples = training_examples(self.store)
        examples = sorted(examples, key=lambda ex: ex.review_id or 0)[-self.max_pool :]
        return FewShotPool(examples, excluded_ids=self.store.eval_set_item_ids())

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
