"""The calibration sample: which labeled items a look of the loop tests on, and how.

The population is every item the model labeled with a usable label (not failed, not an
abstention). The sample is the items whose reproducible uniform draw (``routing.uniform_draw``)
lies under the calibration rate: raising the rate adds the next items in draw order, so the
sample stays a uniform draw from the whole population however often it grows. Each drawn item
is one of:

* answered blind (calibration or audit queue, or a sample import): a pair, its blind label
  against the model's current suggestion (blind labels do not depend on the model);
* reviewed in the console some other way before it was drawn (an active-queue review saw the
  suggestion, and only items outside the sample could be in that queue), or skipped by a
  reviewer: its blind outcome is unknown, so it counts as an error at every threshold at or
  below its score (conservative: active-queue items are the least confident, and leaving
  them out would tilt the sample toward easy items);
* labeled by an import not marked as a sample (seed labels, say): outside the population, as
  the import chose its items without regard to the draw;
* not answered yet: it waits, and the look goes on without it (reviewers meet the calibration
  queue in draw order, so what is answered is not chosen by its content).

Pure functions over plain data; the store is read by the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from agent import routing
from agent.types import Suggestion

#: why a drawn item counts as an error without a blind label
REVIEWED_BEFORE = "reviewed before it was drawn"
SKIPPED = "skipped by a reviewer"


@dataclass(frozen=True)
class Counted:
    """A drawn item with no blind label: tested as a wrong label at its current score."""

    suggestion: Suggestion
    source: str
    correct: bool = False


@dataclass(frozen=True)
class Sample:
    """What one look tests on, and how the draw stands."""

    pairs: list = field(default_factory=list)  # Pair | Counted, by item id
    drawn: int = 0
    answered: int = 0
    counted_wrong: int = 0
    waiting: int = 0
    #: drawn items whose latest suggestion is of another version: `labelloop label` first
    outdated: int = 0
    #: sample imports of items outside the draw (their uniformity is the importer's word)
    imported_outside: int = 0


def usable(s: Suggestion) -> bool:
    """In the population: a label the model gave (not a failure, not an abstention)."""
    return s.status != "failed" and s.value is not None and not s.value.abstain


def draw_sample(
    latest: Mapping[str, Suggestion],
    versions: tuple[str, str],
    pairs: Sequence,
    reviewed: Mapping[str, str],
    skipped: Collection[str],
    rate: float,
    seed: int,
    excluded: Collection[str] = (),
) -> Sample:
    """The pairs a look tests on: every drawn item of the population answered blind or
    counted as an error, plus sample imports outside the draw.

    ``latest``: the model's latest suggestion per item; ``versions``: (prompt, guideline)
    versions in force; ``pairs``: blind labels with current suggestions (the store's
    ``calibration_pairs``); ``reviewed``: items people decided, with where the label came
    from ("console" or "import"); ``skipped``: calibration items a reviewer skipped;
    ``excluded``: items left out of this look's population (blind labels given before an
    audit alarm: the stream has changed since).
    """
    by_item = {p.suggestion.item_id: p for p in pairs}
    out: dict[str, object] = {}
    counts = dict(drawn=0, answered=0, counted_wrong=0, waiting=0, outdated=0)
    for item_id, s in latest.items():
        if item_id in excluded or routing.uniform_draw(item_id, seed) >= rate:
            continue
        if reviewed.get(item_id) == "import" and item_id not in by_item:
            continue
        if (s.prompt_version, s.guideline_version) != versions:
            counts["outdated"] += 1
            continue
        if not usable(s):
            continue
        counts["drawn"] += 1
        if item_id in by_item:
            out[item_id] = by_item[item_id]
            counts["answered"] += 1
        elif item_id in reviewed or item_id in skipped:
            why = SKIPPED if item_id in skipped and item_id not in reviewed else REVIEWED_BEFORE
            out[item_id] = Counted(s, why)
            counts["counted_wrong"] += 1
        else:
            counts["waiting"] += 1
    outside = [p for i, p in by_item.items() if i not in out and p.source == "import"]
    for p in outside:
        out[p.suggestion.item_id] = p
    return Sample(pairs=[out[k] for k in sorted(out)], imported_outside=len(outside), **counts)
