"""The order of the active queue: the least certain items first, spread over what they are about.

Routing gives each active item an uncertainty priority (``routing.priority``, lower first).
Taken alone, that order spends a run of reviews on one confusing corner of the data: twenty
near-identical messages the model hesitates on teach it little more than two. The
``diverse`` order keeps uncertainty in charge but spreads it: the POOL_FACTOR x BATCH most
uncertain items are clustered with k-means into BATCH clusters over their embeddings, and
the queue takes each cluster's most uncertain item in turn (round-robin, each round in
uncertainty order), then each cluster's second, and so on; the items after the pool keep
their uncertainty order. So the first BATCH reviews after a retrain touch BATCH different
kinds of item, each the one the model is least sure of among its kind (after the filtered
k-means of Zhdanov 2019, "Diverse mini-batch active learning", and the round-robin over
clusters of Citovsky et al. 2021, "Batch active learning at scale"; the most uncertain member
of each cluster is taken, not the one nearest its centre).

Only plain active items are reordered. Failed items (priority -1) and items flagged as
possible prompt injection keep the priority routing gave them, so failures still come
first. ``random`` orders active items by a seeded uniform draw per item, the baseline the
other two must beat. A queue of at most BATCH items is left in uncertainty order (one item
per cluster), so small projects embed nothing.

Why ``diverse`` is the default (``benchmarks/bench_active.py``: BANKING77, local model, 10
reviews per intent to start, the 3,080 test items as the stream, 100 active reviews per
retrain, 5 seeds, medians): the local model's accuracy on held-out items (train items never
reviewed) after 100 / 200 / 400 / 800 active reviews is 0.822 / 0.836 / 0.851 / 0.867
diverse, 0.821 / 0.831 / 0.848 / 0.864 uncertainty-only and 0.812 / 0.819 / 0.828 / 0.842
random (0.806 before any). Paired by seed, diverse is ahead of uncertainty-only in 2, 4, 5
and 4 of 5 seeds: a small edge, inside the seeds' spread; both beat random by 1 to 2.5
points. The first 100 diverse reviews cover 52 of the 77 intents against 47. On the stream
items not yet reviewed (what the loop would auto-label) diverse trails at 800 (0.957 vs
0.961): uncertainty-only has by then taken more of the hardest items out. Ordering adds
about 0.4 s to ``route()`` on 3,080 items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from labelloop.core.types import Route, RouteDecision, Suggestion
from labelloop.route import rules as routing

if TYPE_CHECKING:
    import numpy as np

    from labelloop.store import Store

#: the orders ``[routing] active_order`` may name (the default, "diverse", is set there)
ORDERS: tuple[str, ...] = ("diverse", "uncertainty", "random")
#: reviews one round of the diverse order spreads over: one item per cluster
BATCH = 100
#: the pool clustered holds the POOL_FACTOR x BATCH most uncertain items
POOL_FACTOR = 5
#: the draw stream of the random order (see ``routing.uniform_draw``)
STREAM = "active"
#: the step that keeps reordered priorities strictly increasing however many tie
_STEP = 1e-9

#: the embedding rows of the items with these ids, in that order
Vectors = Callable[[Sequence[str]], "np.ndarray"]


def reorderable(decision: RouteDecision, suggestion: Suggestion | None) -> bool:
    """Whether the active order may move the item: a plain active item, not a failure and
    not a possible prompt injection (those keep routing's priority)."""
    return (
        decision.route == Route.ACTIVE
        and suggestion is not None
        and suggestion.signals.get("injection") is None
    )


def reorder(
    priorities: Mapping[str, float],
    order: str,
    vectors: Vectors,
    seed: int = 0,
    batch: int = BATCH,
    pool_factor: int = POOL_FACTOR,
) -> dict[str, float]:
    """New priorities for the reorderable active items, placing them in ``order``.

    The values given are kept as nearly as can be: the k-th item of the new order gets the
    k-th smallest value given (plus k x 1e-9, so that ties cannot undo the order), so items
    left out (failures, injections) keep their place among them. ``vectors`` is asked for the
    embeddings of the pool only (at most ``pool_factor x batch`` items), never of all items.
    """
    if order == "uncertainty" or (order == "diverse" and len(priorities) <= batch):
        return dict(priorities)  # one item per cluster: the uncertainty order, nothing embedded
    import numpy as np  # here: routing in the uncertainty order needs none

    ids = sorted(priorities, key=lambda i: (priorities[i], i))
    if order == "random":
        picked = sorted(ids, key=lambda i: (routing.uniform_draw(i, seed, STREAM), i))
    elif order == "diverse":
        pool = ids[: pool_factor * batch]
        values = np.array([priorities[i] for i in pool], dtype=np.float64)
        ranked = diverse_order(values, vectors(pool), batch, seed)
        picked = [pool[k] for k in ranked] + ids[len(pool) :]
    else:
        raise ValueError(f"unknown active order {order!r}: valid orders are {', '.join(ORDERS)}")
    values = np.array([priorities[i] for i in ids], dtype=np.float64)
    values += _STEP * np.arange(len(ids))
    return dict(zip(picked, values.tolist(), strict=True))


def diverse_order(
    priorities: np.ndarray, vectors: np.ndarray, clusters: int, seed: int = 0
) -> np.ndarray:
    """The pool's positions in diverse-uncertain order: round-robin over k-means clusters.

    Round r takes the r-th most uncertain item of every cluster that has one, in
    uncertainty order; ties in priority go to the lower position. Deterministic: fixed seed,
    one initialisation, one BLAS thread.
    """
    import numpy as np

    n = len(priorities)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    by_uncertainty = np.lexsort((np.arange(n), priorities))
    labels = cluster(np.asarray(vectors, dtype=np.float32), min(clusters, n), seed)
    rank_in_cluster = np.empty(n, dtype=np.int64)
    seen: dict[int, int] = {}
    for pos in by_uncertainty:
        c = int(labels[pos])
        rank_in_cluster[pos] = seen.get(c, 0)
        seen[c] = rank_in_cluster[pos] + 1
    uncertainty_rank = np.empty(n, dtype=np.int64)
    uncertainty_rank[by_uncertainty] = np.arange(n)
    return np.lexsort((uncertainty_rank, rank_in_cluster))


def cluster(vectors: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> np.ndarray:
    """A k-means cluster label per row (SciPy's ``kmeans2``: k-means++ seeding with a fixed
    seed, then Lloyd steps). SciPy is loaded for calibration anyway; ``sklearn.cluster``
    would cost about a second more in a fresh process for a pool of a few hundred rows."""
    import warnings

    import numpy as np
    from scipy.cluster.vq import kmeans2

    x = np.asarray(vectors, dtype=np.float64)
    n = len(x)
    if k <= 1 or n <= 1:
        return np.zeros(n, dtype=np.int64)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), warnings.catch_warnings():  # small matrices: one BLAS thread
        warnings.simplefilter("ignore")  # an emptied cluster keeps its centre: fine here
        _, labels = kmeans2(x, min(k, n), iter=iterations, minit="++", seed=seed)
    return labels.astype(np.int64)


def item_vectors(store: Store) -> Vectors:
    """Embeddings of stored items from their text, the way the local model makes them."""

    def vectors(ids: Sequence[str]) -> np.ndarray:
        from labelloop.label.fewshot import item_vectors as embed

        items = store.get_items(ids)
        return embed([items[i] for i in ids])

    return vectors
