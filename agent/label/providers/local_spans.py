"""The embedded span labeler (``model="local"`` on a ``kind: spans`` guideline): a linear-chain
CRF (python-crfsuite) over the words of an item.

Each word is described by its spelling (lower case, shape, affixes, capitals, digits), its
neighbours', the embedded model's vector of the word (a few of its dimensions, and its
similarity to each label's examples), what shipped word lists say of it (how common it is in
English, a known first or last name, part of a place name: ``labelloop.label.lexicons``),
the item's ``context:`` fields (alone, and joined with the word's shape: "19" after "What
time?" is not "19" after "How many people?") and, in a transcript, the speaker of its turn.

Before anyone reviews an item the CRF learns from the guideline: its span-marked examples
(``labelloop.core.marks``) and each label's name. Reviewed items are added as they arrive;
items that are themselves training rows are predicted by a model fitted without their fold
(cross-fitting), so their confidence can calibrate honestly, as the text model's does.

Confidence: the CRF's probability of the whole answer (every word's tag, so "no spans" has a
probability like any other answer); each span's own probability (the least marginal of its
words' tags, and of the word after it not continuing it) is in the rationale and signals.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labelloop.core.context import context_of, context_text, one_line
from labelloop.core.marks import span_examples
from labelloop.core.types import Guideline, Item, LabelValue, Span, Suggestion
from labelloop.label import embeddings, lexicons
from labelloop.label.providers.local import FOLDS, fold_of, humanise, quote, remember
from labelloop.label.schemas import item_text

if TYPE_CHECKING:
    import numpy as np
    import pycrfsuite

    from labelloop.label.providers.base import LabelContext

MODEL = "local"
#: words: a handle or hashtag, a word with inner apostrophes/dots/hyphens, a number with
#: separators, or one other character
WORD = re.compile(r"[@#]?\w+(?:['’.\-:/]\w+)*|[^\w\s]")
OUTSIDE = "O"
#: L1 / L2 regularisation and iterations of the CRF (L-BFGS), chosen on WNUT-17 (200 train
#: sentences, 400-800 test sentences): span-F1 moved by at most 0.03 across the settings
#: tried, and 100 iterations did as well as 150 in two thirds of the time
C1 = 0.1
C2 = 0.001
ITERATIONS = 100
#: words whose vectors and features are kept per guideline (about 5 KB each)
MAX_WORDS = 100_000
#: word-list features (``labelloop.label.lexicons``) the next and previous word lend
NEIGHBOUR_LISTS = ("zipf", "first", "last")
#: embedding dimensions used as word features, and their scale
DIMS = 24
DIM_SCALE = 2.0


@dataclass(frozen=True)
class Word:
    text: str
    start: int
    end: int
    #: the speaker of the turn the word is in (transcripts), "" in a plain text; words of
    #: the "role:" prefix itself are marked "prefix"
    role: str = ""


def words_of(text: str, roles: bool = False) -> list[Word]:
    """The words of ``text`` with their character offsets; with ``roles``, ``text`` is a
    transcript of ``role: content`` lines and each word knows its line's speaker."""
    if not roles:
        return [Word(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]
    out: list[Word] = []
    at = 0
    for line in text.split("\n"):
        head, sep, _ = line.partition(": ")
        cut = at + len(head) + len(sep) if sep else at
        speaker = head.strip().lower() if sep else ""
        for m in WORD.finditer(line):
            a, b = at + m.start(), at + m.end()
            out.append(Word(m.group(), a, b, "prefix" if a < cut else speaker))
        at += len(line) + 1
    return out


def tags_of(words: Sequence[Word], spans: Iterable[Span]) -> list[str]:
    """BIO tags of the words for ``spans`` (a span covers the words it overlaps)."""
    tags = [OUTSIDE] * len(words)
    for s in sorted(spans, key=lambda s: (s.start, s.end)):
        inside = [i for i, w in enumerate(words) if w.start < s.end and w.end > s.start]
        if not inside or any(tags[i] != OUTSIDE for i in inside):
            continue  # no word under it, or overlapping a span already tagged
        tags[inside[0]] = f"B-{s.label}"
        for i in inside[1:]:
            tags[i] = f"I-{s.label}"
    return tags


def spans_of(words: Sequence[Word], tags: Sequence[str], text: str) -> list[tuple[Span, int, int]]:
    """The spans a tag sequence says, each with its first and last word index (an I- tag
    that does not continue its label starts a span)."""
    out: list[tuple[Span, int, int]] = []
    open_: tuple[str, int] | None = None
    for i, tag in enumerate([*tags, OUTSIDE]):
        kind, _, label = tag.partition("-")
        continues = kind == "I" and open_ is not None and open_[0] == label
        if open_ is not None and not continues:
            lab, a = open_
            s, e = words[a].start, words[i - 1].end
            out.append((Span(start=s, end=e, label=lab, text=text[s:e]), a, i - 1))
            open_ = None
        if kind in ("B", "I") and not continues:
            open_ = (label, i)
    return out


# ---------------------------------------------------------------- word features


def shape(word: str) -> str:
    """Xxxx -> "Xx", 1984 -> "d", iPhone7 -> "xXxd": character classes, runs collapsed."""
    out: list[str] = []
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:8]


def _own(w: str) -> dict[str, float | str]:
    low = w.lower()
    return {
        "w": low,
        "shape": shape(w),
        "p2": low[:2],
        "p3": low[:3],
        "s2": low[-2:],
        "s3": low[-3:],
        "title": float(w[:1].isupper()),
        "upper": float(w.isupper() and len(w) > 1),
        "digit": float(w.isdigit()),
        "hasdigit": float(any(c.isdigit() for c in w)),
        "handle": float(w[:1] in "@#"),
        "long": float(len(w) > 6),
    }


@dataclass
class _Lexicon:
    """The embedded model's view of words: vectors, and the similarity to each label."""

    prototypes: np.ndarray  # (labels, dim), rows normalised
    names: list[str]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    #: each word's features, made once
    made: dict[str, dict[str, float | str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, words: Iterable[str]) -> None:
        """Embed the words not seen yet (lower case), in one batch. Past MAX_WORDS words
        the cache starts again, so a long-lived process stays bounded."""
        wanted = {w.lower() for w in words}
        with self.lock:
            if len(self.vectors) + len(wanted) > MAX_WORDS:
                self.vectors.clear()
                self.made.clear()
            new = sorted(wanted - self.vectors.keys())
            if new:
                for w, v in zip(new, embeddings.embed(new), strict=True):
                    self.vectors[w] = v

    def features(self, word: str) -> dict[str, float | str]:
        low = word.lower()
        got = self.made.get(low)
        if got is None:
            v = self.vectors.get(low)
            if v is None:  # the cache started again since the word was added
                v = embeddings.embed([low])[0]
            got = self.made[low] = self._features(low, v)
        return got

    def _features(self, low: str, v: np.ndarray) -> dict[str, float | str]:
        out: dict[str, float | str] = {
            f"e{j}": float(v[j]) * DIM_SCALE for j in range(min(DIMS, len(v)))
        }
        for k, centroids in _clusters().items():
            out[f"c{k}"] = str(int((centroids @ v).argmax()))
        # rare words (names, brands) are cut into more pieces by the model's tokenizer
        out["pieces"] = str(min(_pieces(low), 3))
        out.update(lexicons.word_features(low))  # how common; a known first or last name
        if self.prototypes.size:
            sims = self.prototypes @ v
            out.update({f"sim:{n}": float(s) for n, s in zip(self.names, sims, strict=True)})
        return out


def _pieces(word: str) -> int:
    return len(embeddings.model().tokenizer.encode(word, add_special_tokens=False).ids)


_CLUSTERS: dict[int, np.ndarray] = {}
_CLUSTER_LOCK = threading.Lock()
#: word clusters: the embedded model's vocabulary grouped by k-means at these sizes, so
#: words the reviews never showed share features with words they did
CLUSTER_SIZES = (64, 256)


def _clusters() -> dict[int, np.ndarray]:
    """Centroids (rows normalised) of the vocabulary's vectors, per cluster count; made once
    per process (seeded)."""
    with _CLUSTER_LOCK:
        if not _CLUSTERS and CLUSTER_SIZES:
            import numpy as np
            from sklearn.cluster import MiniBatchKMeans
            from threadpoolctl import threadpool_limits

            vocab = np.asarray(embeddings.model().embedding, dtype=np.float32)
            vocab = vocab / np.linalg.norm(vocab, axis=1, keepdims=True).clip(1e-9)
            with threadpool_limits(1):
                for k in CLUSTER_SIZES:
                    km = MiniBatchKMeans(k, random_state=0, n_init=1, batch_size=4096)
                    c = km.fit(vocab).cluster_centers_.astype(np.float32)
                    _CLUSTERS[k] = c / np.linalg.norm(c, axis=1, keepdims=True).clip(1e-9)
        return _CLUSTERS


def _lexicon(g: Guideline) -> _Lexicon:
    """Each label's prototype: the mean vector of its example spans' words and its name."""
    import numpy as np

    texts: dict[str, list[str]] = {n: [humanise(n)] for n in g.label_names}
    for _, spans in span_examples(g):
        for s in spans:
            if s.label in texts and s.text:
                texts[s.label].append(s.text)
    names = list(texts)
    rows = [embeddings.embed(texts[n]).mean(axis=0) for n in names]
    protos = np.vstack(rows) if rows else np.zeros((0, embeddings.dim()), dtype=np.float32)
    norms = np.linalg.norm(protos, axis=1, keepdims=True)
    np.divide(protos, norms, out=protos, where=norms > 0)
    return _Lexicon(protos.astype(np.float32), names)


def features(
    words: Sequence[Word], lexicon: _Lexicon, context: Sequence[tuple[str, str]] = ()
) -> list[dict[str, float | str]]:
    """The CRF's features of each word (``lexicon`` must know the words)."""
    own = [_own(w.text) for w in words]
    lex = [lexicon.features(w.text) for w in words]
    places = lexicons.place_tags([o["w"] for o in own], WORD.findall)
    out = []
    for i, w in enumerate(words):
        f: dict[str, float | str] = {"bias": 1.0, **own[i], **lex[i]}
        if i and own[i]["title"]:  # a capital inside the text, not the sentence's first
            f["title_mid"] = 1.0
        if places[i]:
            f["place"] = places[i]
        for d in (-2, -1, 1, 2):
            j = i + d
            if 0 <= j < len(words):
                f[f"{d}:w"] = own[j]["w"]
                f[f"{d}:c64"] = lex[j].get("c64", "")
                f[f"{d}:shape"] = own[j]["shape"]
                f[f"{d}:title"] = own[j]["title"]
                if abs(d) == 1:
                    f.update({f"{d}:{k}": lex[j][k] for k in NEIGHBOUR_LISTS if k in lex[j]})
                    if places[j]:
                        f[f"{d}:place"] = places[j]
            else:
                f[f"{d}:edge"] = 1.0
        if w.role:
            f["role"] = w.role
        for name, value in context:
            f[f"ctx:{name}"] = value
            f[f"ctx:{name}|shape"] = f"{value}|{own[i]['shape']}"
        out.append(f)
    return out


def _context(item: Item, fields: Sequence[str]) -> list[tuple[str, str]]:
    return [(f, one_line(context_text(v))[:60]) for f, v in context_of(item, fields)]


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class _Row:
    """One training sequence: its owner (a reviewed item's id; "" for the guideline's own
    examples), words and tags."""

    owner: str
    words: tuple[Word, ...]
    tags: tuple[str, ...]
    context: tuple[tuple[str, str], ...] = ()
    text: str = ""
    #: a label's name as a span of that label (not one of the guideline's examples)
    name: bool = False


def _guideline_rows(g: Guideline) -> list[_Row]:
    """The guideline's examples, and each label's name as a span of that label."""
    rows = []
    for text, spans in span_examples(g):
        ws = words_of(text)
        if ws:
            rows.append(_Row("", tuple(ws), tuple(tags_of(ws, spans)), (), text))
    for name in g.label_names:
        text = humanise(name)
        ws = words_of(text)
        if ws:
            span = Span(start=0, end=len(text), label=name)
            rows.append(_Row("", tuple(ws), tuple(tags_of(ws, [span])), (), text, name=True))
    return rows


def _review_rows(ctx: LabelContext) -> list[_Row]:
    """Reviewed items with their spans ("no spans" included), sorted by item id."""
    g = ctx.guideline
    rows = []
    for ex in sorted(ctx.examples, key=lambda e: (e.item.id, e.value.key())):
        v = ex.value
        if v.abstain or v.spans is None:
            continue
        text = item_text(ex.item)
        ws = words_of(text, roles=ex.item.messages is not None)
        if not ws:
            continue
        ctx_ = tuple(_context(ex.item, g.context))
        rows.append(_Row(ex.item.id, tuple(ws), tuple(tags_of(ws, v.spans)), ctx_, text))
    return rows


@dataclass(frozen=True)
class _Crf:
    """A fitted CRF: its tagger, and the model bytes the tagger reads for as long as it
    lives (crfsuite does not copy them)."""

    tagger: pycrfsuite.Tagger
    data: bytes


def _train(rows: Sequence[tuple[pycrfsuite.ItemSequence, Sequence[str]]]) -> _Crf:
    """A CRF fitted on (features, tags) rows, held in memory."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    for xseq, tags in rows:
        trainer.append(xseq, list(tags))
    trainer.set_params(
        {"c1": C1, "c2": C2, "max_iterations": ITERATIONS, "feature.possible_transitions": True}
    )
    fd, path = tempfile.mkstemp(prefix="labelloop-crf-", suffix=".bin")
    os.close(fd)
    try:
        trainer.train(path)
        with open(path, "rb") as fh:
            data = fh.read()
    finally:
        os.unlink(path)
    tagger = pycrfsuite.Tagger()
    tagger.open_inmemory(data)
    return _Crf(tagger, data)


@dataclass
class _State:
    """The models of one version: fitted on every row (-1), or without one fold (lazily)."""

    lexicon: _Lexicon
    guide: list[_Row]
    reviewed: list[_Row]
    seed: int
    n_folds: int = 0
    folds: dict[str, int] = field(default_factory=dict)
    models: dict[int, _Crf] = field(default_factory=dict)
    #: each row's features, made once for every model that learns from it
    seqs: list[pycrfsuite.ItemSequence] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        owners = sorted({r.owner for r in self.reviewed})
        self.n_folds = min(FOLDS, len(owners))
        self.folds = {o: fold_of(o, self.seed, self.n_folds) for o in owners}
        self.lexicon.add(w.text for r in (*self.guide, *self.reviewed) for w in r.words)

    def crf(self, fold: int) -> _Crf:
        """The model fitted on every row (fold -1) or without one fold; hold the returned
        object while its tagger is in use."""
        import pycrfsuite

        with self.lock:
            if fold in self.models:  # every item after the first, for each fold
                return self.models[fold]
            rows = [*self.guide, *self.reviewed]
            if not self.seqs:
                self.seqs = [
                    pycrfsuite.ItemSequence(features(r.words, self.lexicon, r.context))
                    for r in rows
                ]
            keep = [
                (x, r.tags)
                for x, r in zip(self.seqs, rows, strict=True)
                if not r.owner or self.folds[r.owner] != fold
            ]
            self.models[fold] = _train(keep)
            return self.models[fold]

    def trained_on(self, fold: int) -> int:
        """Reviewed items the model of ``fold`` learned from."""
        return sum(1 for o, f in self.folds.items() if f != fold)


_STATES: OrderedDict[str, _State] = OrderedDict()
_LEXICONS: OrderedDict[str, _Lexicon] = OrderedDict()
_STATE_LOCK = threading.Lock()


def _state(ctx: LabelContext, version: str, guideline_key: str) -> _State:
    with _STATE_LOCK:
        if version in _STATES:
            _STATES.move_to_end(version)
            return _STATES[version]
        g = ctx.guideline
        lexicon = _LEXICONS.get(guideline_key) or _lexicon(g)
        remember(_LEXICONS, guideline_key, lexicon)
        state = _State(lexicon, _guideline_rows(g), _review_rows(ctx), ctx.seed)
        remember(_STATES, version, state)
        return state


# ---------------------------------------------------------------- labeling


def label_spans(
    items: Sequence[Item], ctx: LabelContext, version: str, guideline_key: str
) -> list[Suggestion]:
    """One suggestion per item, in order; reviewed items are predicted out of sample."""
    g = ctx.guideline
    state = _state(ctx, version, guideline_key)
    texts = [item_text(it) for it in items]
    words = [words_of(t, roles=it.messages is not None) for t, it in zip(texts, items, strict=True)]
    state.lexicon.add(w.text for ws in words for w in ws)
    base = {"model": MODEL, "prompt_version": version, "guideline_version": g.version}
    out = []
    for item, text, ws in zip(items, texts, words, strict=True):
        fold = state.folds.get(item.id, -1)
        if not ws:
            out.append(_empty(item, base))
            continue
        crf = state.crf(fold)
        tagger = crf.tagger
        xseq = features(ws, state.lexicon, _context(item, g.context))
        with state.lock:  # a tagger holds one sequence at a time
            known = set(tagger.labels())
            # crfsuite answers "" for a word it cannot tag (a model without that label)
            tags = [t if t in known else OUTSIDE for t in tagger.tag(xseq)]
            p_all = tagger.probability(tags) if known.issuperset(tags) else 0.0
            p_none = tagger.probability([OUTSIDE] * len(ws)) if OUTSIDE in known else 0.0
            found = spans_of(ws, tags, text)
            span_p = [_span_prob(tagger, known, tags, a, b) for _, a, b in found]
        out.append(_suggestion(item, found, span_p, p_all, p_none, fold, state, base))
    return out


def _span_prob(
    tagger: pycrfsuite.Tagger, known: set[str], tags: Sequence[str], a: int, b: int
) -> float:
    """A span's own probability: the least marginal of its words' tags, and of the word after
    it not continuing it (a tag the model never learned has none)."""
    probs = [tagger.marginal(tags[i], i) for i in range(a, b + 1)]
    goes_on = f"I-{tags[a][2:]}"
    if b + 1 < len(tags) and goes_on in known:
        probs.append(1.0 - tagger.marginal(goes_on, b + 1))
    return float(min(probs))


def _empty(item: Item, base: dict) -> Suggestion:
    return Suggestion(
        item_id=item.id,
        value=LabelValue(spans=()),
        confidence=1.0,
        rationale="The item has no words: no spans.",
        signals={"local_prob": 1.0, "empty_prob": 1.0, "n_spans": 0.0},
        **base,
    )


def _suggestion(item, found, span_p, p_all, p_none, fold, state: _State, base) -> Suggestion:
    spans = tuple(s for s, _, _ in found)
    n = state.trained_on(fold)
    held = ", this item held out" if fold >= 0 else ""
    examples = sum(1 for r in state.guide if not r.name)
    head = f"CRF trained on {n} reviewed items and {examples} guideline examples{held}"
    if spans:
        said = "; ".join(
            f"'{quote(s.text or '')}' {s.label} ({p:.2f})"
            for s, p in zip(spans, span_p, strict=True)
        )
        why = f"{head}. Spans: {said}; the whole answer {p_all:.2f}."
    else:
        why = f"{head}. No spans ({p_all:.2f})."
    return Suggestion(
        item_id=item.id,
        value=LabelValue(spans=spans),
        confidence=float(p_all),
        rationale=why,
        signals={
            "local_prob": float(p_all),
            "empty_prob": float(p_none),
            "n_spans": float(len(spans)),
            "min_span_prob": float(min(span_p)) if span_p else None,
            "n_reviews": float(n),
            "held_out": 1.0 if fold >= 0 else 0.0,
        },
        **base,
    )
