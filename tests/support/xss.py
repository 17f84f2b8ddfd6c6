"""Hostile data in the console, walked through in Chromium: shared by
tests/console/test_browser_xss.py and the reliability benchmark (benchmarks/reliability/xss.py),
which read the same corpus.

The payloads live in ``benchmarks/reliability/corpus/xss_payloads.txt``, one a line. Each one
that runs script sets ``window.__xss`` (or opens a dialog); each one that loads something
points at ``http://evil.example``. The walk puts every payload in an item's text, a
rationale, the guideline, a reject comment and a user name, shows each to a reviewer and an
admin, and records instead of asserting: what ran, what became markup, what left the origin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labelloop.core.types import Item, Route
from labelloop.review.auth import hash_password
from tests.support.console import PASSWORD, Browser, make_project, seed, served, shown_item
from tests.support.console import guideline_text as guideline
from tests.support.paths import ROOT

CORPUS = ROOT / "benchmarks" / "reliability" / "corpus"
PAYLOADS = tuple(
    line for line in (CORPUS / "xss_payloads.txt").read_text(encoding="utf-8").splitlines() if line
)
HOSTILE_USER = '<img src=x onerror="window.__xss=23">'
#: an item id as imported: spaces around it, a link and a full-screen overlay in it
HOSTILE_ID = (
    '  <a href="http://evil.example/prize">You won</a><div style="position:fixed;inset:0;'
    'z-index:9999;background:#c00">overlay</div> '
)
#: elements data could smuggle in; the console itself puts none of them where data is shown
FOREIGN = "img, svg, script, iframe, object, embed, video, audio, source, link, style, meta, base"
FOREIGN += ", form, input:not(#ll-search), details, marquee, math"
#: where data is shown: what the console renders there (not Gradio's own icons); the
#: guideline's Markdown may link to a site, nothing else may link or carry a style
GUIDELINE_AREAS = ("#ll-guideline", "#ll-side")
DATA_AREAS = ("#ll-item", "#ll-side", "#ll-guideline", "#ll-browse", "#ll-detail", "#ll-status-box")
#: an error's message, which Gradio renders as HTML: plain text, no element
TOASTS = "[data-testid='toast-body']"
AREAS = [
    [f"{a} [data-testid='markdown']", FOREIGN if a in GUIDELINE_AREAS else f"{FOREIGN}, a, [style]"]
    for a in DATA_AREAS
] + [[f"{TOASTS} .toast-message-text", "*"]]

#: every assignment to window.__xss is kept (reading it gives the last, as a plain global would)
HOOK = """
window.__xssHits = [];
Object.defineProperty(window, "__xss", {
  configurable: true,
  get() { return window.__xssHits.length ? window.__xssHits.at(-1) : undefined; },
  set(v) { window.__xssHits.push(String(v)); },
});
"""
#: what data became markup: foreign elements where data is shown, handler attributes, and
#: script, data or off-site addresses anywhere (the guideline's own Markdown may link out)
SCAN = """
(areas) => {
  const found = [];
  const note = (why, el) => found.push(`${why}: ${el.outerHTML.slice(0, 160)}`);
  for (const [area, foreign] of areas)
    for (const root of document.querySelectorAll(area))
      for (const el of root.querySelectorAll(foreign)) note(area, el);
  const URLS = new Set(["href", "src", "action", "formaction", "data", "srcdoc", "poster",
    "background", "xlink:href", "style", "srcset", "ping", "content"]);
  const MARK = /evil\\.example|javascript:|__xss|^\\s*data:text/i;
  for (const el of document.querySelectorAll("*")) {
    for (const at of el.attributes) {
      const name = at.name.toLowerCase();
      if (name.startsWith("on")) note(`handler ${name}`, el);
      else if (URLS.has(name) && MARK.test(at.value)) {
        const guideline = el.closest("#ll-guideline, #ll-side");
        const guidelineLink = name === "href" && /^https?:/i.test(at.value) && guideline;
        if (!guidelineLink) note(`address in ${name}`, el);
      }
    }
  }
  const links = "a[href^='javascript' i], a[href^='data' i], iframe, meta[http-equiv='refresh' i]";
  for (const el of document.querySelectorAll(links)) note("link, frame or refresh", el);
  return found;
}
"""


@dataclass
class Findings:
    """What the walk saw; all empty means the data stayed inert."""

    #: payloads and screens checked
    checks: int = 0
    #: values assigned to window.__xss (each payload sets its own number)
    executed: set[str] = field(default_factory=set)
    #: per step, markup found there that earlier steps had not shown
    markup: dict[str, list[str]] = field(default_factory=dict)
    #: requests to another origin the page started, and those of them the CSP stopped
    offsite: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set, repr=False)

    def check(self, page, step: str) -> None:
        """Record what ``page`` shows now under ``step``."""
        self.checks += 1
        self.executed |= set(page.evaluate("window.__xssHits || []"))
        new = page.evaluate(SCAN, AREAS)
        new = [f for f in new if f not in self._seen]
        self._seen.update(new)
        if new:
            self.markup[step] = new

    @property
    def clean(self) -> bool:
        return not (self.executed or self.markup or self.offsite or self.dialogs)

    def summary(self) -> dict:
        return {
            "payloads": len(PAYLOADS),
            "checks": self.checks,
            "executed": sorted(self.executed),
            "dialogs": list(self.dialogs),
            "markup": self.markup,
            "offsite": sorted(set(self.offsite)),
            "offsite blocked by the CSP": sorted(set(self.blocked)),
        }


def hostile_project(root: Path, database_url: str | None = None):
    """A project whose guideline, items, rationales and an account name carry the payloads:
    the items ``x00``... in the active queue, one per payload, and ``HOSTILE_ID`` reviewed."""
    labels = ("refund", "other")
    text = guideline(
        labels,
        intro="\n\n".join(PAYLOADS),
        describe=lambda name: f"About {name}. {PAYLOADS[1]} {PAYLOADS[9]} {PAYLOADS[7]}",
    )
    project = make_project(root, text, [("ada", "admin")], database_url=database_url)
    project.store.add_user(HOSTILE_USER, "reviewer", hash_password(PASSWORD))  # an old account
    entries = [
        (Item(id=f"x{n:02d}", text=p), "refund", 0.6, Route.ACTIVE, PAYLOADS[-1 - n])
        for n, p in enumerate(PAYLOADS)
    ]
    seed(project, entries)
    seed(project, [(Item(id=HOSTILE_ID, text="an imported id"), "refund", 0.6, Route.REVIEWED)])
    return project


def _page(browser: Browser, user: str, found: Findings):
    page = browser.page()
    page.add_init_script(HOOK)
    page.on("requestfailed", lambda r: r.failure == "csp" and found.blocked.append(r.url))
    browser.login(page, user)
    return page


def walk(chromium, project, ids: bool = False) -> Findings:
    """Review every payload as the hostile-named reviewer (a reject with a hostile comment on
    every fourth), read the guideline, then as the admin browse and open items, open the
    item ``HOSTILE_ID`` from its row and a missing id like it (an error toast); with ``ids``
    also open an id made of each payload, spaces around it. Expectations about what is on
    screen are asserted on the way; what ran, rendered or left the origin is recorded."""
    from playwright.sync_api import expect

    found = Findings()
    with served(project) as url:
        browser = Browser(chromium, url)
        page = _page(browser, HOSTILE_USER, found)
        expect(page.locator("#ll-status-box")).to_contain_text(HOSTILE_USER)
        item = page.locator("#ll-item .ll-item")
        for n, payload in enumerate(PAYLOADS):
            expect(item).to_have_attribute("data-item", f"x{n:02d}")
            expect(page.locator("#ll-item .ll-text")).to_have_attribute("data-text", payload)
            found.check(page, f"item x{n:02d}")
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
        found.check(page, "guideline (reviewer)")

        admin = _page(browser, "ada", found)
        admin.keyboard.press("g")
        expect(admin.locator("#ll-guideline")).to_be_visible()
        admin.keyboard.press("Escape")
        admin.get_by_role("tab", name="Browse").click()
        admin.get_by_role("button", name="Search").click()
        expect(admin.locator("#ll-browse .ll-row")).to_have_count(30)  # one page
        expect(admin.locator("#ll-browse")).to_contain_text(f"{len(PAYLOADS) + 1} items")
        found.check(admin, "item browser")
        for n in (0, 4, 8, 28):
            _open(admin, f"x{n:02d}")
            detail = admin.locator("#ll-detail")
            expect(detail).to_contain_text(f"x{n:02d}")
            expect(detail).to_contain_text(PAYLOADS[(n + 7) % len(PAYLOADS)].split(">")[0])
            expect(detail).to_contain_text(HOSTILE_USER)
            found.check(admin, f"detail x{n:02d}")
        # the id with markup: its row opens it whole (not trimmed into another id), and the
        # error toast naming a missing id like it shows the id as text
        admin.locator("#ll-f-text textarea").fill("an imported id")
        admin.get_by_role("button", name="Search").click()
        admin.locator("#ll-browse .ll-row", has_text="You won").click()
        expect(admin.locator("#ll-detail .ll-detail")).to_have_attribute("data-item", HOSTILE_ID)
        found.check(admin, "hostile id opened")
        _open(admin, HOSTILE_ID.strip() + "-gone")
        toast = admin.locator(TOASTS)
        expect(toast).to_contain_text('No item \'<a href="http://evil.example/prize">You won</a>')
        expect(toast).to_contain_text("-gone' in the store")
        found.check(admin, "hostile id missing")
        _close_toasts(admin)
        if ids:  # every payload as an id nobody has, spaces around it
            for n, payload in enumerate(PAYLOADS):
                _open(admin, f" {payload} ")
                expect(toast.first).to_be_visible()
                found.check(admin, f"id {n:02d}")
                _close_toasts(admin)
        assert shown_item(page) == ""
        found.check(page, "reviewer at the end")
        browser.close()
    found.offsite, found.dialogs = browser.offsite, browser.dialogs
    return found


def _open(page, item_id: str) -> None:
    page.locator("#ll-open-id textarea").fill(item_id)
    page.get_by_role("button", name="Open", exact=True).click()


def _close_toasts(page) -> None:
    """Close every toast; dispatched, since an injected overlay would take a click."""
    from playwright.sync_api import expect

    for close in page.locator(f"{TOASTS} .toast-close, {TOASTS} [data-testid='toast-close']").all():
        close.dispatch_event("click")
    expect(page.locator(TOASTS)).to_have_count(0)
