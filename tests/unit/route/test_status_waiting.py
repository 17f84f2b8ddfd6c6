"""``status`` says how many queued items already have an answer: with overlap, an item one
reviewer answered waits for a second reviewer's answer, and nothing else said why."""

from __future__ import annotations

import json

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
    service.decide("rita", third.item.id, "reject", reason="other", comment="unclear")
    assert project_status(project)["answered_waiting"] == 1  # a reject answers too
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


def test_an_import_names_the_answered_items_it_left_queued(tmp_path):
    """An item a reviewer has open keeps its route when an import answers it (nobody's
    item is taken from under them): the import says so, and the next routing run, once
    nobody holds it, decides it by the imported answer."""
    from labelloop import loop

    project = make_project(tmp_path, GUIDELINE, USERS)
    seed(project, texts("w", 3))
    service = ReviewService(project)
    held = service.next_item("rita").item.id
    rows = [{"id": i, "text": f"w item number {i[-1]}", "label": "card_arrival"}
            for i in (held, "w02" if held != "w02" else "w01")]  # fmt: skip
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = loop.import_file(project, path, reviewer="ann")
    assert result.reviews_added == 2 and result.still_queued == (held,)
    assert project.store.route_counts()["reviewed"] == 1
    service.release("rita")  # rita leaves: her leases end
    service.close()
    loop.route(project)
    assert project.store.get_route(held).route == "reviewed"
    again = loop.import_file(project, path, reviewer="ann")
    assert again.reviews_added == 0 and again.still_queued == ()
    project.store.close()


def test_a_blind_answer_waiting_for_its_second_reviewer_is_not_a_blind_review_to_give(tmp_path):
    from labelloop.core.types import Route
    from labelloop.route.outlook import outlook

    project = make_project(tmp_path, GUIDELINE, USERS, overlap=1.0, queues=["calibration"])
    seed(project, texts("c", 2, route=Route.CALIBRATION))
    assert outlook(project)["waiting"] == 2
    service = ReviewService(project)
    view = service.next_item("rita")
    service.decide("rita", view.item.id, "fix", "refund")
    service.close()
    assert project.store.route_counts()["calibration"] == 2  # one waits for ann's answer
    o = outlook(project)
    assert o["waiting"] == 1 and "1 blind review waiting" in o["summary"]
    assert project_status(project)["answered_waiting"] == 1
    project.store.close()
