"""The real console in Chromium: log in, review with keyboard and mouse, untrusted text."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from agent.types import Item, LabelValue, Message, Route

XSS_TEXT = '<img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script>'
TIMEOUT_MS = 10_000
#: requests the page made to anywhere but the console (the console must not phone out)
OFFSITE: list[str] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Retry ``check`` until it returns a truthy value, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check.__doc__ or check}")
        time.sleep(0.05)
    return result


@pytest.fixture
def console(project, reviewer):
    """The console served on a free localhost port; yields its URL."""
    from ui.app import serve

    port = free_port()
    app = serve(project, "127.0.0.1", port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.fixture
def open_console(chromium, console, reviewer):
    """A function that opens the console in a fresh context and logs in as the reviewer."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []

    def open_page():
        context = chromium.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("request", lambda r: r.url.startswith(console) or OFFSITE.append(r.url))
        page.goto(console)
        page.get_by_label("username").fill(reviewer[0])
        page.get_by_label("password").fill(reviewer[1])
        page.get_by_role("button", name="Login").click()
        return page

    OFFSITE.clear()
    yield open_page
    for context in contexts:
        context.close()


@pytest.mark.browser
def test_review_with_keyboard_and_mouse(project, seed_queue, open_console):
    from playwright.sync_api import expect

    chat = (
        Message(role="user", content="hi"),
        Message(role="assistant", content="Hello! How can I help?"),
        Message(role="user", content="my card was stolen last night"),
    )
    ids = seed_queue(
        [
            (Item(id="i1", text="Where is my new card?"), "card_arrival", 0.73, Route.ACTIVE),
            (Item(id="i2", messages=chat, target_turn=2), "card_arrival", 0.41, Route.ACTIVE),
        ]
    )
    page = open_console()
    item, suggestion = page.locator("#ll-item"), page.locator("#ll-suggestion")
    expect(item).to_contain_text("Where is my new card?")
    expect(suggestion).to_contain_text("card_arrival")
    expect(suggestion).to_contain_text("73%")
    expect(page.locator("#ll-accept")).to_contain_text("Accept (a)")

    page.keyboard.press("a")
    expect(page.locator("#ll-item .ll-target")).to_contain_text("my card was stolen")
    page.get_by_label("Label (type to filter)").fill("lost")
    page.get_by_role("option", name="lost_or_stolen_card").click()
    page.get_by_role("button", name="Save label (Enter)").click()
    expect(item).to_contain_text("No items are waiting for you")

    first = eventually(lambda: project.store.reviews_for("i1"))
    second = eventually(lambda: project.store.reviews_for("i2"))
    assert [(r.action, r.value, r.reviewer) for r in first] == [
        ("accept", LabelValue(label="card_arrival"), "rita")
    ]
    assert [(r.action, r.value, r.suggestion_id) for r in second] == [
        ("fix", LabelValue(label="lost_or_stolen_card"), ids["i2"])
    ]
    assert project.store.get_route("i2").route == "reviewed"
    assert OFFSITE == []


@pytest.mark.browser
def test_untrusted_text_renders_as_literal_text(seed_queue, open_console):
    from playwright.sync_api import expect

    seed_queue([(Item(id="x1", text=XSS_TEXT), "refund", 0.5, Route.ACTIVE)])
    page = open_console()
    item = page.locator("#ll-item")
    expect(item).to_contain_text('<img src=x onerror="window.__xss=1">')
    expect(item).to_contain_text("<script>window.__xss=2</script>")
    expect(page.locator("#ll-item img")).to_have_count(0)
    expect(page.locator("#ll-item script")).to_have_count(0)
    assert page.evaluate("typeof window.__xss") == "undefined"


@pytest.mark.parametrize("path", ["/config", "/gradio_api/info"])
def test_the_server_refuses_requests_without_a_login(console, path):
    import httpx

    response = httpx.get(console.rstrip("/") + path, timeout=10)
    assert response.status_code == 401
    join = httpx.post(console + "gradio_api/queue/join", json={"data": [], "fn_index": 0})
    assert join.status_code == 401
