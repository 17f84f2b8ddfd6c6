"""The embedded offline labeler (``model="local"``): wordllama embeddings + the guideline.
Span guidelines go to the CRF of ``labelloop.label.providers.local_spans``.

With no reviews it is zero-shot: an item is scored against each label's humanised name,
definition and examples. With reviews it trains a logistic regression on their embeddings
(the guideline's rows added, the zero-shot score kept as a prior that fades as a label
gathers reviews). Items that are themselves training rows are predicted out of sample by
cross-fitting, so their probabilities can be used to calibrate honestly.
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labelloop.core.errors import ConfigError
from labelloop.core.turns import role_names, turn_noun
from labelloop.core.types import Guideline, Item, LabelValue, Suggestion
from labelloop.label import embeddings, questions
from labelloop.label.providers.base import Example, LabelContext, register

if TYPE_CHECKING:  # numpy loads when the model works, not when the module is imported
    import numpy as np

MODEL = "local"
VERSION_PREFIX = "local-v1"
#: the span labeler's versions (``labelloop.label.providers.local_spans``)
SPANS_PREFIX = "local-spans-v2"

#: softmax temperature on cosine scores (tuned on banking77 train, see benchmarks/)
TEMPERATURE = 0.05
#: weight of a label's closest guideline example against its description
EXAMPLE_WEIGHT = 0.5
#: how hard a close counter-example pushes an item away from a label
COUNTER_WEIGHT = 0.5
#: multi-label zero-shot: labels within MULTI_MARGIN of the best score get p >= 0.5
MULTI_MARGIN = 0.05
MULTI_SCALE = 0.02
#: logistic regression: inverse regularisation and weight of the guideline's own rows
C_REG = 100.0
GUIDELINE_ROW_WEIGHT = 1.0
#: zero-shot prior weight for a label with n reviews: PRIOR_WEIGHT / (1 + n / PRIOR_HALF)
PRIOR_WEIGHT = 0.5
PRIOR_HALF = 1.0
FOLDS = 5
_QUOTE = 60
_CACHE_SIZE = 4


def humanise(name: str) -> str:
    """A label name as words: ``card_arrival`` -> ``card arrival``."""
    return name.replace("_", " ").replace("-", " ").strip()


def _is_multi(g: Guideline) -> bool:
    return g.kind == "multi" and g.unit != "turn"


#: the kinds the local model cannot label (ratings and rankings of replies)
REFUSED_KINDS = frozenset({"rating", "ranking"})


def check_kind(guideline: Guideline) -> None:
    """Refuse a task the local model cannot label (``REFUSED_KINDS``)."""
    if guideline.kind in REFUSED_KINDS:
        raise ConfigError(
            f"The local model judges pairwise tasks only, not kind: {guideline.kind} (task "
            f"{guideline.task!r}): set an LLM model with --model, or review these items in "
            "the console (labelloop review)"
        )


def quote(text: str) -> str:
    """A text on one line, cut to _QUOTE characters, for a rationale."""
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1].rstrip() + "…"


def _softmax(z: np.ndarray) -> np.ndarray:
    import numpy as np

    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _digest(*parts: object) -> str:
    raw = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _guideline_key(g: Guideline) -> str:
    """The guideline's version, plus its parsed labels (a hand-built Guideline may reuse one)
    and the context fields it embeds (only when it has some: other versions stay as they were)."""
    labels = [lab.model_dump(mode="json", exclude={"line"}) for lab in g.labels]
    unit = g.unit if g.turn_role == "user" else f"{g.unit}:{g.turn_role}"
    if g.context:
        return f"{g.version}:{_digest(unit, g.kind, labels, list(g.context))}"
    return f"{g.version}:{_digest(unit, g.kind, labels)}"


# ---------------------------------------------------------------- what gets embedded


# ---------------------------------------------------------------- zero-shot from the guideline


@dataclass
class _LabelSpace:
    """The guideline's labels as vectors: descriptions, examples, counter-examples."""

    names: list[str]
    desc: np.ndarray
    ex_vecs: np.ndarray
    ex_label: np.ndarray
    ex_texts: list[str]
    counter_vecs: np.ndarray
    counter_label: np.ndarray

    @property
    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


def _label_space(g: Guideline) -> _LabelSpace:
    import numpy as np

    names = g.label_names
    index = {n: i for i, n in enumerate(names)}
    descs = [f"{humanise(lab.name)}. {lab.definition}".strip() for lab in g.labels]
    ex: list[tuple[int, str]] = [(i, t) for i, lab in enumerate(g.labels) for t in lab.examples]
    counter: list[tuple[int, str]] = []
    for i, lab in enumerate(g.labels):
        for text, other in lab.counter_examples:
            counter.append((i, text))
            if other in index:  # "belongs to X instead" is an example of X
                ex.append((index[other], text))
    ex.sort(key=lambda p: p[0])
    vecs = embeddings.embed(descs + [t for _, t in ex] + [t for _, t in counter])
    n, e = len(descs), len(ex)
    return _LabelSpace(
        names=names,
        desc=vecs[:n],
        ex_vecs=vecs[n : n + e],
        ex_label=np.array([i for i, _ in ex], dtype=np.int64),
        ex_texts=[t for _, t in ex],
        counter_vecs=vecs[n + e :],
        counter_label=np.array([i for i, _ in counter], dtype=np.int64),
    )


def _group_max(sims: np.ndarray, groups: np.ndarray, n_labels: int) -> np.ndarray:
    """Per label, the max over the columns in that label's group (-inf for empty groups)."""
    import numpy as np

    out = np.full((sims.shape[0], n_labels), -np.inf, dtype=np.float32)
    if groups.size == 0:
        return out
    order = np.argsort(groups, kind="stable")
    sims, groups = sims[:, order], groups[order]
    present, starts = np.unique(groups, return_index=True)
    out[:, present] = np.maximum.reduceat(sims, starts, axis=1)
    return out


@dataclass
class _ZeroShot:
    scores: np.ndarray  # combined cosine score per (unit, label)
    desc: np.ndarray  # similarity to each label's description
    example: np.ndarray  # max similarity to each label's examples (-inf: none)
    example_arg: np.ndarray  # which guideline example that was (per unit, label)


def _zero_shot(space: _LabelSpace, x: np.ndarray) -> _ZeroShot:
    import numpy as np

    n_labels = len(space.names)
    desc = x @ space.desc.T
    ex_sims = x @ space.ex_vecs.T
    example = _group_max(ex_sims, space.ex_label, n_labels)
    has_ex = np.isfinite(example)
    scores = np.where(has_ex, (1 - EXAMPLE_WEIGHT) * desc + EXAMPLE_WEIGHT * example, desc)
    if space.counter_vecs.size:
        counter = _group_max(x @ space.counter_vecs.T, space.counter_label, n_labels)
        push = np.where(np.isfinite(counter), np.maximum(counter - scores, 0.0), 0.0)
        scores = scores - COUNTER_WEIGHT * push
    example_arg = _example_argmax(ex_sims, space.ex_label, example)
    return _ZeroShot(scores.astype(np.float32), desc, example, example_arg)


def _example_argmax(ex_sims: np.ndarray, ex_label: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Index of the guideline example reaching each label's best example similarity."""
    import numpy as np

    out = np.zeros(best.shape, dtype=np.int64)
    for lab in np.unique(ex_label):
        cols = np.flatnonzero(ex_label == lab)
        out[:, lab] = cols[np.argmax(ex_sims[:, cols], axis=1)]
    return out


# ---------------------------------------------------------------- supervised


@dataclass
class _Training:
    """Reviewed examples as rows: vectors, targets, the item ids and display texts."""

    x: np.ndarray
    y: np.ndarray  # single: label index per row; multi: (rows, labels) 0/1
    ids: list[str]
    texts: list[str]
    folds: np.ndarray
    n_folds: int

    @property
    def distinct(self) -> int:
        if self.y.ndim == 1:
            return len(set(self.y.tolist()))
        return len({tuple(r) for r in self.y.tolist()})


def _example_rows(
    ex: Example, g: Guideline, index: dict[str, int]
) -> list[tuple[embeddings.Unit, object]]:
    """The (unit, target) training rows one reviewed example gives (none if unusable)."""
    v = ex.value
    if v.abstain:
        return []
    if g.unit == "turn":
        turns = dict(v.turns or {})
        if not turns and v.label is not None and ex.item.target_turn is not None:
            turns = {ex.item.target_turn: v.label}
        units = {u.turn: u for u in embeddings.units_of(ex.item, 0, g.turn_role, g.context)}
        return [(units[t], index[lab]) for t, lab in turns.items() if t in units and lab in index]
    unit = embeddings.units_of(ex.item, 0, fields=g.context)[0]
    if _is_multi(g):
        names = v.labels if v.labels is not None else ((v.label,) if v.label else None)
        if names is None or any(n not in index for n in names):
            return []
        return [(unit, tuple(sorted(index[n] for n in names)))]
    if v.label in index:
        return [(unit, index[v.label])]
    if v.labels and len(v.labels) == 1 and v.labels[0] in index:
        return [(unit, index[v.labels[0]])]
    return []


def fold_of(item_id: str, seed: int, k: int) -> int:
    """The cross-fitting fold (0 to k-1) of a reviewed item, fixed by its id and the seed."""
    h = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") % k


def _training(ctx: LabelContext, index: dict[str, int]) -> _Training | None:
    """Training rows from the reviews, sorted by item id so example order does not matter."""
    import numpy as np

    g = ctx.guideline
    rows: list[tuple[str, embeddings.Unit, object]] = []
    for ex in sorted(ctx.examples, key=lambda e: (e.item.id, e.value.key())):
        rows.extend((ex.item.id, u, t) for u, t in _example_rows(ex, g, index))
    if not rows:
        return None
    ids = [r[0] for r in rows]
    k = min(FOLDS, len(set(ids)))
    if _is_multi(g):
        y = np.zeros((len(rows), len(index)), dtype=np.int64)
        for i, (_, _, t) in enumerate(rows):
            y[i, list(t)] = 1  # type: ignore[call-overload]
    else:
        y = np.array([t for _, _, t in rows], dtype=np.int64)
    return _Training(
        x=embeddings.embed_units([r[1] for r in rows]),
        y=y,
        ids=ids,
        texts=[r[1].text for r in rows],
        folds=np.array([fold_of(i, ctx.seed, k) for i in ids], dtype=np.int64),
        n_folds=k,
    )


@dataclass
class _Model:
    """A classifier fitted on some training rows (+ guideline rows) and its prior weights."""

    coef: np.ndarray  # (labels, dim)
    intercept: np.ndarray  # (labels,)
    prior: np.ndarray  # zero-shot prior weight per label
    n_reviews: int
    multi: bool


def _guideline_rows(space: _LabelSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import numpy as np

    n = len(space.names)
    x = np.vstack([space.desc, space.ex_vecs])
    y = np.concatenate([np.arange(n), space.ex_label])
    w = np.concatenate([np.full(n, GUIDELINE_ROW_WEIGHT), np.ones(len(space.ex_label))])
    return x, y, w


def _fit(space: _LabelSpace, x: np.ndarray, y: np.ndarray, seed: int) -> _Model:
    """Logistic regression on reviewed rows plus the guideline's own rows (so every label has
    at least one positive); multinomial for single-label, one binary model per label for multi."""
    import numpy as np

    gx, gy, gw = _guideline_rows(space)
    n_labels = len(space.names)
    xs = np.vstack([x, gx])
    sw = np.concatenate([np.ones(len(x)), gw])
    from sklearn.exceptions import ConvergenceWarning  # slow imports, only when training
    from threadpoolctl import threadpool_limits

    multi = y.ndim == 2
    # one BLAS thread: these matrices are small, and more threads thrash on a busy machine
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        if multi:
            gy_multi = np.eye(n_labels, dtype=np.int64)[gy]
            ys = np.vstack([y, gy_multi])
            coef, icpt = _fit_binary(xs, ys, sw, seed)
            counts = y.sum(axis=0)
        else:
            ys = np.concatenate([y, gy])
            clf = _classifier(seed)
            clf.fit(xs, ys, sample_weight=sw)
            coef, icpt = clf.coef_, clf.intercept_
            if n_labels == 2:  # sklearn keeps one row for two classes: logits [0, w.x + b]
                coef, icpt = np.vstack([np.zeros_like(coef), coef]), np.r_[0.0, icpt]
            counts = np.bincount(y, minlength=n_labels)
    prior = PRIOR_WEIGHT / (1.0 + counts / PRIOR_HALF)
    return _Model(coef.astype(np.float32), icpt.astype(np.float32), prior, len(x), multi)


def _classifier(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C_REG, max_iter=200, tol=1e-4, random_state=seed)


def _fit_binary(
    x: np.ndarray, y: np.ndarray, sw: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    coef = np.zeros((y.shape[1], x.shape[1]))
    icpt = np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        clf = _classifier(seed)
        clf.fit(x, y[:, j], sample_weight=sw)
        coef[j], icpt[j] = clf.coef_[0], clf.intercept_[0]
    return coef, icpt


# ---------------------------------------------------------------- probabilities


def _zero_shot_probs(zs: _ZeroShot, multi: bool) -> np.ndarray:
    if multi:
        top = zs.scores.max(axis=1, keepdims=True)
        return _sigmoid((zs.scores - top + MULTI_MARGIN) / MULTI_SCALE)
    return _softmax(zs.scores / TEMPERATURE)


def _model_probs(model: _Model, x: np.ndarray, zs: _ZeroShot) -> np.ndarray:
    """Classifier probabilities with the zero-shot score as a per-label prior."""
    logits = x @ model.coef.T + model.intercept
    if model.multi:
        top = zs.scores.max(axis=1, keepdims=True)
        zero = (zs.scores - top + MULTI_MARGIN) / MULTI_SCALE
        return _sigmoid(logits + model.prior * zero)
    return _softmax(logits + model.prior * zs.scores / TEMPERATURE)


# ---------------------------------------------------------------- cached state per version


@dataclass
class _State:
    space: _LabelSpace
    train: _Training | None
    seed: int
    models: dict[int, _Model] = field(default_factory=dict)  # -1: all rows; k: without fold k
    lock: threading.Lock = field(default_factory=threading.Lock)

    supervised: bool = False

    def __post_init__(self) -> None:
        self.supervised = self.train is not None and self.train.distinct >= 2

    def model(self, fold: int) -> _Model:
        """The classifier trained on every row (fold -1) or without one fold (lazily fitted)."""
        with self.lock:
            if fold not in self.models:
                t = self.train
                assert t is not None
                keep = t.folds != fold
                self.models[fold] = _fit(self.space, t.x[keep], t.y[keep], self.seed)
            return self.models[fold]


_STATES: OrderedDict[str, _State] = OrderedDict()
_SPACES: OrderedDict[str, _LabelSpace] = OrderedDict()
_STATE_LOCK = threading.Lock()


def remember(cache: OrderedDict, key: str, value: object) -> None:
    """Keep ``value`` under ``key``, dropping the least recently used beyond _CACHE_SIZE."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)


def _state(ctx: LabelContext, version: str) -> _State:
    with _STATE_LOCK:
        if version in _STATES:
            _STATES.move_to_end(version)
            return _STATES[version]
        gkey = _guideline_key(ctx.guideline)
        space = _SPACES.get(gkey) or _label_space(ctx.guideline)
        remember(_SPACES, gkey, space)
        state = _State(space, _training(ctx, space.index), ctx.seed)
        remember(_STATES, version, state)
        return state


# ---------------------------------------------------------------- the provider


@dataclass
class _Pred:
    """Per-unit results: probabilities, the zero-shot part, and which model made them."""

    probs: np.ndarray
    zs_probs: np.ndarray
    zs: _ZeroShot
    x: np.ndarray
    fold: np.ndarray  # -1: full model (or zero-shot); k: held out of fold k


class LocalProvider:
    """Offline labeler: guideline zero-shot, then a classifier trained on the reviews."""

    def __init__(self, model: str = MODEL, **_options: object) -> None:
        self.model = model
        self._last: tuple[LabelContext, str] | None = None  # labelers reuse one ctx per run

    def version(self, ctx: LabelContext) -> str:
        """Changes with the guideline, the training set and the seed (with questions: with
        every question's)."""
        last = self._last
        if last is not None and last[0] is ctx:
            return last[1]
        if ctx.guideline.asks_questions:
            parts = [
                self._version(questions.question_context(ctx, q))
                for q in ctx.guideline.question_names
            ]
            version = f"{VERSION_PREFIX}:{_digest(parts)}"
        else:
            version = self._version(ctx)
        self._last = (ctx, version)
        return version

    def _ctx(self) -> LabelContext | None:
        return self._last[0] if self._last is not None else None

    def _version(self, ctx: LabelContext) -> str:
        check_kind(ctx.guideline)
        train = sorted((e.item.id, e.value.key()) for e in ctx.examples)
        prefix = SPANS_PREFIX if ctx.guideline.kind == "spans" else VERSION_PREFIX
        return f"{prefix}:{_digest(_guideline_key(ctx.guideline), train, ctx.seed)}"

    def label(self, items: Sequence[Item], ctx: LabelContext) -> list[Suggestion]:
        """One suggestion per item, in order; training items are predicted out of sample.
        With questions, one model per question (``labelloop.label.questions``)."""
        if ctx.guideline.asks_questions:
            version = self.version(ctx)
            return questions.label_each(items, ctx, self._label_one, version) if items else []
        return self._label_one(items, ctx)

    def _label_one(self, items: Sequence[Item], ctx: LabelContext) -> list[Suggestion]:
        check_kind(ctx.guideline)
        if not items:
            return []
        version = self.version(ctx) if ctx is self._ctx() else self._version(ctx)
        if ctx.guideline.kind == "pairwise":
            from labelloop.label.providers.local_judge import judge

            return judge(items, ctx, version)
        if ctx.guideline.kind == "spans":
            from labelloop.label.providers.local_spans import label_spans

            return label_spans(items, ctx, version, _guideline_key(ctx.guideline))
        state = _state(ctx, version)
        role = ctx.guideline.turn_role if ctx.guideline.unit == "turn" else None
        fields = ctx.guideline.context
        units = [
            u for row, it in enumerate(items) for u in embeddings.units_of(it, row, role, fields)
        ]
        pred = _predict(state, items, units, ctx)
        return _suggestions(items, units, pred, state, ctx, version)


def _predict(
    state: _State, items: Sequence[Item], units: list[embeddings.Unit], ctx: LabelContext
) -> _Pred:
    import numpy as np

    x = embeddings.embed_units(units)
    zs = _zero_shot(state.space, x)
    multi = _is_multi(ctx.guideline)
    zs_probs = _zero_shot_probs(zs, multi)
    fold = np.full(len(units), -1, dtype=np.int64)
    if not state.supervised:
        return _Pred(zs_probs, zs_probs, zs, x, fold)
    train = state.train
    assert train is not None
    fold_of = dict(zip(train.ids, train.folds.tolist(), strict=True))
    fold[:] = [fold_of.get(items[u.row].id, -1) for u in units]
    probs = np.empty_like(zs_probs)
    for f in np.unique(fold):
        rows = np.flatnonzero(fold == f)
        sub = _ZeroShot(zs.scores[rows], zs.desc[rows], zs.example[rows], zs.example_arg[rows])
        probs[rows] = _model_probs(state.model(int(f)), x[rows], sub)
    return _Pred(probs, zs_probs, zs, x, fold)


# ---------------------------------------------------------------- suggestions and rationales


def _top2(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the best label, the runner-up (-1 if none), and their probabilities."""
    import numpy as np

    n = len(p)
    if p.shape[1] == 1:
        return np.zeros(n, dtype=np.int64), np.full(n, -1), p[:, 0], np.zeros(n)
    top = np.argpartition(-p, 1, axis=1)[:, :2]
    vals = np.take_along_axis(p, top, axis=1)
    swap = vals[:, 1] > vals[:, 0]
    top[swap] = top[swap][:, ::-1]
    vals[swap] = vals[swap][:, ::-1]
    return top[:, 0], top[:, 1], vals[:, 0], vals[:, 1]


def _neighbours(x: np.ndarray, fold: np.ndarray, best: np.ndarray, train: _Training):
    """Per unit, the nearest reviewed row with the predicted label and the nearest without it
    (index, similarity; -inf when none), never looking at the unit's own held-out fold."""
    import numpy as np

    n = len(x)
    idx = np.zeros((n, 2), dtype=np.int64)
    sims = np.full((n, 2), -np.inf, dtype=np.float32)
    for a in range(0, n, 1024):
        s = x[a : a + 1024] @ train.x.T
        f = fold[a : a + 1024, None]
        s[(f >= 0) & (f == train.folds[None, :])] = -np.inf
        b = best[a : a + 1024]
        same = train.y[:, b].T.astype(bool) if train.y.ndim == 2 else train.y[None, :] == b[:, None]
        for col, mask in enumerate((same, ~same)):
            masked = np.where(mask, s, -np.inf)
            arg = masked.argmax(axis=1)
            idx[a : a + 1024, col] = arg
            sims[a : a + 1024, col] = masked[np.arange(len(arg)), arg]
    return idx, sims


@dataclass
class _Explainer:
    """Builds the short human sentence saying what drove a unit's prediction."""

    state: _State
    pred: _Pred
    nn_idx: np.ndarray | None = None
    nn_sim: np.ndarray | None = None
    _trained_on: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import numpy as np

        train = self.state.train
        if self.state.supervised and train is not None:
            best = self.pred.probs.argmax(axis=1)
            self.nn_idx, self.nn_sim = _neighbours(self.pred.x, self.pred.fold, best, train)
            folds = np.unique(self.pred.fold).tolist()
            self._trained_on = {f: self.state.model(f).n_reviews for f in folds}

    def n_reviews(self, u: int) -> int:
        """Reviewed rows the model that labeled unit u was trained on."""
        return self._trained_on[int(self.pred.fold[u])] if self.state.supervised else 0

    def _train_label(self, row: int) -> str:
        import numpy as np

        train, names = self.state.train, self.state.space.names
        assert train is not None
        y = train.y[row]
        if y.ndim == 0:
            return names[int(y)]
        return ", ".join(names[j] for j in np.flatnonzero(y)) or "no labels"

    def supervised(self, u: int, best: int) -> str:
        import numpy as np

        train, name = self.state.train, self.state.space.names[best]
        assert train is not None and self.nn_idx is not None and self.nn_sim is not None
        held = ", this item held out" if self.pred.fold[u] >= 0 else ""
        parts = [f"Classifier trained on {self.n_reviews(u)} reviews{held}"]
        (same, other), (s_same, s_other) = self.nn_idx[u], self.nn_sim[u]
        if np.isfinite(s_same):
            parts.append(f"nearest {name} example '{quote(train.texts[same])}' ({s_same:.2f})")
        if np.isfinite(s_other):
            parts.append(
                f"nearest other: '{quote(train.texts[other])}' "
                f"({self._train_label(other)}, {s_other:.2f})"
            )
        return "; ".join(parts) + "."

    def zero_shot(self, u: int, best: int, runner: int) -> str:
        space, zs, name = self.state.space, self.pred.zs, self.state.space.names[best]
        if zs.example[u, best] > zs.desc[u, best]:
            ex = quote(space.ex_texts[int(zs.example_arg[u, best])])
            why = f"Closest to the guideline example '{ex}' of {name}"
        else:
            why = f"Closest to the definition of {name}"
        why += f" (similarity {max(zs.example[u, best], zs.desc[u, best]):.2f})"
        if runner < 0:
            return why + "."
        sim = max(zs.example[u, runner], zs.desc[u, runner])
        return f"{why}; runner-up {space.names[runner]} ({sim:.2f})."

    def explain(self, u: int, best: int, runner: int) -> str:
        if self.state.supervised:
            return self.supervised(u, best)
        return self.zero_shot(u, best, runner)


def _signals(p, margin, zs_p, fold, n_reviews) -> dict[str, float | None]:
    return {
        "local_prob": float(p),
        "margin": float(margin),
        "zero_shot_prob": float(zs_p),
        "n_reviews": float(n_reviews),
        "held_out": 1.0 if fold >= 0 else 0.0,
    }


def _suggestions(
    items: Sequence[Item],
    units: list[embeddings.Unit],
    pred: _Pred,
    state: _State,
    ctx: LabelContext,
    version: str,
) -> list[Suggestion]:
    g = ctx.guideline
    explainer = _Explainer(state, pred)
    base = {"model": MODEL, "prompt_version": version, "guideline_version": g.version}
    if g.unit == "turn":
        return _turn_suggestions(items, units, pred, explainer, base, g)
    if _is_multi(g):
        return _multi_suggestions(items, pred, explainer, base)
    return _single_suggestions(items, pred, explainer, base)


def _single_suggestions(items, pred: _Pred, explainer: _Explainer, base: dict) -> list:
    """The most probable label; confidence is its probability."""
    import numpy as np

    names, n_rev = explainer.state.space.names, explainer.n_reviews
    best, runner, p1, p2 = _top2(pred.probs)
    zs_p = pred.zs_probs[np.arange(len(best)), best]
    return [
        Suggestion(
            item_id=item.id,
            value=LabelValue(label=names[best[u]]),
            confidence=float(p1[u]),
            rationale=explainer.explain(u, int(best[u]), int(runner[u])),
            signals=_signals(p1[u], p1[u] - p2[u], zs_p[u], pred.fold[u], n_rev(u)),
            **base,
        )
        for u, item in enumerate(items)
    ]


def _multi_suggestions(items, pred: _Pred, explainer: _Explainer, base: dict) -> list:
    """Every label with p >= 0.5 (at least the best); confidence: prod of max(p, 1-p)."""
    import numpy as np

    names, n_rev = explainer.state.space.names, explainer.n_reviews
    probs, rows = pred.probs, np.arange(len(items))
    best = probs.argmax(axis=1)
    chosen = probs >= 0.5
    chosen[rows, best] = True
    conf = np.prod(np.where(chosen, probs, 1.0 - probs), axis=1)
    zs_conf = np.prod(np.where(chosen, pred.zs_probs, 1.0 - pred.zs_probs), axis=1)
    margin = 2 * np.abs(probs - 0.5).min(axis=1)  # how far the closest call is from 0.5
    out = []
    for u, item in enumerate(items):
        ranked = np.argsort(-probs[u])
        picked = [int(j) for j in ranked if chosen[u, j]]
        left = [int(j) for j in ranked if not chosen[u, j]][:1]
        lead = ", ".join(f"{names[j]} ({probs[u, j]:.2f})" for j in picked)
        tail = f"; runner-up {names[left[0]]} ({probs[u, left[0]]:.2f})" if left else ""
        how = explainer.explain(u, int(best[u]), -1)
        signals = _signals(conf[u], margin[u], zs_conf[u], pred.fold[u], n_rev(u))
        out.append(
            Suggestion(
                item_id=item.id,
                value=LabelValue(labels=tuple(names[j] for j in picked)),
                confidence=float(conf[u]),
                rationale=f"Labels with p >= 0.5: {lead}{tail}. {how}",
                signals={**signals, "top_prob": float(probs[u, best[u]])},
                **base,
            )
        )
    return out


def _turn_suggestions(
    items, units: list[embeddings.Unit], pred: _Pred, explainer: _Explainer, base: dict, g
) -> list:
    """One label per labeled turn; confidence is the product of the turns' probabilities."""
    import numpy as np

    noun = turn_noun(g.turn_role)
    names, n_rev = explainer.state.space.names, explainer.n_reviews
    best, runner, p1, p2 = _top2(pred.probs)
    zs_p = pred.zs_probs[np.arange(len(best)), best]
    rows = np.array([u.row for u in units], dtype=np.int64)
    bounds = np.searchsorted(rows, np.arange(len(items) + 1))
    out = []
    for r, item in enumerate(items):
        a, b = int(bounds[r]), int(bounds[r + 1])
        if a == b:
            out.append(
                Suggestion(
                    item_id=item.id,
                    value=None,
                    status="failed",
                    error=f"No {noun} to label (guideline unit: turn, roles: "
                    f"{role_names(g.turn_role)})",
                    **base,
                )
            )
            continue
        turns = {units[u].turn: names[best[u]] for u in range(a, b)}
        per = f"Per {noun}: " + "; ".join(
            f"{units[u].turn}: {names[best[u]]} ({p1[u]:.2f})" for u in range(a, b)
        )
        conf = float(np.prod(p1[a:b]))
        signals = _signals(
            conf, np.min(p1[a:b] - p2[a:b]), np.prod(zs_p[a:b]), pred.fold[a], n_rev(a)
        )
        out.append(
            Suggestion(
                item_id=item.id,
                value=LabelValue(turns=turns),
                confidence=conf,
                rationale=f"{per}. Turn {units[a].turn}: "
                + explainer.explain(a, int(best[a]), int(runner[a])),
                signals=signals,
                **base,
            )
        )
    return out


register(MODEL, LocalProvider)
