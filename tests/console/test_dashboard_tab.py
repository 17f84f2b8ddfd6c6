"""The dashboard tab without a browser: it loads its top when opened, from the real
service, with the guideline's label names as written."""

from __future__ import annotations

from labelloop.core.types import Item, Route
from labelloop.review.auth import add_user
from labelloop.review.service import ReviewService
from labelloop.ui.app import build_app
from labelloop.ui.handlers import Console
from tests.conftest import add_routed
from tests.console.test_ui_handlers import FakeAccounts, FakeUser


def _seeded(project) -> ReviewService:
    add_user(project.store, "rita", "reviewer", "correct-horse-battery")
    add_user(project.store, "ada", "admin", "correct-horse-battery")
    project.config.review.similar_k = 0
    entries = [
        (Item(id=f"i{k}", text=f"card {k}"), "card_arrival", 0.7, Route.ACTIVE) for k in range(3)
    ]
    add_routed(project, entries)
    svc = ReviewService(project)
    view = svc.next_item("rita")
    svc.decide("rita", view.item.id, "fix", value="lost_or_stolen_card", duration_ms=1500)
    return svc


def test_the_tab_loads_its_top_when_opened_and_keeps_a_refresh(project):
    accounts = FakeAccounts({"a": FakeUser("ada", "admin")})
    app = build_app(project, accounts, _seeded(project))
    tab = next(b for b in app.blocks.values() if getattr(b, "id", None) == "dashboard")
    wired = {
        (app.blocks[target].elem_id if target != tab._id else "tab", event)
        for fn in app.fns.values()
        if [o.elem_id for o in fn.outputs] == ["ll-dash-top", "ll-dashboard"]
        for target, event in fn.targets
    }
    assert wired == {("tab", "select"), ("ll-dash-refresh", "click")}


def test_the_top_reads_in_ten_seconds_and_the_details_keep_label_names(project):
    console = Console(project, FakeAccounts({"a": FakeUser("ada", "admin")}), _seeded(project))
    top, details = console.dashboard("a")
    for part in ("progress", "agreement (local model)", "certified coverage", "audit alarm"):
        assert part in top
    assert "33% done" in top and "waiting: calibration 0 · active 2" in top
    assert "route history since" in top and top.count("<img") == 3  # burndown, pace, agreement
    assert "lost_or_stolen_card" in details and "Lost or stolen card" not in details
    assert len(top) < len(details)  # the top is the short read


def test_each_question_reads_on_a_line_and_folds_its_own_details(tmp_path):
    from tests.unit.review.test_dashboard import questions_project

    project, svc = questions_project(tmp_path)
    console = Console(project, FakeAccounts({"a": FakeUser("ada", "admin")}), svc)
    top, details = console.dashboard("a")
    assert "agreement per question (local model)" in top and "75%–100%" in top
    category, targets = (top.index(f"<div>{q}: model ") for q in ("category", "targets"))
    assert category < targets  # one line each, in the guideline's order
    assert "category: model 75% [25–100%]" in top and "n=4 · people 100% n=4" in top
    assert "targets: model 100% [100–100%] n=3 · people 75% n=4" in top
    assert "κ " in top[category:targets]  # a kappa where the kind has one
    assert "per question" in top and top.count("<img") == 3
    for q in ("category", "targets"):
        assert f'<details class="ll-question"><summary>{q}</summary>' in details
    fold = details.index("<summary>category</summary>")
    assert details.index('alt="confusion matrix"') > fold  # the plot is in its question's fold
    assert details.index('alt="confusion matrix"') < details.index("<summary>targets</summary>")
    assert "\n" not in top and "\n" not in details
