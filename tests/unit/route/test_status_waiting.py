"""``status`` says how many queued items already have an answer: with overlap, an item one
reviewer answered waits for a second reviewer's answer, and nothing else said why."""

from __future__ import annotations

import pytest

from labelloop.core.types import Review, RouteDecision
from labelloop.review.service import ReviewService
from labelloop.route.status import project_status
from tests.support.console import guideline_text, make_project, seed, texts
from tests.support.services import postgres_database

USERS = [("rita", "reviewer"), ("ann", "reviewer")]
GUIDELINE = guideline_text(["refund", "card_arrival"])


def check(project) -> None:
    seed(project, texts("w", 4))
    assert project_status(project)["answered_waiting"] == 0
    service = ReviewService(project)
    first = service.next_item("rita")
    service.decide("rita", first.item.id, "fix", "card_arrival")
    second = service.next_item("rita")
    service.decide("rita", second.item.id, "skip")  # a skip answers nothing
    data = project_status(project)
    assert project.store.route_counts()["active"] == 4  # both still wait for a second answer
    assert data["answered_waiting"] == 1 and data["overlap"] == 1.0
    other = service.next_item("ann")
    assert other.item.id == first.item.id  # the second reviewer is given it
    service.decide("ann", other.item.id, "fix", "card_arrival")  # they agree: decided
    assert project_status(project)["answered_waiting"] == 0
    third = service.next_item("rita")
    service.decide("rita", third.item.id, "fix", "refund")
    assert project_status(project)["answered_waiting"] == 1
    service.close()
    # reopened (its label split): the answer before no longer holds
    store = project.store
    store.add_review(Review(item_id=third.item.id, reviewer="system", action="reopen"))
    store.set_routes([RouteDecision(item_id=third.item.id, route="active", reason="reopened")])
    assert project_status(project)["answered_waiting"] == 0


def test_answered_items_still_queued_are_counted(tmp_path):
    project = make_project(tmp_path, GUIDELINE, USERS, overlap=1.0)
    check(project)
    project.store.close()


@pytest.mark.postgres
def test_answered_items_still_queued_are_counted_on_postgresql(tmp_path):
    with postgres_database() as url:
        project = make_project(tmp_path, GUIDELINE, USERS, database_url=url, overlap=1.0)
        check(project)
        project.store.close()
