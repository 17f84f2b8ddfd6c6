"""The calibration sample: which labeled items a look of the loop tests on, and how.

The population a look's guarantee covers is the items auto-acceptance can reach: every item
the model labeled with a usable label (not failed, not an abstention) that people have not
reviewed, the blind answers to the draw aside. The sample is the items whose reproducible
uniform draw (``routing.uniform_draw``) lies under the calibration rate: raising the rate
adds the next items in draw order, and the draw depends on nothing else, so the drawn items
still in the population are a uniform draw from it however often it grows. Each drawn item
is one of:

* answered blind (calibration or audit queue, or a sample import): a pair, its blind label
  against the model's current suggestion (blind labels do not depend on the model);
* reviewed by people some other way (the active queue before it was drawn, the item
  browser): it has left the population, as every reviewed item has, drawn or not;
* skipped by a reviewer in a blind queue: its blind outcome is unknown and it is still in
  the population, so it counts as an error at every threshold at or below its score (a
  reviewer's skip may depend on the item, and leaving it out could tilt the sample toward
  easy items);
* passed by the active queue: had it not been drawn, the active queue would have given it
  to a reviewer (its place in the queue's order, computed for drawn items beside the others
  as a shadow, was behind the queue's head and ahead of an item decided from it), so it has
  left the population as its undrawn twins have, blind answer or not;
* labeled by an import not marked as a sample (seed labels, say): outside the population;
* not answered yet: it waits, and the look goes on without it (reviewers meet the calibration
  queue in draw order, so what is answered is not chosen by its content).

Without the shadow, the items the active queue takes out of the population (the least
confident, the model's likeliest errors, and they stay error-prone after a retrain makes
the model sure of them) would stay in the sample when drawn: a sample harder than the
population, whose bound holds but wastes reviews. The shadow is conservative where it is
unsure: a drawn item passes only once every undrawn item ahead of it has left the queue.
``tests/flows/test_loop_guarantee.py`` simulates the loop with the active queue.

Pure functions over plain data; the store is read by the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from labelloop.core.types import Suggestion
from labelloop.route import rules as routing

#: why a drawn item counts as an error without a blind label
SKIPPED = "skipped by a reviewer"


def passed_by_active(
    shadow: Mapping[str, float], head: float | None, reached: float | None
) -> set[str]:
    """The drawn items the active queue has passed: their shadow priority is ahead of every
    item still waiting in it (``head``; None: nothing waits) and of an item decided from it
    (``reached``; None: nothing decided, so nothing is passed)."""
    if reached is None:
        return set()
    return {i for i, p in shadow.items() if p < reached and (head is None or p < head)}


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
    #: drawn items people reviewed outside the blind queues: out of the population
    reviewed_elsewhere: int = 0
    #: drawn items the active queue has passed (see ``passed_by_active``): out of it too
    passed_active: int = 0
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
    passed: Collection[str] = (),
) -> Sample:
    """The pairs a look tests on: every drawn item of the population answered blind, or
    skipped and counted as an error, plus sample imports outside the draw.

    ``latest``: the model's latest suggestion per item; ``versions``: (prompt, guideline)
    versions in force; ``pairs``: blind labels with current suggestions (the store's
    ``calibration_pairs``); ``reviewed``: items people decided, with where the label came
    from ("console" or "import"); ``skipped``: calibration items a reviewer skipped;
    ``excluded``: items left out of this look's population (blind labels given before an
    audit alarm: the stream has changed since); ``passed``: drawn items the active queue
    has passed.
    """
    by_item = {p.suggestion.item_id: p for p in pairs}
    out: dict[str, object] = {}
    counts = dict(
        drawn=0,
        answered=0,
        counted_wrong=0,
        waiting=0,
        outdated=0,
        reviewed_elsewhere=0,
        passed_active=0,
    )
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
        if item_id in passed:
            counts["passed_active"] += 1
            continue
        if item_id in by_item:
            out[item_id] = by_item[item_id]
            counts["answered"] += 1
        elif item_id in skipped:
            out[item_id] = Counted(s, SKIPPED)
            counts["counted_wrong"] += 1
        elif item_id in reviewed:
            counts["reviewed_elsewhere"] += 1
            continue
        else:
            counts["waiting"] += 1
        counts["drawn"] += 1
    outside = [
        p for i, p in by_item.items() if i not in out and i not in passed and p.source == "import"
    ]
    for p in outside:
        out[p.suggestion.item_id] = p
    return Sample(pairs=[out[k] for k in sorted(out)], imported_outside=len(outside), **counts)
