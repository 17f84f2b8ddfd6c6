"""A reviewer's week in the browser, once per task shape: single label, multi-label, spans
and per-turn transcript labels.

Each journey drives the real console in Chromium as its people would. rita (reviewer, 1440x900)
works her queue with the keys: a blind calibration item, an accept, a fix she undoes and
redoes, a reject, her half of an overlap pair, a skip. sam (reviewer, 1280x720) gives the
other half of the pair, and they disagree. A new labeling run adds items; ada (admin,
1280x720) previews a bulk accept, cancels, previews again and confirms it. rita changes
decided items from the item browser (the change form, "Edit in the review tab", and a Save
change that touches nothing); ada undoes her bulk accept, which keeps the item rita changed
since, then adjudicates the pair.

After every step the project is exported as ``labelloop export`` writes it (JSONL) and each
item's final label, label source, route and reviews are compared with a ledger of what the
people did; any difference fails the journey naming the step. Spans and turns run on
PostgreSQL, single and multi-label on SQLite.

``LABELLOOP_JOURNEY_SHOTS=DIR`` also saves screenshots of the screens a person sees on the
way (review tab, bulk preview, adjudication) at 1440x900 and 1280x720 in DIR.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labelloop.core.types import Item, LabelValue, Message, Route, Span
from labelloop.export.writer import export
from labelloop.review.service import share_hit
from labelloop.route.state import routing_model
from tests.support.console import Browser, make_project, seed, select_in_item, served, shown_item
from tests.support.console import guideline_text as guideline
from tests.support.services import postgres_database

pytestmark = pytest.mark.browser
RITA, SAM, ADA = "rita", "sam", "ada"
USERS = ((RITA, "reviewer"), (SAM, "reviewer"), (ADA, "admin"))
WIDE, SMALL = (1440, 900), (1280, 720)
#: half the queue items are overlap items; ids are picked on the right side of the draw
OVERLAP = 0.5
VALUE_KEYS = ("label", "labels", "spans", "turns")
KEEP = object()


# --- the ledger: what the export should say, step by step ---------------------------------


def norm(value) -> dict | None:
    """A label value (LabelValue or exported dict) in one comparable form."""
    if value is None:
        return None
    data = value.as_dict() if isinstance(value, LabelValue) else dict(value)
    data = json.loads(json.dumps(data))
    if "labels" in data:
        data["labels"] = sorted(data["labels"])
    if "spans" in data:
        data["spans"] = sorted(data["spans"], key=lambda s: (s["start"], s["end"], s["label"]))
    return data or None


@dataclass
class Want:
    """One item as the export should show it."""

    route: str
    label: dict | None = None
    source: str | None = None
    reviews: list[tuple] = field(default_factory=list)


class Ledger:
    """What the people did, item by item; ``check`` compares it with a fresh export."""

    def __init__(self, project, out: Path):
        self.project, self.out = project, out
        self.items: dict[str, Want] = {}
        self.steps = 0

    def new(self, item_id: str, route: str) -> None:
        self.items[item_id] = Want(route)

    def did(
        self,
        item_id: str,
        who: str,
        action: str,
        value: LabelValue | None = None,
        *,
        queue: str = "active",
        blind: bool = False,
        reason: str | None = None,
        comment: str | None = None,
        bulk: bool = False,
        route: str | None = None,
        label=KEEP,
        source=KEEP,
    ) -> None:
        """A decision by ``who``; the item's route, final label and its source as given
        (accept and fix: the value, by a human, unless said otherwise)."""
        want = self.items[item_id]
        review = (who, action, norm(value), queue, blind, reason, comment, bulk)
        want.reviews.append(review)
        if route is not None:
            want.route = route
        if label is KEEP and action in ("accept", "fix"):
            label, source = value, "adjudicated" if queue == "adjudication" else "human"
        if label is not KEEP:
            want.label, want.source = norm(label), source

    def undone(self, item_id: str, route: str, label=None, source=None) -> None:
        """The item's last decision taken back: it no longer shows in the export."""
        want = self.items[item_id]
        want.reviews.pop()
        want.route, want.label, want.source = route, norm(label), source

    def check(self, step: str) -> None:
        """Export the project as the CLI does and compare every item with the ledger."""
        self.steps += 1
        p = self.project
        path = self.out / f"step-{self.steps:02d}.jsonl"
        model = routing_model(p)
        stages = p.config.routing.cascade or ()
        export(p.store, path, "jsonl", None, model, stages, guideline=p.guideline())
        rows = {r["id"]: r for r in map(json.loads, path.read_text("utf-8").splitlines())}
        assert sorted(rows) == sorted(self.items), f"after {step!r}: the export's items differ"
        problems = []
        for item_id, want in self.items.items():
            row = rows[item_id]
            got = Want(
                route=row["route"],
                label=norm({k: row[k] for k in VALUE_KEYS if k in row}),
                source=row["label_source"],
                reviews=[_review(r) for r in row["reviews"]],
            )
            for name in ("route", "label", "source", "reviews"):
                if getattr(got, name) != getattr(want, name):
                    problems.append(
                        f"{item_id} {name}: the export says {getattr(got, name)!r}, "
                        f"the steps say {getattr(want, name)!r}"
                    )
        assert not problems, f"after {step!r}:\n  " + "\n  ".join(problems)


def _review(r: dict) -> tuple:
    return (
        r["reviewer"],
        r["action"],
        norm(r["value"]),
        r.get("queue"),
        r.get("blind", False),
        r.get("reason"),
        r.get("comment"),
        r.get("bulk", False),
    )


# --- the four task shapes: items, and what each person's keys do ---------------------------


def press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


def item_el(page):
    return page.locator("#ll-item .ll-item")


def expect_pick(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#ll-pick")).to_have_text(text)


class Shape:
    """A task shape: its guideline, items and suggestion, and the keys each step presses
    (each returns the value it produces)."""

    name = ""
    kind, unit = "single", "text"
    labels: tuple[str, ...] = ()
    reject = ("4", "bad_input", None)  # key(s), reason, comment
    postgres = False

    def item(self, item_id: str, n: int, long: bool = False) -> Item:
        return Item(id=item_id, text=f"My card never arrived and I want a refund ({n})")

    def suggested(self) -> LabelValue:
        raise NotImplementedError

    def guideline(self) -> str:
        return guideline(self.labels, kind=self.kind, unit=self.unit)


class Single(Shape):
    name = "single"
    labels = ("card_arrival", "lost_or_stolen_card", "refund")
    reject = ("4", "bad_input", None)

    def suggested(self):
        return LabelValue(label="refund")

    def blind_answer(self, page):
        press(page, "2")
        expect_pick(page, "lost_or_stolen_card")
        return LabelValue(label="lost_or_stolen_card")

    def fix(self, page):
        press(page, "1")
        expect_pick(page, "card_arrival")
        return LabelValue(label="card_arrival")

    def fix_again(self, page):
        page.keyboard.press("/")
        page.keyboard.type("stol")
        page.keyboard.press("Enter")
        expect_pick(page, "lost_or_stolen_card")
        return LabelValue(label="lost_or_stolen_card")

    def pair(self, page, who):
        if who == RITA:
            return self.fix(page)
        return self.blind_answer(page)

    def edit(self, page):
        press(page, "2")
        expect_pick(page, "lost_or_stolen_card")
        return LabelValue(label="lost_or_stolen_card")

    def change(self, page):
        pick_option(page, page.locator("#ll-change-label input"), "card", "card_arrival")
        return LabelValue(label="card_arrival")

    def adjudicate(self, admin):
        admin.get_by_label("card_arrival (rita)").check()
        return LabelValue(label="card_arrival")


class Multi(Shape):
    name = "multi"
    kind = "multi"
    labels = ("billing", "delivery", "refund", "quality")
    reject = ("5", "other", "two requests in one message")

    def suggested(self):
        return LabelValue(labels=("refund",))

    def blind_answer(self, page):
        press(page, "1", "2")
        expect_pick(page, "billing, delivery")
        return LabelValue(labels=("billing", "delivery"))

    def fix(self, page):
        press(page, "2")
        expect_pick(page, "refund, delivery")
        return LabelValue(labels=("refund", "delivery"))

    def fix_again(self, page):
        press(page, "3", "1")
        expect_pick(page, "billing")
        return LabelValue(labels=("billing",))

    def pair(self, page, who):
        if who == RITA:
            return self.fix(page)
        press(page, "4")
        expect_pick(page, "refund, quality")
        return LabelValue(labels=("refund", "quality"))

    def edit(self, page):
        press(page, "4")
        expect_pick(page, "refund, quality")
        return LabelValue(labels=("refund", "quality"))

    def change(self, page):
        pick_option(page, page.locator("#ll-change-label input"), "bill", "billing")
        return LabelValue(labels=("refund", "billing"))

    def adjudicate(self, admin):
        pick_option(admin, admin.get_by_label("…or decide another label"), "deliv", "delivery")
        return LabelValue(labels=("delivery",))


TEXT = "Ada Lovelace wrote to Babbage at the Royal Society"


def spans(*triples) -> LabelValue:
    return LabelValue(spans=tuple(Span(start=s, end=e, label=lab) for s, e, lab in triples))


class Spans(Shape):
    name = "spans"
    kind = "spans"
    labels = ("PER", "ORG")
    reject = ("3", "ambiguous_item", None)
    postgres = True

    def item(self, item_id, n, long=False):
        return Item(id=item_id, text=f"{TEXT}, letter {n}")

    def suggested(self):
        return spans((0, 3, "PER"), (22, 29, "ORG"))  # "Ada", "Babbage"

    def blind_answer(self, page):
        from playwright.sync_api import expect

        marks = page.locator("#ll-item mark.ll-span")
        expect(marks).to_have_count(0)  # nothing preselected on a blind item
        select_in_item(page, "Ada Lovelace")
        press(page, "n")
        select_in_item(page, "Royal Society")
        press(page, "n", "2")
        expect(marks.nth(1)).to_have_attribute("data-label", "ORG")
        expect_pick(page, "PER[0:12]; ORG[37:50]")
        return spans((0, 12, "PER"), (37, 50, "ORG"))

    def fix(self, page):
        press(page, *["."] * 9)  # the first span's end, to "Ada Lovelace"
        press(page, "]", "1")  # Babbage is a person
        expect_pick(page, "PER[0:12]; PER[22:29]")
        return spans((0, 12, "PER"), (22, 29, "PER"))

    def fix_again(self, page):
        press(page, "Delete", "Delete")  # neither is an entity here: "no spans" is an answer
        expect_pick(page, "(no spans)")
        return LabelValue(spans=())

    def pair(self, page, who):
        if who == RITA:
            press(page, *["."] * 9)
            expect_pick(page, "PER[0:12]; ORG[22:29]")
            return spans((0, 12, "PER"), (22, 29, "ORG"))
        press(page, "]", "1")
        expect_pick(page, "PER[0:3]; PER[22:29]")
        return spans((0, 3, "PER"), (22, 29, "PER"))

    def edit(self, page):
        select_in_item(page, "Royal Society")
        press(page, "n", "2")
        expect_pick(page, "PER[0:3]; ORG[22:29]; ORG[37:50]")
        return spans((0, 3, "PER"), (22, 29, "ORG"), (37, 50, "ORG"))

    change = None  # no change form for spans: the browser edits them in the review tab

    def adjudicate(self, admin):
        # the editor starts from the latest answer (sam's): Ada's span to "Ada Lovelace"
        press(admin, *["."] * 9)
        expect_pick(admin, "PER[0:12]; PER[22:29]")
        return spans((0, 12, "PER"), (22, 29, "PER"))


def turns(a: str, b: str, c: str) -> LabelValue:
    return LabelValue(turns={0: a, 2: b, 4: c})


class Turns(Shape):
    name = "turns"
    unit = "turn"
    labels = ("greeting", "complaint", "question")
    reject = ("1", "wrong_label", None)
    postgres = True

    def item(self, item_id, n, long=False):
        chat = [
            ("user", f"hello, is anyone there? ({n})"),
            ("assistant", "Hi! How can I help?"),
            ("user", "why was I charged twice"),
            ("assistant", "Let me check."),
            ("user", "this is unacceptable"),
        ]
        if long:  # longer than the window: the keys must keep the active turn in view
            chat += [
                (role, f"{role} message {i}: " + "and then there was more to say, " * 6)
                for i in range(5, 16)
                for role in ("assistant", "user")
            ][:10]
        return Item(id=item_id, messages=tuple(Message(role=r, content=c) for r, c in chat))

    def suggested(self):
        return turns("greeting", "question", "complaint")

    def blind_answer(self, page):
        from playwright.sync_api import expect

        # a long transcript (user turns #0 to #14): #0 greeting, then Enter too early
        active = page.locator("#ll-item .ll-turn.ll-active")
        press(page, "1")  # turn #0, and on to #2, the next without a label
        press(page, "Enter")  # six user turns have no label yet: nothing is saved
        expect(page.locator(".ll-flash")).to_have_text(
            "Label every user turn first: #2, #4, #6, #8, #10, #12, #14 still have none (j/k move)"
        )
        expect(page.locator(".ll-flash")).to_be_in_viewport()
        expect(active).to_have_attribute("data-turn", "2")
        shoot(page, f"{self.name}-review-turn-flash")
        press(page, *["3"] * 7)  # the number keys go on to the next turn without a label
        expect(active).to_have_attribute("data-turn", "14")
        expect(active).to_be_in_viewport()
        shoot(page, f"{self.name}-review-turn-last")
        expect_pick(page, "#0 greeting; " + "; ".join(f"#{t} question" for t in range(2, 16, 2)))
        return LabelValue(turns={0: "greeting", **{t: "question" for t in range(2, 16, 2)}})

    def fix(self, page):
        press(page, "j", "j", "3")
        expect_pick(page, "#0 greeting; #2 question; #4 question")
        return turns("greeting", "question", "question")

    def fix_again(self, page):
        press(page, "j", "2")
        expect_pick(page, "#0 greeting; #2 complaint; #4 complaint")
        return turns("greeting", "complaint", "complaint")

    def pair(self, page, who):
        press(page, "2" if who == RITA else "3")
        first = "complaint" if who == RITA else "question"
        expect_pick(page, f"#0 {first}; #2 question; #4 complaint")
        return turns(first, "question", "complaint")

    def edit(self, page):
        press(page, "j", "1")
        expect_pick(page, "#0 greeting; #2 greeting; #4 complaint")
        return turns("greeting", "greeting", "complaint")

    change = None  # no change form for turn labels: the browser edits them in the review tab

    def adjudicate(self, admin):
        # the editor starts from the latest answer (sam's): take rita's first turn
        press(admin, "2")
        expect_pick(admin, "#0 complaint; #2 question; #4 complaint")
        return turns("complaint", "question", "complaint")


# --- the console's widgets ---------------------------------------------------------------


def pick_option(page, box, typed: str, option: str) -> None:
    """Choose ``option`` in a Gradio dropdown (``box``, its input) by typing and clicking."""
    box.fill(typed)
    page.get_by_role("option", name=option, exact=True).click()


def open_in_browser(page, item_id: str) -> None:
    page.locator("#ll-open-id textarea, #ll-open-id input").first.fill(item_id)


def shoot(page, name: str) -> None:
    """Screenshots at both sizes when LABELLOOP_JOURNEY_SHOTS names a folder."""
    folder = os.environ.get("LABELLOOP_JOURNEY_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width, height in (WIDE, SMALL):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=f"{folder}/{name}-{width}x{height}.png")
    page.set_viewport_size(size)


def named(base: str, overlap: bool) -> str:
    """The first id ``base-N`` that the overlap draw puts in (or out of) the overlap share."""
    return next(
        f"{base}-{n}" for n in range(100) if share_hit(f"{base}-{n}", OVERLAP, "overlap") == overlap
    )


@contextmanager
def store_for(shape: Shape):
    """A PostgreSQL database for the shapes that run on one; None (SQLite) for the others."""
    if not shape.postgres:
        yield None
        return
    with postgres_database() as url:
        yield url


# --- the journey ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        Single(),
        Multi(),
        pytest.param(Spans(), marks=pytest.mark.postgres),
        pytest.param(Turns(), marks=pytest.mark.postgres),
    ],
    ids=lambda s: s.name,
)
def test_a_reviewers_week(shape, chromium, tmp_path):
    with store_for(shape) as url:
        project = make_project(
            tmp_path, shape.guideline(), USERS, database_url=url, overlap=OVERLAP
        )
        try:
            with served(project) as console:
                browser = Browser(chromium, console)
                try:
                    week(shape, project, browser, tmp_path)
                finally:
                    browser.close()
                assert browser.offsite == [] and browser.dialogs == []
        finally:
            project.store.close()


def week(shape: Shape, project, browser: Browser, tmp_path: Path) -> None:
    """The week, step by step, with the export checked against the ledger after each."""
    from playwright.sync_api import expect

    sugg = shape.suggested()
    ids = {
        "cal": named("cal", False),
        "accept": named("accept", False),
        "fix": named("fix", False),
        "reject": named("reject", False),
        "pair": named("pair", True),
        "skip": named("skip", False),
    }
    ledger = Ledger(project, tmp_path)
    # ada opens the console first: her own stream is empty, so she holds no item later on
    ada = browser.page(ADA, viewport=SMALL)
    expect(item_el(ada)).to_contain_text("No items are waiting")

    routes = {"cal": Route.CALIBRATION}
    entries = [
        (shape.item(i, n, long=k == "cal"), sugg, 0.6, routes.get(k, Route.ACTIVE))
        for n, (k, i) in enumerate(ids.items())
    ]
    seed(project, entries)
    for item, *_, route in entries:
        ledger.new(item.id, route.value)
    ledger.check("labeling run 1")

    rita = browser.page(RITA, viewport=WIDE)
    review_stream(shape, rita, ids, sugg, ledger)

    sam = browser.page(SAM, viewport=SMALL)
    expect(item_el(sam)).to_have_attribute("data-item", ids["pair"])
    b = shape.pair(sam, SAM)
    submit(sam, "Enter")
    expect(item_el(sam)).to_have_attribute("data-item", ids["skip"])  # rita skipped it
    # while the pair waits for an admin, the two answers disagree: no final label yet
    ledger.did(ids["pair"], SAM, "fix", b, route="adjudication", label=None, source=None)
    ledger.check("sam answers the overlap item: they disagree")

    bulk = {k: named(k, False) for k in ("bulk1", "bulk2", "bulk3")}
    more = {"cal2": named("cal2", False), "audit": named("audit", False)}
    more["pair2"] = named("pair2", True)
    routes2 = {"cal2": Route.CALIBRATION, "audit": Route.AUDIT}
    batch = [
        (shape.item(i, 10 + n), sugg, 0.7, routes2.get(k, Route.ACTIVE))
        for n, (k, i) in enumerate({**bulk, **more}.items())
    ]
    seed(project, batch)
    for item, *_, route in batch:
        ledger.new(item.id, route.value)
    ledger.check("labeling run 2")

    bulk_accept(shape.name, ada, bulk, ledger, sugg)
    browser_edits(shape, rita, ids, bulk, ledger)

    ada.get_by_role("button", name="Undo my last bulk accept").click()
    note = ada.locator("#ll-browse-note")
    expect(note).to_contain_text(
        f"Undid bulk accept #1: 2 items back in the queue. Kept as they are now: "
        f"{bulk['bulk1']} (rita made a fix since)."
    )
    for k in ("bulk2", "bulk3"):
        ledger.undone(bulk[k], "active")
    ledger.check("ada undoes her bulk accept")

    adjudicate(shape, ada, ids["pair"], ledger)


def submit(page, *keys: str) -> str:
    """Press keys that send a decision; wait until the server answered with another item."""
    from playwright.sync_api import expect

    before = item_el(page).get_attribute("data-v")
    press(page, *keys)
    expect(item_el(page)).not_to_have_attribute("data-v", before)
    return shown_item(page)


def review_stream(shape: Shape, rita, ids: dict, sugg: LabelValue, ledger: Ledger) -> None:
    """rita's queue: blind calibration, accept, fix + undo + fix, reject, overlap, skip."""
    from playwright.sync_api import expect

    item = item_el(rita)
    expect(item).to_have_attribute("data-item", ids["cal"])
    expect(item).to_have_attribute("data-suggested", "null")
    expect(item).to_contain_text("blind")
    expect(rita.locator("#ll-side")).to_contain_text("Shown blind")
    expect(rita.locator("#ll-side")).not_to_contain_text("Similar reviewed")
    value = shape.blind_answer(rita)
    ledger.check("a blind item half answered")  # the turn flash saved nothing
    assert submit(rita, "Enter") == ids["accept"]
    expect(rita.locator(".ll-flash")).to_have_count(0)  # no note left from the last item
    ledger.did(ids["cal"], RITA, "fix", value, queue="calibration", blind=True, route="reviewed")
    ledger.check("rita answers the blind calibration item")

    expect(item).not_to_have_attribute("data-suggested", "null")
    assert submit(rita, "a") == ids["fix"]
    ledger.did(ids["accept"], RITA, "accept", sugg, route="reviewed")
    ledger.check("rita accepts with a")

    if shape.name == "spans":
        shoot(rita, f"{shape.name}-review-spans")
    value = shape.fix(rita)
    assert submit(rita, "Enter") == ids["reject"]
    ledger.did(ids["fix"], RITA, "fix", value, route="reviewed")
    ledger.check("rita fixes with the keys and Enter")

    assert submit(rita, "Backspace") == ids["fix"]
    expect(rita.locator("#ll-status-box")).to_contain_text("Undone")
    ledger.undone(ids["fix"], "active")
    ledger.check("rita undoes the fix with Backspace")

    if shape.name == "turns":
        shoot(rita, f"{shape.name}-review-turns")
    value = shape.fix_again(rita)
    assert submit(rita, "Enter") == ids["reject"]
    ledger.did(ids["fix"], RITA, "fix", value, route="reviewed")
    ledger.check("rita fixes it another way")

    key, reason, comment = shape.reject
    press(rita, "x")
    expect(rita.locator("#ll-reject")).to_be_visible()
    if comment is None:
        assert submit(rita, key) == ids["pair"]
    else:
        press(rita, key)
        expect(rita.locator("#ll-comment")).to_be_focused()
        rita.keyboard.type(comment)
        assert submit(rita, "Enter") == ids["pair"]
    ledger.did(ids["reject"], RITA, "reject", reason=reason, comment=comment, route="reviewed")
    ledger.check("rita rejects with a reason")

    a = shape.pair(rita, RITA)
    assert submit(rita, "Enter") == ids["skip"]
    # one answer of two: the item waits for a second reviewer in the active queue, with no
    # final label until people have finished deciding it
    ledger.did(ids["pair"], RITA, "fix", a, label=None, source=None)
    ledger.check("rita answers an overlap item")

    assert submit(rita, " ") == ""
    expect(item).to_contain_text("No items are waiting")
    ledger.did(ids["skip"], RITA, "skip")
    ledger.check("rita skips with Space")


def bulk_accept(name: str, ada, bulk: dict, ledger: Ledger, sugg: LabelValue) -> None:
    """ada previews a bulk accept, cancels it, confirms a preview after changing the filters
    (nothing happens), then previews again and confirms."""
    from playwright.sync_api import expect

    ada.get_by_role("tab", name="Browse").click()
    note = ada.locator("#ll-browse-note")
    confirm = ada.locator("#ll-bulk-confirm")
    preview = (
        "Accept the model's suggestion on 3 of 8 matching items waiting for people? "
        "Press Confirm bulk accept to do it; it is recorded as one bulk accept that Undo my "
        "last bulk accept takes back. Left to people: held by a reviewer now: 1; in the "
        "audit queue (reviewed blind): 1; in the calibration queue (reviewed blind): 1; "
        "overlap items (answered by several reviewers): 1; waiting for adjudication: 1."
    )
    ada.locator("#ll-bulk").click()
    expect(note).to_have_text(preview)
    expect(confirm).to_be_visible()
    ledger.check("ada previews a bulk accept")  # a preview changes nothing

    ada.locator("#ll-bulk-cancel").click()
    expect(note).to_have_text("Bulk accept cancelled: nothing changed.")
    expect(confirm).to_be_hidden()
    ledger.check("ada cancels the bulk accept")

    ada.locator("#ll-bulk").click()
    expect(note).to_have_text(preview)
    shoot(ada, f"{name}-bulk-preview")
    text = ada.get_by_label("Text contains")
    text.fill("arrived")  # another filter after the preview: confirm accepts nothing
    confirm.click()
    expect(note).to_contain_text("The filters changed since the preview, so nothing was")
    expect(confirm).to_be_hidden()
    ledger.check("ada confirms after changing the filters")

    text.fill("")
    ada.locator("#ll-bulk").click()
    expect(note).to_have_text(preview)
    confirm.click()
    expect(note).to_have_text("Bulk accept #1: accepted the suggestion on 3 items (by ada).")
    expect(confirm).to_be_hidden()
    for item_id in bulk.values():
        ledger.did(item_id, ADA, "accept", sugg, bulk=True, route="reviewed")
    ledger.check("ada confirms the bulk accept")
    shoot(ada, f"{name}-bulk-done")


def browser_edits(shape: Shape, rita, ids: dict, bulk: dict, ledger: Ledger) -> None:
    """rita changes decided items from the item browser."""
    from playwright.sync_api import expect

    rita.get_by_role("tab", name="Browse").click()
    detail = rita.locator("#ll-detail .ll-detail")
    accepted = ids["accept"]
    open_in_browser(rita, accepted)
    rita.locator("#ll-open").click()
    expect(detail).to_have_attribute("data-item", accepted)
    change_note = rita.locator("#ll-change-note")
    rita.locator("#ll-change").click()  # the form untouched: nothing to save
    expect(change_note).to_have_text("Nothing saved: Choose accept, fix or reject")
    expect(change_note).to_be_in_viewport()  # said where the button was clicked
    shoot(rita, f"{shape.name}-browser-refused")
    ledger.check("Save change on an opened item, the form untouched")
    if shape.change is not None:
        rita.locator("#ll-change-action").get_by_label("fix").check()
        rita.locator("#ll-change").click()  # fix to the label it has: still nothing
        expect(change_note).to_contain_text(f"Nothing saved: Item {accepted!r} already has")
        ledger.check("Save change with the item's own label")

    rita.get_by_role("button", name="Edit in the review tab").click()
    item = item_el(rita)
    expect(item).to_have_attribute("data-item", accepted)
    expect(item).to_contain_text("Editing a decided item")
    value = shape.edit(rita)
    submit(rita, "Enter")
    expect(item).not_to_have_attribute("data-item", accepted)
    # the stream's next item is on screen: the note says which item was saved
    expect(rita.locator("#ll-status-box")).to_contain_text(f"Saved {accepted}: fix")
    shoot(rita, f"{shape.name}-edit-saved")
    ledger.did(accepted, RITA, "fix", value, queue="browser")
    ledger.check("rita edits an accepted item in the review tab")

    rita.get_by_role("tab", name="Browse").click()
    changed = bulk["bulk1"]
    open_in_browser(rita, changed)
    if shape.change is not None:
        rita.locator("#ll-open").click()
        expect(detail).to_have_attribute("data-item", changed)
        rita.locator("#ll-change-action").get_by_label("fix").check()
        value = shape.change(rita)
        rita.locator("#ll-change").click()
        expect(change_note).to_have_text(f"Changed {changed}: fix {value.short()}")
    else:
        rita.get_by_role("button", name="Edit in the review tab").click()
        expect(item).to_have_attribute("data-item", changed)
        value = shape.edit(rita)
        submit(rita, "Enter")
        expect(item).not_to_have_attribute("data-item", changed)
    ledger.did(changed, RITA, "fix", value, queue="browser")
    ledger.check("rita changes a bulk-accepted item from the browser")


def adjudicate(shape: Shape, ada, pair: str, ledger: Ledger) -> None:
    """ada decides the overlap item rita and sam disagree on."""
    from playwright.sync_api import expect

    ada.get_by_role("tab", name="Adjudicate").click()
    ada.get_by_role("button", name="Refresh list").click()
    view = ada.locator("#ll-adj-view")
    expect(view.locator(".ll-card")).to_have_count(3)  # the model, rita, sam
    expect(view).to_contain_text("rita · fix")
    expect(view).to_contain_text("sam · fix")
    shoot(ada, f"{shape.name}-adjudication")
    if shape.change is not None:
        value = shape.adjudicate(ada)
        ada.get_by_role("button", name="Decide").click()
        expect(ada.locator("#ll-adj-note")).to_contain_text(f"Decided {pair}:")
    else:
        ada.get_by_role("button", name="Edit in the review tab").click()
        item = item_el(ada)
        expect(item).to_have_attribute("data-item", pair)
        expect(item).to_have_attribute("data-queue", "adjudication")
        value = shape.adjudicate(ada)
        submit(ada, "Enter")
        expect(item).not_to_have_attribute("data-item", pair)
    ledger.did(pair, ADA, "fix", value, queue="adjudication", route="reviewed")
    ledger.check("ada adjudicates the overlap item")
