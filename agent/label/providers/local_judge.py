"""The embedded offline judge for pairwise tasks (``model="local"``, ``kind: pairwise``).

Each reply is described by its wordllama embedding, its similarity to the conversation and
its length. A pair is scored by a logistic regression on the difference of its two replies'
features, with no intercept, trained on the people's pairwise decisions, each seen in both
orders. So the judge is order-free by construction: swapping the replies gives exactly the
complementary probability (it has no position bias to measure). Items that are themselves
training rows are predicted out of sample by cross-fitting, as the local labeler does.

With fewer than ``MIN_TRAIN`` decided pairs (and both winners among them) it has nothing to
learn from and says so: every item's suggestion fails with that reason, so it goes to people
with no verdict to lean on. Ties are never suggested; a tie decided by people teaches
nothing about which reply is better and is left out of training.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from labelloop.core.context import context_lines
from labelloop.core.types import TIE, Item, LabelValue, Suggestion
from labelloop.label import embeddings
from labelloop.label.providers.base import LabelContext

MODEL = "local"
#: decided pairs (both winners present) the judge needs before it suggests anything
MIN_TRAIN = 20
FOLDS = 5
C_REG = 1.0


def _features(items: Sequence[Item], fields: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the features of its first and of its second reply (rows aligned); the
    conversation they are compared with is embedded with its context ``fields``' lines."""
    prompts = ["\n".join([i.render_plain(), *context_lines(i, fields)]) for i in items]
    first = [i.replies[0].render_plain() if i.replies else "" for i in items]
    second = [i.replies[1].render_plain() if i.replies else "" for i in items]
    ep, e1, e2 = (embeddings.embed(t) for t in (prompts, first, second))

    def describe(e: np.ndarray, texts: list[str]) -> np.ndarray:
        sim = np.sum(e * ep, axis=1, keepdims=True)
        length = np.log1p(np.array([[len(t)] for t in texts], dtype=float))
        return np.hstack([e, sim, length])

    return describe(e1, first), describe(e2, second)


def _fold(item_id: str) -> int:
    return int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % FOLDS


def _fit(d: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    # both orders: (first - second, y) and (second - first, 1 - y)
    x = np.vstack([d, -d])
    t = np.concatenate([y, 1 - y])
    return LogisticRegression(C=C_REG, fit_intercept=False, max_iter=1000).fit(x, t)


def judge(items: Sequence[Item], ctx: LabelContext, version: str) -> list[Suggestion]:
    """One suggestion per item: P(the first reply is better), as a verdict and confidence."""
    examples = [
        e
        for e in ctx.examples
        if e.item.replies and len(e.item.replies) == 2 and e.value.label not in (None, TIE)
    ]
    base = {"model": MODEL, "prompt_version": version, "guideline_version": ctx.guideline.version}
    y = np.array([float(e.value.label == e.item.replies[0].id) for e in examples])
    trained = len(examples) >= MIN_TRAIN and 0 < y.sum() < len(y)
    if not trained:
        note = (
            f"No verdict: the embedded judge learns from people's decisions and has "
            f"{len(examples)} of the {MIN_TRAIN} it needs (with both replies winning)."
        )
        return [
            Suggestion(item_id=i.id, value=None, status="failed", error=note, **base) for i in items
        ]
    a, b = _features(items, ctx.guideline.context)
    d = a - b
    ta, tb = _features([e.item for e in examples], ctx.guideline.context)
    td = ta - tb
    folds = np.array([_fold(e.item.id) for e in examples])
    train_fold = {e.item.id: int(f) for e, f in zip(examples, folds, strict=True)}
    models: dict[int, object] = {}

    def model_for(f: int):
        if f not in models:
            keep = folds != f if f >= 0 else np.ones(len(examples), dtype=bool)
            models[f] = _fit(td[keep], y[keep])
        return models[f]

    out = []
    for n, item in enumerate(items):
        f = train_fold.get(item.id, -1)
        p_first = float(model_for(f).predict_proba(d[n : n + 1])[0, 1])
        winner = item.reply_ids[0] if p_first >= 0.5 else item.reply_ids[1]
        p = max(p_first, 1 - p_first)
        out.append(
            Suggestion(
                item_id=item.id,
                value=LabelValue(label=winner),
                confidence=p,
                rationale=(
                    "The chosen reply is more like the replies people preferred "
                    f"({len(examples)} decided pairs; p = {p:.2f})."
                ),
                signals={
                    "local_prob": p,
                    "n_reviews": float(len(examples)),
                    "held_out": 1.0 if f >= 0 else 0.0,
                },
                **base,
            )
        )
    return out
