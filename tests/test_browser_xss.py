"""Hostile data stays inert in the console: item texts, rationales, the guideline, comments,
user names and item ids full of HTML, SVG, Markdown and ``javascript:`` payloads run nothing,
load nothing from elsewhere, open no dialog and put no link or overlay on the page (error
toasts included), in a reviewer's and an admin's pages; and every view renders under the
CSP (no ``'unsafe-eval'``) with no violation and no console error."""

from __future__ import annotations

import pytest

from agent.auth import hash_password
from agent.review import ReviewService
from agent.types import Item, LabelValue, Route
from tests.console_support import PASSWORD, Browser, make_project, seed, served, shown_item, texts
from tests.console_support import guideline_text as guideline

pytestmark = pytest.mark.browser
EVIL = "http://evil.example"
PAYLOADS = (
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    f'<img src="{EVIL}/a.png">',
    '<svg onload="window.__xss=3"><circle r=5></circle></svg>',
    "<svg><script>window.__xss=4</script></svg>",
    '<iframe src="javascript:window.__xss=5"></iframe>',
    f'<iframe src="{EVIL}/frame"></iframe>',
    '<a href="javascript:window.__xss=6">click me</a>',
    "[a markdown link](javascript:window.__xss=7)",
    f"![a markdown image]({EVIL}/md.png)",
    "![img](javascript:window.__xss=8)",
    '<body onload="window.__xss=9">',
    '<input autofocus onfocus="window.__xss=10">',
    '<details open ontoggle="window.__xss=11">x</details>',
    '<video><source onerror="window.__xss=12"></video>',
    '<audio src=x onerror="window.__xss=13">',
    f'<object data="{EVIL}/o.swf"></object>',
    f'<embed src="{EVIL}/e.swf">',
    f'<link rel=stylesheet href="{EVIL}/s.css">',
    f'<style>@import "{EVIL}/i.css"; body {{ background: url({EVIL}/b.png) }}</style>',
    f'<div style="background:url({EVIL}/bg.png)">styled</div>',
    '<math><mtext><img src=x onerror="window.__xss=14"></mtext></math>',
    '"><img src=x onerror="window.__xss=15">',
    "'><script>window.__xss=16</script>",
    "${window.__xss=17}",
    '{{constructor.constructor("window.__xss=18")()}}',
    f'<meta http-equiv="refresh" content="0;url={EVIL}/">',
    f'<base href="{EVIL}/">',
    f'<form action="{EVIL}/"><button>go</button></form>',
    "javascript:window.__xss=19",
    "<img src=x onerror=alert(1)>",
    "<scr<script>ipt>window.__xss=20</script>",
    "&lt;img src=x onerror=window.__xss=21&gt;",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data link</a>',
    '<marquee onstart="window.__xss=22">m</marquee>',
    f"<{EVIL}/autolink.png>",
    # an item id as imported: spaces around it, a link and a full-screen overlay in it
    f'  <a href="{EVIL}/prize">You won</a><div style="position:fixed;inset:0;z-index:9999;'
    'background:#c00">overlay</div> ',
)
HOSTILE_ID = PAYLOADS[-1]
HOSTILE_USER = '<img src=x onerror="window.__xss=23">'
#: elements data could smuggle in; the console itself puts none of them in these places
FOREIGN = "img, svg, script, iframe, object, embed, video, audio, source, link, style, meta, base"
FOREIGN += ", form, input:not(#ll-search), details, marquee, math"
TOASTS = "[data-testid='toast-body']"
GUIDELINE_AREAS = ("#ll-guideline", "#ll-side")
DATA_AREAS = ("#ll-item", "#ll-side", "#ll-guideline", "#ll-browse", "#ll-detail", "#ll-status-box")


def inert(page) -> None:
    """Nothing from the data became markup, ran, or points at a script URL or elsewhere."""
    for area in DATA_AREAS:
        shown = page.locator(f"{area} [data-testid='markdown']")  # not Gradio's own icons
        assert shown.locator(FOREIGN).count() == 0, area
        if area not in GUIDELINE_AREAS:  # guideline Markdown may link to a site
            assert shown.locator("a, [style]").count() == 0, area
    assert page.locator(f"{TOASTS} .toast-message-text *").count() == 0
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.locator("[onerror], [onload], [onfocus], [ontoggle], [onstart]").count() == 0
    assert page.locator("a[href^='javascript'], a[href^='data'], iframe").count() == 0


@pytest.fixture
def project(tmp_path):
    labels = ("refund", "other")
    text = guideline(
        labels,
        intro="\n\n".join(PAYLOADS),
        describe=lambda name: f"About {name}. {PAYLOADS[1]} {PAYLOADS[9]} {PAYLOADS[7]}",
    )
    proj = make_project(tmp_path, text, [("ada", "admin")])
    proj.store.add_user(HOSTILE_USER, "reviewer", hash_password(PASSWORD))  # an old account
    entries = [
        (Item(id=f"x{n:02d}", text=p), "refund", 0.6, Route.ACTIVE, PAYLOADS[-1 - n])
        for n, p in enumerate(PAYLOADS)
    ]
    seed(proj, entries)
    # an id as imported: spaces and markup around it
    seed(proj, [(Item(id=HOSTILE_ID, text="an imported id"), "refund", 0.6, Route.REVIEWED)])
    yield proj
    proj.store.close()


def test_payloads_in_items_rationales_guideline_comments_and_names_stay_inert(chromium, project):
    from playwright.sync_api import expect

    assert len(PAYLOADS) >= 30
    with served(project) as url:
        browser = Browser(chromium, url)
        page = browser.page(HOSTILE_USER)
        expect(page.locator("#ll-status-box")).to_contain_text(HOSTILE_USER)
        item = page.locator("#ll-item .ll-item")
        for n, payload in enumerate(PAYLOADS):
            expect(item).to_have_attribute("data-item", f"x{n:02d}")
            expect(page.locator("#ll-item .ll-text")).to_have_attribute("data-text", payload)
            inert(page)
            if n % 4 == 0:  # reject with a hostile comment
                page.keyboard.press("x")
                page.keyboard.press("5")
                page.locator("#ll-comment").fill(PAYLOADS[(n + 7) % len(PAYLOADS)])
                page.keyboard.press("Enter")
            else:
                page.keyboard.press("a")
            expect(item).not_to_have_attribute("data-item", f"x{n:02d}")
        expect(item).to_contain_text("No items are waiting")
        page.keyboard.press("g")
        expect(page.locator("#ll-guideline")).to_be_visible()
        expect(page.locator("#ll-guideline")).to_contain_text("window.__xss=17")
        inert(page)

        admin = browser.page("ada")
        admin.keyboard.press("g")
        expect(admin.locator("#ll-guideline")).to_be_visible()
        admin.keyboard.press("Escape")
        admin.get_by_role("tab", name="Browse").click()
        admin.get_by_role("button", name="Search").click()
        expect(admin.locator("#ll-browse .ll-row")).to_have_count(30)  # one page
        expect(admin.locator("#ll-browse")).to_contain_text(f"{len(PAYLOADS) + 1} items")
        inert(admin)
        for n in (0, 4, 8, 28):
            admin.locator("#ll-open-id textarea").fill(f"x{n:02d}")
            admin.get_by_role("button", name="Open").click()
            detail = admin.locator("#ll-detail")
            expect(detail).to_contain_text(f"x{n:02d}")
            expect(detail).to_contain_text(PAYLOADS[(n + 7) % len(PAYLOADS)].split(">")[0])
            expect(detail).to_contain_text(HOSTILE_USER)
            inert(admin)
        # the id with markup: its row opens it whole (not trimmed into another id), and the
        # error toast naming a missing id like it shows the id as text
        admin.locator("#ll-f-text textarea").fill("an imported id")
        admin.get_by_role("button", name="Search").click()
        admin.locator("#ll-browse .ll-row", has_text="You won").click()
        expect(admin.locator("#ll-detail .ll-detail")).to_have_attribute("data-item", HOSTILE_ID)
        admin.locator("#ll-open-id textarea").fill(HOSTILE_ID.strip() + "-gone")
        admin.get_by_role("button", name="Open", exact=True).click()
        toast = admin.locator(TOASTS)
        expect(toast).to_contain_text(f'No item \'<a href="{EVIL}/prize">You won</a>')
        expect(toast).to_contain_text("-gone' in the store")
        inert(admin)
        assert shown_item(page) == ""
        browser.close()
    assert browser.dialogs == []
    assert browser.offsite == []


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
                page.get_by_role("tab", name="Dashboard").click()
                page.locator("#ll-dash-refresh").click()
                expect(page.locator("#ll-dashboard .ll-dashboard")).to_have_count(1)
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
