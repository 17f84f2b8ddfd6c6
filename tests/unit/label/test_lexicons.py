"""The word lists the span labeler reads: what they say of a word and of a run of words,
and the shipped files themselves."""

from __future__ import annotations

import pytest

from labelloop.core.resources import lexicon_file
from labelloop.label import lexicons
from labelloop.label.providers.local_spans import WORD

LISTS = ("first_names.txt", "last_names.txt", "places.txt")


@pytest.mark.parametrize("name", LISTS)
def test_the_shipped_lists_are_lower_case_names_one_per_line_without_repeats(name):
    lines = lexicon_file(name).read_text(encoding="utf-8").splitlines()
    assert len(lines) > 5_000
    assert all(ln and ln == ln.strip().lower() for ln in lines)
    assert len(set(lines)) == len(lines)
    attribution = lexicon_file("ATTRIBUTION.md").read_text(encoding="utf-8")
    assert f"`{name}`" in attribution


def test_a_word_is_scored_by_how_common_it_is_and_as_a_known_name():
    assert lexicons.word_features("the") == {"zipf": "7"}
    assert lexicons.word_features("zzqxv") == {"zipf": "0"}
    james = lexicons.word_features("james")
    assert james["first"] == "common" and james["last"] == "common"
    smith = lexicons.word_features("smith")
    assert smith["last"] == "common" and "first" not in smith
    # rank buckets follow the order of the file
    first = lexicon_file("first_names.txt").read_text(encoding="utf-8").splitlines()
    assert lexicons.word_features(first[lexicons.COMMON])["first"] == "known"
    assert lexicons.word_features(first[lexicons.KNOWN])["first"] == "rare"


def test_the_longest_place_name_wins_left_to_right():
    words = "i love new york city and san francisco , not york".split()
    assert lexicons.place_tags(words, WORD.findall) == [
        *["", ""],
        *["B", "I", "I"],  # "new york city", not "new york" then "york"
        "",
        *["B", "I"],
        *["", "", "B"],
    ]
    assert lexicons.place_tags([], WORD.findall) == []
    # a name is matched in the words the labeler makes of it ("st. louis": st . louis)
    words = [w.lower() for w in WORD.findall("Off to St. Louis!")]
    assert words == ["off", "to", "st", ".", "louis", "!"]
    assert lexicons.place_tags(words, WORD.findall) == ["", "", "B", "I", "I", ""]
