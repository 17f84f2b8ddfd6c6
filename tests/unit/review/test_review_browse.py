"""The item browser and bulk accept, on SQLite and PostgreSQL; similar examples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labelloop.core.errors import AccessDenied, LabelloopError
from labelloop.core.types import Item, Message, Route
from labelloop.review.service import ReviewService
from labelloop.review.views import BrowseFilters
from tests.conftest import add_routed
from tests.unit.review.test_review_service import proj  # noqa: F401  (the two-backend project fixture)

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
    everything = svc.browse("ada", BrowseFilters())
    assert ids(everything) == ["b01", "b02", "b03", "b04", "b05", "b06"]
    assert everything.total == 6 and not everything.has_more
    assert ids(svc.browse("ada", BrowseFilters(text="card"))) == ["b01", "b02", "b05", "b06"]
    assert ids(svc.browse("ada", BrowseFilters(text="money back"))) == ["b03"]
    assert ids(svc.browse("ada", BrowseFilters(label="refund"))) == ["b03", "b04"]
    assert ids(svc.browse("ada", BrowseFilters(route="active"))) == ["b02", "b03", "b06"]
    conf = BrowseFilters(min_confidence=0.5, max_confidence=0.8)
    assert ids(svc.browse("ada", conf)) == ["b03", "b04", "b06"]
    row = svc.browse("ada", BrowseFilters(text="double")).rows[0]
    assert (row.suggested, row.confidence, row.route) == ("refund", 0.8, "audit")


def test_reviewers_never_see_the_model_on_blind_items(items):
    """Calibration and audit items show no suggestion or confidence to reviewers, and the
    label and confidence filters cannot find them by the model's answer."""
    svc = ReviewService(items)
    rows = {r.item_id: r for r in svc.browse("ann", BrowseFilters()).rows}
    assert (rows["b04"].suggested, rows["b04"].confidence) == (None, None)  # audit
    assert (rows["b05"].suggested, rows["b05"].confidence) == (None, None)  # calibration
    assert (rows["b03"].suggested, rows["b03"].confidence) == ("refund", 0.55)  # active
    assert ids(svc.browse("ann", BrowseFilters(label="refund"))) == ["b03"]
    assert ids(svc.browse("ann", BrowseFilters(label="card_arrival"))) == ["b01", "b06"]
    conf = BrowseFilters(min_confidence=0.5, max_confidence=0.8)
    assert ids(svc.browse("ann", conf)) == ["b03", "b06"]
    detail = svc.item_detail("ann", "b04")
    assert detail.suggestions == () and detail.final is None and "0.8" not in detail.route_reason
    assert svc.item_detail("ada", "b04").suggestions[0].value.label == "refund"
    # a reviewer set to see everything blind sees the model on decided items only
    svc.set_blind("ada", "ann", True)
    rows = {r.item_id: r for r in svc.browse("ann", BrowseFilters()).rows}
    assert all(r.suggested is None for r in rows.values())
    assert ids(svc.browse("ann", BrowseFilters(label="refund"))) == []


def test_reviewers_decide_in_the_browser_only_items_that_wait_for_nobody(items):
    svc = ReviewService(items)
    for item_id in ("b02", "b04", "b05"):  # active, audit, calibration: they come in the stream
        with pytest.raises(LabelloopError, match="waits in the"):
            svc.change_decision("ann", item_id, "fix", value="refund")
    assert svc.change_decision("ann", "b01", "fix", value="refund").value.label == "refund"
    # an admin may decide a waiting item, but nobody decides one another reviewer holds
    held = svc.next_item("bob")
    with pytest.raises(LabelloopError, match="bob is reviewing it"):
        svc.change_decision("ada", held.item.id, "fix", value="refund")
    with pytest.raises(LabelloopError, match="bob is reviewing it"):
        svc.edit("ada", held.item.id)
    assert svc.decide("bob", held.item.id, "fix", "card_arrival").review.reviewer == "bob"
    assert [a.reviewer for a in svc.item_detail("ada", held.item.id).answers] == ["bob"]


def test_gold_answers_and_gold_items_are_for_admins(items):
    svc = ReviewService(items)
    svc.add_gold("ada", {"b01": "card_arrival"})
    assert svc.item_detail("ann", "b01").gold is None
    assert svc.item_detail("ada", "b01").gold.label == "card_arrival"
    row = {r.item_id: r for r in svc.browse("ann", BrowseFilters()).rows}["b01"]
    assert row.suggested is None
    with pytest.raises(LabelloopError, match="gold items"):
        svc.change_decision("ann", "b01", "fix", value="refund")


def test_other_reviewers_answers_stay_hidden_while_the_item_waits(items):
    items.config.review.overlap = 1.0
    svc = ReviewService(items)
    view = svc.next_item("bob")
    svc.decide("bob", view.item.id, "fix", "refund")
    assert items.store.get_route(view.item.id).route != "reviewed"  # waits for a second answer
    assert svc.item_detail("ann", view.item.id).answers == ()
    assert [a.reviewer for a in svc.item_detail("ada", view.item.id).answers] == ["bob"]


def test_reviewer_and_date_filters_and_paging(items):
    svc = ReviewService(items)
    svc.change_decision("ada", "b02", "fix", value="card_arrival")
    page = svc.browse("ann", BrowseFilters(reviewer="ada"))
    assert ids(page) == ["b02"] and page.rows[0].label == "card_arrival"
    assert page.rows[0].reviewers == ("ada",)
    now = datetime.now(UTC)
    assert ids(svc.browse("ann", BrowseFilters(since=now - timedelta(minutes=1)))) == ["b02"]
    assert ids(svc.browse("ann", BrowseFilters(until=now - timedelta(minutes=1)))) == []
    assert ids(svc.browse("ada", BrowseFilters(label="card_arrival"))) == [
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
    svc.change_decision("ada", "b03", "fix", value="card_arrival")
    svc.change_decision("ann", "b03", "reject", reason="bad_input")
    detail = svc.item_detail("ann", "b03")
    assert [a.action for a in detail.answers] == ["fix", "reject"]
    assert detail.final.label == "card_arrival" and detail.route == "reviewed"
    assert [s.value.label for s in detail.suggestions] == ["refund"]


def test_a_change_that_changes_nothing_is_refused(items):
    svc = ReviewService(items)
    svc.change_decision("ada", "b03", "fix", value="card_arrival")
    with pytest.raises(LabelloopError, match="already has card_arrival"):
        svc.change_decision("ann", "b03", "fix", value="card_arrival")
    assert len(svc.item_detail("ada", "b03").answers) == 1


def test_bulk_accept_previews_confirms_and_undoes(items):
    svc = ReviewService(items)
    with pytest.raises(AccessDenied):
        svc.bulk_preview("ann", BrowseFilters(label="refund"))
    plan = svc.bulk_preview("ada", BrowseFilters(label="refund"))
    # the audit item b04 matches but is reviewed blind: never bulk-accepted
    assert plan.items == (("b03", items.store.get_route("b03").suggestion_id),)
    assert plan.left_out == (("in the audit queue (reviewed blind)", 1),)
    assert items.store.reviews_for("b03") == []  # a preview changes nothing
    with pytest.raises(LabelloopError, match="no longer current"):
        svc.bulk_accept("ada", "not-the-token")
    done = svc.bulk_accept("ada", plan.token)
    assert done.changed == ("b03",) and done.kept == ()
    (review,) = items.store.reviews_for("b03")
    assert review.bulk and review.bulk_id == done.bulk_id and review.action == "accept"
    assert review.reviewer == "ada" and review.value.label == "refund"
    assert items.store.get_route("b03").route == "reviewed"
    with pytest.raises(LabelloopError, match="no longer current"):
        svc.bulk_accept("ada", plan.token)  # one confirmation, one bulk accept
    undone = svc.undo_bulk("ada")
    assert undone.changed == ("b03",) and undone.kept == ()
    assert items.store.get_route("b03").route == "active"
    assert items.store.reviewed_item_ids() == set()
    with pytest.raises(LabelloopError, match="No bulk accept"):
        svc.undo_bulk("ada")


def test_bulk_undo_keeps_items_someone_changed_since(items):
    svc = ReviewService(items)
    plan = svc.bulk_preview("ada", BrowseFilters(route="active"))
    assert [i for i, _ in plan.items] == ["b02", "b03", "b06"]
    svc.bulk_accept("ada", plan.token)
    svc.change_decision("ann", "b02", "fix", value="card_arrival")
    undone = svc.undo_bulk("ada")
    assert undone.changed == ("b03", "b06")
    assert undone.kept == (("b02", "ann made a fix since"),)
    assert items.store.get_route("b02").route == "reviewed"
    assert svc.item_detail("ada", "b02").final.label == "card_arrival"


def test_bulk_accept_leaves_held_overlap_and_gold_items(items):
    svc = ReviewService(items)
    held = items.store.lease_item("bob", "b02", "active", 600, datetime.now(UTC)).item_id
    svc.add_gold("ada", {"b06": "card_arrival"})
    plan = svc.bulk_preview("ada", BrowseFilters(route="active"))
    left = dict(plan.left_out)
    assert left == {"held by a reviewer now": 1, "gold items": 1}
    assert held not in [i for i, _ in plan.items]
    items.config.review.overlap = 1.0
    plan = svc.bulk_preview("ada", BrowseFilters(route="active"))
    assert plan.items == () and dict(plan.left_out)["overlap items (answered by several reviewers)"]


def test_similar_examples_come_from_reviewed_items_and_never_beside_blind_ones(items):
    items.config.review.similar_k = 2
    svc = ReviewService(items)
    svc.change_decision("bob", "b01", "accept")
    svc.change_decision("ada", "b04", "accept")
    svc.similar.refresh()
    view = svc.next_item("ann")
    assert view.item.id == "b05" and view.blind
    assert view.similar == ()  # labeled neighbours would hint at the answer
    view = svc.decide("ann", "b05", "fix", "card_arrival").next
    assert not view.blind
    assert [s.item.id for s in view.similar]
    assert {s.reviewer for s in view.similar} <= {"bob", "ada", "ann"}


def test_label_filter_reads_label_names_literally(proj):  # noqa: F811
    """In a multi-label task, '_' and '%' in a label's name are no wildcards, and case
    counts: the filter (and so bulk accept) finds items with that very name among theirs."""
    from labelloop.core.types import LabelValue, RouteDecision, Suggestion
    from tests.conftest import add_items

    names = {"m1": ("axb", "c"), "m2": ("a_b",), "m3": ("a_b", "b"), "m4": ("A_B", "z")}
    names |= {"m5": ("c", "xa_b")}
    add_items(proj.store, [Item(id=i, text=f"text {i}") for i in names])
    sids = proj.store.add_suggestions(
        [
            Suggestion(item_id=i, model="local", value=LabelValue(labels=v), confidence=0.5)
            for i, v in names.items()
        ]
    )
    proj.store.set_routes(
        [
            RouteDecision(item_id=i, route=Route.ACTIVE, reason="test", suggestion_id=sid)
            for i, sid in zip(names, sids, strict=True)
        ]
    )

    def found(label: str) -> list[str]:
        return [
            r.id
            for r in proj.store.browse_page(BrowseFilters(label=label), "multi", 0, 30, 99).rows
        ]

    assert found("a_b") == ["m2", "m3"]
    assert found("axb") == ["m1"]
    assert found("c") == ["m1", "m5"]
    assert found("a%b") == found("a_") == found("%") == []
    now = datetime.now(UTC)
    bulk = proj.store.bulk_matches(BrowseFilters(label="a_b"), "multi", now)
    assert [m.item_id for m in bulk] == ["m2", "m3"]


@pytest.mark.parametrize(
    "filters, matching",
    [
        (BrowseFilters(), ["b01", "b02", "b03", "b04", "b05", "b06"]),
        (BrowseFilters(route="active"), ["b02", "b03", "b06"]),
        (BrowseFilters(label="refund"), ["b03", "b04"]),
        (BrowseFilters(label="card_arrival", visible="open"), ["b01", "b06"]),
    ],
)
def test_record_pages_start_after_their_cursor(items, filters, matching):
    """A page of records (the API's ``GET /items``) holds the next matches in id order after
    its cursor, whether the filter reads the items or their routes."""
    kind = items.guideline().kind
    for after in [None, "b00", "b01", "b025", "b03", "b06"]:
        page = items.store.record_page(filters, kind, after, 2, "local")
        expected = [i for i in matching if after is None or i > after][:2]
        assert [r.item.id for r in page] == expected, after
