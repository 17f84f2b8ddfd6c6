"""Reviewing an item of a guideline that asks several questions: one question after
another, each with the model's answer to it; one review holding every answer when the
last is given; Backspace steps back a question; blind items ask every question, other
items only the questions routing left open; the editor changes decided answers."""

from __future__ import annotations

import pytest

from labelloop.core.errors import LabelloopError
from labelloop.core.types import Item, LabelValue, Route
from labelloop.review.service import ReviewService
from tests.support.console import make_project, seed

RUBRIC = """\
---
task: toxicity
unit: text
questions:
  category: {kind: single, labels: [hate_speech, offensive_language, neither]}
  targets: {kind: multi, labels: [person, group]}
---
# Toxicity

## category
Which category fits.

### hate_speech
Attacks a group.
### offensive_language
Rude.
### neither
Neither.
"""

MODEL = LabelValue(
    answers={
        "category": LabelValue(label="offensive_language"),
        "targets": LabelValue(labels=("person",)),
    }
)


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path, RUBRIC, [("rita", "reviewer"), ("ada", "admin")])
    seed(
        project,
        [
            (Item(id="t1", text="you are an idiot"), MODEL, 0.4, Route.ACTIVE),
            (Item(id="t2", text="what a lovely day"), MODEL, 0.4, Route.ACTIVE),
        ],
        rationale="category: Rude words.; targets: A person is addressed.",
    )
    return project


def test_each_question_is_asked_in_turn_and_one_review_holds_the_answers(project):
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    assert (view.question, view.questions, view.kind) == (
        "category",
        ("category", "targets"),
        "single",
    )
    assert view.suggestion.value == LabelValue(label="offensive_language")
    assert view.rationale == "Rude words."
    assert view.labels == ("hate_speech", "offensive_language", "neither")
    item = view.item.id
    step = service.decide("rita", item, "accept")
    assert step.review is None and step.next.question == "targets" and step.next.item.id == item
    assert step.next.kind == "multi" and step.next.suggestion.value == LabelValue(
        labels=("person",)
    )
    assert project.store.reviews_for(item) == []  # nothing is stored before the last answer
    with pytest.raises(LabelloopError, match="Unknown label 'nobody'"):
        service.decide("rita", item, "fix", ["nobody"])
    done = service.decide("rita", item, "fix", ["group"])
    assert done.review is not None and done.next.item.id != item
    (review,) = project.store.reviews_for(item)
    assert review.action == "fix"
    assert review.value == LabelValue(
        answers={
            "category": LabelValue(label="offensive_language"),
            "targets": LabelValue(labels=("group",)),
        }
    )


def test_backspace_steps_back_one_question_then_undoes_decisions(project):
    service = ReviewService(project, background_prefetch=False)
    item = service.next_item("rita").item.id
    service.decide("rita", item, "fix", "neither")
    back = service.undo("rita")
    assert back.question == "category" and back.answered == ()
    again = service.decide("rita", item, "fix", "hate_speech")
    assert again.next.answered[0][:2] == ("category", LabelValue(label="hate_speech"))
    service.decide("rita", item, "accept")
    (review,) = project.store.reviews_for(item)
    assert review.value.answers["category"] == LabelValue(label="hate_speech")
    assert review.action == "fix"  # one answer differs from the model's


def test_only_the_open_questions_are_asked_unless_the_item_is_blind(project):
    from labelloop.route.rules import QuestionsDecision

    store = project.store
    for item_id in ("t1", "t2"):  # routing accepted the category and left targets open
        sid = store.get_route(item_id).suggestion_id
        decided = QuestionsDecision(
            item_id=item_id,
            route=Route.ACTIVE,
            reason="test",
            suggestion_id=sid,
            accepted=("category",),
        )
        store.set_routes([decided], {item_id: 1.0})
    assert store.get_route("t1").accepted == ("category",)
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    assert view.questions == ("targets",) and view.question == "targets"
    done = service.decide("rita", view.item.id, "fix", ["person", "group"])
    assert done.review.value == LabelValue(
        answers={"targets": LabelValue(labels=("person", "group"))}
    )


def test_a_blind_item_asks_every_question_with_no_suggestion(tmp_path):
    project = make_project(tmp_path, RUBRIC, [("rita", "reviewer")])
    seed(project, [(Item(id="c1", text="idiot"), MODEL, 0.4, Route.CALIBRATION)])
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    assert view.blind and view.suggestion is None and view.questions == ("category", "targets")
    with pytest.raises(LabelloopError, match="Nothing to accept"):
        service.decide("rita", "c1", "accept")
    service.decide("rita", "c1", "fix", "neither")
    with pytest.raises(LabelloopError, match="Pick at least one label"):
        service.decide("rita", "c1", "fix", [])  # the question's own rule, as alone
    service.decide("rita", "c1", "fix", ["group"])
    (review,) = project.store.reviews_for("c1")
    assert review.blind and review.value.answers["targets"] == LabelValue(labels=("group",))


def test_the_editor_changes_a_decided_item_question_by_question(project):
    service = ReviewService(project, background_prefetch=False)
    item = service.next_item("rita").item.id
    service.decide("rita", item, "accept")
    service.decide("rita", item, "accept")
    view = service.edit("rita", item)
    assert view.question == "category" and view.start == LabelValue(label="offensive_language")
    step = service.decide("rita", item, "fix", "hate_speech")
    assert step.review is None and step.next.question == "targets"
    assert step.next.start == LabelValue(labels=("person",))
    done = service.decide("rita", item, "accept")
    assert done.review.value.answers["category"] == LabelValue(label="hate_speech")
    assert done.review.value.answers["targets"] == LabelValue(labels=("person",))


JUDGED = """\
---
task: judged
unit: conversation
questions:
  better: {kind: pairwise, allow_tie: true}
  safe: {kind: single, labels: ["yes", "no"]}
---
# Judged
"""


def test_a_judging_question_shows_the_replies_in_the_reviewers_order(tmp_path):
    from labelloop.core.types import Message, Reply

    project = make_project(tmp_path, JUDGED, [("rita", "reviewer")])
    item = Item(
        id="j1",
        messages=(Message(role="user", content="Capital of France?"),),
        replies=(Reply(id="a", content="Paris."), Reply(id="b", content="Lyon.")),
    )
    model = LabelValue(answers={"better": LabelValue(label="a"), "safe": LabelValue(label="yes")})
    seed(project, [(item, model, 0.4, Route.ACTIVE)])
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    assert view.question == "better" and view.kind == "pairwise"
    assert sorted(view.order) == ["a", "b"]
    assert service.guideline_for("rita", "j1").kind == "pairwise"
    step = service.decide("rita", "j1", "fix", LabelValue(label="tie"))
    assert step.next.question == "safe" and step.next.order == ()
    service.decide("rita", "j1", "accept")
    (review,) = project.store.reviews_for("j1")
    assert review.value == LabelValue(
        answers={"better": LabelValue(label="tie"), "safe": LabelValue(label="yes")}
    )


RATED = """\
---
task: rated
unit: conversation
questions:
  quality: {kind: rating, labels: [1, 2, 3, 4, 5]}
  order: {kind: ranking}
---
# Rated
"""


def test_rating_and_ranking_questions_take_answers_by_reply_id(tmp_path):
    from labelloop.core.types import Message, Reply

    project = make_project(tmp_path, RATED, [("rita", "reviewer")])
    item = Item(
        id="r1",
        messages=(Message(role="user", content="Name a prime."),),
        replies=(Reply(id="a", content="7"), Reply(id="b", content="8")),
    )
    model = LabelValue(
        answers={
            "quality": LabelValue(ratings={"a": 5, "b": 1}),
            "order": LabelValue(ranking=("a", "b")),
        }
    )
    seed(project, [(item, model, 0.4, Route.ACTIVE)])
    service = ReviewService(project, background_prefetch=False)
    view = service.next_item("rita")
    assert (view.question, view.kind, view.labels) == (
        "quality",
        "rating",
        ("1", "2", "3", "4", "5"),
    )
    with pytest.raises(LabelloopError):
        service.decide("rita", "r1", "fix", LabelValue(ratings={"a": 9, "b": 1}))  # off the scale
    step = service.decide("rita", "r1", "fix", LabelValue(ratings={"a": 4, "b": 2}))
    assert step.next.question == "order" and step.next.kind == "ranking"
    service.decide("rita", "r1", "fix", LabelValue(ranking=("b", "a")))
    (review,) = project.store.reviews_for("r1")
    assert review.value.answers["quality"].ratings == {"a": 4, "b": 2}
    assert review.value.answers["order"].ranking == ("b", "a")
