"""Where events come from.

``item.decided`` events are derived from review rows, which are append-only, whatever
wrote them (the review stream, the item browser, adjudication, bulk accept, undo, the API):
a pass reads the reviews made since the last pass and records one event per review, keyed
``review:<id>`` so that it is recorded once whichever process records it first.

Review ids are serial, but on PostgreSQL two transactions that took ids 7 and 8 may commit
8 first: a pass that saw 8 and moved its cursor past it would never read 7. So every pass
also reads again each review stamped within the last ``RESCAN`` (ten minutes), whatever its
id, and skips those that have their event already. A review is missed only when its
transaction commits more than ``RESCAN`` after the review was stamped, or when the clocks of
the process that wrote it and the one that reads it differ by that much: review writes are
single statements or short transactions.

``calibration.done`` and ``audit.alarm`` are recorded by the steps that make them
(``labelloop.route.calibrate``, ``labelloop.route.state``): those facts leave no row that
stays (the alarm's state is overwritten), so they cannot be derived afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from labelloop.core.events import ITEM_DECIDED
from labelloop.core.records import Webhook
from labelloop.core.types import utcnow
from labelloop.hooks.events import Overlap, decided

if TYPE_CHECKING:
    from labelloop.project import Project

#: the store's state key holding the id of the newest review a pass has read
CURSOR_STATE = "webhooks:reviews"
#: reviews stamped this recently are read again by every pass (see the module docstring)
RESCAN = timedelta(minutes=10)
#: reviews turned into events per batch
BATCH = 500


def record_decisions(project: Project, hooks: list[Webhook], now: datetime | None = None) -> int:
    """Record the ``item.decided`` events of the reviews made since the last pass (and not
    before the oldest live webhook that takes them was registered); how many were new."""
    since = min((h.created_at for h in hooks if h.live and ITEM_DECIDED in h.events), default=None)
    if since is None:
        return 0
    store, now = project.store, now or utcnow()
    overlap = Overlap(project.config.review.overlap, project.config.review.overlap_reviewers)
    start = after = int((store.get_state(CURSOR_STATE) or {}).get("after_id", 0))
    guideline, new = None, 0
    while True:
        reviews, top = store.undecided_reviews(since, after, now - RESCAN, BATCH)
        recorded = 0
        if reviews:
            guideline = guideline or project.guideline()
            records = store.decision_records([r.item_id for r in reviews])
            facts = [decided(r, records[r.item_id], guideline, overlap) for r in reviews
                     if r.item_id in records]  # fmt: skip
            recorded = store.record_events(facts, now)
            new += recorded
        if len(reviews) < BATCH:
            after = max(after, top)
            break
        after = max(after, reviews[-1].id)
        if not recorded:  # another process records this batch now: the next pass goes on
            break
    if after != start:
        store.set_state(CURSOR_STATE, {"after_id": after})
    return new
