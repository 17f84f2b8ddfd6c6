"""Few-shot examples from reviewed corrections: nearest by embedding, label-diverse, leak-free.

A :class:`FewShotPool` is built once per labeling run from the reviewed examples (accepted
or fixed) and answers, for every item, the ``k`` examples most similar to it:

- never the item itself (same id), never an item of a frozen eval set (``excluded_ids``),
  never an example that is a near-duplicate of an eval-set item (``excluded_items``), and
  never a near-duplicate of the item (cosine >= ``near_duplicate`` or the same normalised
  text), so a prompt cannot leak the answer;
- label-diverse: at most ``ceil(k / 3)`` examples share one label value, as long as other
  labels among the ``max(8k, 64)`` nearest candidates can fill the slots (the cap relaxes only
  when they cannot, so a pool of one label still gives ``k`` examples);
- deterministic: ties in similarity are broken by example id.

Examples come back **most similar last**, so the closest one sits right before the item in
the prompt. Embeddings are those of the local model (the target turn or the user turns of a
transcript, with a little of the preceding turn), one batch for the pool and one for the
items; ``select_many`` scores a whole run with one matrix product per chunk of items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from labelloop.core.types import Item
from labelloop.label import embeddings
from labelloop.label.embeddings import embed_units, units_of
from labelloop.label.providers.base import Example

if TYPE_CHECKING:  # numpy loads where a pool of examples is built
    import numpy as np

#: cosine similarity at or above which two items count as the same item
NEAR_DUPLICATE = 0.95
DEFAULT_K = 8
#: items scored per matrix product (bounds memory: CHUNK x pool floats)
_CHUNK = 1024
_WORD = re.compile(r"\w+")


def normalise(text: str) -> str:
    """Text reduced to its lower-cased words, for exact-duplicate checks."""
    return " ".join(_WORD.findall(text.casefold()))


def item_vectors(items: Sequence[Item]) -> np.ndarray:
    """One L2-normalised embedding row per item, made the way the local model makes them."""
    import numpy as np

    if not items:
        return np.zeros((0, embeddings.dim()), dtype=np.float32)
    return embed_units([units_of(item, row)[0] for row, item in enumerate(items)])


def ids(examples: Iterable[Example]) -> tuple[str, ...]:
    """The item ids of examples, in order (a suggestion's ``fewshot_ids``)."""
    return tuple(ex.item.id for ex in examples)


def leak_mask(
    texts: Sequence[str],
    vecs: np.ndarray,
    excluded_items: Sequence[Item],
    exc_vecs: np.ndarray,
    near_duplicate: float = NEAR_DUPLICATE,
) -> np.ndarray:
    """Which examples (normalised texts, vectors) repeat or nearly repeat an excluded item."""
    import numpy as np

    drop = np.zeros(len(texts), dtype=bool)
    if len(excluded_items) and len(texts):
        drop |= (vecs @ exc_vecs.T).max(axis=1) >= near_duplicate
        eval_texts = {normalise(it.render_plain()) for it in excluded_items}
        drop |= np.array([t in eval_texts for t in texts])
    return drop


def without_eval_leaks(
    examples: Sequence[Example],
    eval_items: Sequence[Item],
    near_duplicate: float = NEAR_DUPLICATE,
) -> tuple[Example, ...]:
    """The examples that are neither an eval-set item nor a near-duplicate of one.

    Applied to every model's teaching examples (few-shot prompts and the local model's
    training rows), so an eval set measures items no model has been shown.
    """
    if not eval_items or not examples:
        return tuple(examples)
    frozen = {it.id for it in eval_items}
    kept = [ex for ex in examples if ex.item.id not in frozen]
    if not kept:
        return ()
    vecs = item_vectors([ex.item for ex in kept] + list(eval_items))
    texts = [normalise(ex.item.render_plain()) for ex in kept]
    drop = leak_mask(texts, vecs[: len(kept)], eval_items, vecs[len(kept) :], near_duplicate)
    return tuple(ex for ex, gone in zip(kept, drop, strict=True) if not gone)


class FewShotPool:
    """Reviewed examples ready for nearest-neighbour, label-diverse few-shot selection."""

    def __init__(
        self,
        examples: Sequence[Example],
        *,
        excluded_ids: Iterable[str] = (),
        excluded_items: Sequence[Item] = (),
        near_duplicate: float = NEAR_DUPLICATE,
        vectors: np.ndarray | None = None,
        excluded_vectors: np.ndarray | None = None,
    ) -> None:
        """Embed the examples (or take ``vectors``, one row per example) and drop leaks."""
        self.near_duplicate = float(near_duplicate)
        excluded = set(excluded_ids) | {it.id for it in excluded_items}
        # One example per item id (a later review of the same item wins), sorted by id.
        latest = {ex.item.id: i for i, ex in enumerate(examples) if ex.item.id not in excluded}
        rows = [latest[key] for key in sorted(latest)]
        if not rows and vectors is None and excluded_vectors is None:
            self._empty()  # nothing to select from (a project without reviews): no numpy
            return
        import numpy as np

        vecs, exc_vecs = self._vectors(examples, rows, excluded_items, vectors, excluded_vectors)
        texts = [normalise(examples[i].item.render_plain()) for i in rows]
        labels = [examples[i].value.key() for i in rows]
        keep = self._without_leaks(texts, labels, vecs, excluded_items, exc_vecs)
        self.examples: tuple[Example, ...] = tuple(examples[rows[i]] for i in keep)
        self._vecs = np.ascontiguousarray(vecs[keep], dtype=np.float32)
        self._by_id = {ex.item.id: i for i, ex in enumerate(self.examples)}
        self._by_text: dict[str, list[int]] = {}
        for i, j in enumerate(keep):
            self._by_text.setdefault(texts[j], []).append(i)
        codes: dict[str, int] = {}
        self._groups = np.array([codes.setdefault(labels[j], len(codes)) for j in keep], np.int64)
        self._n_groups = max(len(codes), 1)

    def _empty(self) -> None:
        """A pool of no examples: ``select_many`` answers no examples without vectors."""
        self.examples = ()
        self._vecs = None
        self._by_id, self._by_text = {}, {}
        self._groups, self._n_groups = None, 1

    def __len__(self) -> int:
        return len(self.examples)

    def similarity(self, item_vector: np.ndarray, example: Example) -> float:
        """Cosine similarity of an item's vector to one of the pool's examples."""
        return float(self._vecs[self._by_id[example.item.id]] @ item_vector)

    @staticmethod
    def _vectors(
        examples: Sequence[Example],
        rows: list[int],
        excluded_items: Sequence[Item],
        vectors: np.ndarray | None,
        excluded_vectors: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The kept examples' and the eval items' vectors; those not given embedded in one batch."""
        import numpy as np

        if vectors is not None and len(vectors) != len(examples):
            raise ValueError(f"{len(vectors)} vectors given for {len(examples)} examples")
        if excluded_vectors is not None and len(excluded_vectors) != len(excluded_items):
            raise ValueError(
                f"{len(excluded_vectors)} vectors given for {len(excluded_items)} excluded items"
            )
        if not rows:  # nothing to select from: do not load the embedding model for nothing
            return np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
        own = [examples[i].item for i in rows] if vectors is None else []
        others = list(excluded_items) if excluded_vectors is None else []
        embedded = item_vectors(own + others) if own or others else np.zeros((0, 0), np.float32)
        vecs = embedded[: len(own)] if vectors is None else np.asarray(vectors, np.float32)[rows]
        exc = embedded[len(own) :] if excluded_vectors is None else excluded_vectors
        return vecs, np.asarray(exc, np.float32)

    def _without_leaks(
        self,
        texts: list[str],
        labels: list[str],
        vecs: np.ndarray,
        excluded_items: Sequence[Item],
        exc_vecs: np.ndarray,
    ) -> list[int]:
        """Indices of examples that are no near-duplicate of an eval item or an earlier example."""
        drop = leak_mask(texts, vecs, excluded_items, exc_vecs, self.near_duplicate)
        seen: set[tuple[str, str]] = set()
        keep = []
        for i, key in enumerate(zip(texts, labels, strict=True)):
            # The same text with the same label twice would only waste a slot.
            if not drop[i] and key not in seen:
                seen.add(key)
                keep.append(i)
        return keep

    def select(
        self, item: Item, k: int = DEFAULT_K, item_vector: np.ndarray | None = None
    ) -> tuple[Example, ...]:
        """The k examples for one item, most similar last."""
        import numpy as np

        vec = None if item_vector is None else np.asarray(item_vector, np.float32).reshape(1, -1)
        return self.select_many([item], k, vec)[0]

    def select_many(
        self, items: Sequence[Item], k: int = DEFAULT_K, vectors: np.ndarray | None = None
    ) -> list[tuple[Example, ...]]:
        """The k examples for each item (one batch of embeddings), each most similar last."""
        if k <= 0 or not len(self) or not items:
            return [() for _ in items]
        import numpy as np

        x = item_vectors(items) if vectors is None else np.asarray(vectors, np.float32)
        if len(x) != len(items):
            raise ValueError(f"{len(x)} item vectors given for {len(items)} items")
        out: list[tuple[Example, ...]] = []
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            out.extend(self._select_chunk(chunk, x[start : start + _CHUNK], k))
        return out

    def _select_chunk(
        self, items: Sequence[Item], x: np.ndarray, k: int
    ) -> list[tuple[Example, ...]]:
        import numpy as np

        sims = x @ self._vecs.T
        sims[sims >= self.near_duplicate] = -np.inf
        rows, cols = self._same_items(items)
        sims[rows, cols] = -np.inf
        rows, cols = _candidates(sims, min(len(self), max(8 * k, 64)))
        take = _diverse(rows, self._groups[cols], self._n_groups, k, math.ceil(k / 3))
        rows, cols = rows[take], cols[take]
        bounds = np.searchsorted(rows, np.arange(len(items) + 1))
        ex, picked = self.examples, cols.tolist()
        return [tuple(ex[j] for j in picked[a:b][::-1]) for a, b in pairwise(bounds.tolist())]

    def _same_items(self, items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray]:
        """(row, example) pairs where the example is the item itself or has its text."""
        import numpy as np

        rows: list[int] = []
        cols: list[int] = []
        for r, item in enumerate(items):
            hits = list(self._by_text.get(normalise(item.render_plain()), ()))
            if item.id in self._by_id:
                hits.append(self._by_id[item.id])
            rows.extend([r] * len(hits))
            cols.extend(hits)
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)


def _candidates(sims: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, example) of each row's m most similar allowed examples (ties at the edge
    all kept), sorted by row, then similarity descending, then example index (= id)."""
    import numpy as np

    n_pool = sims.shape[1]
    if m < n_pool:
        edge = np.partition(sims, n_pool - m, axis=1)[:, n_pool - m]
        rows, cols = np.nonzero(sims >= edge[:, None])
    else:
        rows, cols = np.nonzero(np.ones(sims.shape, dtype=bool))
    vals = sims[rows, cols]
    ok = np.isfinite(vals)
    rows, cols, vals = rows[ok], cols[ok], vals[ok]
    order = np.lexsort((cols, -vals, rows))
    return rows[order], cols[order]


def _diverse(rows: np.ndarray, groups: np.ndarray, n_groups: int, k: int, cap: int) -> np.ndarray:
    """Which ranked candidates to take: per row the first k within the per-label cap,
    then, if too few, the best of the rest."""
    import numpy as np

    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=bool)
    pos = np.arange(n)
    key = rows * n_groups + groups
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.maximum.accumulate(np.where(np.r_[True, sorted_key[1:] != sorted_key[:-1]], pos, 0))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = pos - starts
    first = rank < cap
    row_start = np.maximum.accumulate(np.where(np.r_[True, rows[1:] != rows[:-1]], pos, 0))
    take = first & (_row_cumsum(first, row_start) <= k)
    n_first = _row_cumsum(take, row_start)
    last = np.r_[rows[1:] != rows[:-1], True]
    taken = np.repeat(n_first[last], np.diff(np.r_[0, np.nonzero(last)[0] + 1]))
    rest = ~first
    return take | (rest & (_row_cumsum(rest, row_start) <= k - taken))


def _row_cumsum(mask: np.ndarray, row_start: np.ndarray) -> np.ndarray:
    """Cumulative count of mask within each row (rows given by each element's row start)."""
    import numpy as np

    cs = np.cumsum(mask, dtype=np.int64)
    return cs - (cs[row_start] - mask[row_start])
