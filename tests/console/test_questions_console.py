"""The console in Chromium on a guideline that asks several questions: the keys answer one
question after another (the label list changes with the question), Backspace steps back a
question, and the item's one review holds every answer the reviewer gave."""

from __future__ import annotations

import os

import pytest

from labelloop.core.types import Item, LabelValue, Route
from tests.support.console import Browser, make_project, seed, served
from tests.unit.review.test_questions_review import MODEL, RUBRIC

pytestmark = pytest.mark.browser


def test_answering_two_questions_with_the_keys(chromium, tmp_path):
    from playwright.sync_api import expect

    project = make_project(tmp_path, RUBRIC, [("rita", "reviewer")])
    seed(
        project,
        [(Item(id="t1", text="you are an idiot"), MODEL, 0.4, Route.ACTIVE)],
        rationale="category: Rude words.; targets: A person is addressed.",
    )
    with served(project) as url:
        browser = Browser(chromium, url)
        try:
            page = browser.page("rita", viewport=(1440, 900))
            question = page.locator("#ll-item .ll-question")
            expect(question).to_contain_text("Question 1 of 2: category")
            labels = page.locator("#ll-labels .ll-opt")
            expect(labels).to_have_count(3)
            expect(page.locator("#ll-pick")).to_have_text("offensive_language")
            page.keyboard.press("1")  # hate_speech
            expect(page.locator("#ll-pick")).to_have_text("hate_speech")
            page.keyboard.press("Enter")
            expect(question).to_contain_text("Question 2 of 2: targets")
            expect(question.locator(".ll-q-done")).to_contain_text("category hate_speech")
            expect(labels).to_have_count(2)  # the label list is the question's
            expect(page.locator("#ll-pick")).to_have_text("person")
            page.keyboard.press("Backspace")  # back to the first question
            expect(question).to_contain_text("Question 1 of 2: category")
            page.keyboard.press("3")  # neither
            page.keyboard.press("Enter")
            expect(question).to_contain_text("Question 2 of 2: targets")
            page.keyboard.press("2")  # adds group to the model's person
            expect(page.locator("#ll-pick")).to_contain_text("group")
            shots = os.environ.get("LABELLOOP_SCREENSHOTS")
            if shots:
                page.screenshot(path=f"{shots}/questions.png")
            assert project.store.reviews_for("t1") == []
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        finally:
            browser.close()
        assert browser.offsite == [] and browser.dialogs == []
    (review,) = project.store.reviews_for("t1")
    assert review.action == "fix"
    assert review.value == LabelValue(
        answers={
            "category": LabelValue(label="neither"),
            "targets": LabelValue(labels=("person", "group")),
        }
    )


CHAT_RUBRIC = """\
---
task: bot-rubric
unit: conversation
questions:
  outcome: {kind: single, labels: [resolved, unresolved]}
  each_reply: {kind: single, unit: turn, turn_role: assistant, labels: [good, bad]}
---
# Bot rubric
"""


def test_a_question_asked_of_each_assistant_turn_moves_the_turn_cursor(chromium, tmp_path):
    from playwright.sync_api import expect

    from labelloop.core.types import Message

    project = make_project(tmp_path, CHAT_RUBRIC, [("rita", "reviewer")])
    chat = (
        Message(role="user", content="where is my parcel"),
        Message(role="assistant", content="It left the depot today."),
        Message(role="user", content="thanks"),
        Message(role="assistant", content="Anything else?"),
    )
    model = LabelValue(
        answers={
            "outcome": LabelValue(label="resolved"),
            "each_reply": LabelValue(turns={1: "good", 3: "good"}),
        }
    )
    seed(project, [(Item(id="c1", messages=chat), model, 0.4, Route.ACTIVE)])
    with served(project) as url:
        browser = Browser(chromium, url)
        try:
            page = browser.page("rita", viewport=(1280, 720))
            question = page.locator("#ll-item .ll-question")
            expect(question).to_contain_text("Question 1 of 2: outcome")
            page.keyboard.press("Enter")  # keeps the model's "resolved"
            expect(question).to_contain_text("Question 2 of 2: each_reply")
            turns = page.locator("#ll-item .ll-turn")
            expect(turns.nth(1)).to_have_class("ll-turn ll-active")  # the first assistant turn
            page.keyboard.press("j")
            expect(turns.nth(3)).to_have_class("ll-turn ll-active")
            page.keyboard.press("2")  # bad
            expect(page.locator("#ll-pick")).to_have_text("#1 good; #3 bad")
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        finally:
            browser.close()
    (review,) = project.store.reviews_for("c1")
    assert review.value == LabelValue(
        answers={
            "outcome": LabelValue(label="resolved"),
            "each_reply": LabelValue(turns={1: "good", 3: "bad"}),
        }
    )


SPANS_RUBRIC = """\
---
task: news
unit: text
questions:
  people: {kind: spans, labels: [PER, ORG]}
  topic: {kind: single, labels: [science, sport]}
---
# News
"""


def test_a_span_question_is_marked_in_the_text_then_the_next_question_asked(chromium, tmp_path):
    from playwright.sync_api import expect

    from labelloop.core.types import Span
    from tests.support.console import select_in_item

    project = make_project(tmp_path, SPANS_RUBRIC, [("rita", "reviewer")])
    text = "Ada Lovelace wrote to the Royal Society"
    model = LabelValue(
        answers={
            "people": LabelValue(spans=(Span(start=0, end=3, label="PER"),)),
            "topic": LabelValue(label="sport"),
        }
    )
    seed(project, [(Item(id="s1", text=text), model, 0.4, Route.ACTIVE)])
    with served(project) as url:
        browser = Browser(chromium, url)
        try:
            page = browser.page("rita", viewport=(1440, 900))
            marks = page.locator("#ll-item mark.ll-span")
            expect(marks).to_have_count(1)
            for _ in range(9):
                page.keyboard.press(".")  # "Ada" -> "Ada Lovelace"
            expect(marks.nth(0)).to_have_text("Ada Lovelace")
            select_in_item(page, "Royal Society")
            page.keyboard.press("n")
            page.keyboard.press("2")  # ORG
            expect(marks).to_have_count(2)
            page.keyboard.press("Enter")
            question = page.locator("#ll-item .ll-question")
            expect(question).to_contain_text("Question 2 of 2: topic")
            expect(page.locator("#ll-item mark.ll-span")).to_have_count(0)  # not this question's
            page.keyboard.press("1")  # science
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        finally:
            browser.close()
    (review,) = project.store.reviews_for("s1")
    spans = sorted((s.start, s.end, s.label) for s in review.value.answers["people"].spans)
    assert spans == [(0, 12, "PER"), (26, 39, "ORG")]
    assert review.value.answers["topic"] == LabelValue(label="science")
