"""Hostile data stays inert in the console: item texts, rationales, the guideline, comments and
user names full of HTML, SVG, Markdown and ``javascript:`` payloads run nothing, load
nothing from elsewhere and open no dialog, in a reviewer's and an admin's pages."""

from __future__ import annotations

import pytest

from agent.auth import hash_password
from agent.types import Item, Route
from tests.console_support import PASSWORD, Browser, make_project, seed, served, shown_item
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
)
HOSTILE_USER = '<img src=x onerror="window.__xss=23">'
#: elements data could smuggle in; the console itself puts none of them in these places
FOREIGN = "img, svg, script, iframe, object, embed, video, audio, source, link, style, meta, base"
FOREIGN += ", form, input:not(#ll-search), details, marquee, math"
DATA_AREAS = ("#ll-item", "#ll-side", "#ll-guideline", "#ll-browse", "#ll-detail", "#ll-status-box")


def inert(page) -> None:
    """Nothing from the data became markup, ran, or points at a script URL."""
    for area in DATA_AREAS:
        assert page.locator(area).locator(FOREIGN).count() == 0, area
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
        expect(admin.locator("#ll-browse")).to_contain_text(f"{len(PAYLOADS)} items")
        inert(admin)
        for n in (0, 4, 8, 28):
            admin.locator("#ll-open-id textarea").fill(f"x{n:02d}")
            admin.get_by_role("button", name="Open").click()
            detail = admin.locator("#ll-detail")
            expect(detail).to_contain_text(f"x{n:02d}")
            expect(detail).to_contain_text(PAYLOADS[(n + 7) % len(PAYLOADS)].split(">")[0])
            expect(detail).to_contain_text(HOSTILE_USER)
            inert(admin)
        assert shown_item(page) == ""
        browser.close()
    assert browser.dialogs == []
    assert browser.offsite == []
