"""The review console on judging tasks (pairwise, rating, ranking): replies side by side in
an order of each reviewer's own, answers by key mapped to reply ids, no model names on the
page, blind items without the suggestion, overlap and adjudication by reply id, and the
item browser by position for reviewers.

``LABELLOOP_JUDGING_SHOTS=DIR`` saves the screenshots the journeys take (1440×900 and
1280×720) into DIR; without it they go to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labelloop.core.positions import from_shown, to_shown
from labelloop.core.types import TIE, LabelValue, Route
from labelloop.review.judging import describe, shown_order
from labelloop.review.service import ReviewService
from labelloop.ui.handlers import Console, filters
from tests.support.console import Browser, make_project, seed, served, shown_item
from tests.support.judging import (
    MODELS,
    PAIRWISE,
    RANKING,
    RATING,
    Accounts,
    judged,
    reply_texts,
    reviewers_seeing,
    seen,
)

USERS = (("rita", "reviewer"), ("ada", "admin"))
NAMES = [f"reviewer{n}" for n in range(40)]
PROMPT = "Make this shorter: 'Please do let me know at your earliest convenience.'"
REPLIES = {
    "a": "Please let me know soon.",
    "b": "Let me know as soon as you can, at your convenience, whenever that may be.",
}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("LABELLOOP_JUDGING_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- the order each reviewer sees -----------------------------------------------------------


def test_shown_order_is_stable_a_permutation_and_differs_between_reviewers():
    ids = ("a", "b", "c")
    first = shown_order("item-1", "rita", ids)
    assert shown_order("item-1", "rita", ids) == first  # the same every time
    assert sorted(first) == sorted(ids)
    assert shown_order("item-1", "rita", list(ids)) == first  # whatever sequence type
    # both orders of a pair occur across reviewers, and across items for one reviewer
    pairs = {shown_order("item-1", name, ("a", "b")) for name in NAMES}
    assert pairs == {("a", "b"), ("b", "a")}
    assert len({shown_order(f"item-{n}", "rita", ("a", "b")) for n in range(40)}) == 2
    # every order of three replies occurs, and none far more than its share
    counts: dict[tuple, int] = {}
    for n in range(600):
        order = shown_order(f"i{n}", "rita", ids)
        counts[order] = counts.get(order, 0) + 1
    assert len(counts) == 6 and max(counts.values()) < 160


def test_positions_map_to_reply_ids_and_back():
    order = ("b", "a", "c")
    for value in (
        LabelValue(label="a"),
        LabelValue(label=TIE),
        LabelValue(ratings={"a": 4, "b": 2, "c": 5}),
        LabelValue(ranking=("c", "a", "b")),
    ):
        assert from_shown(to_shown(value, order), order) == value
    assert to_shown(LabelValue(label="a"), order) == LabelValue(label="2")
    assert from_shown(LabelValue(ratings={"1": "4", "3": "2", "2": "1"}), order) == LabelValue(
        ratings={"b": 4, "c": 2, "a": 1}
    )
    assert describe(LabelValue(ranking=("c", "b", "a")), order) == "Reply 3 > Reply 1 > Reply 2"
    assert describe(LabelValue(label=TIE), order) == "Tie"


# --- the pairwise journey in Chromium -------------------------------------------------------


@pytest.mark.browser
def test_pairwise_keys_save_reply_ids_in_the_reviewers_order(chromium, tmp_path, shots):
    from playwright.sync_api import expect

    project = make_project(tmp_path, PAIRWISE, USERS)
    items = {i: judged(i, f"{PROMPT} ({i})", REPLIES) for i in ("p1", "p2", "p3", "p4", "p5")}
    items["c1"] = judged("c1", f"{PROMPT} (c1)", REPLIES)
    entries = [
        (items[i], LabelValue(label="b"), 0.8, Route.ACTIVE) for i in ("p1", "p2", "p3", "p4", "p5")
    ]
    entries.append((items["c1"], LabelValue(label="a"), 0.9, Route.CALIBRATION))
    seed(project, entries, rationale="Reply 1 is shorter, as asked.")
    keys = {"p1": "1", "p2": "2", "p3": "t", "p4": "a", "p5": "x", "c1": "2"}
    with served(project) as url:
        browser = Browser(chromium, url)
        page = browser.page("rita", viewport=(1440, 900))
        expect(page.locator("#ll-keys")).to_contain_text("tie")
        done: list[str] = []
        undone = False
        while (item_id := shown_item(page)) != "":
            order = seen(items[item_id], "rita")
            cards = page.locator("#ll-item .ll-reply")
            expect(cards).to_have_count(2)
            # Reply 1 is the first reply of this reviewer's order, titled by position
            for n, rid in enumerate(order):
                expect(cards.nth(n).locator(".ll-reply-name")).to_have_text(f"Reply {n + 1}")
                expect(cards.nth(n).locator(".ll-reply-body")).to_have_text(REPLIES[rid])
            html = page.content()
            assert not any(m in html for m in MODELS), "a model name is on the page"
            _check_cards_side_by_side(page)
            side = page.locator("#ll-side")
            if item_id == "c1":  # calibration: blind
                expect(side).to_contain_text("Shown blind")
                expect(side).not_to_contain_text("Confidence")
                assert page.locator("#ll-item .ll-item").get_attribute("data-suggested") == "null"
                expect(page.locator("#ll-item .ll-reply.ll-on")).to_have_count(0)
            else:  # the suggestion by position, its rationale in this reviewer's positions
                said = f"Reply {order.index('b') + 1}"
                expect(side.locator(".ll-suggestion")).to_contain_text(said)
                expect(side.locator(".ll-rationale")).to_contain_text(
                    f"Reply {order.index('a') + 1} is shorter"
                )
            if item_id == "p1":
                page.screenshot(path=str(shots / "pairwise-1440x900.png"))
                page.set_viewport_size({"width": 1280, "height": 720})
                _check_cards_side_by_side(page)
                page.screenshot(path=str(shots / "pairwise-1280x720.png"))
                page.set_viewport_size({"width": 1440, "height": 900})
            key = keys[item_id]
            if key in ("1", "2", "t"):
                page.keyboard.press(key)
                want = "Tie" if key == "t" else f"Reply {key}"
                expect(page.locator("#ll-pick")).to_have_text(want)
                page.keyboard.press("Enter")
            elif key == "x":
                page.keyboard.press("x")
                page.keyboard.press("4")  # bad input
            else:
                page.keyboard.press("a")
            expect(page.locator("#ll-item .ll-item")).not_to_have_attribute("data-item", item_id)
            if item_id == "p2" and not undone:  # undo brings it back; decide it again
                undone = True
                page.keyboard.press("Backspace")
                expect(page.locator("#ll-item .ll-item")).to_have_attribute("data-item", "p2")
                continue
            done.append(item_id)
            expect(page.locator("#ll-status-box")).not_to_contain_text("fix a")
        assert sorted(done) == sorted(keys)
        browser.close()
        assert browser.offsite == [] and browser.dialogs == []

    got = {}
    for item_id in keys:
        (review,) = [r for r in project.store.answers(item_id)]
        got[item_id] = (review.action, review.value.label if review.value else review.reason)
    order = {i: seen(items[i], "rita") for i in keys}
    assert got == {
        "p1": ("accept" if order["p1"][0] == "b" else "fix", order["p1"][0]),
        "p2": ("accept" if order["p2"][1] == "b" else "fix", order["p2"][1]),
        "p3": ("fix", TIE),
        "p4": ("accept", "b"),  # accepting the suggestion saves its reply id
        "p5": ("reject", "bad_input"),
        "c1": ("fix", order["c1"][1]),
    }
    assert [r.blind for r in project.store.answers("c1")] == [True]
    project.store.close()


def _check_cards_side_by_side(page) -> None:
    """The reply cards sit in one row inside the item's box, none over another."""
    boxes = page.locator("#ll-item .ll-reply").evaluate_all(
        "cs => cs.map(c => { const r = c.getBoundingClientRect(); "
        "return [r.left, r.right, r.top, c.scrollWidth <= c.clientWidth + 1]; })"
    )
    outer = page.locator("#ll-item .ll-item").bounding_box()
    assert all(fits for *_, fits in boxes), "text runs out of a reply card"
    assert len({round(top) for _, _, top, _ in boxes}) == 1, "the replies are not in one row"
    for (_, right, _, _), (left, _, _, _) in zip(boxes, boxes[1:], strict=False):
        assert right <= left, "reply cards overlap"
    assert boxes[0][0] >= outer["x"] and boxes[-1][1] <= outer["x"] + outer["width"] + 1


# --- rating and ranking by keys --------------------------------------------------------------


@pytest.mark.browser
def test_rating_and_ranking_by_keys(chromium, tmp_path, shots):
    from playwright.sync_api import expect

    three = {**REPLIES, "c": "Reply soon."}
    rated = judged("r1", PROMPT, REPLIES)
    ranked = judged("k1", PROMPT, three)
    cases = (
        (RATING, rated, LabelValue(ratings={"a": 4, "b": 2}), "rating"),
        (RANKING, ranked, LabelValue(ranking=("b", "c", "a")), "ranking"),
    )
    for guideline, item, suggested, name in cases:
        project = make_project(tmp_path / name, guideline, USERS)
        seed(project, [(item, suggested, 0.7, Route.ACTIVE)], rationale="Reply 1 is best.")
        with served(project) as url:
            browser = Browser(chromium, url)
            page = browser.page("rita", viewport=(1440, 900))
            expect(page.locator("#ll-item .ll-reply")).to_have_count(len(item.replies))
            assert not any(m in page.content() for m in MODELS)
            pick = page.locator("#ll-pick")
            if name == "rating":
                expect(page.locator("#ll-keys")).to_contain_text("rate the focused reply")
                # Tab: Reply 2, rated 1; Shift+Tab: back to Reply 1, rated 3
                page.keyboard.press("Tab")
                expect(page.locator('#ll-item .ll-reply[data-pos="2"]')).to_have_class(
                    "ll-reply ll-focus"
                )
                page.keyboard.press("1")
                page.keyboard.press("Shift+Tab")
                page.keyboard.press("3")
                expect(pick).to_have_text("Reply 1: 3 · Reply 2: 1")
                page.screenshot(path=str(shots / "rating-1440x900.png"))
            else:
                expect(page.locator("#ll-keys")).to_contain_text("r reset the order")
                page.keyboard.press("2")
                expect(pick).to_have_text("Reply 2 > …")
                page.keyboard.press("1")  # the last one is last
                expect(pick).to_have_text("Reply 2 > Reply 1 > Reply 3")
                page.keyboard.press("r")
                expect(pick).to_have_text("—")
                page.keyboard.press("3")
                page.keyboard.press("1")
                expect(pick).to_have_text("Reply 3 > Reply 1 > Reply 2")
                expect(
                    page.locator('#ll-item .ll-reply[data-pos="3"] .ll-reply-mark')
                ).to_have_text("#1")
                page.set_viewport_size({"width": 1280, "height": 720})
                _check_cards_side_by_side(page)
                page.screenshot(path=str(shots / "ranking-1280x720.png"))
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
            browser.close()
        order = seen(item, "rita")
        (review,) = project.store.answers(item.id)
        if name == "rating":
            assert review.value == LabelValue(ratings={order[0]: 3, order[1]: 1})
        else:
            assert review.value == LabelValue(ranking=(order[2], order[0], order[1]))
        assert review.action == "fix"
        project.store.close()


# --- overlap, adjudication and the item browser (handlers, no browser) ----------------------


def test_overlap_agrees_by_reply_id_and_adjudication_shows_positions(tmp_path):
    item = judged("o1", PROMPT, REPLIES)
    other = judged("o2", PROMPT, REPLIES)
    # two reviewers who see o1, and o2, in opposite orders
    x = next(n for n in reviewers_seeing(item, ("a", "b"), NAMES) if seen(other, n)[0] == "a")
    y = next(n for n in reviewers_seeing(item, ("b", "a"), NAMES) if seen(other, n)[0] == "b")
    users = [(x, "reviewer"), (y, "reviewer"), ("ada", "admin")]
    project = make_project(tmp_path, PAIRWISE, users, overlap=1.0, similar_k=0)
    seed(project, [(item, LabelValue(label="a"), 0.6, Route.ACTIVE)])
    seed(project, [(other, LabelValue(label="a"), 0.6, Route.ACTIVE)])
    service = ReviewService(project, background_prefetch=False)
    console = Console(project, Accounts(project), service)

    def vote(who: str, item_id: str, position: str) -> None:
        console.open(who)
        cmd = {"action": "fix", "item": item_id, "value": {"label": position}}
        screen = console.command(json.dumps(cmd), who)
        assert "Saved" in screen.status and "fix a" not in screen.status

    # o1: both choose reply a, each by the position it has for them: they agree
    vote(x, "o1", "1")
    vote(y, "o1", "2")
    assert project.store.get_route("o1").route == Route.REVIEWED
    assert {r.value.label for r in project.store.answers("o1")} == {"a"}
    # o2: both press 1, which is another reply for each of them: they disagree
    vote(x, "o2", "1")
    vote(y, "o2", "1")
    votes = {r.reviewer: r.value.label for r in project.store.answers("o2")}
    assert votes == {x: "a", y: "b"}
    assert project.store.get_route("o2").route == Route.ADJUDICATION
    html, offered = console.adjudication("o2", "ada")
    mine = seen(other, "ada")
    assert not any(m in html for m in MODELS) and "reply id" not in html
    assert f"Reply {mine.index(votes[x]) + 1}" in html
    assert sorted(label for label, _ in offered) == sorted(
        [f"Reply {mine.index(votes[x]) + 1} ({x})", f"Reply {mine.index(votes[y]) + 1} ({y})"]
    )
    # taking the answer offered as y's saves y's reply id
    key = next(k for label, k in offered if label.endswith(f"({y})"))
    assert console.adjudicate("o2", key, None, "", "ada").startswith("Decided o2: Reply")
    final = project.store.answers("o2")[-1]
    assert (final.reviewer, final.value.label) == ("ada", votes[y])

    # the browser: reviewers read positions of their own order, admins the reply ids
    rows = console.browse(filters("", "", "", 0, 100, "", "", ""), 0, x)
    assert f"Reply {seen(item, x).index('a') + 1}" in rows and ">a<" not in rows
    assert ">a<" in console.browse(filters("", "", "", 0, 100, "", "", ""), 0, "ada")
    detail = console.detail("o1", y)
    assert f"final</th><td>Reply {seen(item, y).index('a') + 1} (human)" in detail
    assert not any(m in detail for m in MODELS)
    service.close()
    project.store.close()


def test_a_reply_the_item_lacks_or_a_missing_rating_is_refused(tmp_path):
    project = make_project(tmp_path, RATING, USERS, similar_k=0)
    item = judged("r9", PROMPT, REPLIES)
    seed(project, [(item, LabelValue(ratings={"a": 4, "b": 2}), 0.6, Route.ACTIVE)])
    service = ReviewService(project, background_prefetch=False)
    console = Console(project, Accounts(project), service)
    console.open("rita")
    for value in ({"ratings": {"1": "5"}}, {"ratings": {"1": "5", "3": "2"}}):
        cmd = json.dumps({"action": "fix", "item": "r9", "value": value})
        screen = console.command(cmd, "rita")
        assert "ll-error" in screen.status and "Saved" not in screen.status
    assert project.store.answers("r9") == []
    screen = console.command(
        json.dumps({"action": "fix", "item": "r9", "value": {"ratings": {"1": "5", "2": "1"}}}),
        "rita",
    )
    order = seen(item, "rita")
    assert project.store.answers("r9")[0].value == LabelValue(ratings={order[0]: 5, order[1]: 1})
    assert reply_texts(item)["a"] == REPLIES["a"]
    service.close()
    project.store.close()
