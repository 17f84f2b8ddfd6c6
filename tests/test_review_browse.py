"""The item browser and bulk accept, on SQLite and PostgreSQL; similar examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.errors import AccessDenied
from agent.review import ReviewService
from agent.review_views import BrowseFilters
from agent.types import Item, Message, Route
from tests.conftest import add_routed
from tests.test_review_service import proj  # noqa: F401  (the two-backend project fixture)

TEXTS = {
    "b01": ("my card has not arrived yet", "card_arrival", 0.9, Route.AUTO_ACCEPTED),
    "b02": ("someone stole my wallet and card", "lost_or_stolen_card", 0.4, Route.ACTIVE),
    "b03": ("I want my money back", "refund", 0.55, Route.ACTIVE),
    "b04": ("refund the double charge please", "refund", 0.8, Route.AUDIT),
    "b05": ("card still not here after a week", "card_arrival", 0.3, Route.CALIBRATION),
}


@pytest.fixture
def items(proj):  # noqa: F811
    add_routed(proj, [(Item(id=i, text=t), lab, c, r) for i, (t, lab, c, r) in TEXTS.items()])
    convo = Item(
        id="b06",
        messages=(Message(role="user", content="where is the parcel with my card"),),
    )
    add_routed(proj, [(convo, "card_arrival", 0.6, Route.ACTIVE)])
    return proj


def ids(page) -> list[str]:
    return [r.item_id for r in page.rows]


def test_filters(items):
    svc = ReviewService(items)
    everything = svc.browse("ann", BrowseFilters())
    assert ids(everything) == ["b01", "b02", "b03", "b04", "b05", "b06"]
    assert everything.total == 6 and not everything.has_more
    assert ids(svc.browse("ann", BrowseFilters(text="card"))) == ["b01", "b02", "b05", "b06"]
    assert ids(svc.browse("ann", BrowseFilters(text="money back"))) == ["b03"]
    assert ids(svc.browse("ann", BrowseFilters(label="refund"))) == ["b03", "b04"]
    assert ids(svc.browse("ann", BrowseFilters(route="active"))) == ["b02", "b03", "b06"]
    conf = BrowseFilters(min_confidence=0.5, max_confidence=0.8)
    assert ids(svc.browse("ann", conf)) == ["b03", "b04", "b06"]
    row = svc.browse("ann", BrowseFilters(text="double")).rows[0]
    assert (row.suggested, row.confidence, row.route) == ("refund", 0.8, "audit")


def test_text_search_is_a_phrase_of_whole_words_on_both_backends(items):
    svc = ReviewService(items)

    def found(text):
        return ids(svc.browse("ann", BrowseFilters(text=text)))

    assert found("MY CARD") == ["b01", "b06"]  # any case, the words in order
    assert found("card my") == []
    assert found("car") == []  # whole words, not substrings
    assert found("charge, please!") == ["b04"]  # punctuation only separates words
    assert found("parcel with my card") == ["b06"]  # a turn's content
    assert found("user") == []  # not the turn's role
    assert found("'; DROP TABLE items; --") == []


def test_reviewer_and_date_filters_and_paging(items):
    svc = ReviewService(items)
    svc.change_decision("bob", "b02", "fix", value="card_arrival")
    page = svc.browse("ann", BrowseFilters(reviewer="bob"))
    assert ids(page) == ["b02"] and page.rows[0].label == "card_arrival"
    assert page.rows[0].reviewers == ("bob",)
    now = datetime.now(UTC)
    assert ids(svc.browse("ann", BrowseFilters(since=now - timedelta(minutes=1)))) == ["b02"]
    assert ids(svc.browse("ann", BrowseFilters(until=now - timedelta(minutes=1)))) == []
    assert ids(svc.browse("ann", BrowseFilters(label="card_arrival"))) == [
        "b01",
        "b02",
        "b05",
        "b06",
    ]
    first, second = (
        svc.browse("ann", BrowseFilters(), 0, 4),
        svc.browse("ann", BrowseFilters(), 1, 4),
    )
    assert ids(first) == ["b01", "b02", "b03", "b04"] and first.has_more and first.total == 6
    assert ids(second) == ["b05", "b06"] and not second.has_more


def test_change_decision_is_a_new_row_in_the_history(items):
    svc = ReviewService(items)
    svc.change_decision("bob", "b03", "fix", value="card_arrival")
    svc.change_decision("bob", "b03", "reject", reason="bad_input")
    detail = svc.item_detail("ann", "b03")
    assert [a.action for a in detail.answers] == ["fix", "reject"]
    assert detail.final.label == "card_arrival" and detail.route == "reviewed"
    assert [s.value.label for s in detail.suggestions] == ["refund"]


def test_bulk_accept_is_for_admins_and_recorded_as_bulk(items):
    svc = ReviewService(items)
    with pytest.raises(AccessDenied):
        svc.bulk_accept("ann", BrowseFilters(label="refund"))
    assert svc.bulk_accept("ada", BrowseFilters(label="refund")) == 2
    for item_id in ("b03", "b04"):
        (review,) = items.store.reviews_for(item_id)
        assert review.bulk and review.action == "accept" and review.reviewer == "ada"
        assert review.value.label == "refund"
    assert items.store.get_route("b03").route == "reviewed"
    # auto-accepted and reviewed items are not waiting for people: never bulk-accepted
    assert svc.bulk_accept("ada", BrowseFilters()) == 3


def test_similar_examples_come_from_reviewed_items(items):
    items.config.review.similar_k = 2
    svc = ReviewService(items)
    svc.change_decision("bob", "b01", "accept")
    svc.change_decision("bob", "b04", "accept")
    svc.similar.refresh()
    view = svc.next_item("ann")
    assert view.item.id == "b05"
    assert [s.item.id for s in view.similar][0] == "b01"
    assert view.similar[0].value.label == "card_arrival" and view.similar[0].reviewer == "bob"
