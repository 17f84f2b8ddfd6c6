"""The console without a browser: escaping, safe Markdown, toasts, commands, roles, security
headers."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labelloop.core.errors import AccessDenied, LabelloopError
from labelloop.core.types import Item, LabelValue, Message, Span, Suggestion
from labelloop.review.service import REJECT_REASONS, ItemView
from labelloop.ui import dashboard_view, render
from labelloop.ui.handlers import AuthError, Console, filters, parse_command, parse_value
from labelloop.ui.security import csp, inline_script_hashes
from tests.conftest import add_items
from tests.support.factories import guideline
from tests.support.paths import ROOT

XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"


def view(item: Item, suggestion: Suggestion | None = None, blind=False, kind="single", unit="text"):
    return ItemView(
        item=item,
        queue="active",
        reviewer="rita",
        suggestion=None if blind else suggestion,
        confidence=None if blind or suggestion is None else suggestion.confidence,
        rationale=None if blind or suggestion is None else suggestion.rationale,
        section=None,
        similar=(),
        blind=blind,
        gold=False,
        overlap=False,
        suggestion_id=1,
        labels=("card_arrival", "refund"),
        kind=kind,
        unit=unit,
        leased_until=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_item_text_and_id_are_escaped():
    out = render.item_html(view(Item(id='x"<1>', text=f"{XSS_IMG} {XSS_SCRIPT}")))
    assert "<img" not in out and "<script" not in out
    assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in out
    assert 'data-item="x&quot;&lt;1&gt;"' in out


def test_transcript_turns_are_numbered_with_roles_and_target_escaped():
    item = Item(
        id="t1",
        messages=(
            Message(role="user", content="hi <b>there</b>"),
            Message(role="assistant", content="hello"),
            Message(role='user" onclick="x', content="my card is gone"),
        ),
        target_turn=2,
    )
    out = render.item_html(view(item, unit="turn"))
    turns = out.split("<li ")[1:]
    assert len(turns) == 3
    assert all(f"#{n}<" in t for n, t in enumerate(turns))
    assert ["ll-target" in t for t in turns] == [False, False, True]
    assert "hi &lt;b&gt;there&lt;/b&gt;" in turns[0]
    assert 'onclick="x' not in out


def test_spans_are_marked_and_their_text_escaped():
    item = Item(id="s", text="<b>Ada</b> met Bob")
    value = LabelValue(
        spans=(Span(start=0, end=10, label="PER"), Span(start=15, end=18, label="PER"))
    )
    sugg = Suggestion(item_id="s", model="m", value=value, confidence=0.5)
    out = render.item_html(view(item, sugg, kind="spans"))
    assert out.count('<mark class="ll-span"') == 2
    assert "&lt;b&gt;Ada&lt;/b&gt;</mark>" in out and "<b>Ada" not in out


def test_suggestion_panel_is_escaped_and_blind_shows_nothing_of_it():
    s = Suggestion(
        item_id="a",
        model="local",
        value=LabelValue(label="refund"),
        confidence=0.874,
        rationale=XSS_SCRIPT,
    )
    out = render.side_html(view(Item(id="a", text="t"), s))
    assert "refund" in out and "87%" in out and "&lt;script&gt;" in out and "<script" not in out
    blind = render.side_html(view(Item(id="a", text="t"), s, blind=True))
    assert "refund" not in blind and "87%" not in blind and "script" not in blind
    assert 'data-suggested="null"' in render.item_html(view(Item(id="a", text="t"), s, blind=True))


def test_guideline_markdown_has_no_raw_html_images_or_script_links():
    out = render.markdown(
        f"# Title {XSS_SCRIPT}\n\n![x](http://evil.example/x.png) [a](javascript:alert(1)) "
        "[ok](https://example.org) <svg onload=alert(1)>"
    )
    assert "<script" not in out and "<img" not in out and "<svg" not in out
    assert 'href="javascript' not in out
    assert '<a href="https://example.org">ok</a>' in out


def test_plots_are_inline_images_with_escaped_names():
    out = dashboard_view.details_html({}, {XSS_IMG: b"\x89PNG fake"})
    assert out.count("<img") == 1 and 'src="data:image/png;base64,iVBORyBmYWtl"' in out
    assert "<img src=x" not in out and "&lt;img src=x" in out
    assert "<img" not in dashboard_view.details_html({}, {})


def test_dashboard_values_are_escaped_and_names_shown_as_written():
    out = dashboard_view.details_html(
        {"reviewers": [{"name": XSS_IMG, "done": 3}], "cost": 1.5, "f1": {"card_arrival": 0.5}},
        {},
    )
    assert "<img" not in out and "&lt;img" in out and "1.5" in out
    assert "card_arrival" in out and "Card arrival" not in out


def test_commands_are_checked_before_they_reach_the_service():
    assert parse_command('{"action": "accept", "item": "a"}')["action"] == "accept"
    for bad in ("", "{", '{"action": "delete"}', "[]", '{"action": "reject"}', "x" * 70_000):
        with pytest.raises(LabelloopError):
            parse_command(bad)
    cmd = parse_command(json.dumps({"action": "reject", "reason": REJECT_REASONS[0]}))
    assert cmd["reason"] == "wrong_label"


def test_label_values_from_the_page_must_use_the_guidelines_labels():
    g = guideline()
    assert parse_value(g, {"label": "refund"}) == LabelValue(label="refund")
    assert parse_value(g, {"turns": {"2": "refund"}}) == LabelValue(turns={2: "refund"})
    assert parse_value(g, None) is None
    for bad in ({"label": "spam?"}, {"labels": ["refund", "<b>"]}, {"colour": "red"}, "refund"):
        with pytest.raises(LabelloopError):
            parse_value(g, bad)


def test_browser_filters_from_the_form():
    f = filters(" apple ", "", "", 0, 100, "", "2026-01-02", "2026-01-03")
    assert (f.text, f.label, f.route, f.min_confidence, f.max_confidence) == (
        "apple",
        None,
        None,
        None,
        None,
    )
    assert f.since == datetime(2026, 1, 2, tzinfo=UTC) and f.until.day == 3
    assert filters("", "refund", "active", 80, 95, "rita", "", "").min_confidence == 0.8
    with pytest.raises(LabelloopError):
        filters("", "", "", 0, 100, "", "yesterday", "")


@dataclass
class FakeAccounts:
    users: dict = field(default_factory=dict)

    def user(self, request):
        return self.users.get(request)


@dataclass
class FakeUser:
    name: str
    role: str


class FakeService:
    def dashboard(self, admin):
        return {"top": TOP, "details": {"routes": {"reviewed": 1}}, "plots": {}}


#: the dashboard's top as ``labelloop.review.dashboard`` gives it, for a project just begun
TOP = {
    "progress": {
        "items": 2,
        "reviews": 1,
        "routes": {"reviewed": 1, "active": 1},
        "queues": {"active": 1},
        "since": datetime(2026, 1, 1, tzinfo=UTC),
        "burndown": [
            {"at": datetime(2026, 1, 1, tzinfo=UTC), "queues": {"active": 2}},
            {"at": datetime(2026, 1, 2, tzinfo=UTC), "queues": {"active": 1}},
        ],
    },
    "pace": {"days": ["2026-01-01", "2026-01-02"], "reviewers": {"rita": [0, 1]}},
    "agreement": {
        "model": "local",
        "model_name": "local model",
        "model_vs_people": {"n": 1, "accuracy": {"value": 1.0, "lo": None, "hi": None}},
        "model_weekly": [],
        "people": {"items": 0, "percent_agreement": None, "pairs": []},
        "people_weekly": [],
    },
    "certified": {
        "calibrated": False,
        "coverage": 0.0,
        "threshold": None,
        "pairs": 1,
        "guarantee": "Nothing is auto-accepted: 99 more calibration reviews needed.",
        "auto_accepted": 0,
    },
    "audit_alarm": {"active": False},
    "cost": {"usd": 0.0, "calls": 0, "tokens": 0, "by_model": {}},
}


def test_every_handler_checks_the_account_and_admin_ones_the_role(project):
    accounts = FakeAccounts({"r": FakeUser("rita", "reviewer"), "a": FakeUser("ada", "admin")})
    console = Console(project, accounts, FakeService())
    with pytest.raises(AuthError):
        console.dashboard("nobody")
    with pytest.raises(AccessDenied):
        console.dashboard("r")
    with pytest.raises(AccessDenied):
        console.bulk_accept(filters("", "", "", 0, 100, "", "", ""), "r")
    top, details = console.dashboard("a")
    assert "local model vs people: 100%" in top and "route history since 2026-01-01" in top
    assert "reviewed" in details


def test_a_bulk_accept_is_confirmed_only_for_the_filters_it_was_previewed_with(project):
    class NoBulk(FakeService):
        def bulk_accept(self, admin, token):
            raise AssertionError("nothing is accepted for filters that were not previewed")

    console = Console(project, FakeAccounts({"a": FakeUser("ada", "admin")}), NoBulk())
    shown = filters("card", "", "", 0, 100, "", "", "")
    now = filters("", "", "", 0, 100, "", "", "")
    out = console.bulk_accept("0123", "a", shown, now)
    assert "filters changed since the preview, so nothing was accepted" in out
    assert "ll-warn" in out


def test_csp_allows_the_pages_own_inline_scripts_by_hash_only():
    page = b"<html><script>boot()</script><script src='/x.js'></script><p>hi</p></html>"
    (digest,) = inline_script_hashes(page)
    policy = csp([digest])
    assert f"'sha256-{digest}'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1]
    assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'none'" in policy


HOSTILE_ID = '  <a href="http://evil.example/">prize</a><div style="position:fixed;inset:0">'
UI = ROOT / "ui"


def test_an_error_toast_shows_its_message_as_text():
    from labelloop.ui.markup import error

    toast = error(LabelloopError(f"No item {HOSTILE_ID!r} in the store"), "Cannot do that")
    assert "<" not in toast.message and ">" not in toast.message
    assert "&lt;a href=&quot;http://evil.example/&quot;&gt;prize&lt;/a&gt;" in toast.message
    assert toast.title == "Cannot do that"  # Gradio shows the title as text


def _gradio_calls(names: set[str]) -> list[str]:
    """``gr.<name>(...)`` calls in ui/, as 'file:innermost function'."""
    found = set()

    class Calls(ast.NodeVisitor):
        def __init__(self, path: Path):
            self.path, self.where = path, ["<module>"]

        def visit_FunctionDef(self, node):
            self.where.append(node.name)
            self.generic_visit(node)
            self.where.pop()

        def visit_Call(self, node):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr in names:
                if isinstance(f.value, ast.Name) and f.value.id in ("gr", "gradio"):
                    found.add(f"{self.path.name}:{self.where[-1]}")
            self.generic_visit(node)

    for path in sorted(UI.glob("*.py")):
        Calls(path).visit(ast.parse(path.read_text(encoding="utf-8")))
    return sorted(found)


def test_toasts_are_made_only_by_the_escaping_choke_point():
    # Gradio renders a toast's message as HTML: any other gr.Error/Warning/Info is unescaped
    assert _gradio_calls({"Error", "Warning", "Info", "Success"}) == ["markup.py:error"]
    # Gradio's HTML component needs 'unsafe-eval' (its template goes through Function())
    assert _gradio_calls({"HTML"}) == []


def test_the_html_shown_is_one_line_whatever_the_data_holds():
    # Gradio's Markdown component shows it as one raw HTML block only while it has no blank
    # line; after one, the rest would be read as Markdown (links and all)
    from labelloop.ui.markup import markup

    text = "line one\n\n[a link](http://evil.example/)\n\n\tindented\r\n$$x$$"
    item = Item(id="m\n\n1", text=text)
    sugg = Suggestion(
        item_id=item.id, model="m", value=LabelValue(label="refund"), confidence=0.5, rationale=text
    )
    shown = [
        render.item_html(view(item, sugg)),
        render.side_html(view(item, sugg)),
        render.answers_html(item, sugg, []),
        render.message_html(text),
        dashboard_view.details_html({"note": text, "rows": [{"who": text}]}, {}),
        dashboard_view.top_html(
            {**TOP, "certified": {**TOP["certified"], "guarantee": text}, "audit_alarm": {}}
        ),
        render.guideline_html(
            guideline().model_copy(update={"text": f"# Guide\n\n{text}\n\n```\na\n\n\tb\n```"})
        ),
    ]
    for html in shown:
        assert "\n" not in html and "\t" not in html and "\r" not in html, html
    assert (
        'data-text="line one&#10;&#10;[a link](http://evil.example/)&#10;&#10;&#9;indented'
        in shown[0]
    )
    assert "a&#10;&#10;&#9;b" in shown[-1]  # a code block keeps its lines and tab
    box = markup(shown[0], elem_id="ll-x")
    config = box.get_config()
    assert box.get_block_name() == "markdown" and config["value"] == shown[0]
    assert config["sanitize_html"] is False and config["latex_delimiters"] == []


def test_an_id_from_the_browser_is_used_whole_when_the_store_has_it(project):
    add_items(project.store, [Item(id=HOSTILE_ID, text="spaced"), Item(id="plain", text="p")])
    console = Console(project, FakeAccounts(), FakeService())
    assert console.item_id(HOSTILE_ID) == HOSTILE_ID
    assert console.item_id("  plain \t") == "plain"
    assert console.item_id(None) == ""
