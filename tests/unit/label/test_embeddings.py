"""Embeddings for the offline model: wordllama's mean pooling, in bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from labelloop.ingest.importer import MAX_ITEM_CHARS
from labelloop.label import embeddings

WORDS = "card arrive refund money transfer pending declined fee exchange rate cash".split()


def words(n: int, seed: int = 0) -> str:
    rnd = np.random.default_rng(seed)
    return " ".join(rnd.choice(WORDS, size=n))


def wordllama(texts: list[str]) -> np.ndarray:
    """wordllama's own embeddings, L2-normalised: what ``embed`` must agree with."""
    vecs = embeddings.model().embed(texts, norm=False)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


@pytest.fixture
def tokenized(monkeypatch) -> list[list[str]]:
    """Every batch of texts the tokenizer is given."""
    m = embeddings.model()
    seen: list[list[str]] = []
    real = m.tokenize

    def record(texts):
        seen.append(list(texts))
        return real(texts)

    monkeypatch.setattr(m, "tokenize", record)
    return seen


def test_short_texts_match_wordllama_in_order() -> None:
    texts = ["Where is my card?", "", words(40, 1), "I want a refund.", words(3, 2)]
    vecs = embeddings.embed(texts)
    assert vecs.shape == (5, embeddings.dim()) and vecs.dtype == np.float32
    assert not vecs[1].any()  # an empty text: a zero row
    keep = [0, 2, 3, 4]
    np.testing.assert_allclose(vecs[keep], wordllama([texts[i] for i in keep]), atol=1e-5)


def test_a_text_at_the_import_limit_is_embedded_whole_in_bounded_pieces(tokenized) -> None:
    text = words(MAX_ITEM_CHARS // 6)
    assert len(text) > MAX_ITEM_CHARS * 0.9
    [vec] = embeddings.embed([text])
    pieces = [t for batch in tokenized for t in batch]
    # all of it, nothing cut off (the pieces go in length order)
    assert sum(map(len, pieces)) == len(text) and all(p in text for p in pieces)
    assert max(len(t) for t in pieces) <= embeddings.PIECE_CHARS
    assert max(len(b) * max(map(len, b)) for b in tokenized) <= embeddings.BATCH_CHARS
    [whole] = wordllama([text])
    assert float(vec @ whole) > 0.9999


def test_a_long_text_beside_short_ones_pads_no_batch_to_its_length(tokenized) -> None:
    texts = [words(5, i) for i in range(200)] + [words(30_000)]
    vecs = embeddings.embed(texts)
    assert max(len(b) * max(map(len, b)) for b in tokenized) <= embeddings.BATCH_CHARS
    np.testing.assert_allclose(vecs[:200], wordllama(texts[:200]), atol=1e-5)


def test_memory_stays_bounded_for_a_text_far_over_the_limit() -> None:
    text = words(1_000_000 // 6)  # ~1M characters, ~250,000 tokens
    embeddings.embed(["warm up"])
    tracemalloc.start()
    try:
        embeddings.embed([text, "Where is my card?"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # all at once, the token vectors alone would take ~250 MB (250,000 x 256 float32)
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB"
