"""Confidence signals from token logprobs: pure functions over ``choices[0].logprobs.content``.

Tokens may be dicts or the OpenAI SDK's objects (``token``, ``logprob``, ``bytes``,
``top_logprobs: [{token, logprob, bytes}]``). The answer's JSON text is rebuilt from the
tokens' bytes (a token may hold part of a UTF-8 character), the label value is found by its
JSON key, and the tokens covering it are the ones whose bytes overlap the value and its
closing quote. The closing quote counts because, where one label is a prefix of another
(``card_payment`` / ``card_payment_fee_charged``), that is the token that decides between
them; elsewhere it is forced, with a logprob of about 0.

Signals (``None`` whenever they cannot be computed, never a made-up value):

- ``logprob_prob``: P(the value's tokens) = exp(sum of their logprobs).
- ``logprob_renorm``: P(the value | the answer is some label). By the chain rule, the product,
  over the value's tokens where more than one label is still possible, of the probability
  mass of the listed alternatives consistent with the value, divided by the mass of those
  consistent with any still-possible label. An alternative is consistent with a label when,
  appended to the value text before it, it is a prefix of the label's text (plus its closing
  quote) or extends it. The first such token is where labels first diverge (at the first
  letter, or after a shared prefix such as ``card_payment_``); a later one splits a group
  of labels sharing a prefix. Approximations: OpenAI lists at most 20 alternatives per
  token, so labels outside them get no mass (the value is over- rather than underrated);
  labels' later tokens are not scored once they leave the chosen path. A chosen token
  missing from its own list counts with its own logprob. Tokens without alternatives
  (``top_logprobs`` not requested) give ``None``.

An answer keyed by question (a guideline that asks several questions) is scored one
question at a time (``question_signals``): only the label values inside that question's
member of the answer object count.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from labelloop.core.types import LabelValue
from labelloop.label.schemas import NONE_OF_THESE

Signals = dict[str, float | None]
#: a byte range of the answer's text: (start, end)
Within = tuple[int, int] | None

_STRING = rb'"((?:[^"\\]|\\.)*)"'
_LABEL = re.compile(rb'"label"\s*:\s*' + _STRING, re.S)
_LABELS = re.compile(rb'"labels"\s*:\s*\[', re.S)
_IN_ARRAY = re.compile(_STRING + rb"|\]", re.S)
_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


class _Token(NamedTuple):  # a tuple: an answer has dozens of tokens, made per item
    raw: bytes
    logprob: float
    #: the token's ``top_logprobs`` as given; read only for the tokens of a label value
    top_given: Any = ()

    @property
    def top(self) -> tuple[tuple[bytes, float], ...]:
        return tuple(_alternatives(self.top_given or ()))


@dataclass(frozen=True)
class _Answer:
    """The answer's bytes and where each token starts in them."""

    tokens: list[_Token]
    text: bytes
    starts: list[int]


def missing() -> Signals:
    """The signals of an answer without usable logprobs."""
    return {"logprob_prob": None, "logprob_renorm": None}


def value_signals(
    content_tokens: Any, value: LabelValue | None, labels: Sequence[str], *, within: Within = None
) -> Signals:
    """The logprob signals of a parsed answer, whatever its task shape.

    ``labels`` are the guideline's label names; an abstention answered as
    "none_of_these" is scored against them plus that answer. ``within``: only label values
    in that byte range of the answer's text count (one question's member).
    """
    if value is None or value.ratings is not None or value.ranking is not None:
        return missing()  # a judge's ratings or ranking: its verbalized confidence only
    if value.answers is not None:
        return missing()  # answers keyed by question: ``question_signals``, one by one
    if value.spans is not None or value.turns is not None:
        return all_labels_logprob_signals(content_tokens, within=within)
    if value.labels is not None:
        return labels_logprob_signals(content_tokens, value.labels, labels, within=within)
    if value.label is not None:
        return label_logprob_signals(content_tokens, value.label, labels, within=within)
    # an abstention: "none_of_these" of a single-label answer (an empty list has no label)
    choices = [*labels, *([] if NONE_OF_THESE in labels else [NONE_OF_THESE])]
    return label_logprob_signals(content_tokens, NONE_OF_THESE, choices, within=within)


def question_signals(
    content_tokens: Any, question: str, value: LabelValue, labels: Sequence[str]
) -> Signals:
    """The signals of one question's answer (``value``, in that question's own shape) in an
    answer object keyed by question name: ``value_signals`` over the label values of that
    question's member only. ``labels``: that question's label names."""
    answer = _answer(content_tokens)
    where = _member(answer.text, question) if answer else None
    if where is None:
        return missing()
    return value_signals(answer, value, labels, within=where)


def label_logprob_signals(
    content_tokens: Any, value: str, labels: Sequence[str], *, within: Within = None
) -> Signals:
    """Signals of a single-label answer ``{"label": value, ...}``."""
    answer = _answer(content_tokens)
    spans = _label_values(answer.text, within) if answer else []
    at = next((s for s in spans if s[2] == value), None)
    if answer is None or at is None:
        return missing()
    return {
        "logprob_prob": _prob(answer, at[0], at[1]),
        "logprob_renorm": _renorm(answer, at[0], at[1], value, labels),
    }


def labels_logprob_signals(
    content_tokens: Any, values: Sequence[str], labels: Sequence[str], *, within: Within = None
) -> Signals:
    """Signals of a multi-label answer: products over the chosen labels.

    ``logprob_renorm`` multiplies each element's renormalised probability; it leaves out
    the probability of ending the list, so it scores the chosen labels, not the whole set.
    """
    answer = _answer(content_tokens)
    found = _array_values(answer.text, within) if answer else []
    if answer is None or not values:
        return missing()
    prob, renorm = 1.0, 1.0
    for value in values:
        at = next((s for s in found if s[2] == value), None)
        if at is None:
            return missing()
        found.remove(at)
        prob *= _prob(answer, at[0], at[1])
        share = _renorm(answer, at[0], at[1], value, labels)
        renorm = None if renorm is None or share is None else renorm * share
    return {"logprob_prob": prob, "logprob_renorm": renorm}


def all_labels_logprob_signals(content_tokens: Any, *, within: Within = None) -> Signals:
    """Signals of a spans or turns answer: the product over every ``"label"`` value in it."""
    answer = _answer(content_tokens)
    spans = _label_values(answer.text, within) if answer else []
    if answer is None or not spans:
        return missing()
    return {
        "logprob_prob": math.prod(_prob(answer, s, e) for s, e, _ in spans),
        "logprob_renorm": None,
    }


# --- the answer's text ------------------------------------------------------------------------


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _raw(obj: Any) -> bytes | None:
    if type(obj) is dict:  # the common case (a parsed response): skip the generic lookups
        raw, token = obj.get("bytes"), obj.get("token")
    else:
        raw, token = _field(obj, "bytes"), _field(obj, "token")
    if raw is not None:
        # the bytes are the truth (a token may hold part of a character, its text then an
        # escape such as "\\xe2"); an ASCII token of as many characters as bytes is those
        # bytes, and encoding it is ~5x cheaper than bytes() over a list of ints
        if type(token) is str and len(token) == len(raw) and token.isascii():
            return token.encode("ascii")
        return bytes(raw)
    return token.encode("utf-8") if isinstance(token, str) else None


def _answer(content_tokens: Any) -> _Answer | None:
    """The tokens with their offsets, or None when there are no usable logprobs."""
    if isinstance(content_tokens, _Answer):  # already read (one question of several)
        return content_tokens
    if content_tokens is not None and not isinstance(content_tokens, list | tuple):
        content_tokens = _field(content_tokens, "content")  # a whole ``logprobs`` object
    if not content_tokens:
        return None
    tokens = []
    for tok in content_tokens:
        if type(tok) is dict:
            raw, logprob, top = _raw(tok), tok.get("logprob"), tok.get("top_logprobs")
        else:
            raw, logprob, top = _raw(tok), _field(tok, "logprob"), _field(tok, "top_logprobs")
        if raw is None or logprob is None:
            return None
        tokens.append(_Token(raw, float(logprob), top))
    starts, at = [], 0
    for tok in tokens:
        starts.append(at)
        at += len(tok.raw)
    return _Answer(tokens, b"".join(t.raw for t in tokens), starts)


def _alternatives(top: Iterable[Any]) -> Iterable[tuple[bytes, float]]:
    for alt in top:
        raw, logprob = _raw(alt), _field(alt, "logprob")
        if raw is not None and logprob is not None:
            yield raw, float(logprob)


def _decode(raw: bytes) -> str | None:
    try:
        return json.loads(b'"' + raw + b'"')
    except ValueError:
        return None


def _label_values(text: bytes, within: Within = None) -> list[tuple[int, int, str | None]]:
    """(start, end, value) of each ``"label"`` string value: the bytes inside its quotes."""
    found = _LABEL.finditer(text, *within) if within else _LABEL.finditer(text)
    return [(m.start(1), m.end(1), _decode(m[1])) for m in found]


def _array_values(text: bytes, within: Within = None) -> list[tuple[int, int, str | None]]:
    """(start, end, value) of each string in the ``"labels"`` array."""
    start, end = within if within else (0, len(text))
    head = _LABELS.search(text, start, end)
    out: list[tuple[int, int, str | None]] = []
    for m in _IN_ARRAY.finditer(text, head.end(), end) if head else ():
        if m[0] == b"]":
            break
        out.append((m.start(1), m.end(1), _decode(m[1])))
    return out


def _member(text: bytes, key: str) -> tuple[int, int] | None:
    """Where the value of member ``key`` of the answer's top-level JSON object lies in its
    bytes, (start, end); None when the answer is not such an object or has no such member."""
    try:
        s = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    at = s.find("{")
    if at < 0:
        return None
    i = _SPACE.match(s, at + 1).end()
    try:
        while s.startswith('"', i):
            name, i = json.decoder.scanstring(s, i + 1)
            i = _SPACE.match(s, i).end()
            if not s.startswith(":", i):
                return None
            start = _SPACE.match(s, i + 1).end()
            end = _DECODER.raw_decode(s, start)[1]
            if name == key:
                return len(s[:start].encode()), len(s[:end].encode())
            i = _SPACE.match(s, end).end()
            if not s.startswith(",", i):
                return None
            i = _SPACE.match(s, i + 1).end()
    except ValueError:
        return None
    return None


# --- the signals ------------------------------------------------------------------------------


def _covering(answer: _Answer, start: int, end: int) -> list[int]:
    """Indices of the tokens that overlap the value's bytes and its closing quote."""
    stop = end + 1
    return [
        i
        for i, tok in enumerate(answer.tokens)
        if answer.starts[i] < stop and answer.starts[i] + len(tok.raw) > start
    ]


def _prob(answer: _Answer, start: int, end: int) -> float:
    return math.exp(sum(answer.tokens[i].logprob for i in _covering(answer, start, end)))


def _renorm(
    answer: _Answer, start: int, end: int, value: str, labels: Sequence[str]
) -> float | None:
    """P(value | some label), multiplied over the tokens where labels still diverge."""
    if value not in labels:
        return None
    targets, ordered = _targets(tuple(labels))
    chosen, share = targets[value], 1.0
    for i in _covering(answer, start, end):
        tok, tok_start = answer.tokens[i], answer.starts[i]
        done = answer.text[start : max(tok_start, start)]  # value bytes before this token
        alive = _starting_with(ordered, done)
        if len(alive) < 2:
            continue
        top = tok.top
        if not top:
            return None
        lead = answer.text[tok_start:start]  # bytes before the value, e.g. an opening quote
        options = dict(top)
        options.setdefault(tok.raw, tok.logprob)
        mass = {alt: math.exp(lp) for alt, lp in options.items() if alt.startswith(lead)}
        texts = {alt: done + alt[len(lead) :] for alt in mass}
        ours = sum(p for alt, p in mass.items() if _consistent(texts[alt], chosen))
        alive_set = set(alive)
        total = sum(p for alt, p in mass.items() if _fits_any(texts[alt], alive, alive_set))
        if total <= 0:
            return None
        share *= ours / total
    return share


@lru_cache(maxsize=64)
def _targets(labels: tuple[str, ...]) -> tuple[dict[str, bytes], list[bytes]]:
    """Each label's encoded text, and those texts sorted (once per label set, not per answer)."""
    targets = {lab: _encoded(lab) for lab in labels}
    return targets, sorted(targets.values())


def _encoded(label: str) -> bytes:
    """A label as its JSON string's bytes after the opening quote, closing quote included."""
    return json.dumps(label, ensure_ascii=False)[1:].encode("utf-8")


def _consistent(text: bytes, target: bytes) -> bool:
    return target.startswith(text) or text.startswith(target)


def _starting_with(ordered: list[bytes], prefix: bytes) -> list[bytes]:
    """The targets (sorted) that start with ``prefix``: a contiguous run from its position,
    up to ``prefix + b"\\xff"`` (no UTF-8 text has that byte)."""
    return ordered[bisect_left(ordered, prefix) : bisect_left(ordered, prefix + b"\xff")]


def _fits_any(text: bytes, ordered: list[bytes], targets: set[bytes]) -> bool:
    """``any(_consistent(text, t) for t in targets)`` without trying each of 77 labels:
    a target extending ``text`` is the first one at or after it in sorted order, and a
    target that ``text`` extends is one of its prefixes."""
    i = bisect_left(ordered, text)
    if i < len(ordered) and ordered[i].startswith(text):
        return True
    return any(text[:k] in targets for k in range(1, len(text) + 1))
