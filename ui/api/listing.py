"""Items as a program reads them: pages of export rows, read after a cursor, and what a
reviewer may see of them.

A page holds the rows ``labelloop export`` writes (the item, its suggestion, route, final
label and reviews), for the items matching the item browser's filters, in id order after
the cursor. For reviewers the access rules of ``labelloop.review.access`` apply row by row,
as in the console's item browser: where the model's answer is shown blind, the row holds no
suggestion and no label the model made; on items still waiting for answers, only the
reviewer's own reviews; and nobody but admins learns which model wrote a reply.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from typing import Any

from labelloop.core.consensus import rule_of
from labelloop.core.errors import LabelloopError
from labelloop.core.types import ItemRecord
from labelloop.export import values
from labelloop.export.writer import record_json, without_models
from labelloop.review.access import ItemState, Viewer, share_hit, shows_model, shows_others
from labelloop.review.views import BrowseFilters
from labelloop.route.state import routing_model

#: the most rows one page holds
MAX_PAGE = 1000


@dataclass(frozen=True)
class ItemPage:
    """A page of export rows, and the cursor of the next page (None after the last)."""

    rows: list[dict[str, Any]]
    next_cursor: str | None


def encode_cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(item_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The item id a cursor stands for; a cursor this module did not write is refused."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        item_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        item_id = None
    # no item id holds a NUL, and PostgreSQL compares with none
    if not item_id or "\x00" in item_id or encode_cursor(item_id) != cursor:
        raise LabelloopError(
            f"Invalid cursor {cursor!r}: pass the next_cursor of the page before, or none"
        )
    return item_id


def seen_record(record: ItemRecord, viewer: Viewer, state: ItemState) -> ItemRecord:
    """``record`` as ``viewer`` may see it (see the module docstring)."""
    if viewer.admin:
        return record
    record = replace(record, item=without_models(record.item))
    if not shows_model(viewer, state):
        record = replace(record, suggestion=None, route_reason="shown blind")
    if not shows_others(viewer, state):
        mine = tuple(r for r in record.reviews if r.reviewer == viewer.name)
        record = replace(record, reviews=mine)
    return record


def item_page(
    service, user: str, filters: BrowseFilters, cursor: str | None = None, limit: int = 100
) -> ItemPage:
    """Up to ``limit`` rows of items matching ``filters`` after ``cursor``, as ``user`` may
    see them (``service``: the console's ``ReviewService``, which knows the user's role and
    the review settings)."""
    if not 1 <= limit <= MAX_PAGE:
        raise LabelloopError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
    viewer = service.viewer(user)
    config, project = service.config, service.project
    filters = service.filters_for(viewer, filters)
    guideline = service.guideline()
    records = service.store.record_page(
        filters,
        guideline.kind,
        decode_cursor(cursor) if cursor else None,
        limit + 1,
        routing_model(project),
        project.config.routing.cascade or (),
        consensus=rule_of(guideline),
    )
    more, records = len(records) > limit, records[:limit]
    gold = set() if viewer.admin else service.store.gold_item_ids([r.item.id for r in records])
    rows = []
    for rec in records:
        if not viewer.admin:
            state = ItemState(
                route=rec.route,
                gold=rec.item.id in gold,
                blind_share=share_hit(rec.item.id, config.blind_share, "blind"),
            )
            rec = seen_record(rec, viewer, state)
        rows.append(record_json(values.with_questions(rec, guideline), guideline))
    return ItemPage(rows, encode_cursor(records[-1].item.id) if more else None)
