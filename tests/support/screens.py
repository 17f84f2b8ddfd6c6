"""The console's views on the demo guideline, and a check of their geometry in the page.

:func:`demo_project` builds a project on ``guidelines/support-intent.md`` (77 labels) with
items in the review queue and one overlap item waiting for adjudication; :func:`open_view`
shows a view; :func:`layout_problems` lists what a person would see as broken: controls or
label chips that overlap, text clipped in a chip, a label name broken inside a word,
controls outside the window.
"""

from __future__ import annotations

from pathlib import Path

from labelloop.core.types import Item, LabelValue, Route, Span
from labelloop.review.service import ReviewService
from tests.support.console import make_project, seed
from tests.support.paths import ROOT

DEMO_GUIDELINE = ROOT / "guidelines" / "support-intent.md"
USERS = (("rita", "reviewer"), ("sam", "reviewer"), ("ada", "admin"))
VIEWPORTS = ((1440, 900), (1280, 720))
VIEWS = ("review", "guideline", "reject", "browse", "adjudicate", "dashboard")
TEXTS = (
    "Hi, I topped up my account by bank transfer three days ago and the money still has not "
    "arrived. The transfer left my other bank on Monday. Is there something wrong with my "
    "account, or does it normally take this long? I need the money for my rent this week.",
    "The exchange rate on my card payment in Prague was much worse than the one shown in the app.",
    "How old do I need to be to open an account?",
    "My card was declined at the supermarket twice today.",
    "Can I get a disposable virtual card for online shopping?",
)
LABELS = (
    "top_up_by_bank_transfer_charge",
    "card_payment_wrong_exchange_rate",
    "age_limit",
    "declined_card_payment",
    "get_disposable_virtual_card",
)


def demo_project(root: Path, guideline: str | None = None):
    """A project on the demo guideline (or ``guideline``): five items waiting for review and
    one that rita and sam answered differently, waiting for adjudication."""
    text = guideline if guideline is not None else DEMO_GUIDELINE.read_text(encoding="utf-8")
    project = make_project(root, text, USERS, overlap=1.0)
    if guideline is None:
        pair = Item(id="pair-01", text="I was charged twice for one card payment.")
        seed(project, [(pair, "card_payment_fee_charged", 0.55, Route.ACTIVE)])
        service = ReviewService(project)
        for who, label in (
            ("rita", "transaction_charged_twice"),
            ("sam", "cash_withdrawal_charge"),
        ):
            assert service.next_item(who).item.id == pair.id
            service.decide(who, pair.id, "fix", LabelValue(label=label))
        service.close()
        entries = [
            (Item(id=f"msg-{n:02d}", text=t), label, 0.62, Route.ACTIVE)
            for n, (t, label) in enumerate(zip(TEXTS, LABELS, strict=True))
        ]
        seed(project, entries, rationale="The customer asks about this; see the guideline.")
    return project


#: task shapes besides the demo's single label, each with one item waiting for rita
SHAPES = ("questions", "spans", "pairwise", "rating", "ranking")
_PROMPT = "What is the capital of France? Answer in one sentence."
_REPLIES = {
    "a": "Paris is the capital of France. " * 12,
    "b": "The capital of France is Paris, on the Seine, with about two million people.",
    "c": "Lyon.",
}


def shape_project(root: Path, shape: str):
    """A project of task shape ``shape`` (one of :data:`SHAPES`) with one suggested item
    waiting in the active queue, and the reviewer rita."""
    from tests.support.console import guideline_text
    from tests.support.judging import PAIRWISE, RANKING, RATING, judged
    from tests.unit.review.test_questions_review import MODEL, RUBRIC

    two = {k: _REPLIES[k] for k in ("a", "b")}
    spans = LabelValue(spans=(Span(start=0, end=3, label="PER"),))
    text, item, value = {
        "questions": (RUBRIC, Item(id="q1", text="you are an idiot"), MODEL),
        "spans": (
            guideline_text(("PER", "ORG"), kind="spans"),
            Item(id="s1", text="Ada wrote"),
            spans,
        ),
        "pairwise": (PAIRWISE, judged("p1", _PROMPT, two), LabelValue(label="b")),
        "rating": (
            RATING,
            judged("r1", _PROMPT, _REPLIES),
            LabelValue(ratings={"a": 4, "b": 5, "c": 1}),
        ),
        "ranking": (
            RANKING,
            judged("k1", _PROMPT, _REPLIES),
            LabelValue(ranking=("b", "a", "c")),
        ),
    }[shape]
    project = make_project(root, text, [("rita", "reviewer")])
    seed(project, [(item, value, 0.6, Route.ACTIVE)])
    return project


def open_view(page, view: str) -> None:
    """Show ``view`` of the console on ``page`` (signed in) at the top of the page."""
    from playwright.sync_api import expect

    page.evaluate("window.scrollTo(0, 0)")
    if view in ("review", "guideline", "reject"):
        page.get_by_role("tab", name="Review").click()
        expect(page.locator("#ll-item .ll-item")).to_have_count(1)
        if view == "guideline":
            page.keyboard.press("g")
            expect(page.locator("#ll-guideline")).to_be_visible()
        elif view == "reject":  # the reasons open, Esc closes them
            page.keyboard.press("x")
            expect(page.locator("#ll-reject")).to_be_visible()
    elif view == "browse":
        page.get_by_role("tab", name="Browse").click()
        expect(page.locator("#ll-browse .ll-browse, #ll-browse .ll-msg")).to_have_count(1)
    elif view == "adjudicate":
        page.get_by_role("tab", name="Adjudicate").click()
        shown = "#ll-adj-view .ll-adjudicate, #ll-adj-view .ll-none, #ll-adj-view .ll-msg"
        expect(page.locator(shown)).to_have_count(1)
    elif view == "dashboard":
        page.get_by_role("tab", name="Dashboard").click()
        expect(page.locator("#ll-dash-top .ll-tiles")).to_have_count(1)
    settle(page)
    page.evaluate("window.scrollTo(0, 0)")


def settle(page) -> None:
    """Wait until no component shows Gradio's pending veil (its answers are all in) and
    nothing on the page is still fading in."""
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-testid=status-tracker]'))"
        ".every((el) => el.classList.contains('hide') || el.offsetParent === null)"
        " && document.getAnimations().every((a) => a.playState !== 'running')"
    )


#: in the page: the visible controls of the shown view (and label chips), then every pair
#: that overlaps by more than 1 px, every chip whose text is cut, and every control outside
#: the window; a control in a panel that scrolls counts where the panel shows it
_CHECK = r"""() => {
  const SEL = 'button, input:not([type=hidden]), textarea, select, [role=tab], .ll-opt, '
    + '.ll-rate, .ll-row, #ll-guideline';
  const shown = (el) => {
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || el.closest('[hidden]')) return false;
    const r = el.getBoundingClientRect();
    return el.getClientRects().length > 0 && r.width > 0 && r.height > 0;
  };
  const clipped = (el) => {
    let r = el.getBoundingClientRect();
    let box = { l: r.left, t: r.top, r: r.right, b: r.bottom };
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (/(auto|scroll|hidden)/.test(s.overflowX + s.overflowY)) {
        const q = p.getBoundingClientRect();
        box = { l: Math.max(box.l, q.left), t: Math.max(box.t, q.top),
                r: Math.min(box.r, q.right), b: Math.min(box.b, q.bottom) };
      }
    }
    return box;
  };
  const name = (el) => (el.id ? '#' + el.id : el.tagName.toLowerCase())
    + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim()
      .slice(0, 40) + '"';
  const els = Array.from(document.querySelectorAll(SEL)).filter(shown);
  const boxes = els.map((el) => ({ el, box: clipped(el) }))
    .filter(({ box }) => box.r - box.l > 1 && box.b - box.t > 1);
  const out = [];
  const W = innerWidth, H = innerHeight;
  for (const { el, box } of boxes) {
    if (box.l < -1 || box.t < -1 || box.r > W + 1 || box.b > H + 1) {
      const at = [box.l, box.t, box.r, box.b].map(Math.round);
      out.push(`outside the ${W}x${H} window: ${name(el)} at ${at.join(', ')} (l, t, r, b)`);
    }
  }
  const overlay = document.querySelector('#ll-guideline:not(.ll-closed)');
  const open = overlay && shown(overlay);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      // an open overlay covers the page below it on purpose
      if (open && (a.el === overlay || b.el === overlay)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > 1 && h > 1) out.push(`overlap ${Math.round(w)}x${Math.round(h)} px: `
        + `${name(a.el)} and ${name(b.el)}`);
    }
  }
  // a chip's text must show whole: inside the chip, and not cut by the list around it
  for (const li of document.querySelectorAll('.ll-opt')) {
    if (!shown(li)) continue;
    const text = li.querySelector('span') || li;
    const t = text.getBoundingClientRect(), c = li.getBoundingClientRect();
    const list = li.parentElement.getBoundingClientRect();
    if (t.right > c.right + 1 || t.left < c.left - 1 || t.right > list.right + 1
        || li.scrollWidth > li.clientWidth + 1) {
      out.push(`label cut: ${name(li)}`);
    }
  }
  // a label name wraps between its words (after an underscore or a space), never inside one
  const LABELS = '.ll-opt > span, .ll-card .ll-label, .ll-browse td:nth-child(4), '
    + '.ll-browse td:nth-child(5)';
  for (const el of document.querySelectorAll(LABELS)) {
    if (!shown(el)) continue;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const range = document.createRange();
      let top = null;
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i); range.setEnd(node, i + 1);
        const r = range.getBoundingClientRect();
        if (r.width === 0) continue;
        if (top !== null && r.top > top + 2 && !/[_\s-]/.test(node.data[i - 1] || ' ')) {
          out.push(`label broken mid-word: ${name(el)} before "${node.data.slice(i, i + 8)}"`);
          break;
        }
        top = r.top;
      }
    }
  }
  return out;
}"""


def layout_problems(page) -> list[str]:
    """What is wrong with the page's layout as it is shown now (empty when nothing)."""
    return page.evaluate(_CHECK)
