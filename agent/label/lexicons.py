"""Word lists the offline span labeler reads as features, shipped with labelloop
(``labelloop/data/lexicons``, sources in its ATTRIBUTION.md) or installed (wordfreq):

- how common a word is in English (wordfreq's Zipf scale: 7 for "the", 0 for a word it has
  never seen), as a whole number;
- whether it is a known first or last name (US Census 1990), and how common a name;
- which runs of words form a place name (GeoNames: large cities, countries, US states).

The CRF learns how much each says about the guideline's labels: a known first name is
neither a ``person`` nor a span by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from labelloop.core.resources import lexicon_file

#: rank buckets of a known name
COMMON = 1_000
KNOWN = 5_000


@lru_cache(maxsize=4)
def _ranks(name: str) -> dict[str, int]:
    """Each name of a ranked list (one per line, most frequent first) with its rank."""
    lines = lexicon_file(name).read_text(encoding="utf-8").split("\n")
    return {w: i for i, w in enumerate((ln.strip() for ln in lines), 1) if w}


@lru_cache(maxsize=2)
def _places(split: Callable[[str], list[str]]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Place names as word tuples (as ``split`` cuts a text into words), by their first
    word, longest first."""
    by_first: dict[str, set[tuple[str, ...]]] = {}
    for line in lexicon_file("places.txt").read_text(encoding="utf-8").split("\n"):
        words = tuple(split(line.strip()))
        if words:
            by_first.setdefault(words[0], set()).add(words)
    return {w: tuple(sorted(p, key=lambda t: (-len(t), t))) for w, p in by_first.items()}


def _bucket(rank: int) -> str:
    return "common" if rank <= COMMON else "known" if rank <= KNOWN else "rare"


def word_features(low: str) -> dict[str, str]:
    """What the lists say of one lower-case word: ``zipf`` always, ``first`` / ``last``
    (``common``, ``known`` or ``rare``) for a known name. Not cached here: the span
    labeler keeps each word's features (``local_spans._Lexicon``)."""
    from wordfreq import zipf_frequency

    out = {"zipf": str(int(zipf_frequency(low, "en")))}
    for key, name in (("first", "first_names.txt"), ("last", "last_names.txt")):
        rank = _ranks(name).get(low)
        if rank is not None:
            out[key] = _bucket(rank)
    return out


def place_tags(lows: Sequence[str], split: Callable[[str], list[str]]) -> list[str]:
    """For the lower-case words of a text, cut by ``split``: "B" where a place name starts,
    "I" inside one, "" elsewhere (the longest name wins, left to right)."""
    places = _places(split)
    out = [""] * len(lows)
    i = 0
    while i < len(lows):
        k = next((len(p) for p in places.get(lows[i], ()) if tuple(lows[i : i + len(p)]) == p), 0)
        if k:
            out[i : i + k] = ["B"] + ["I"] * (k - 1)
            i += k
        else:
            i += 1
    return out
