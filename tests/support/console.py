"""Helpers for the console's browser and HTTP tests: projects, a served console, sign-in."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path

from labelloop.core.types import Item, LabelValue, Message, Route, RouteDecision, Suggestion
from labelloop.project import init_project
from labelloop.review.auth import add_user
from tests.conftest import add_items

TIMEOUT_MS = 10_000
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guideline_text(
    labels: Sequence[str],
    kind: str = "single",
    unit: str = "text",
    intro: str = "Pick the customer's main request.",
    describe=lambda name: f"The text is about {name.replace('_', ' ')}.",
) -> str:
    """A guideline file with a section per label."""
    sections = "\n".join(f"### {n}\n{describe(n)}\n" for n in labels)
    return (
        f"---\ntask: support-intent\nunit: {unit}\nkind: {kind}\n---\n"
        f"# Support intent\n\n{intro}\n\n## Labels\n\n{sections}"
    )


def make_project(
    root: Path,
    guideline: str,
    users: Iterable[tuple[str, str]],
    database_url: str | None = None,
    **review,
):
    """A project with ``guideline`` and accounts (name, role), all with ``PASSWORD``; on
    ``database_url`` when given (else SQLite in the folder)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "guideline.md"
    path.write_text(guideline, encoding="utf-8")
    store = {"database_url": database_url} if database_url else {}
    project = init_project(root / "project", path, review={"overlap": 0.0, **review}, **store)
    for name, role in users:
        add_user(project.store, name, role, PASSWORD)
    return project


def seed(project, entries, rationale: str | None = None) -> dict[str, int]:
    """Items with a suggestion on a route: (item, value, confidence, route[, rationale])."""
    store = project.store
    add_items(store, [e[0] for e in entries])
    values = [e[1] if isinstance(e[1], LabelValue) else LabelValue(label=e[1]) for e in entries]
    suggestions = [
        Suggestion(
            item_id=e[0].id,
            model="local",
            value=value,
            confidence=e[2],
            rationale=e[4] if len(e) > 4 else (rationale or f"Reads like {value.short()}."),
        )
        for e, value in zip(entries, values, strict=True)
    ]
    ids = store.add_suggestions(suggestions)
    routes = [
        RouteDecision(item_id=e[0].id, route=e[3], reason="test", suggestion_id=sid)
        for e, sid in zip(entries, ids, strict=True)
    ]
    store.set_routes(routes, {e[0].id: float(n) for n, e in enumerate(entries)})
    return {e[0].id: sid for e, sid in zip(entries, ids, strict=True)}


def texts(prefix: str, n: int, label: str = "refund", route: Route = Route.ACTIVE) -> list:
    return [
        (Item(id=f"{prefix}{i:02d}", text=f"{prefix} item number {i}"), label, 0.6, route)
        for i in range(n)
    ]


def chat(item_id: str, first: str, reply: str, second: str) -> Item:
    """A transcript of two user turns (#0, #2) around an assistant reply (#1)."""
    turns = (("user", first), ("assistant", reply), ("user", second))
    return Item(id=item_id, messages=tuple(Message(role=r, content=c) for r, c in turns))


def select_in_item(page, words: str) -> None:
    """Select ``words`` in the shown item's text, as a reviewer's mouse would."""
    page.evaluate(
        """(words) => {
            const el = document.querySelector('#ll-item .ll-text');
            const node = Array.from(el.childNodes).pop();
            const at = node.textContent.indexOf(words);
            const r = document.createRange();
            r.setStart(node, at); r.setEnd(node, at + words.length);
            getSelection().removeAllRanges(); getSelection().addRange(r);
        }""",
        words,
    )


#: the Browsers opened on each served console's URL, closed before that console stops
_OPEN: dict[str, list[Browser]] = {}


@contextmanager
def served(project):
    """The console for ``project`` on a free localhost port; yields its base URL.

    On the way out, the pages of every ``Browser`` opened on it are closed before the
    console stops: the server waits for open connections (a page's event stream) to end
    before it shuts down."""
    from labelloop.ui.server import serve

    server = serve(project, "127.0.0.1", free_port(), block=False)
    url = server.url.rstrip("/")
    try:
        yield url
    finally:
        for browser in _OPEN.pop(url, []):
            browser.close()
        server.close()


class Browser:
    """Opens signed-in pages on one console and records every request that left it."""

    def __init__(self, chromium, url: str):
        self.chromium, self.url = chromium, url
        self.contexts: list = []
        self.offsite: list[str] = []
        self.dialogs: list[str] = []
        _OPEN.setdefault(url, []).append(self)

    def page(self, user: str | None = None, password: str = PASSWORD, viewport=(1280, 900)):
        """A new signed-in page (``user``) in its own context, ``viewport`` (width, height)."""
        from playwright.sync_api import expect

        expect.set_options(timeout=TIMEOUT_MS)
        width, height = viewport
        context = self.chromium.new_context(viewport={"width": width, "height": height})
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("request", self._request)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        if user is not None:
            self.login(page, user, password)
        return page

    def login(self, page, user: str, password: str = PASSWORD) -> None:
        from playwright.sync_api import expect

        page.goto(self.url + "/login")
        page.get_by_label("username").fill(user)
        page.get_by_label("password").fill(password)
        page.get_by_role("button", name="Login").click()
        expect(page.locator("#ll-item .ll-item")).to_have_count(1)

    def _request(self, request) -> None:
        if not request.url.startswith(self.url + "/") and not request.url.startswith("data:"):
            self.offsite.append(request.url)

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


def shown_item(page) -> str:
    """The id of the item on screen ('' when the queues are empty)."""
    return page.locator("#ll-item .ll-item").get_attribute("data-item") or ""
