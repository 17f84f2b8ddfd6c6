"""The console's webhooks tab through its handlers: admins only, the same checks and
one-line refusals as the command line, everything shown escaped."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from labelloop.core.errors import AccessDenied, LabelloopError
from labelloop.ui.handlers import AuthError, Console

PUBLIC = "https://93.184.216.34/hook"


@dataclass
class FakeUser:
    name: str
    role: str


@dataclass
class FakeAccounts:
    users: dict = field(default_factory=dict)

    def user(self, request):
        return self.users.get(request)


@pytest.fixture
def console(project, monkeypatch):
    monkeypatch.setenv("LABELLOOP_WEBHOOK_SECRET", "s" * 32)
    accounts = FakeAccounts({"r": FakeUser("rita", "reviewer"), "a": FakeUser("ada", "admin")})
    return Console(project, accounts, service=object())


def test_reviewers_and_strangers_are_refused(console):
    for call in (
        lambda who: console.webhooks(who),
        lambda who: console.webhook_add(PUBLIC, ["item.decided"], "", who),
        lambda who: console.webhook_remove("1", who),
    ):
        with pytest.raises(AuthError):
            call("nobody")
        with pytest.raises(AccessDenied, match="needs an admin account"):
            call("r")
    assert console.project.store.list_webhooks() == []


def test_an_admin_adds_lists_and_removes_a_webhook(console):
    note = console.webhook_add(PUBLIC, ["item.decided", "audit.alarm"], "", "a")
    assert "Webhook 1 added" in note and "item.decided, audit.alarm" in note and "ll-info" in note
    [hook] = console.project.store.list_webhooks()
    assert hook.created_by == "ada" and hook.secret_env == "LABELLOOP_WEBHOOK_SECRET"
    shown = console.webhooks("a")
    assert PUBLIC in shown and "set in this process, as registered" in shown
    assert "No deliveries yet" in shown
    assert "removed" in console.webhook_remove(" 1 ", "a")
    assert "No webhooks yet" in console.webhooks("a")


def test_every_event_type_when_none_is_ticked_and_a_warning_without_the_secret(console):
    note = console.webhook_add(PUBLIC, [], "OTHER_SECRET", "a")
    assert "item.decided, calibration.done, audit.alarm" in note
    assert "OTHER_SECRET is not set here" in note and "ll-warn" in note


@pytest.mark.parametrize(
    "url, events, said",
    [
        ("http://169.254.169.254/latest", [], "link-local"),
        ("javascript:alert(1)", [], "http or https"),
        (PUBLIC, ["item.exploded"], "Unknown event"),
    ],
)
def test_bad_input_is_refused_with_the_fix(console, url, events, said):
    with pytest.raises(LabelloopError, match=said):
        console.webhook_add(url, events, "", "a")
    with pytest.raises(LabelloopError, match="Give the id of a webhook"):
        console.webhook_remove("one", "a")
    with pytest.raises(LabelloopError, match="No webhook 9"):
        console.webhook_remove(9, "a")


def test_what_the_tab_shows_is_escaped(console):
    console.webhook_add(PUBLIC + '?q="><script>alert(1)</script>', [], "", "a")
    shown = console.webhooks("a")
    assert "<script>" not in shown and "&lt;script&gt;" in shown
