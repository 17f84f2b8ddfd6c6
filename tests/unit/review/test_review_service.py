"""The review service: leases, overlap and adjudication, undo, blind and gold, roles.

Every test runs on SQLite and, where a server is reachable, on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from labelloop.core.errors import AccessDenied, LabelloopError, ReviewConflict
from labelloop.core.types import Item, LabelValue, Review, Route, Suggestion
from labelloop.project import Project, init_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService, cited_section, route_after, share_hit
from labelloop.store.tables import LeaseRow
from tests.conftest import add_routed
from tests.support.factories import guideline
from tests.support.services import postgres_database

PASSWORD = "correct-horse-battery"
LABELS = ("card_arrival", "lost_or_stolen_card", "refund")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def proj(request, tmp_path, guideline_file) -> Iterator[Project]:
    """A project with reviewers ann, bob, cy and admin ada, on each backend."""
    if request.param == "sqlite":
        p = init_project(tmp_path / "p", guideline_file)
        yield from _with_users(p)
        return
    with postgres_database() as url:
        p = init_project(tmp_path / "p", guideline_file, database_url=url)
        yield from _with_users(p)


def _with_users(p: Project) -> Iterator[Project]:
    for name in ("ann", "bob", "cy"):
        add_user(p.store, name, "reviewer", PASSWORD)
    add_user(p.store, "ada", "admin", PASSWORD)
    p.config.review.overlap = 0.0
    p.config.review.similar_k = 0
    yield p
    p.store.close()


def seed(p: Project, n: int, route: Route = Route.ACTIVE, prefix: str = "i") -> list[str]:
    ids = [f"{prefix}{k:03d}" for k in range(n)]
    add_routed(
        p,
        [(Item(id=i, text=f"where is my card {i}"), "card_arrival", 0.7, route) for i in ids],
    )
    return ids


def drain(svc: ReviewService, who: str, action: str = "accept") -> list[str]:
    """Decide everything the reviewer is given; the ids in order."""
    seen, view = [], svc.next_item(who)
    while view is not None:
        seen.append(view.item.id)
        value = None if action != "fix" else "refund"
        view = svc.decide(who, view.item.id, action, value=value).next
    return seen


def test_two_reviewers_never_get_the_same_item(proj):
    seed(proj, 12)
    svc = ReviewService(proj)
    held = {}
    for who in ("ann", "bob", "cy"):
        view = svc.next_item(who)
        held[who] = view.item.id
    assert len(set(held.values())) == 3
    # with prefetch, each reviewer holds two leases; nobody shares any
    with proj.store.engine.connect() as c:
        rows = c.execute(sa.select(LeaseRow.item_id, LeaseRow.reviewer)).all()
    assert len(rows) == 6 and len({i for i, _ in rows}) == 6
    a, b = drain(svc, "ann"), drain(svc, "bob")
    assert not set(a) & set(b)
    assert len(set(a) | set(b) | {held["cy"]}) >= 11


def test_a_second_service_process_sees_the_same_leases(proj):
    seed(proj, 4)
    one, two = ReviewService(proj), ReviewService(proj)
    a = one.next_item("ann").item.id
    b = two.next_item("bob").item.id
    assert a != b
    assert two.next_item("ann").item.id == a  # ann's lease is in the store, not the process


def test_expired_leases_return_to_the_queue(proj):
    seed(proj, 1)
    svc = ReviewService(proj)
    first = svc.next_item("ann")
    assert svc.next_item("bob") is None
    past = datetime.now(UTC) - timedelta(seconds=1)
    with proj.store.transaction() as c:
        c.execute(sa.update(LeaseRow.__table__).values(expires_at=past))
    assert svc.next_item("bob").item.id == first.item.id
    with pytest.raises(ReviewConflict):
        svc.decide("ann", first.item.id, "accept")


def test_reviewers_draining_a_queue_at_once_never_share_an_item(proj):
    ids = seed(proj, 40)
    svc = ReviewService(proj)
    with ThreadPoolExecutor(max_workers=3) as pool:
        seen = list(pool.map(lambda who: drain(svc, who), ("ann", "bob", "cy")))
    svc.close()
    assert sorted(i for got in seen for i in got) == ids


def test_a_decision_takes_few_statements(proj):
    """Decide and lease the item after next: on PostgreSQL one statement each."""
    seed(proj, 8)
    svc = ReviewService(proj, background_prefetch=False)
    view = svc.next_item("ann")
    statements = []
    sa.event.listen(proj.store.engine, "before_cursor_execute", lambda *a: statements.append(1))
    for _ in range(5):
        view = svc.decide("ann", view.item.id, "accept").next
    per_decision = len(statements) / 5
    assert per_decision == (2 if proj.store.dialect == "postgresql" else 6)


def test_decide_records_one_row_with_duration_and_moves_on(proj):
    ids = seed(proj, 3)
    svc = ReviewService(proj)
    view = svc.next_item("ann")
    assert view.item.id == ids[0] and view.suggestion is not None and view.confidence == 0.7
    out = svc.decide("ann", ids[0], "fix", value="refund", duration_ms=1234)
    assert out.next.item.id == ids[1]
    (review,) = proj.store.reviews_for(ids[0])
    assert (review.action, review.value.label, review.duration_ms) == ("fix", "refund", 1234)
    assert proj.store.get_route(ids[0]).route == "reviewed"
    assert proj.store.get_route(ids[0]).label == "refund"


def test_fixing_to_the_shown_suggestion_is_an_accept(proj):
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    assert svc.decide("ann", ids[0], "fix", value="card_arrival").review.action == "accept"


def test_reject_needs_a_reason_from_the_taxonomy(proj):
    ids = seed(proj, 2)
    svc = ReviewService(proj)
    svc.next_item("ann")
    with pytest.raises(LabelloopError, match="wrong_label"):
        svc.decide("ann", ids[0], "reject", reason="meh")
    with pytest.raises(LabelloopError, match="comment"):
        svc.decide("ann", ids[0], "reject", reason="other")
    out = svc.decide("ann", ids[0], "reject", reason="ambiguous_item", comment="two intents")
    assert (out.review.reason, out.review.comment) == ("ambiguous_item", "two intents")


def test_unknown_labels_are_refused_with_the_valid_ones(proj):
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    with pytest.raises(LabelloopError, match="valid labels are card_arrival"):
        svc.decide("ann", ids[0], "fix", value="spam?")


def test_skip_keeps_the_item_for_others(proj):
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    assert svc.decide("ann", ids[0], "skip").next is None
    assert svc.next_item("bob").item.id == ids[0]


def test_undo_supersedes_the_decision_and_gives_the_item_back(proj):
    ids = seed(proj, 3)
    svc = ReviewService(proj)
    svc.next_item("ann")
    svc.decide("ann", ids[0], "fix", value="refund")
    back = svc.undo("ann")
    assert back.item.id == ids[0]
    assert proj.store.get_route(ids[0]).route == "active"
    assert proj.store.final_reviews() == {}
    rows = proj.store.reviews_for(ids[0])
    assert [r.action for r in rows] == ["fix", "undo"] and rows[1].supersedes == rows[0].id
    out = svc.decide("ann", ids[0], "accept")
    assert out.next.item.id == ids[1]  # the prefetched item is still next
    assert proj.store.final_reviews()[ids[0]].action == "accept"
    svc.next_item("ann")  # waits for the background prefetch
    with proj.store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(LeaseRow.__table__)).scalar() == 2


def test_nothing_to_undo(proj):
    seed(proj, 1)
    with pytest.raises(ReviewConflict, match="Nothing to undo"):
        ReviewService(proj).undo("ann")


def test_calibration_and_audit_items_are_blind_and_recorded_so(proj):
    cal = seed(proj, 1, Route.CALIBRATION, prefix="c")
    seed(proj, 1, Route.ACTIVE, prefix="a")
    svc = ReviewService(proj)
    view = svc.next_item("ann")
    assert view.item.id == cal[0] and view.queue == "calibration"
    assert view.blind and view.suggestion is None and view.confidence is None
    assert view.suggestion_id is not None  # kept for the calibration pair
    with pytest.raises(LabelloopError, match="Nothing to accept"):
        svc.decide("ann", cal[0], "accept")
    out = svc.decide("ann", cal[0], "fix", value="card_arrival")
    assert out.review.blind and out.review.action == "fix"
    assert not out.next.blind and out.next.suggestion is not None


def test_a_reviewer_setting_and_a_blind_share_hide_the_suggestion(proj):
    seed(proj, 40)
    svc = ReviewService(proj)
    with pytest.raises(AccessDenied):
        svc.set_blind("bob", "ann", True)
    svc.set_blind("ada", "ann", True)
    assert svc.next_item("ann").blind
    assert not svc.next_item("bob").blind
    proj.config.review.blind_share = 0.5
    shown, view = [], svc.next_item("cy")
    while view is not None:
        shown.append(view)
        view = svc.decide("cy", view.item.id, "skip").next
    assert 5 < sum(v.blind for v in shown) < len(shown) - 5
    assert all(v.blind == share_hit(v.item.id, 0.5, "blind") for v in shown)
    assert all((v.suggestion is None) == v.blind for v in shown)


def test_overlap_items_go_to_two_reviewers_then_agree(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 2)
    svc = ReviewService(proj)
    assert svc.next_item("ann").overlap
    svc.decide("ann", ids[0], "accept")
    assert proj.store.get_route(ids[0]).route == "active"  # waits for a second reviewer
    assert ids[0] not in drain(svc, "ann")
    assert svc.next_item("bob").item.id == ids[0]
    svc.decide("bob", ids[0], "accept")
    assert proj.store.get_route(ids[0]).route == "reviewed"


def test_overlap_disagreement_goes_to_adjudication_and_the_admin_wins(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    svc.decide("ann", ids[0], "accept", comment="reads like arrival")
    svc.next_item("bob")
    svc.decide("bob", ids[0], "fix", value="refund")
    assert proj.store.get_route(ids[0]).route == "adjudication"
    assert svc.next_item("cy") is None  # reviewers are not served adjudication
    with pytest.raises(AccessDenied):
        svc.adjudication_view("bob", ids[0])
    assert svc.adjudication_items("ada") == ids
    view = svc.adjudication_view("ada", ids[0])
    assert [(a.reviewer, a.action) for a in view.answers] == [("ann", "accept"), ("bob", "fix")]
    assert view.answers[0].comment == "reads like arrival"
    assert view.suggestion.value.label == "card_arrival"
    review = svc.adjudicate("ada", ids[0], "refund", comment="money back")
    assert review.queue == "adjudication" and review.reviewer == "ada"
    assert proj.store.get_route(ids[0]).route == "reviewed"
    # a later answer by a reviewer does not replace the adjudicated label
    svc.change_decision("ann", ids[0], "fix", value="lost_or_stolen_card")
    final = proj.store.final_reviews()[ids[0]]
    assert (final.reviewer, final.value.label) == ("ada", "refund")
    detail = svc.item_detail("ann", ids[0])
    assert (detail.final.label, detail.final_source) == ("refund", "adjudicated")


def test_rerouting_leaves_overlap_and_adjudication_items_queued(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    svc.decide("ann", ids[0], "accept")
    assert proj.store.waiting_on_answers() == {ids[0]}


def test_gold_items_are_mixed_in_blind_and_scored(proj):
    gold = seed(proj, 2, Route.REVIEWED, prefix="g")
    seed(proj, 3)
    proj.config.review.gold_rate = 1.0
    svc = ReviewService(proj, seed=1)
    with pytest.raises(AccessDenied):
        svc.add_gold("ann", {gold[0]: "refund"})
    assert svc.add_gold("ada", {gold[0]: "refund", gold[1]: "card_arrival"}) == 2
    view = svc.next_item("ann")
    assert view.gold and view.blind and view.item.id == gold[0]
    assert view.queue == "active"  # the queue shown does not give gold away
    out = svc.decide("ann", gold[0], "fix", value="refund")
    assert out.review.queue == "gold" and out.next.item.id == gold[1]
    svc.decide("ann", gold[1], "fix", value="refund")
    svc.next_item("bob")
    svc.decide("bob", gold[0], "fix", value="refund")
    assert svc.gold_accuracy("ada") == {"ann": (1, 2), "bob": (1, 1)}
    with pytest.raises(AccessDenied):
        svc.gold_accuracy("bob")


def test_gold_from_a_sample_import(proj, tmp_path):
    from labelloop.ingest.importer import import_file

    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "s1", "text": "refund me", "label": "refund"}\n')
    import_file(proj.store, proj.guideline(), path, reviewer="lead", sample=True)
    svc = ReviewService(proj)
    assert svc.gold_from_import("ada") == 1
    assert svc.item_detail("ada", "s1").gold.label == "refund"


def test_admin_only_methods_refuse_reviewers_and_strangers(proj):
    svc = ReviewService(proj)
    from labelloop.review.views import BrowseFilters

    for call in (
        lambda who: svc.dashboard(who),
        lambda who: svc.bulk_accept(who, BrowseFilters()),
        lambda who: svc.adjudicate(who, "x", "refund"),
        lambda who: svc.gold_accuracy(who),
        lambda who: svc.set_blind(who, "ann", True),
    ):
        for who in ("ann", "nobody", None):
            with pytest.raises(AccessDenied):
                call(who)
    with pytest.raises(PermissionError):  # callers may catch the builtin
        svc.dashboard("ann")
    with pytest.raises(AccessDenied):
        svc.next_item("nobody")


def test_admins_are_served_adjudication_after_the_other_queues(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 1)
    svc = ReviewService(proj)
    svc.next_item("ann")
    svc.decide("ann", ids[0], "accept")
    svc.next_item("bob")
    svc.decide("bob", ids[0], "fix", value="refund")
    view = svc.next_item("ada")
    assert view.queue == "adjudication"
    svc.decide("ada", ids[0], "fix", value="refund")
    assert proj.store.final_reviews()[ids[0]].queue == "adjudication"


def test_dashboard_counts_throughput_and_agreement(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 2)
    svc = ReviewService(proj)
    for who in ("ann", "bob"):
        view = svc.next_item(who)
        while view is not None:
            view = svc.decide(who, view.item.id, "accept", duration_ms=2000).next
    d = svc.dashboard("ada")
    top, details = d["top"], d["details"]
    assert top["progress"]["routes"]["reviewed"] == 2
    assert details["throughput"]["ann"]["decisions"] == 2
    assert details["throughput"]["ann"]["per_hour"] == 1800.0
    assert top["agreement"]["people"]["pairs"][0]["n"] == 2
    assert top["agreement"]["people"]["percent_agreement"]["value"] == 1.0
    assert top["agreement"]["model_vs_people"]["accuracy"]["value"] == 1.0
    assert "audit_alarm" in top and "cost" in top and ids
    # the eval report's figures, as `labelloop eval` defines them
    evaluation = details["evaluation"]
    assert evaluation["humans"]["items"] == 2 and evaluation["humans"]["percent_agreement"] == 1.0


# --- pure rules ------------------------------------------------------------------------


def _r(who: str, label: str | None, action: str = "fix") -> Review:
    value = LabelValue(label=label) if label else None
    return Review(item_id="x", reviewer=who, action=action, value=value)


def test_route_after_rules():
    assert route_after("active", _r("a", None, "skip"), [], True, 2).route is None
    assert route_after("active", _r("a", "x"), [], False, 2).route == "reviewed"
    assert route_after("active", _r("a", "x"), [], True, 2).route is None
    assert route_after("active", _r("b", "x"), [_r("a", "x")], True, 2).route == "reviewed"
    assert route_after("active", _r("b", "y"), [_r("a", "x")], True, 2).route == "adjudication"
    assert route_after("active", _r("b", None, "reject"), [_r("a", "x")], True, 2).route == (
        "adjudication"
    )
    assert route_after("gold", _r("a", "x"), [], False, 2).route is None


def test_share_hit_is_stable_and_near_its_share():
    hits = sum(share_hit(f"item-{k}", 0.1, "overlap") for k in range(5000))
    assert 400 < hits < 600
    assert share_hit("a", 0.1, "s") == share_hit("a", 0.1, "s")
    assert not share_hit("a", 0.0, "s") and share_hit("a", 1.0, "s")


def test_cited_section_prefers_the_cited_heading():
    g = guideline()
    s = Suggestion(
        item_id="x",
        model="m",
        value=LabelValue(label="refund"),
        rationale="Because [guideline: lost_or_stolen_card]",
    )
    assert cited_section(g, s).heading == "lost_or_stolen_card"
    plain = s.model_copy(update={"rationale": "no note"})
    assert cited_section(g, plain).heading == "refund"
    assert cited_section(g, None) is None
