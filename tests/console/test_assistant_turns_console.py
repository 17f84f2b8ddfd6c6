"""The console in Chromium on a transcript with tool calls, labeling the assistant's
turns (``turn_role: assistant``): the keys move between the assistant's turns only, tools'
results and calls are shown folded, speakers' names are shown, and the review holds
exactly the turns the reviewer labeled."""

from __future__ import annotations

import os

import pytest

from labelloop.core.types import Item, LabelValue, Message, Route, ToolCall
from tests.support.console import Browser, make_project, seed, served
from tests.support.console import guideline_text as guideline

pytestmark = pytest.mark.browser

CHAT = (
    Message(role="system", content="You are the shop's support bot."),
    Message(role="user", content="Where is order 42?", name="ada"),
    Message(
        role="assistant",
        content="Let me check.",
        tool_calls=(ToolCall(id="call_1", name="lookup_order", arguments='{"order": 42}'),),
    ),
    Message(role="tool", content='{"status": "shipped"}', tool_call_id="call_1"),
    Message(role="assistant", content="It shipped yesterday."),
    Message(role="user", content="thanks", name="ada"),
)


def test_labeling_the_assistant_turns_of_a_log_with_tool_calls(chromium, tmp_path):
    from playwright.sync_api import expect

    text = guideline(("resolved", "stalled", "wrong")).replace(
        "unit: turn", "unit: turn\nturn_role: assistant"
    )
    text = text.replace("unit: text", "unit: turn\nturn_role: assistant")
    project = make_project(tmp_path, text, [("rita", "reviewer")])
    assert project.guideline().turn_role == "assistant"
    seed(
        project,
        [
            (
                Item(id="c1", messages=CHAT),
                LabelValue(turns={2: "resolved", 4: "wrong"}),
                0.5,
                Route.ACTIVE,
            )
        ],
    )
    with served(project) as url:
        browser = Browser(chromium, url)
        try:
            page = browser.page("rita", viewport=(1280, 720))
            turns = page.locator("#ll-item .ll-turn")
            expect(turns).to_have_count(6)
            expect(turns.nth(2)).to_have_class("ll-turn ll-active")  # the first assistant turn
            expect(turns.nth(1).locator(".ll-speaker")).to_have_text("ada")
            # the tool's result and the call's arguments are folded until opened
            result = turns.nth(3).locator("details.ll-tool")
            expect(result).not_to_have_attribute("open", "")
            expect(result.locator("summary")).to_contain_text("tool result · call call_1")
            call = turns.nth(2).locator("details.ll-tool")
            expect(call.locator("summary")).to_contain_text("lookup_order")
            expect(call.locator(".ll-args")).not_to_be_visible()
            call.locator("summary").click()
            expect(call.locator(".ll-args")).to_have_text('{"order": 42}')
            page.locator("#ll-item .ll-item-id").click()  # focus back on the page, not the fold
            expect(turns.nth(4).locator(".ll-turn-label")).to_have_text("wrong")
            page.keyboard.press("j")
            expect(turns.nth(4)).to_have_class("ll-turn ll-active")  # user and tool skipped
            page.keyboard.press("j")
            expect(turns.nth(4)).to_have_class("ll-turn ll-active")  # no assistant turn after
            page.keyboard.press("2")
            expect(turns.nth(4).locator(".ll-turn-label")).to_have_text("stalled")
            expect(page.locator("#ll-pick")).to_have_text("#2 resolved; #4 stalled")
            shots = os.environ.get("LABELLOOP_SCREENSHOTS")
            if shots:
                page.screenshot(path=f"{shots}/assistant-turns.png")
            page.keyboard.press("Enter")
            expect(page.locator("#ll-item .ll-item")).to_contain_text("No items are waiting")
        finally:
            browser.close()
        assert browser.offsite == [] and browser.dialogs == []
    (review,) = project.store.reviews_for("c1")
    assert review.action == "fix"
    assert review.value == LabelValue(turns={2: "resolved", 4: "stalled"})
