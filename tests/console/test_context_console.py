"""Context fields in the console, without a browser: above the item in the review stream and
in the item browser's detail, labelled, escaped, and absent where an item has none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from labelloop.core.types import Item, Route
from labelloop.project import init_project
from labelloop.review.auth import add_user
from labelloop.review.service import ItemView, ReviewService
from labelloop.review.views import ItemDetail
from labelloop.ui import render
from tests.conftest import add_routed
from tests.support.paths import ROOT

XSS = '<img src=x onerror="window.__xss=1">'


def view(item: Item, context=()) -> ItemView:
    return ItemView(
        item=item,
        queue="active",
        reviewer="rita",
        suggestion=None,
        confidence=None,
        rationale=None,
        section=None,
        similar=(),
        blind=False,
        gold=False,
        overlap=False,
        suggestion_id=1,
        labels=("time", "party_size"),
        kind="single",
        unit="text",
        leased_until=datetime(2026, 1, 1, tzinfo=UTC),
        context=context,
    )


def test_context_is_shown_above_the_item_labelled_by_field():
    context = (("requested_slot", "party_size"), ("slots", ["time", 2]), ("turn", {"n": 1}))
    out = render.item_html(view(Item(id="b2", text="19"), context))
    assert out.index('class="ll-context"') < out.index('class="ll-text"')
    assert "<dt>requested_slot</dt><dd>party_size</dd>" in out
    assert "<dt>slots</dt><dd>[&quot;time&quot;,2]</dd>" in out
    assert "<dt>turn</dt><dd>{&quot;n&quot;:1}</dd>" in out
    assert 'data-field="requested_slot"' in out
    assert "ll-context" not in render.item_html(view(Item(id="b8", text="menu?")))


def test_context_names_and_values_are_escaped_on_one_line():
    context = ((f"slot{XSS}", f"time{XSS}"), ("note", "line one\nline two"))
    out = render.item_html(view(Item(id="x", text="19"), context))
    assert "<img" not in out
    assert "<dd>time&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;</dd>" in out
    assert "<dd>line one&#10;line two</dd>" in out and "\n" not in out


def test_the_item_browser_detail_shows_the_context():
    detail = ItemDetail(
        item=Item(id="b1", text="19"),
        route="reviewed",
        route_reason="",
        suggestions=(),
        answers=(),
        final=None,
        final_source=None,
        gold=None,
    )
    assert "ll-context" not in render.detail_html(detail)
    out = render.detail_html(replace(detail, context=(("requested_slot", "time"),)))
    assert "<dt>requested_slot</dt><dd>time</dd>" in out
    assert out.index("ll-context") < out.index("<table>")


@pytest.fixture
def booking(tmp_path):
    project = init_project(tmp_path / "p", ROOT / "guidelines" / "restaurant-booking.md")
    add_user(project.store, "ann", "reviewer", "correct-horse-battery")
    project.config.review.overlap = 0.0
    project.config.review.similar_k = 0
    yield project
    project.store.close()


def test_the_review_service_gives_the_guideline_fields_the_item_has(booking):
    items = [
        Item(id="b1", text="19", meta={"requested_slot": "time", "session": "s1"}),
        Item(id="b8", text="do you have a vegetarian menu?", meta={"session": "s8"}),
    ]
    add_routed(booking, [(it, "time", 0.6, Route.ACTIVE) for it in items])
    svc = ReviewService(booking)
    seen = {}
    got = svc.next_item("ann")
    while got is not None:
        seen[got.item.id] = got.context
        got = svc.decide("ann", got.item.id, "accept").next
    assert seen == {"b1": (("requested_slot", "time"),), "b8": ()}
    assert svc.item_detail("ann", "b1").context == (("requested_slot", "time"),)
    page = render.detail_html(svc.item_detail("ann", "b1"))
    assert "<dt>requested_slot</dt><dd>time</dd>" in page and "session" not in page
