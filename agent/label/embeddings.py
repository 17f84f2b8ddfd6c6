"""Sentence embeddings for the offline model: wordllama, loaded once from the installed package,
and what of an item is embedded (its text, its target turn, or each user turn, with the
values of the guideline's ``context:`` fields).

The weights ship inside the ``wordllama`` wheel, so nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labelloop.core.context import context_lines
from labelloop.core.turns import USER_ROLES, is_labeled
from labelloop.core.types import Item

if TYPE_CHECKING:  # numpy loads where vectors are made
    import numpy as np

_MODEL: Any = None
_LOCK = threading.Lock()
#: characters in one piece of a long text, and at most in one batch (padding included):
#: a batch's token vectors then take ~2 MB (at most ~32 MB), whatever the texts
PIECE_CHARS = 2_000
BATCH_CHARS = 8_000


def model() -> Any:
    """The shared wordllama model, created on first use (thread-safe, never downloads)."""
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                with _keep_root_logging():
                    import wordllama
                    from wordllama import WordLlama

                    _MODEL = WordLlama.load(
                        cache_dir=Path(wordllama.__file__).parent, disable_download=True
                    )
    return _MODEL


@contextmanager
def _keep_root_logging() -> Iterator[None]:
    """Undo wordllama's import-time ``logging.basicConfig(level=INFO)``: it would turn on
    every library's INFO logging (litellm logs a line per call) on the application's stderr."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)


def dim() -> int:
    """Width of the embedding rows."""
    return int(model().embedding.shape[1])


def embed(texts: Sequence[str]) -> np.ndarray:
    """L2-normalised float32 embeddings, one row per text (an empty text gives a zero row).

    Each row is the mean of the text's token vectors, as wordllama computes it, but long
    texts go in pieces of at most PIECE_CHARS characters and a batch holds at most
    BATCH_CHARS: memory stays bounded however long a text is, and no text is cut short.
    """
    import numpy as np

    sums = np.zeros((len(texts), dim()), dtype=np.float32)
    pieces, owners = _pieces(texts)
    for batch in _batches(pieces):
        np.add.at(sums, owners[batch], _token_sums([pieces[i] for i in batch]))
    # the mean and the sum of the token vectors have the same direction
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    np.divide(sums, norms, out=sums, where=norms > 0)
    sums[~np.isfinite(sums).all(axis=1)] = 0.0
    return sums


def _pieces(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The texts cut into pieces of at most PIECE_CHARS, and the text each piece is from."""
    import numpy as np

    pieces: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        cut = _split(text)
        pieces.extend(cut)
        owners.extend([i] * len(cut))
    return pieces, np.array(owners, dtype=np.int64)


def _split(text: str) -> list[str]:
    """``text`` in consecutive pieces of at most PIECE_CHARS characters, cut before a space
    where there is one in the piece's second half (so words stay whole)."""
    size = PIECE_CHARS
    out, start = [], 0
    while len(text) - start > size:
        end = text.rfind(" ", start + size // 2, start + size)
        end = end if end > start else start + size
        out.append(text[start:end])
        start = end
    out.append(text[start:])
    return out


def _batches(pieces: Sequence[str]) -> Iterator[np.ndarray]:
    """Piece indices in length order, in batches of at most BATCH_CHARS characters counting
    the padding to the longest (which is why the order: padding is then small)."""
    import numpy as np

    order = np.argsort([len(p) for p in pieces], kind="stable")
    start = 0
    for end in range(1, len(order) + 1):
        longest = max(len(pieces[order[end - 1]]), 1)
        if end - start > 1 and (end - start) * longest > BATCH_CHARS:
            yield order[start : end - 1]
            start = end - 1
    if start < len(order):
        yield order[start:]


def _token_sums(batch: list[str]) -> np.ndarray:
    """Per text, the sum of its token vectors (wordllama's pooling before the division)."""
    import numpy as np

    m = model()
    encoded = m.tokenize(batch)  # padded to the longest; the mask marks real tokens
    ids = np.array([e.ids for e in encoded], dtype=np.int32).reshape(len(batch), -1)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.float32).reshape(ids.shape)
    np.clip(ids, 0, m.embedding.shape[0] - 1, out=ids)
    return np.einsum("bld,bl->bd", m.embedding[ids], mask)


# --- what of an item is embedded ------------------------------------------------------

#: weight of the preceding turn when embedding a conversation turn
CONTEXT_WEIGHT = 0.2


@dataclass(frozen=True)
class Unit:
    """One thing to classify: an item, or one turn of it (``turn`` set)."""

    row: int
    turn: int | None
    text: str
    #: the preceding turn, where there is one
    context: str | None = None
    #: the item's context fields as ``field: value`` lines, embedded with the text
    facts: str = ""

    @property
    def embedded(self) -> str:
        """What is embedded: the text, then the context fields' lines."""
        return f"{self.text}\n{self.facts}" if self.facts else self.text


def units_of(
    item: Item, row: int, turn_role: str | None = None, fields: Sequence[str] = ()
) -> list[Unit]:
    """What of an item is embedded: its text, its target turn, or (``turn_role`` given, for
    ``unit: turn``) each turn that role labels; each with the values of the item's context
    ``fields`` (a guideline's ``context:``) that it has."""
    units = _units_of(item, row, turn_role)
    facts = "\n".join(context_lines(item, fields)) if fields else ""
    return [replace(u, facts=facts) for u in units] if facts else units


def _units_of(item: Item, row: int, turn_role: str | None = None) -> list[Unit]:
    msgs = item.messages
    if msgs is None:
        return [Unit(row, None, item.text or "")]
    if turn_role is not None:
        return [
            Unit(row, i, m.content, msgs[i - 1].content if i > 0 else None)
            for i, m in enumerate(msgs)
            if is_labeled(m.role, turn_role)
        ]
    if item.target_turn is not None and 0 <= item.target_turn < len(msgs):
        t = item.target_turn
        return [Unit(row, None, msgs[t].content, msgs[t - 1].content if t > 0 else None)]
    user = [m.content for m in msgs if m.role.lower() in USER_ROLES] or [m.content for m in msgs]
    return [Unit(row, None, "\n".join(user))]


def embed_units(units: Sequence[Unit]) -> np.ndarray:
    """Embeddings of the units, a little of the preceding turn mixed in where there is one."""
    import numpy as np

    ctx_rows = [i for i, u in enumerate(units) if u.context]
    vecs = embed([u.embedded for u in units] + [units[i].context for i in ctx_rows])
    out = vecs[: len(units)].copy()
    if ctx_rows:
        out[ctx_rows] += CONTEXT_WEIGHT * vecs[len(units) :]
        norms = np.linalg.norm(out[ctx_rows], axis=1, keepdims=True)
        out[ctx_rows] /= np.maximum(norms, 1e-12)
    return out
