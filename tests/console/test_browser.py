"""The real console in Chromium: sign-in, sessions, the keyboard flow, blind mode, leases,
the item browser. One console (and one project) for the whole module; each test seeds its
own items and leaves the queues empty for the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labelloop.core.types import Item, LabelValue, Route
from tests.support.console import Browser, make_project, seed, served, shown_item, texts
from tests.support.console import guideline_text as guideline

pytestmark = pytest.mark.browser
LABELS = ("card_arrival", "lost_or_stolen_card", "refund")
USERS = (("rita", "reviewer"), ("sam", "reviewer"), ("ada", "admin"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    proj = make_project(tmp_path_factory.mktemp("console"), guideline(LABELS), USERS)
    yield proj
    proj.store.close()


@pytest.fixture(scope="module")
def console(project):
    with served(project) as url:
        yield url


@pytest.fixture
def browser(chromium, console):
    b = Browser(chromium, console)
    yield b
    b.close()
    assert b.offsite == [], "the console made requests to other hosts"
    assert b.dialogs == []


def item(page):
    return page.locator("#ll-item .ll-item")


def press_and_wait(page, *keys: str) -> str:
    """Press keys on the current item; wait until another item (or none) is shown."""
    from playwright.sync_api import expect

    before = shown_item(page)
    for key in keys:
        page.keyboard.press(key)
    expect(item(page)).not_to_have_attribute("data-item", before)
    return shown_item(page)


def expect_empty(page) -> None:
    from playwright.sync_api import expect

    expect(item(page)).to_contain_text("No items are waiting for you")


def decisions(project, item_id: str) -> list[tuple[str, object]]:
    return [(r.action, r.value) for r in project.store.reviews_for(item_id)]


def test_sign_in_wrong_password_and_logout(browser, console):
    from playwright.sync_api import expect

    page = browser.page()
    page.goto(console + "/")
    expect(page).to_have_url(console + "/login")
    page.get_by_label("username").fill("rita")
    page.get_by_label("password").fill("not-her-password")
    page.get_by_role("button", name="Login").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")

    browser.login(page, "rita")
    expect(page.locator("#ll-status-box")).to_contain_text("signed in as rita (reviewer)")
    expect(page.get_by_role("tab", name="Dashboard")).to_have_count(0)  # admins only
    page.get_by_role("link", name="Log out").click()
    expect(page).to_have_url(console + "/login")
    page.goto(console + "/")
    expect(page).to_have_url(console + "/login")  # the cookie no longer opens the console


def test_an_expired_session_goes_back_to_sign_in(browser, console, project):
    from playwright.sync_api import expect

    seed(project, texts("exp", 1))
    page = browser.page("rita")
    expect(item(page)).to_have_attribute("data-item", "exp00")
    past = datetime.now(UTC) - timedelta(seconds=1)
    for token in project.store.sessions_for("rita"):
        project.store.expire_session(token, past)
    page.keyboard.press("a")
    expect(page).to_have_url(console + "/login?expired=1")
    expect(page.get_by_role("status")).to_have_text("Your session expired: sign in again.")
    assert decisions(project, "exp00") == []  # the decision was refused, not recorded

    browser.login(page, "rita")
    expect(item(page)).to_have_attribute("data-item", "exp00")
    press_and_wait(page, "a")
    expect_empty(page)


def test_ten_items_with_the_keyboard_only(browser, project):
    from playwright.sync_api import expect

    seed(project, texts("kb", 10))
    page = browser.page("rita")
    expect(page.locator("#ll-keys")).to_contain_text("Backspace undo")
    expect(page.locator("#ll-picker-box")).to_contain_text("Accept (a)")
    steps = {}
    steps[shown_item(page)] = "accept"
    press_and_wait(page, "a")
    steps[shown_item(page)] = "accept (Enter)"
    press_and_wait(page, "Enter")
    steps[shown_item(page)] = "fix card_arrival"
    page.keyboard.press("1")
    expect(page.locator("#ll-pick")).to_have_text("card_arrival")
    press_and_wait(page, "Enter")
    steps[shown_item(page)] = "fix lost_or_stolen_card"
    page.keyboard.press("/")
    page.keyboard.type("stol")
    expect(page.locator("#ll-labels .ll-opt:not([hidden])")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#ll-pick")).to_have_text("lost_or_stolen_card")
    press_and_wait(page, "Enter")
    steps[shown_item(page)] = "skip"
    press_and_wait(page, " ")
    steps[shown_item(page)] = "reject bad_input"
    page.keyboard.press("x")
    expect(page.locator("#ll-reject")).to_be_visible()
    press_and_wait(page, "4")
    steps[shown_item(page)] = "reject other"
    page.keyboard.press("x")
    page.keyboard.press("5")
    expect(page.locator("#ll-comment")).to_be_focused()
    page.keyboard.type("two requests in one message")
    press_and_wait(page, "Enter")
    for _ in range(3):
        steps[shown_item(page)] = "accept"
        press_and_wait(page, "a")
    expect_empty(page)

    assert sorted(steps) == [f"kb{i:02d}" for i in range(10)]
    got = {}
    for item_id in steps:
        (review,) = project.store.reviews_for(item_id)
        assert review.reviewer == "rita" and review.duration_ms is not None
        got[item_id] = (review.action, review.value, review.reason, review.comment)
    refund, card = LabelValue(label="refund"), LabelValue(label="card_arrival")
    expected = {
        "accept": ("accept", refund, None, None),
        "accept (Enter)": ("accept", refund, None, None),
        "fix card_arrival": ("fix", card, None, None),
        "fix lost_or_stolen_card": ("fix", LabelValue(label="lost_or_stolen_card"), None, None),
        "skip": ("skip", None, None, None),
        "reject bad_input": ("reject", refund, "bad_input", None),
        "reject other": ("reject", refund, "other", "two requests in one message"),
    }
    for item_id, step in steps.items():
        action, value, reason, comment = expected[step]
        assert got[item_id][0] == action, (item_id, step, got[item_id])
        assert got[item_id][2:] == (reason, comment), (item_id, step)
        if action in ("accept", "fix"):
            assert got[item_id][1] == value, (item_id, step)


def test_backspace_undoes_the_last_decision(browser, project):
    from playwright.sync_api import expect

    seed(project, texts("un", 2))
    page = browser.page("rita")
    first = shown_item(page)
    page.keyboard.press("1")
    second = press_and_wait(page, "Enter")
    assert second != first and second.startswith("un")
    page.keyboard.press("Backspace")
    expect(item(page)).to_have_attribute("data-item", first)
    expect(page.locator("#ll-status-box")).to_contain_text("Undone")
    assert press_and_wait(page, "a") == second
    press_and_wait(page, "a")
    expect_empty(page)
    actions = [a for a, _ in decisions(project, first)]
    assert actions == ["fix", "undo", "accept"]
    final = project.store.reviews_for(first)[-1]
    assert final.value == LabelValue(label="refund")


def test_blind_items_and_blind_reviewers_never_see_the_suggestion(browser, project):
    from playwright.sync_api import expect

    secret = "SECRET-RATIONALE-7731"
    admin = browser.page("ada")  # before the items exist, so that they wait for sam
    admin.get_by_role("tab", name="Dashboard").click()
    admin.get_by_label("Reviewer to set").fill("sam")
    admin.get_by_label("Show this reviewer every item blind").check()
    admin.get_by_role("button", name="Save blind setting").click()
    expect(admin.get_by_text("sam now sees every item blind")).to_be_visible()
    seed(
        project,
        [
            (
                Item(id="bl-cal", text="calibration"),
                "card_arrival",
                0.93,
                Route.CALIBRATION,
                secret,
            ),
            (Item(id="bl-act", text="active"), "card_arrival", 0.91, Route.ACTIVE, secret),
        ],
    )

    page = browser.page("sam")
    for _ in range(2):
        expect(page.locator("#ll-side")).to_contain_text("Shown blind")
        expect(item(page)).to_have_attribute("data-suggested", "null")
        assert secret not in page.content()
        assert "93%" not in page.content() and "91%" not in page.content()
        expect(page.locator("#ll-pick")).to_have_text("—")  # nothing preselected either
        page.keyboard.press("3")
        press_and_wait(page, "Enter")
    expect_empty(page)
    for item_id in ("bl-cal", "bl-act"):
        (review,) = project.store.reviews_for(item_id)
        assert review.blind and review.value == LabelValue(label="refund")
    admin.get_by_label("Show this reviewer every item blind").uncheck()
    admin.get_by_role("button", name="Save blind setting").click()
    expect(admin.get_by_text("sam now sees suggestions as routed")).to_be_visible()


def test_two_sessions_never_get_the_same_item(browser, project):
    seed(project, texts("tw", 12))
    rita, sam = browser.page("rita"), browser.page("sam")
    seen: dict[str, list[str]] = {"rita": [], "sam": []}
    pages = {"rita": rita, "sam": sam}
    while any(shown_item(p) for p in pages.values()):
        for name, page in pages.items():
            current = shown_item(page)
            if current:
                seen[name].append(current)
                press_and_wait(page, "a")
    assert not set(seen["rita"]) & set(seen["sam"])
    assert sorted(seen["rita"] + seen["sam"]) == [f"tw{i:02d}" for i in range(12)]
    assert seen["rita"] and seen["sam"]
    for item_id in seen["rita"] + seen["sam"]:
        assert len(project.store.reviews_for(item_id)) == 1


def test_item_browser_filters_opens_and_changes_a_decision(browser, project):
    from playwright.sync_api import expect

    seed(
        project,
        [
            (Item(id="br-1", text="apple pie refund please"), "refund", 0.95, Route.AUTO_ACCEPTED),
            (
                Item(id="br-2", text="apple card never came"),
                "card_arrival",
                0.55,
                Route.AUTO_ACCEPTED,
            ),
            (Item(id="br-3", text="pear tart"), "refund", 0.97, Route.UNLABELED),
        ],
    )
    page = browser.page("rita")
    page.get_by_role("tab", name="Browse").click()
    rows = page.locator("#ll-browse .ll-row")
    page.get_by_label("Text contains").fill("apple")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(2)
    page.get_by_label("Min conf. %").fill("90")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-item", "br-1")
    page.get_by_label("Min conf. %").fill("0")
    page.get_by_label("Text contains").fill("")
    page.locator("#ll-f-route input").fill("unlabeled")
    page.get_by_role("option", name="unlabeled", exact=True).click()
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-item", "br-3")

    rows.first.click()  # opens the item
    expect(page.locator("#ll-detail")).to_contain_text("pear tart")
    page.locator("#ll-open-id textarea, #ll-open-id input").first.fill("br-2")
    page.get_by_role("button", name="Open").click()
    expect(page.locator("#ll-detail")).to_contain_text("apple card never came")
    page.get_by_label("fix").check()
    label = page.get_by_label("Label", exact=True).last
    label.fill("lost")
    page.get_by_role("option", name="lost_or_stolen_card").click()
    page.get_by_role("button", name="Save change").click()
    expect(page.locator("#ll-change-note")).to_contain_text("Changed br-2")
    expect(page.locator("#ll-detail")).to_contain_text("rita · fix")
    (review,) = project.store.reviews_for("br-2")
    assert (review.action, review.value) == ("fix", LabelValue(label="lost_or_stolen_card"))
