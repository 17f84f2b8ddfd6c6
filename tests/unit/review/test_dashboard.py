"""The lead's dashboard: burndown from the route history, pace per reviewer, agreement as
``labelloop eval`` defines it, the guideline's label names as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from labelloop.core.types import Item, Review, Route
from labelloop.learn.evaluate import evaluate
from labelloop.review import dashboard as board
from labelloop.review.service import ReviewService
from labelloop.store import history
from tests.unit.review import test_review_service as service_tests

#: the project on each backend, with reviewers ann, bob and cy and admin ada
proj = service_tests.proj
seed = service_tests.seed


def decide_all(svc: ReviewService, who: str, fix: set[str] = frozenset()) -> None:
    view = svc.next_item(who)
    while view is not None:
        item = view.item.id
        action, value = ("fix", "refund") if item in fix else ("accept", None)
        view = svc.decide(who, item, action, value=value, duration_ms=2000).next


def test_burndown_has_a_point_per_route_write_and_says_where_history_starts(proj, monkeypatch):
    monkeypatch.setattr(history, "EVERY", timedelta(0))  # record after every write
    seed(proj, 3)
    svc = ReviewService(proj)
    decide_all(svc, "ann")
    top = svc.dashboard("ada")["top"]["progress"]
    active = [p["queues"]["active"] for p in top["burndown"]]
    reviewed = [p["routes"]["reviewed"] for p in top["burndown"]]
    assert active == [3, 2, 1, 0, 0]  # routing, three decisions, and now
    assert reviewed == [0, 1, 2, 3, 3]
    assert top["since"] == top["burndown"][0]["at"] == proj.store.history_start()
    assert top["routes"]["reviewed"] == 3 and top["queues"]["active"] == 0


def test_route_history_records_at_most_once_an_hour(proj):
    seed(proj, 2)
    svc = ReviewService(proj)
    decide_all(svc, "ann")
    assert len(proj.store.route_history()) == 1  # the routing, then nothing within the hour
    later = datetime.now(UTC) + history.EVERY
    other = type(proj.store)(proj.store.engine)  # as another process: nothing in memory
    assert other.note_routes(later) is True
    assert proj.store.note_routes(later) is False  # its memory is stale: it asks the database
    (_, first), (_, second) = proj.store.route_history()
    assert first["active"] == 2 and second == {**first, "active": 0, "reviewed": 2}


def test_pace_counts_decisions_per_reviewer_per_day(proj):
    ids = seed(proj, 3)
    svc = ReviewService(proj)
    decide_all(svc, "ann")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    proj.store.add_review(
        Review(item_id=ids[0], reviewer="bob", action="accept", created_at=two_days_ago)
    )
    proj.store.add_review(Review(item_id=ids[1], reviewer="bob", action="skip"))
    pace = svc.dashboard("ada")["top"]["pace"]
    assert len(pace["days"]) == board.PACE_DAYS
    assert pace["days"][-1] == datetime.now(UTC).date().isoformat()
    assert pace["reviewers"]["ann"][-1] == 3 and sum(pace["reviewers"]["ann"]) == 3
    assert pace["reviewers"]["bob"][-3] == 1 and sum(pace["reviewers"]["bob"]) == 1


def test_agreement_is_evals_own_figures(proj):
    proj.config.review.overlap = 1.0
    ids = seed(proj, 4)
    svc = ReviewService(proj)
    decide_all(svc, "ann")
    decide_all(svc, "bob", fix={ids[0]})
    d = svc.dashboard("ada")
    got = d["top"]["agreement"]
    ev = evaluate(proj, n_boot=board.BOOT)
    model = ev["models"]["local"]
    assert got["model_name"] == "local model"
    assert got["model_vs_people"]["accuracy"] == model["vs_consensus"]["accuracy"]
    assert got["model_vs_people"]["n"] == model["vs_consensus"]["n"]
    assert got["model_weekly"] == model["weekly"]
    assert got["people"]["percent_agreement"] == ev["humans"]["overall"]["percent_agreement"]
    assert got["people"]["pairs"] == ev["humans"]["pairs"]
    assert got["people_weekly"] == ev["humans"]["weekly"]
    assert got["people"]["percent_agreement"]["value"] == 0.75
    assert got["people_weekly"][0]["n"] == 4
    assert d["details"]["evaluation"]["humans"]["percent_agreement"] == 0.75


def test_labels_are_the_guidelines_names_and_the_top_has_every_part(proj):
    seed(proj, 1)
    d = ReviewService(proj).dashboard("ada")
    assert d["labels"] == ["card_arrival", "lost_or_stolen_card", "refund"]
    assert set(d["top"]) == {"progress", "pace", "agreement", "certified", "audit_alarm", "cost"}
    assert d["top"]["certified"]["calibrated"] is False and d["top"]["certified"]["guarantee"]
    assert d["top"]["audit_alarm"] == {"active": False}
    assert d["top"]["cost"]["usd"] == 0


def test_model_names_are_shown_as_they_are():
    assert board.model_name("local") == "local model"
    assert board.model_name("gpt-4o-mini") == "gpt-4o-mini"


def test_a_route_write_stands_when_its_history_record_fails(project, monkeypatch):
    import sqlalchemy as sa

    def locked(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(type(project.store), "note_routes", locked)
    seed(project, 2)
    assert project.store.route_counts()["active"] == 2


# --- a guideline that asks several questions ---------------------------------------------


def questions_project(root):
    """A project whose guideline asks two questions (``category``, single, and
    ``targets``, multi), four items reviewed by ann and bob: both change the model's
    category of q0 (the model errs there), bob alone its targets of q1 (a tie)."""
    from tests.support.console import make_project
    from tests.support.console import seed as seed_routed
    from tests.unit.review.test_questions_review import MODEL, RUBRIC

    users = [("ann", "reviewer"), ("bob", "reviewer"), ("ada", "admin")]
    project = make_project(root, RUBRIC, users, overlap=1.0, similar_k=0)
    items = [(Item(id=f"q{k}", text=f"text {k}"), MODEL, 0.4, Route.ACTIVE) for k in range(4)]
    seed_routed(project, items)
    svc = ReviewService(project)
    answer_all(svc, "ann", {("q0", "category"): "neither"})
    answer_all(svc, "bob", {("q0", "category"): "neither", ("q1", "targets"): ["group"]})
    return project, svc


def answer_all(svc: ReviewService, who: str, fixes: dict[tuple[str, str], object]) -> None:
    """Every question of every item the reviewer is given: the model's answer, or the fix
    given for (item, question)."""
    view = svc.next_item(who)
    while view is not None:
        fix = fixes.get((view.item.id, view.question))
        action = "accept" if fix is None else "fix"
        view = svc.decide(who, view.item.id, action, value=fix, duration_ms=2000).next


def test_agreement_is_evals_own_figures_for_each_question(tmp_path):
    project, svc = questions_project(tmp_path)
    d = svc.dashboard("ada")
    got = d["top"]["agreement"]
    ev = evaluate(project, n_boot=board.BOOT)["questions"]
    assert got["model_name"] == "local model"
    assert list(got["questions"]) == ["category", "targets"]  # as the guideline writes them
    for q, mine in got["questions"].items():
        model, humans = ev[q]["models"]["local"], ev[q]["humans"]
        vs = model["vs_consensus"]
        assert mine["model_vs_people"]["accuracy"] == vs["accuracy"], q
        assert mine["model_vs_people"]["n"] == vs["n"], q
        assert mine["model_vs_people"]["cohen_kappa"] == vs.get("cohen_kappa"), q
        assert mine["model_weekly"] == model["weekly"], q
        assert mine["people"]["percent_agreement"] == humans["overall"]["percent_agreement"]
        assert mine["people"]["pairs"] == humans["pairs"], q
        assert mine["people_weekly"] == humans["weekly"], q
        shown = d["details"]["evaluation"]["questions"][q]
        assert shown["models"]["local"]["accuracy"] == vs["accuracy"]["value"], q
        assert shown["models"]["local"]["n"] == vs["n"], q
        assert shown["humans"]["items"] == humans["items"], q
        assert any(name.startswith(f"{q}: ") for name in d["plots"]), q
    category, targets = got["questions"]["category"], got["questions"]["targets"]
    assert (category["model_vs_people"]["n"], targets["model_vs_people"]["n"]) == (4, 3)
    assert category["model_vs_people"]["accuracy"]["value"] == 0.75
    assert targets["model_vs_people"]["accuracy"]["value"] == 1.0
    assert category["people"]["percent_agreement"]["value"] == 1.0
    assert targets["people"]["percent_agreement"]["value"] == 0.75
    assert "category: confusion matrix" in d["plots"]


def test_the_questions_are_gathered_from_the_reviews_read_once(tmp_path, monkeypatch):
    project, svc = questions_project(tmp_path)
    store = type(project.store)
    reads = []
    real = store.iter_reviews

    def counted(self, *args, **kwargs):
        reads.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(store, "iter_reviews", counted)
    svc.dashboard("ada")
    assert len(reads) == 1
