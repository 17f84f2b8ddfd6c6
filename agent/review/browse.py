"""The item browser: filtered pages, one item's whole history, bulk accept."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from labelloop.core.consensus import Consensus
from labelloop.core.standing import final_label, standing_review
from labelloop.core.types import ItemRecord, LabelValue, Review, Route
from labelloop.review.judging import describe, shown_order
from labelloop.review.views import Answer, BrowseFilters, BrowsePage, BrowseRow, ItemDetail
from labelloop.store.base import aware, value_from_json

if TYPE_CHECKING:
    from labelloop.store import Store

#: a page's total is counted exactly up to here, then shown as "more than"
TOTAL_CAP = 1000
PREVIEW_CHARS = 160
MAX_PAGE_SIZE = 200


def browse(
    store: Store, filters: BrowseFilters, kind: str, page: int, page_size: int
) -> BrowsePage:
    """Page ``page`` (from 0) of the items matching ``filters``, in id order."""
    page, page_size = max(0, page), min(max(1, page_size), MAX_PAGE_SIZE)
    got = store.browse_page(filters, kind, page * page_size, page_size + 1, TOTAL_CAP)
    has_more, rows = len(got.rows) > page_size, got.rows[:page_size]
    total = len(rows) if got.total is None else got.total
    return BrowsePage(
        rows=tuple(_row(r, got.reviewers) for r in rows),
        page=page,
        page_size=page_size,
        has_more=has_more,
        total=min(total, TOTAL_CAP),
        total_capped=total > TOTAL_CAP,
    )


def _row(r, reviewers: dict) -> BrowseRow:
    value = value_from_json(r.value)
    return BrowseRow(
        item_id=r.id,
        preview=_preview(r.text, r.messages),
        route=r.route or Route.UNLABELED,
        suggested=value.short() if value is not None else None,
        confidence=r.confidence,
        label=r.label if r.route == Route.REVIEWED else None,
        reviewers=tuple(reviewers.get(r.id, ())),
        updated_at=aware(r.updated_at),
        gold=bool(r.gold),
        value=value,
    )


def judged(
    store: Store, page: BrowsePage, viewer: str | None, consensus: Consensus | None = None
) -> BrowsePage:
    """A page of a judging task with its answers in words: as values (reply ids, ``short``)
    for admins (``viewer`` None); for a reviewer, by position in their own order of each
    item's replies ("Reply 2"), since reply ids can tell the order the replies came in."""
    if not page.rows:
        return page
    items = store.get_items([r.item_id for r in page.rows])
    decided = [r.item_id for r in page.rows if r.route == Route.REVIEWED]
    reviews: dict[str, list[Review]] = defaultdict(list)
    for review in store.iter_reviews(decided) if decided else ():
        reviews[review.item_id].append(review)
    rows = []
    for row in page.rows:
        stands = (
            standing_review(reviews[row.item_id], row.route, consensus)
            if row.item_id in decided
            else None
        )
        final = stands.value if stands is not None else None
        item = items.get(row.item_id)
        order = shown_order(row.item_id, viewer, item.reply_ids) if viewer and item else ()

        def say(value: LabelValue | None, order=order) -> str | None:
            if value is None:
                return None
            return value.short() if viewer is None else describe(value, order)

        shown = say(row.value) if row.suggested is not None else None
        rows.append(replace(row, suggested=shown, label=say(final)))
    return replace(page, rows=tuple(rows))


def masked(row: BrowseRow) -> BrowseRow:
    """A browser line without the model's answer (an item shown blind to its viewer)."""
    return replace(row, suggested=None, confidence=None, value=None)


def seen_by(detail: ItemDetail, user: str, model: bool, others: bool) -> ItemDetail:
    """An item's detail as ``user`` may see it: without the model's answer (suggestions,
    the route's reason, a model-made final label) unless ``model``; without other people's
    answers and the gold answer unless ``others``."""
    if not model:
        hide_final = detail.final_source == "model"
        detail = replace(
            detail,
            suggestions=(),
            route_reason="shown blind",
            final=None if hide_final else detail.final,
            final_source=None if hide_final else detail.final_source,
        )
    if not others:
        mine = tuple(a for a in detail.answers if a.reviewer == user)
        final_mine = any(a.reviewer == user and a.value == detail.final for a in mine)
        detail = replace(
            detail,
            answers=mine,
            gold=None,
            final=detail.final if final_mine else None,
            final_source=detail.final_source if final_mine else None,
        )
    return detail


def _preview(text: str | None, messages: list | None) -> str:
    if text is None:
        text = " / ".join(f"{m.get('role')}: {m.get('content')}" for m in messages or ())
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def answers(store: Store, item_id: str, standing: bool = False) -> list[Answer]:
    """Every review row of an item, oldest first, undone ones marked (undo rows left out);
    with ``standing``, the undone ones left out too."""
    rows = store.reviews_for(item_id)
    undone = {r.supersedes for r in rows if r.action == "undo"}
    out = [_answer(r, r.id in undone) for r in rows if r.action != "undo"]
    return [a for a in out if not a.undone] if standing else out


def _answer(r: Review, undone: bool) -> Answer:
    return Answer(
        reviewer=r.reviewer,
        action=r.action,
        value=r.value,
        reason=r.reason,
        comment=r.comment,
        queue=r.queue,
        blind=r.blind,
        created_at=r.created_at,
        review_id=r.id,
        undone=undone,
        bulk=r.bulk,
        bulk_id=r.bulk_id,
    )


def item_detail(
    store: Store, item_id: str, consensus: Consensus | None = None
) -> ItemDetail | None:
    """The item, every suggestion of every model, every review, the final label."""
    ctx = store.lease_context(item_id)
    if ctx is None:
        return None
    route = store.get_route(item_id)
    record = item_record(store, ctx, route, consensus)
    final, source = final_label(record)
    return ItemDetail(
        item=ctx.item,
        route=record.route,
        route_reason=route.reason if route else "",
        suggestions=tuple(store.suggestions_for(item_id)),
        answers=tuple(answers(store, item_id)),
        final=final,
        final_source=source,
        gold=ctx.gold,
    )


def item_record(store: Store, ctx, route, consensus: Consensus | None = None) -> ItemRecord:
    """What ``final_label`` decides from, given an item's lease context and route (both
    read already): its routing suggestion, route and the reviews that stand."""
    return ItemRecord(
        item=ctx.item,
        suggestion=ctx.suggestion,
        route=route.route if route else Route.UNLABELED,
        reviews=tuple(store.iter_reviews([ctx.item.id])),
        consensus=consensus,
        questions=getattr(consensus, "guideline", None),
    )
