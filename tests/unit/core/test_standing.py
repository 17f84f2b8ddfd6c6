"""Which label stands for an item: one rule (``labelloop.core.standing``), the export's.

The store's ``final_reviews`` (the labeler's teaching examples) and the item browser's
label column used to decide it on their own; where they disagreed with the export, the
export's rule now decides for all three. Each case below is one of those disagreements."""

from __future__ import annotations

import json

import pytest

from labelloop import loop
from labelloop.core.standing import final_label
from labelloop.core.types import Item, Route
from labelloop.project import init_project
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.route import router
from tests.conftest import add_routed


@pytest.fixture
def proj(tmp_path, guideline_file):
    p = init_project(tmp_path / "p", guideline_file)
    for name in ("ann", "bob"):
        add_user(p.store, name, "reviewer", "a long enough password")
    add_user(p.store, "ada", "admin", "a long enough password")
    p.config.review.overlap = 0.0
    p.config.review.similar_k = 0
    yield p
    p.store.close()


def seed(p, n: int, route: Route = Route.ACTIVE) -> list[str]:
    ids = [f"i{k:03d}" for k in range(n)]
    add_routed(
        p, [(Item(id=i, text=f"where is my card {i}"), "card_arrival", 0.7, route) for i in ids]
    )
    return ids


def three_ways(p, item_id: str):
    """(export's label, the store's standing review's label, the browser's label column)."""
    (record,) = [r for r in p.store.iter_records("local") if r.item.id == item_id]
    value, _ = final_label(record)
    stands = p.store.final_reviews().get(item_id)
    route = p.store.get_route(item_id)
    short = lambda v: None if v is None else v.label  # noqa: E731
    browser = route.label if route.route == Route.REVIEWED.value else None
    return short(value), short(stands.value if stands else None), browser


def test_a_reviewer_change_after_adjudication_leaves_the_adjudicated_label(proj):
    proj.config.review.overlap = 1.0
    (item,) = seed(proj, 1)
    svc = ReviewService(proj, background_prefetch=False)
    svc.next_item("ann")
    svc.decide("ann", item, "accept")
    svc.next_item("bob")
    svc.decide("bob", item, "fix", value="refund")
    svc.adjudicate("ada", item, "refund")
    svc.change_decision("ann", item, "fix", value="lost_or_stolen_card")
    # the browser column used to show ann's later answer
    assert three_ways(proj, item) == ("refund", "refund", "refund")


def test_an_item_waiting_for_its_second_answer_has_no_label_yet(proj):
    proj.config.review.overlap = 1.0
    (item,) = seed(proj, 1)
    svc = ReviewService(proj, background_prefetch=False)
    svc.next_item("ann")
    svc.decide("ann", item, "fix", value="refund")
    assert proj.store.get_route(item).route == "active"
    # the labeler used to learn ann's answer before the pair was complete
    assert three_ways(proj, item) == (None, None, None)
    svc.next_item("bob")
    svc.decide("bob", item, "fix", value="lost_or_stolen_card")
    assert proj.store.get_route(item).route == "adjudication"
    assert three_ways(proj, item) == (None, None, None)  # two answers that disagree: still none


def test_an_answer_on_a_gold_item_decides_nothing(proj):
    (item,) = seed(proj, 1)
    svc = ReviewService(proj, background_prefetch=False)
    svc.next_item("ann")
    svc.decide("ann", item, "fix", value="refund")
    proj.config.review.gold_rate = 1.0
    svc.add_gold("ada", {item: "refund"})
    view = svc.next_item("bob")
    assert view.gold and view.item.id == item
    svc.decide("bob", item, "fix", value="lost_or_stolen_card")
    router.route(proj)  # routing rewrites the browser's column from the reviews
    # the browser used to show bob's answer on the gold item as the item's label
    assert three_ways(proj, item) == ("refund", "refund", "refund")


def test_a_second_annotators_import_shows_in_the_browser(proj, tmp_path):
    (item,) = seed(proj, 1)
    for who, label in (("carl", "card_arrival"), ("sam", "refund")):
        path = tmp_path / f"{who}.jsonl"
        row = {"id": item, "text": f"where is my card {item}", "label": label}
        path.write_text(json.dumps(row) + "\n", encoding="utf-8")
        loop.import_file(proj, path, reviewer=who)
    # the browser's column kept the first file's label while exports showed the second's
    assert three_ways(proj, item) == ("refund", "refund", "refund")


# -- judging tasks: the people's consensus -----------------------------------------------------


def test_a_judged_item_several_people_answered_stands_on_their_consensus():
    """One vote per person (their latest), the majority; a tie on an even split only where
    the task allows ties; an adjudication still decides over everyone."""
    from labelloop.core.consensus import rule_of
    from labelloop.core.guideline import parse_guideline
    from labelloop.core.standing import standing_review
    from labelloop.core.types import LabelValue, Review

    tie = rule_of(parse_guideline("---\ntask: t\nkind: pairwise\nallow_tie: true\n---\n", "g"))
    no_tie = rule_of(parse_guideline("---\ntask: t\nkind: pairwise\n---\n", "g"))
    assert rule_of(parse_guideline("---\ntask: t\nlabels: [a, b]\n---\n", "g")) is None

    def votes(*pairs, queue=None):
        return [
            Review(
                item_id="i",
                reviewer=who,
                action="fix",
                value=LabelValue(label=v),
                queue=queue,
                id=n,
            )
            for n, (who, v) in enumerate(pairs, 1)
        ]

    changed = votes(("u", "a"), ("v", "b"), ("u", "b"))  # u changed their mind
    assert standing_review(changed, "reviewed", no_tie).id == 3
    assert standing_review(changed, "reviewed").id == 3  # (the latest, too)
    minority_last = votes(("u", "b"), ("v", "b"), ("w", "a"))
    assert standing_review(minority_last, "reviewed", no_tie).value.label == "b"
    assert standing_review(minority_last, "reviewed").value.label == "a"  # labels: latest
    split = votes(("u", "a"), ("v", "b"))
    assert standing_review(split, "reviewed", no_tie) is None
    assert standing_review(split, "reviewed", tie).value == LabelValue(label="tie")
    adjudicated = [*split, *votes(("boss", "a"), queue="adjudication")]
    assert standing_review(adjudicated, "reviewed", no_tie).reviewer == "boss"
