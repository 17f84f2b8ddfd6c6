"""Hostile data stays inert in the console: item texts, rationales, the guideline, comments,
user names and item ids full of HTML, SVG, Markdown and ``javascript:`` payloads run nothing,
load nothing from elsewhere, open no dialog and put no link or overlay on the page (error
toasts included), in a reviewer's and an admin's pages; and every view renders under the
CSP (no ``'unsafe-eval'``) with no violation and no console error.

The payloads are the corpus the reliability benchmark reads
(``benchmarks/reliability/corpus/xss_payloads.txt``); the walk is ``tests/support/xss.py``."""

from __future__ import annotations

import pytest

from labelloop.core.types import LabelValue, Route
from labelloop.review.service import ReviewService
from tests.support.console import Browser, make_project, seed, served, texts
from tests.support.console import guideline_text as guideline
from tests.support.xss import PAYLOADS, hostile_project, walk

pytestmark = pytest.mark.browser


@pytest.fixture
def project(tmp_path):
    proj = hostile_project(tmp_path)
    yield proj
    proj.store.close()


def test_payloads_in_items_rationales_guideline_comments_and_names_stay_inert(chromium, project):
    assert len(PAYLOADS) >= 40
    found = walk(chromium, project)
    assert found.checks >= len(PAYLOADS) + 8
    assert found.executed == set() and found.dialogs == []  # nothing ran
    assert found.markup == {}  # nothing became markup
    assert found.offsite == []  # nothing was even asked of another origin


@pytest.fixture
def views(tmp_path):
    """Items on every queue a view shows: to review, to browse, and one to adjudicate."""
    users = [("ada", "admin"), ("rita", "reviewer"), ("sam", "reviewer")]
    proj = make_project(tmp_path, guideline(("refund", "other")), users, overlap=1.0)
    seed(proj, texts("cs", 3, route=Route.ACTIVE))
    service = ReviewService(proj)
    for who, action, value in (("rita", "accept", None), ("sam", "fix", LabelValue(label="other"))):
        service.decide(who, service.next_item(who).item.id, action, value)
    service.release("rita")
    service.release("sam")
    assert service.adjudication_items("ada") == ["cs00"]
    yield proj
    proj.store.close()


class Watched:
    """A page whose CSP violations and console errors are recorded across navigations."""

    def __init__(self, browser: Browser):
        self.page = browser.page()
        self.problems: list[str] = []
        self.page.expose_binding("__llViolation", lambda _, v: self.problems.append(v))
        self.page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => window.__llViolation("
            "`CSP ${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`))"
        )
        self.page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console {m.text}")
        )
        self.page.on("pageerror", lambda e: self.problems.append(f"page error {e}"))


def test_every_view_renders_under_the_csp_with_no_violation(chromium, views):
    from playwright.sync_api import expect

    with served(views) as url:
        browser = Browser(chromium, url)
        for user in ("ada", "rita"):
            watched = Watched(browser)
            page = watched.page
            policy = page.goto(url + "/login").headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-eval" not in policy
            expect(page.get_by_label("password")).to_be_visible()
            browser.login(page, user)
            policy = page.request.get(url + "/", headers={"accept": "text/html"}).headers
            assert "unsafe-eval" not in policy["content-security-policy"]
            page.keyboard.press("g")
            expect(page.locator("#ll-guideline")).to_be_visible()
            page.keyboard.press("Escape")
            page.keyboard.press("a")  # a decision, and the next item
            expect(page.locator("#ll-status-box")).to_contain_text("Saved cs01")
            page.get_by_role("tab", name="Browse").click()
            page.get_by_role("button", name="Search").click()
            page.locator("#ll-browse .ll-row", has_text="cs01").click()
            expect(page.locator("#ll-detail .ll-detail")).to_have_count(1)
            page.get_by_role("button", name="Edit in the review tab").click()
            expect(page.locator("#ll-item .ll-editing")).to_have_count(1)
            # Space on the focused "Edit" button would press it again: leave it first
            page.evaluate("document.activeElement.blur()")
            page.keyboard.press("Space")  # leave the editor
            # its answer selects the review tab: wait for it before choosing another
            expect(page.locator("#ll-item .ll-editing")).to_have_count(0)
            if user == "ada":
                page.get_by_role("tab", name="Browse").click()
                page.locator("#ll-bulk").click()
                expect(page.locator("#ll-browse-note .ll-msg")).to_have_count(1)
                page.get_by_role("tab", name="Adjudicate").click()
                page.locator("#ll-adj-refresh").click()
                expect(page.locator("#ll-adj-view .ll-adjudicate")).to_have_count(1)
                page.get_by_role("tab", name="Dashboard").click()  # loads as it opens
                expect(page.locator("#ll-dash-top .ll-dash-top")).to_have_count(1)
                page.locator("#ll-dash-refresh").click()
                expect(page.locator("#ll-dash-top .ll-tile")).to_have_count(5)
                page.locator("#ll-export").click()
                link = page.locator("a[download]")
                expect(link).to_have_attribute("download", "support-intent.jsonl")
                assert page.request.get(link.get_attribute("href")).ok  # with the session
            else:
                expect(page.get_by_role("tab", name="Dashboard")).to_have_count(0)
            assert watched.problems == [], user
            page.get_by_role("link", name="Log out").click()
            expect(page.get_by_label("username")).to_be_visible()
            # leaving the page aborts Gradio's open requests, which it logs as errors
            assert [p for p in watched.problems if p.startswith("CSP")] == [], user
        browser.close()
    assert browser.offsite == []
