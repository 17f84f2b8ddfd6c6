"""Sentence embeddings for the offline model: wordllama, loaded once from the installed package.

The weights ship inside the ``wordllama`` wheel, so nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

_MODEL: Any = None
_LOCK = threading.Lock()
_BATCH = 64


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
    """L2-normalised float32 embeddings, one row per text (an empty text gives a zero row)."""
    if len(texts) == 0:
        return np.zeros((0, dim()), dtype=np.float32)
    # Batches are padded to their longest text, so embed in length order and put rows back.
    order = np.argsort([len(t) for t in texts], kind="stable")
    sorted_vecs = model().embed([texts[i] for i in order], norm=False, batch_size=_BATCH)
    vecs = np.empty_like(sorted_vecs, dtype=np.float32)
    vecs[order] = sorted_vecs
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    np.divide(vecs, norms, out=vecs, where=norms > 0)
    vecs[~np.isfinite(vecs).all(axis=1)] = 0.0
    return vecs
