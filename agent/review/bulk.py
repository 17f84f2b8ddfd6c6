"""Bulk accept in the item browser: a preview to confirm, one recorded bulk accept, one undo.

A bulk accept takes only items waiting in the active queue with a usable suggestion that
nobody holds; it leaves to people the items whose review must be independent or shared
(calibration and audit items are reviewed blind, overlap items by several people, gold
items check reviewers) and those waiting for adjudication. The preview fixes each item and
the suggestion it would accept; the confirmation accepts those still as previewed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from labelloop.core.errors import LabelloopError
from labelloop.core.types import Route
from labelloop.review.access import share_hit
from labelloop.review.views import ADJUDICATION_QUEUE, BrowseFilters, BulkPlan, BulkResult
from labelloop.store.browse import BulkMatch

if TYPE_CHECKING:
    from labelloop.store import Store


def leaves(m: BulkMatch, overlap: float) -> str | None:
    """Why a bulk accept leaves a matching item to people (None: it may accept it)."""
    if m.gold:
        return "gold items"
    if m.holder is not None:
        return "held by a reviewer now"
    if m.route in (Route.CALIBRATION, Route.AUDIT):
        return f"in the {m.route} queue (reviewed blind)"
    if m.route == ADJUDICATION_QUEUE:
        return "waiting for adjudication"
    if m.route == Route.FAILED or not m.has_value:
        return "without a usable suggestion"
    if share_hit(m.item_id, overlap, "overlap"):
        return "overlap items (answered by several reviewers)"
    return None


def plan(
    store: Store, admin: str, filters: BrowseFilters, kind: str, overlap: float, now: datetime
) -> BulkPlan:
    """The items whose suggestion a bulk accept would accept, and the matches it leaves to
    people, counted by why."""
    items, left = [], Counter()
    for m in store.bulk_matches(filters, kind, now):
        why = leaves(m, overlap)
        if why is None:
            items.append((m.item_id, m.suggestion_id))
        else:
            left[why] += 1
    token = hashlib.sha256(json.dumps([admin, items]).encode()).hexdigest()[:16]
    return BulkPlan(token, tuple(items), tuple(sorted(left.items())), filters)


def accept(store: Store, admin: str, planned: BulkPlan, now: datetime) -> BulkResult:
    """Accept the plan's items still as previewed, as one bulk accept; the rest listed."""
    filters = json.loads(json.dumps(asdict(planned.filters), default=str))
    bid, accepted = store.bulk_accept(admin, planned.items, filters, now)
    done = set(accepted)
    kept = tuple((i, "changed since the preview") for i, _ in planned.items if i not in done)
    return BulkResult(bid, tuple(accepted), kept)


def undo(store: Store, admin: str, now: datetime) -> BulkResult:
    """Take back the admin's latest bulk accept on every item nobody changed since."""
    bid = store.last_bulk(admin)
    if bid is None:
        raise LabelloopError("No bulk accept of yours to undo")
    restored, kept = store.undo_bulk(bid, admin, now)
    return BulkResult(bid, tuple(restored), tuple(kept))
