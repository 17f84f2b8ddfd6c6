"""The console in Chromium on other task shapes: 150 labels, transcript turns, spans, and
adjudication of disagreeing overlap reviews. Each shape has its own project and console."""

from __future__ import annotations

import json

import pytest

from labelloop.core.types import Item, LabelValue, Message, Route, RouteDecision, Span
from tests.support import console as console_support
from tests.support.console import Browser, make_project, seed, select_in_item, served, shown_item
from tests.support.console import guideline_text as guideline

pytestmark = pytest.mark.browser
WORDS = ("card", "transfer", "refund", "cash", "pin", "fee", "rate", "top_up", "atm", "visa")
MANY = tuple(f"{w}_{kind}" for w in WORDS for kind in "abcdefghijklmno")  # 150 labels


@pytest.fixture
def browser(chromium):
    made = []

    def open_on(url):
        made.append(Browser(chromium, url))
        return made[-1]

    yield open_on
    for b in made:
        b.close()
        assert b.offsite == [] and b.dialogs == []


def test_fixing_a_label_among_150_by_type_ahead(browser, tmp_path):
    from playwright.sync_api import expect

    assert len(set(MANY)) == 150
    project = make_project(tmp_path, guideline(MANY), [("rita", "reviewer")])
    seed(project, [(Item(id="m1", text="my top-up by visa failed"), "card_a", 0.4, Route.ACTIVE)])
    with served(project) as url:
        page = browser(url).page("rita")
        expect(page.locator("#ll-labels .ll-opt")).to_have_count(150)
        expect(page.locator("#ll-pick")).to_have_text("card_a")
        page.keyboard.press("/")
        page.keyboard.type("top_up")
        visible = page.locator("#ll-labels .ll-opt:not([hidden])")
        expect(visible).to_have_count(15)
        page.keyboard.type(" k")  # words narrow it down, in any order
        expect(visible).to_have_count(1)
        page.keyboard.press("Enter")
        expect(page.locator("#ll-pick")).to_have_text("top_up_k")
        page.keyboard.press("/")
        page.keyboard.type("visa")
        page.keyboard.press("ArrowDown")  # the second match: visa_b
        page.keyboard.press("Enter")
        expect(page.locator("#ll-pick")).to_have_text("visa_b")
        page.keyboard.press("Enter")
        expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
    (review,) = project.store.reviews_for("m1")
    assert (review.action, review.value) == ("fix", LabelValue(label="visa_b"))


def test_labeling_the_user_turns_of_a_transcript(browser, tmp_path):
    from playwright.sync_api import expect

    labels = ("greeting", "complaint", "question")
    project = make_project(tmp_path, guideline(labels, unit="turn"), [("rita", "reviewer")])
    chat = (
        Message(role="user", content="hello there"),
        Message(role="assistant", content="Hi! How can I help?"),
        Message(role="user", content="why was I charged twice"),
        Message(role="assistant", content="Let me check."),
        Message(role="user", content="this is unacceptable"),
    )
    suggested = LabelValue(turns={0: "greeting", 2: "question", 4: "question"})
    seed(project, [(Item(id="c1", messages=chat), suggested, 0.5, Route.ACTIVE)])
    with served(project) as url:
        page = browser(url).page("rita")
        turns = page.locator("#ll-item .ll-turn")
        expect(turns).to_have_count(5)
        expect(turns.nth(2).locator(".ll-turn-no")).to_have_text("#2")
        expect(turns.nth(1).locator(".ll-role")).to_have_text("assistant")
        expect(turns.nth(0)).to_have_class("ll-turn ll-active")
        expect(turns.nth(4).locator(".ll-turn-label")).to_have_text("question")
        page.keyboard.press("j")
        expect(turns.nth(2)).to_have_class("ll-turn ll-active")  # assistant turns are skipped
        page.keyboard.press("j")
        page.keyboard.press("2")
        expect(turns.nth(4).locator(".ll-turn-label")).to_have_text("complaint")
        expect(page.locator("#ll-pick")).to_have_text("#0 greeting; #2 question; #4 complaint")
        page.keyboard.press("Enter")
        expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
    (review,) = project.store.reviews_for("c1")
    assert review.action == "fix"
    assert review.value == LabelValue(turns={0: "greeting", 2: "question", 4: "complaint"})


def test_editing_adding_and_removing_spans(browser, tmp_path):
    from playwright.sync_api import expect

    project = make_project(
        tmp_path, guideline(("PER", "ORG"), kind="spans"), [("rita", "reviewer")]
    )
    text = "Ada Lovelace wrote to Babbage at the Royal Society 👍 yesterday"
    suggested = LabelValue(
        spans=(
            Span(start=0, end=3, label="PER"),  # "Ada": should be "Ada Lovelace"
            Span(start=22, end=29, label="ORG"),  # "Babbage": a person
            Span(start=52, end=61, label="ORG"),  # "yesterday": not an entity
        )
    )
    seed(project, [(Item(id="s1", text=text), suggested, 0.5, Route.ACTIVE)])
    with served(project) as url:
        page = browser(url).page("rita")
        marks = page.locator("#ll-item mark.ll-span")
        expect(marks).to_have_count(3)
        expect(marks.nth(0)).to_have_text("Ada")
        for _ in range(9):
            page.keyboard.press(".")  # the selected (first) span's end, one character on
        expect(marks.nth(0)).to_have_text("Ada Lovelace")
        page.keyboard.press("]")
        page.keyboard.press("1")  # relabel "Babbage" as PER
        expect(marks.nth(1)).to_have_attribute("data-label", "PER")
        page.keyboard.press("]")
        page.keyboard.press("Delete")
        expect(marks).to_have_count(2)
        # a new span from a text selection (after the emoji: offsets count code points)
        select_in_item(page, "Royal Society")
        page.keyboard.press("n")
        expect(marks).to_have_count(3)
        page.keyboard.press("2")  # the new span is selected: make it ORG
        expect(marks.nth(2)).to_have_attribute("data-label", "ORG")
        expect(marks.nth(2)).to_have_text("Royal Society")
        page.keyboard.press("Enter")
        expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
    (review,) = project.store.reviews_for("s1")
    assert review.action == "fix"
    got = sorted((s.start, s.end, s.label) for s in review.value.spans)
    assert got == [(0, 12, "PER"), (22, 29, "PER"), (37, 50, "ORG")]
    assert text[37:50] == "Royal Society"


def test_disagreeing_overlap_reviews_are_adjudicated_side_by_side(browser, tmp_path):
    from playwright.sync_api import expect

    users = [("rita", "reviewer"), ("sam", "reviewer"), ("ada", "admin")]
    labels = ("card_arrival", "lost_or_stolen_card", "refund")
    project = make_project(tmp_path, guideline(labels), users, overlap=1.0)
    seed(project, [(Item(id="o1", text="card gone, money gone"), "refund", 0.6, Route.ACTIVE)])
    with served(project) as url:
        b = browser(url)
        rita = b.page("rita")
        assert shown_item(rita) == "o1"
        rita.keyboard.press("2")
        rita.keyboard.press("Enter")
        expect(rita.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        sam = b.page("sam")  # overlap: the same item goes to a second reviewer
        assert shown_item(sam) == "o1"
        sam.keyboard.press("x")
        sam.keyboard.press("5")
        sam.keyboard.type("it is both a lost card and a refund")
        sam.keyboard.press("Enter")
        expect(sam.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        assert project.store.get_route("o1").route == "adjudication"

        admin = b.page("ada")
        admin.get_by_role("tab", name="Adjudicate").click()
        admin.get_by_role("button", name="Refresh list").click()
        view = admin.locator("#ll-adj-view")
        expect(view.locator(".ll-card")).to_have_count(3)  # the model, rita, sam
        expect(view).to_contain_text("rita · fix")
        expect(view).to_contain_text("sam · reject")
        expect(view).to_contain_text("it is both a lost card and a refund")
        admin.get_by_label("lost_or_stolen_card (rita)").check()
        admin.get_by_role("button", name="Decide").click()
        expect(admin.locator("#ll-adj-note")).to_contain_text("Decided o1: lost_or_stolen_card")
    final = project.store.reviews_for("o1")[-1]
    assert (final.reviewer, final.value) == ("ada", LabelValue(label="lost_or_stolen_card"))
    assert project.store.get_route("o1").route == "reviewed"


def test_overlapping_spans_are_refused_on_save_and_nothing_is_stored(browser, tmp_path):
    """A span moved into another one: saving says the two overlap and stores nothing, the
    item is shown again as suggested, and saving that stores it."""
    from playwright.sync_api import expect

    project = make_project(
        tmp_path, guideline(("PER", "ORG"), kind="spans"), [("rita", "reviewer")]
    )
    text = "Ada Lovelace wrote to Babbage"
    suggested = LabelValue(spans=(Span(start=0, end=12, label="PER"),))
    seed(project, [(Item(id="s1", text=text), suggested, 0.5, Route.ACTIVE)])
    with served(project) as url:
        page = browser(url).page("rita")
        marks = page.locator("#ll-item mark.ll-span")
        expect(marks).to_have_count(1)
        select_in_item(page, "wrote")
        page.keyboard.press("n")
        page.keyboard.press("2")
        expect(marks).to_have_count(2)
        for _ in range(7):
            page.keyboard.press("<")  # its start into "Lovelace"
        page.keyboard.press("Enter")
        expect(page.locator("#ll-status-box")).to_contain_text("overlap")
        assert project.store.reviews_for("s1") == []
        expect(marks).to_have_count(1)  # shown again as suggested
        page.keyboard.press("Enter")
        expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
    (review,) = project.store.reviews_for("s1")
    assert [(s.start, s.end, s.label) for s in review.value.spans] == [(0, 12, "PER")]


def test_the_adjudication_form_starts_empty_on_each_item(browser, tmp_path):
    """A label typed and a comment written for one item do not decide the next one: the
    answer picked on the next item is the one saved."""
    from playwright.sync_api import expect

    from labelloop.core.types import Review

    labels = ("card_arrival", "lost_or_stolen_card", "refund")
    project = make_project(tmp_path, guideline(labels), [("ada", "admin")], overlap=1.0)
    items = [Item(id=f"a{i}", text=f"card {i} gone, money gone") for i in (1, 2)]
    seed(project, [(it, "refund", 0.6, Route.ADJUDICATION) for it in items])
    for it in items:
        for who, label in (("rita", "refund"), ("sam", "lost_or_stolen_card")):
            answer = LabelValue(label=label)
            review = Review(item_id=it.id, reviewer=who, action="fix", value=answer, queue="active")
            project.store.add_review(review)
    project.store.set_routes(
        [RouteDecision(item_id=it.id, route="adjudication", reason="t") for it in items]
    )
    with served(project) as url:
        admin = browser(url).page("ada")
        admin.get_by_role("tab", name="Adjudicate").click()
        admin.get_by_role("button", name="Refresh list").click()
        expect(admin.locator("#ll-adj-view")).to_contain_text("sam · fix")
        other = admin.locator("#ll-adj-other input")
        other.click()
        other.fill("card_arr")
        admin.get_by_role("option", name="card_arrival", exact=True).click()
        comment = admin.locator("#ll-adj-comment textarea")
        comment.fill("typed for a1 only")
        admin.get_by_role("button", name="Decide").click()
        expect(admin.locator("#ll-adj-note")).to_contain_text("Decided a1: card_arrival")
        expect(admin.locator("#ll-adj-view")).to_contain_text("card 2 gone")
        expect(comment).to_have_value("")
        expect(other).to_have_value("")
        admin.get_by_label("lost_or_stolen_card (sam)").check()
        admin.get_by_role("button", name="Decide").click()
        expect(admin.locator("#ll-adj-note")).to_contain_text("Decided a2: lost_or_stolen_card")
    first, second = (project.store.reviews_for(it.id)[-1] for it in items)
    assert (first.value, first.comment) == (LabelValue(label="card_arrival"), "typed for a1 only")
    assert (second.value, second.comment) == (LabelValue(label="lost_or_stolen_card"), None)


def test_a_decided_span_item_is_edited_from_the_browser_and_turns_adjudicated(browser, tmp_path):
    from playwright.sync_api import expect

    project = make_project(
        tmp_path, guideline(("PER", "ORG"), kind="spans"), [("rita", "reviewer")]
    )
    text = "Ada Lovelace wrote to Babbage"
    decided = LabelValue(spans=(Span(start=0, end=12, label="PER"),))
    seed(project, [(Item(id="d1", text=text), decided, 0.9, Route.AUTO_ACCEPTED)])
    with served(project) as url:
        page = browser(url).page("rita")
        expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        page.get_by_role("tab", name="Browse").click()
        page.locator("#ll-open-id textarea, #ll-open-id input").first.fill("d1")
        page.get_by_role("button", name="Edit in the review tab").click()
        shown = page.locator("#ll-item .ll-item")
        expect(shown).to_have_attribute("data-item", "d1")
        expect(shown).to_contain_text("Editing a decided item")
        expect(shown).to_be_visible()
        marks = page.locator("#ll-item mark.ll-span")
        expect(marks).to_have_count(1)
        select_in_item(page, "Babbage")
        page.keyboard.press("n")
        page.keyboard.press("1")  # PER
        expect(marks).to_have_count(2)
        page.keyboard.press("Enter")
        expect(shown).to_contain_text("No items are waiting")  # back to the (empty) stream
    (review,) = project.store.reviews_for("d1")
    assert (review.reviewer, review.action, review.queue) == ("rita", "fix", "browser")
    assert sorted((s.start, s.end, s.label) for s in review.value.spans) == [
        (0, 12, "PER"),
        (22, 29, "PER"),
    ]

    users = [("rita", "reviewer"), ("sam", "reviewer"), ("ada", "admin")]
    turns = make_project(
        tmp_path / "turns", guideline(("refund", "greeting"), unit="turn"), users, overlap=1.0
    )
    chat = console_support.chat("c1", "hello there", "hi, how can I help?", "I want my money back")
    seed(turns, [(chat, LabelValue(turns={0: "greeting", 2: "refund"}), 0.6, Route.ACTIVE)])
    with served(turns) as url:
        b = browser(url)
        # the first user turn: rita makes it refund, sam keeps greeting (an accept)
        for who, key in (("rita", "1"), ("sam", "2")):
            page = b.page(who)
            assert shown_item(page) == "c1"
            page.keyboard.press(key)
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        assert turns.store.get_route("c1").route == "adjudication"
        admin = b.page("ada")
        admin.get_by_role("tab", name="Adjudicate").click()
        admin.get_by_role("button", name="Refresh list").click()
        expect(admin.locator("#ll-adj-view .ll-card")).to_have_count(3)
        admin.get_by_role("button", name="Edit in the review tab").click()
        shown = admin.locator("#ll-item .ll-item")
        expect(shown).to_have_attribute("data-item", "c1")
        expect(shown).to_have_attribute("data-queue", "adjudication")
        expect(shown).to_be_visible()
        assert json.loads(shown.get_attribute("data-suggested")) == {  # sam's, the latest
            "turns": {"0": "greeting", "2": "refund"}
        }
        admin.keyboard.press("j")  # the second user turn (#2)
        admin.keyboard.press("2")  # greeting
        admin.keyboard.press("Enter")
        expect(shown).to_contain_text("No items are waiting")
    final = turns.store.reviews_for("c1")[-1]
    assert (final.reviewer, final.queue) == ("ada", "adjudication")
    assert final.value == LabelValue(turns={0: "greeting", 2: "greeting"})
    assert turns.store.get_route("c1").route == "reviewed"
