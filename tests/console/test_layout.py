"""The console's geometry in Chromium at 1440x900 and 1280x720: in the review, browse,
adjudicate and dashboard views no two visible controls or label chips overlap, no chip's
text is cut, and every control of the view is inside the window without scrolling the page
(long lists scroll inside their panel). The label grid is the demo guideline's 77 labels;
multi-question, spans, pairwise, rating and ranking guidelines are checked as well."""

from __future__ import annotations

import pytest

from labelloop.core.types import Item, Route
from tests.support.console import Browser, make_project, seed, served, shown_item
from tests.support.console import guideline_text as guideline
from tests.support.screens import (
    SHAPES,
    VIEWPORTS,
    VIEWS,
    demo_project,
    layout_problems,
    open_view,
    shape_project,
)

pytestmark = pytest.mark.browser
SIZES = [pytest.param(v, id=f"{v[0]}x{v[1]}") for v in VIEWPORTS]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    project = demo_project(tmp_path_factory.mktemp("demo"))
    with served(project) as url:
        yield project, url
    project.store.close()


@pytest.fixture
def browser(chromium, demo):
    b = Browser(chromium, demo[1])
    yield b
    b.close()
    assert b.offsite == [] and b.dialogs == []


def assert_tidy(page, where: str) -> None:
    problems = layout_problems(page)
    assert problems == [], f"{where}: " + "; ".join(problems[:12])


@pytest.mark.parametrize("size", SIZES)
def test_every_view_fits_the_window_without_overlaps(browser, size):
    page = browser.page("ada", viewport=size)
    for view in VIEWS:
        open_view(page, view)
        assert_tidy(page, f"{view} at {size}")
        if view in ("guideline", "reject"):
            page.keyboard.press("Escape")


@pytest.mark.parametrize("size", SIZES)
def test_browse_and_adjudicate_open_with_content(browser, size):
    from playwright.sync_api import expect

    page = browser.page("ada", viewport=size)
    page.get_by_role("tab", name="Browse").click()  # the first page, without a search
    rows = page.locator("#ll-browse .ll-row")
    expect(rows).to_have_count(6)
    # Enter in a filter searches; Enter in the id box opens the item
    page.locator("#ll-f-text textarea, #ll-f-text input").first.fill("exchange rate")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-item", "msg-01")
    page.locator("#ll-open-id textarea, #ll-open-id input").first.fill("msg-02")
    page.keyboard.press("Enter")
    expect(page.locator("#ll-detail .ll-detail")).to_have_attribute("data-item", "msg-02")
    page.locator("#ll-f-text textarea, #ll-f-text input").first.fill("")
    page.keyboard.press("Enter")
    expect(rows).to_have_count(6)
    page.get_by_role("tab", name="Adjudicate").click()
    expect(page.locator("#ll-adj-view .ll-card")).to_have_count(3)
    page.get_by_role("tab", name="Browse").click()
    page.locator("#ll-browse .ll-row").first.click()  # an item opened: its detail scrolls
    expect(page.locator("#ll-detail .ll-detail")).to_have_count(1)
    page.evaluate("window.scrollTo(0, 0)")
    assert_tidy(page, f"browse with an item open at {size}")


def test_feedback_belongs_to_the_item_and_says_what_was_saved(browser):
    from playwright.sync_api import expect

    page = browser.page("rita", viewport=(1280, 720))
    status = page.locator("#ll-status-box")
    first = shown_item(page)
    page.keyboard.press("x")
    page.keyboard.press("5")  # other: the comment says why
    page.keyboard.type("two questions in one message")
    page.keyboard.press("Enter")
    expect(page.locator("#ll-item .ll-item")).not_to_have_attribute("data-item", first)
    expect(status).to_contain_text(
        f"Saved {first}: reject, other (comment): “two questions in one message”"
    )
    # the next item opens at its top, wherever the page was scrolled (a long page here)
    page.evaluate("document.body.style.paddingBottom = '3000px'; window.scrollTo(0, 2000)")
    second = shown_item(page)
    page.keyboard.press("a")
    expect(page.locator("#ll-item .ll-item")).not_to_have_attribute("data-item", second)
    expect(status).to_contain_text(f"Saved {second}: accept")
    top = "document.querySelector('#ll-item').getBoundingClientRect().top"
    assert 0 <= page.evaluate(top) < 720 / 2


def test_back_on_the_review_tab_the_keys_act_on_the_item(browser):
    """A clicked tab keeps the focus; the keys still go to the item, Enter and Space too."""
    from playwright.sync_api import expect

    page = browser.page("sam", viewport=(1280, 720))
    for key in ("x", "Space"):
        page.get_by_role("tab", name="Browse").click()
        expect(page.locator("#ll-browse .ll-row").first).to_be_visible()
        page.get_by_role("tab", name="Review").click()
        shown = shown_item(page)
        page.keyboard.press(key)
        if key == "x":
            expect(page.locator("#ll-reject")).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.locator("#ll-reject")).to_be_hidden()
        else:  # skipped: the next item
            expect(page.locator("#ll-item .ll-item")).not_to_have_attribute("data-item", shown)
    expect(page.get_by_role("tab", name="Browse")).to_have_attribute("aria-selected", "false")


def test_a_blind_item_offers_no_accept_and_says_labeled(chromium, tmp_path):
    from playwright.sync_api import expect

    labels = ("card_arrival", "lost_or_stolen_card", "refund")
    project = make_project(tmp_path, guideline(labels), [("rita", "reviewer")], blind_share=1.0)
    seed(project, [(Item(id="b1", text="where is my card"), "refund", 0.6, Route.ACTIVE)])
    with served(project) as url:
        b = Browser(chromium, url)
        page = b.page("rita", viewport=(1280, 720))
        expect(page.locator("#ll-side")).to_contain_text("Shown blind")
        expect(page.get_by_role("button", name="Accept (a)")).to_be_hidden()
        accept_key = page.locator('#ll-keys [data-ll-key="accept"]')
        expect(accept_key).to_have_count(1)
        expect(accept_key).to_be_hidden()  # nor its key
        expect(page.locator("#ll-keys")).to_contain_text("save pick")
        expect(page.locator('[data-ll-action="submit"]')).to_have_class("ll-primary")
        page.keyboard.press("Enter")  # nothing picked: said at once, on this item only
        expect(page.locator("#ll-flash")).to_contain_text("Pick a label first")
        page.keyboard.press("1")
        expect(page.locator("#ll-flash")).to_have_count(0)
        # the server's refusal of a label-less save is about this item: picking a label
        # takes it away
        page.evaluate(
            """() => {
                const box = document.querySelector('#ll-command textarea, #ll-command input');
                box.value = JSON.stringify({action: 'fix', item: 'b1'});
                box.dispatchEvent(new Event('input', {bubbles: true}));
                setTimeout(() => document.querySelector('#ll-go').click(), 0);
            }"""
        )
        refusal = page.locator("#ll-status-box .ll-msg.ll-error")
        expect(refusal).to_be_visible()
        page.keyboard.press("1")
        expect(refusal).to_be_hidden()
        page.keyboard.press("Enter")
        expect(page.locator("#ll-status-box")).to_contain_text(
            "Saved b1: labeled card_arrival (blind)"
        )
        b.close()
    project.store.close()


def test_adjudication_with_nothing_waiting_says_so(chromium, tmp_path, capfd):
    from playwright.sync_api import expect

    project = make_project(tmp_path, guideline(("a", "b")), [("ada", "admin")])
    with served(project) as url:
        b = Browser(chromium, url)
        page = b.page(viewport=(1280, 720))
        _login(b, page, "ada")
        # nothing to decide: no labels, buttons or keys beside the empty queue's message
        expect(page.locator(".ll-picker")).to_be_hidden()
        page.get_by_role("tab", name="Adjudicate").click()
        expect(page.locator("#ll-adj-view")).to_contain_text("Nothing is waiting")
        page.get_by_role("button", name="Decide").click()  # one line beside the form
        expect(page.locator("#ll-adj-note")).to_contain_text("Nothing decided")
        page.locator("#ll-adj-edit").click()  # a refusal: a toast, and no traceback
        expect(page.get_by_text("Open an item first")).to_be_visible()
        assert "Traceback" not in capfd.readouterr().err
        page.get_by_role("tab", name="Browse").click()
        expect(page.locator("#ll-browse")).to_contain_text("No items match these filters")
        assert_tidy(page, "empty browse at 1280x720")
        b.close()
    project.store.close()


def _login(browser, page, user: str) -> None:
    """Sign in on a console whose queues are empty."""
    from playwright.sync_api import expect

    from tests.support.console import PASSWORD

    page.goto(browser.url + "/login")
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")


@pytest.mark.parametrize("size", SIZES)
def test_questions_spans_and_judging_fit(chromium, tmp_path, size):
    for shape in SHAPES:
        project = shape_project(tmp_path / shape, shape)
        with served(project) as url:
            b = Browser(chromium, url)
            page = b.page("rita", viewport=size)
            for view in ("review", "guideline", "reject"):
                open_view(page, view)
                assert_tidy(page, f"{shape} {view} at {size}")
                if view != "review":
                    page.keyboard.press("Escape")
            b.close()
        project.store.close()


def test_the_editor_banner_says_what_the_item_is_waiting_for(browser):
    from playwright.sync_api import expect

    page = browser.page("ada", viewport=(1280, 720))
    page.get_by_role("tab", name="Adjudicate").click()
    expect(page.locator("#ll-adj-view .ll-card")).to_have_count(3)
    page.get_by_role("button", name="Edit in the review tab").click()
    item = page.locator("#ll-item .ll-item")
    expect(item).to_have_attribute("data-item", "pair-01")
    banner = item.locator(".ll-editing")
    # the reviewers disagree: nothing is decided yet
    expect(banner).to_contain_text("Adjudicating: the reviewers disagree")
    expect(banner).not_to_contain_text("decided item")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("Space")  # leave the editor without saving
    expect(banner).to_have_count(0)
