"""The console's geometry in Chromium at 1440x900 and 1280x720: in the review, browse and
adjudicate views no two visible controls or label chips overlap, no chip's text is cut, and
every control of the view is inside the window without scrolling the page (long lists
scroll inside their panel). The label grid is the demo guideline's 77 labels; the
multi-question and spans guidelines of the other browser tests are checked as well."""

from __future__ import annotations

import pytest

from labelloop.core.types import Item, LabelValue, Route, Span
from tests.support.console import Browser, make_project, seed, served, shown_item
from tests.support.console import guideline_text as guideline
from tests.support.screens import VIEWPORTS, demo_project, layout_problems, open_view
from tests.unit.review.test_questions_review import MODEL, RUBRIC

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
    for view in ("review", "guideline", "browse", "adjudicate"):
        open_view(page, view)
        assert_tidy(page, f"{view} at {size}")
        if view == "guideline":
            page.keyboard.press("Escape")


@pytest.mark.parametrize("size", SIZES)
def test_browse_and_adjudicate_open_with_content(browser, size):
    from playwright.sync_api import expect

    page = browser.page("ada", viewport=size)
    page.get_by_role("tab", name="Browse").click()  # the first page, without a search
    expect(page.locator("#ll-browse .ll-row")).to_have_count(6)
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
def test_questions_and_spans_fit(chromium, tmp_path, size):
    spans = LabelValue(spans=(Span(start=0, end=3, label="PER"),))
    shapes = (
        (RUBRIC, (Item(id="q1", text="you are an idiot"), MODEL, 0.4, Route.ACTIVE)),
        (guideline(("PER", "ORG"), kind="spans"), (Item(id="s1", text="Ada wrote"), spans, 0.5)),
    )
    for n, (text, entry) in enumerate(shapes):
        project = make_project(tmp_path / str(n), text, [("rita", "reviewer")])
        seed(project, [(*entry[:3], Route.ACTIVE)])
        with served(project) as url:
            b = Browser(chromium, url)
            page = b.page("rita", viewport=size)
            for view in ("review", "guideline"):
                open_view(page, view)
                assert_tidy(page, f"{project.guideline().kind} {view} at {size}")
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
