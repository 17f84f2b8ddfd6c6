"""The JSON API over HTTP, on a served console: tokens and roles on every route, pushes all
or nothing, pages that cover every item once, reviews under the console's rules, what a
reviewer's token never sees, jobs, status and the streamed export, and the README's client
example."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from labelloop.api import export_items, import_rows
from labelloop.client import ApiError, Client
from labelloop.core.types import LabelValue, Review, Route, RouteDecision
from labelloop.review.auth import SESSION_COOKIE, add_user, delete_user, disable_user
from labelloop.review.tokens import create_token, revoke_tokens
from labelloop.route.status import project_status
from tests.support.console import guideline_text as guideline
from tests.support.console import make_project, seed, served, texts
from tests.support.console_probes import signed_in
from tests.support.paths import ROOT

#: what a reviewer's token may call; every other route is for admins
REVIEWER_ROUTES = {
    ("GET", "/me"),
    ("GET", "/items"),
    ("GET", "/reviews/next"),
    ("POST", "/reviews"),
}
USERS = [("rita", "reviewer"), ("rob", "reviewer"), ("ada", "admin"), ("gone", "admin")]
USERS += [("off", "reviewer")]


@pytest.fixture(scope="module")
def api_project(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("api"), guideline(("refund", "other")), USERS)
    seed(
        project,
        texts("act", 4, route=Route.ACTIVE)
        + texts("cal", 3, route=Route.CALIBRATION)
        + texts("aud", 2, route=Route.AUDIT)
        + texts("auto", 2, route=Route.AUTO_ACCEPTED),
    )
    yield project
    project.store.close()


@pytest.fixture(scope="module")
def console(api_project):
    with served(api_project) as url:
        yield url


@pytest.fixture(scope="module")
def tokens(api_project) -> dict[str, str]:
    store = api_project.store
    out = {name: create_token(store, name) for name, _ in USERS}
    out["revoked"] = create_token(store, "ada")
    revoke_tokens(store, "ada", store.list_tokens("ada")[-1].id)
    disable_user(store, "off")
    delete_user(store, "gone")
    return out


def call(url: str, token: str | None, method: str, path: str, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url + "/api/v1", timeout=30) as c:
        return c.request(method, path, headers=headers, **kw)


def api_routes(url: str) -> set[tuple[str, str]]:
    doc = httpx.get(url + "/api/v1/openapi.json", timeout=30).json()
    return {(m.upper(), path) for path, ops in doc["paths"].items() for m in ops}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "1", path)


def test_the_openapi_document_is_public_and_lists_every_route(console):
    doc = httpx.get(console + "/api/v1/openapi.json", timeout=30)
    assert doc.status_code == 200 and doc.json()["info"]["version"] == "v1"
    routes = api_routes(console)
    assert REVIEWER_ROUTES < routes
    assert {("POST", "/items"), ("POST", "/jobs"), ("GET", "/export")} <= routes
    assert doc.json()["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_every_route_refuses_a_missing_wrong_or_dead_token(console, tokens):
    bad = {
        "none": None,
        "wrong": "ll_" + "x" * 43,
        "not a token": "hello",
        "revoked": tokens["revoked"],
        "disabled account": tokens["off"],
        "deleted account": tokens["gone"],
    }
    routes = api_routes(console)
    for method, path in sorted(routes):
        for why, token in bad.items():
            got = call(console, token, method, concrete(path), json={})
            assert got.status_code == 401, (method, path, why)
            assert got.headers["www-authenticate"] == "Bearer"
            assert "labelloop tokens create" in got.json()["detail"]


def test_a_console_session_opens_no_api_route(console):
    # the API reads tokens only: a page on another site cannot act through a signed-in browser
    with signed_in(console, "ada") as client:
        assert client.cookies.get(SESSION_COOKIE)
        for method, path in sorted(api_routes(console)):
            got = client.request(method, "/api/v1" + concrete(path), json={})
            assert got.status_code == 401, (method, path)


def test_a_reviewer_token_is_refused_on_every_admin_route(console, tokens):
    admin_routes = api_routes(console) - REVIEWER_ROUTES
    assert len(admin_routes) >= 5
    for method, path in sorted(admin_routes):
        got = call(console, tokens["rita"], method, concrete(path), json=[{"id": "x"}])
        assert got.status_code == 403, (method, path)
        assert got.json() == {"detail": "'rita' is a reviewer: this route is for admins"}
    for method, path in sorted(REVIEWER_ROUTES):
        got = call(console, tokens["rita"], method, concrete(path))
        assert got.status_code not in (401, 403), (method, path)


def test_me_names_the_account_and_its_role(console, tokens):
    assert call(console, tokens["ada"], "GET", "/me").json() == {"user": "ada", "role": "admin"}
    assert call(console, tokens["rob"], "GET", "/me").json() == {"user": "rob", "role": "reviewer"}


# --- items ------------------------------------------------------------------------------------


def test_a_push_is_all_or_nothing_and_names_the_bad_row(console, tokens, api_project):
    store = api_project.store
    before = len(store.item_ids())
    rows = [{"id": "p-1", "text": "first"}, {"id": "p-2", "label": "refund"}]
    got = call(console, tokens["ada"], "POST", "/items", json=rows)
    assert got.status_code == 422
    assert got.json()["detail"].startswith("row 2: missing 'text'")
    assert len(store.item_ids()) == before  # the good first row was not stored either

    rows[1]["text"] = "second, labeled"
    got = call(console, tokens["ada"], "POST", "/items", json=rows, params={"reviewer": "lab"})
    assert got.status_code == 200
    summary = got.json()
    assert (summary["rows"], summary["items_added"], summary["reviews_added"]) == (2, 2, 1)
    assert len(store.item_ids()) == before + 2
    assert [r.reviewer for r in store.reviews_for("p-2")] == ["lab"]

    again = call(console, tokens["ada"], "POST", "/items", json=rows).json()
    assert (again["items_added"], again["items_existing"]) == (0, 2)
    for body in ([], {"id": "x", "text": "y"}, [1, 2], "text"):
        assert call(console, tokens["ada"], "POST", "/items", json=body).status_code == 422


def test_pages_cover_every_item_once_in_id_order(console, tokens, api_project):
    rows = [{"id": f"page-{n:03d}", "text": f"page item {n}"} for n in range(230)]
    assert call(console, tokens["ada"], "POST", "/items", json=rows).status_code == 200
    every = sorted(api_project.store.item_ids())
    with Client(console, tokens["ada"]) as api:
        seen, cursor, pages = [], None, 0
        while True:
            page = api.items(cursor=cursor, limit=100)
            seen += [row["id"] for row in page.items]
            pages += 1
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == every and pages == -(-len(every) // 100)
        assert [r["id"] for r in api.iter_items(limit=7)] == every
        unlabeled = [r["id"] for r in api.iter_items(route="unlabeled")]
        assert set(unlabeled) >= {row["id"] for row in rows}
        for bad in ({"cursor": "!!"}, {"limit": 0}, {"limit": 1001}, {"route": "nowhere"}):
            with pytest.raises(ApiError) as refused:
                api.items(**bad)
            assert refused.value.status in (400, 422), bad


def test_a_reviewer_token_never_sees_what_blind_items_hide(console, tokens, api_project):
    store = api_project.store
    # rob answered an overlap item that waits for a second answer: still in the active queue
    rob_said = Review(
        item_id="act00", reviewer="rob", action="fix", value=LabelValue(label="other"),
        queue="active", blind=False,
    )  # fmt: skip
    store.add_review(rob_said)
    sid = store.newest_suggestions("local")["act00"][0]
    store.set_routes([RouteDecision(item_id="act00", route=Route.ACTIVE, reason="overlap",
                                    suggestion_id=sid)], {"act00": 0.0})  # fmt: skip

    def rows(token, **params):
        with Client(console, token) as api:
            return {r["id"]: r for r in api.iter_items(**params)}

    admin, rita = rows(tokens["ada"]), rows(tokens["rita"])
    assert set(admin) == set(rita)
    for item_id, row in admin.items():
        if row["route"] in (Route.CALIBRATION, Route.AUDIT):
            assert row["suggestion"] is not None
            assert rita[item_id]["suggestion"] is None, item_id
            assert "label" not in rita[item_id]
    assert any(r["route"] == Route.ACTIVE and r["suggestion"] for r in rita.values())
    # another reviewer's answer on an item still waiting for answers is not shown
    assert [r["reviewer"] for r in admin["act00"]["reviews"]] == ["rob"]
    assert admin["act00"]["route"] == Route.ACTIVE
    assert rita["act00"]["reviews"] == []
    assert [r["reviewer"] for r in rows(tokens["rob"])["act00"]["reviews"]] == ["rob"]
    # nor can a label filter find blind items by the model's answer
    blind = {i for i, r in admin.items() if r["route"] in (Route.CALIBRATION, Route.AUDIT)}
    assert blind and not blind & set(rows(tokens["rita"], label="refund"))
    assert blind <= set(rows(tokens["ada"], label="refund"))


# --- reviews ----------------------------------------------------------------------------------


def test_reviews_follow_the_console_rules(tmp_path):
    users = [("rita", "reviewer"), ("rob", "reviewer")]
    project = make_project(tmp_path, guideline(("refund", "other")), users)
    seed(project, texts("cal", 2, route=Route.CALIBRATION) + texts("act", 2))
    rita, rob = create_token(project.store, "rita"), create_token(project.store, "rob")
    with served(project) as url, Client(url, rita) as api, Client(url, rob) as other:
        view = api.next_review()
        assert view is not None and view.queue == "calibration" and view.blind
        assert view.suggestion is None and view.labels == ["refund", "other"]
        assert api.next_review().item["id"] == view.item["id"]  # the same item until decided
        assert other.next_review().item["id"] != view.item["id"]  # leased to rita, not rob

        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "accept")  # nothing is shown to accept
        assert refused.value.status == 400
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", "no-such-label")
        assert refused.value.status == 400 and "no-such-label" in refused.value.detail
        with pytest.raises(ApiError) as refused:
            api.review("act01", "fix", "other")  # not leased to rita
        assert refused.value.status == 409
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "reject")  # a reject needs a reason
        assert refused.value.status == 400

        out = api.review(view.item["id"], "fix", "other", duration_ms=1200)
        assert out.review["action"] == "fix" and out.review["value"] == {"label": "other"}
        assert out.review["blind"] is True and out.review["reviewer"] == "rita"
        assert out.next is not None and out.next.item["id"] != view.item["id"]
    stored = project.store.reviews_for(view.item["id"])
    assert [(r.reviewer, r.action, r.value.label, r.blind) for r in stored] == [
        ("rita", "fix", "other", True)
    ]
    project.store.close()


def test_a_review_item_carries_the_guidelines_context_fields(tmp_path):
    from labelloop.core.types import Item

    # the booking guideline names `context: [requested_slot]`; b8 has no requested_slot
    booking = (ROOT / "guidelines" / "restaurant-booking.md").read_text(encoding="utf-8")
    lines = (ROOT / "tests" / "fixtures" / "booking.jsonl").read_text(encoding="utf-8")
    rows = {r["id"]: r for r in map(json.loads, lines.splitlines())}
    users = [("rita", "reviewer")]
    project = make_project(tmp_path / "booking", booking, users)
    items = [Item(id=i, text=rows[i]["text"], meta=rows[i]["meta"]) for i in ("b1", "b2", "b8")]
    seed(project, [(it, rows[it.id]["label"], 0.6, Route.ACTIVE) for it in items])
    token = create_token(project.store, "rita")
    seen = {}
    with served(project) as url:
        doc = httpx.get(url + "/api/v1/openapi.json", timeout=30).json()
        field = doc["components"]["schemas"]["ReviewItem"]["properties"]["context"]
        assert field["type"] == "object" and "`context:`" in field["description"]
        got = call(url, token, "GET", "/reviews/next").json()["next"]
        assert call(url, token, "GET", "/reviews/next").json()["next"]["context"] == got["context"]
        while got is not None:  # each leased item, from reviews/next and then POST's reply
            seen[got["item"]["id"]] = got["context"]
            body = {"item_id": got["item"]["id"], "action": "accept"}
            got = call(url, token, "POST", "/reviews", json=body).json()["next"]
    assert seen == {
        "b1": {"requested_slot": "time"},
        "b2": {"requested_slot": "party_size"},
        "b8": {},  # a field the item does not have is left out, as in the console
    }
    project.store.close()

    plain = make_project(tmp_path / "plain", guideline(("refund", "other")), users)
    seed(plain, texts("act", 1))
    token = create_token(plain.store, "rita")
    with served(plain) as url:
        got = call(url, token, "GET", "/reviews/next").json()["next"]
        assert got["item"]["id"] == "act00" and got["context"] == {}
    plain.store.close()


# --- jobs, status, export ---------------------------------------------------------------------


def test_jobs_status_and_export_on_sqlite_match_the_commands(tmp_path):
    from labelloop.core.resources import demo_guideline, demo_sample

    rows = [json.loads(line) for line in demo_sample().open(encoding="utf-8")][:60]
    for row in rows:
        row.pop("label", None)
    project = make_project(tmp_path, demo_guideline().read_text("utf-8"), [("ada", "admin")])
    token = create_token(project.store, "ada")
    with served(project) as url, Client(url, token) as api:
        assert api.push_items(rows).items_added == 60
        with pytest.raises(ApiError) as refused:
            api.queue_job("label", api_base="http://elsewhere.example")
        assert refused.value.status == 422
        with pytest.raises(ApiError):
            api.queue_job("label", limit=0)
        job = api.wait_for(api.queue_job("label", limit=50), timeout=120)
        assert job.status == "done" and job.result["labeled"] == 50, job.error
        assert job.requested_by == "ada" and job.holder and job.finished_at
        assert [j.id for j in api.jobs()][0] == job.id
        with pytest.raises(ApiError) as missing:
            api.job(job.id + 100)
        assert missing.value.status == 404

        status = api.status()
        want = json.loads(json.dumps(project_status(project), default=str))
        assert status["routes"] == want["routes"] and status["items"] == 60
        assert status["queues"] == want["queues"]

        streamed = tmp_path / "streamed.jsonl"
        assert api.export(streamed) == 60
        written = tmp_path / "written.jsonl"
        assert export_items(project, written) == 60
        assert streamed.read_bytes() == written.read_bytes()
        assert api.export(tmp_path / "streamed.csv", format="csv") == 60
        export_items(project, tmp_path / "written.csv")
        csv_streamed = (tmp_path / "streamed.csv").read_bytes()
        assert csv_streamed == (tmp_path / "written.csv").read_bytes()
        with pytest.raises(ApiError):
            api.export(tmp_path / "bad.jsonl", queue="nowhere")
        assert not (tmp_path / "bad.jsonl").exists()
    project.store.close()


def test_a_push_may_be_larger_than_the_console_takes(tmp_path):
    project = make_project(tmp_path, guideline(("refund", "other")), [("ada", "admin")],
                           max_request_kb=16, api_max_request_kb=64)  # fmt: skip
    token = create_token(project.store, "ada")
    rows = [{"id": f"big-{n}", "text": "x" * 400} for n in range(100)]  # about 45 KiB
    with served(project) as url, Client(url, token) as api:
        assert api.push_items(rows).items_added == 100
        with pytest.raises(ApiError) as refused:
            api.push_items([{"id": f"huge-{n}", "text": "x" * 1000} for n in range(100)])
        assert refused.value.status == 413
    project.store.close()


def test_the_readme_client_example_runs(tmp_path, monkeypatch, capsys):
    from labelloop.core.resources import demo_guideline

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = "<!-- python-example: tests/flows/test_http_api.py runs this block -->"
    block = readme.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    project = make_project(tmp_path, demo_guideline().read_text("utf-8"), [("ada", "admin")])
    import_rows(project, [{"id": "seen-1", "text": "where is my card"}])
    with served(project) as url:
        monkeypatch.setenv("LABELLOOP_URL", url)
        monkeypatch.setenv("LABELLOOP_TOKEN", create_token(project.store, "ada"))
        exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "pushed 2 items; label job done: 3 labeled" in out
    decided = [r for i in ("t-1", "t-2", "seen-1") for r in project.store.reviews_for(i)]
    assert [(r.reviewer, r.action) for r in decided] in ([], [("ada", "fix")], [("ada", "accept")])
    project.store.close()


@pytest.mark.postgres
def test_on_postgresql_workers_run_the_jobs_the_api_queues(tmp_path):
    import time

    from labelloop.core.resources import demo_guideline, demo_sample
    from labelloop.worker import work
    from tests.support.services import postgres_database

    rows = [json.loads(line) for line in demo_sample().open(encoding="utf-8")][:40]
    for row in rows:
        row.pop("label", None)
    with postgres_database() as db:
        guide = demo_guideline().read_text("utf-8")
        project = make_project(tmp_path, guide, [("ada", "admin")], database_url=db)
        token = create_token(project.store, "ada")
        with served(project) as url, Client(url, token) as api:
            assert api.push_items(rows).items_added == 40
            job = api.queue_job("label", limit=30)
            time.sleep(1.5)  # the console's process leaves it to the workers
            assert api.job(job.id).status == "queued"
            shift = work(project, once=True)
            assert shift.jobs[0] == (job.id, "label", "done")
            done = api.job(job.id)
            assert done.status == "done" and done.result["labeled"] == 30
            labeled = [r for r in api.iter_items(limit=9) if r["suggestion"] is not None]
            assert len(labeled) == 40  # the job's 30, then the worker labeled the rest
            ids = [r["id"] for r in api.iter_items(limit=9)]
            assert ids == sorted(r["id"] for r in rows)
        project.store.close()


def test_review_says_why_it_cannot_serve_before_claiming_to(tmp_path):
    import socket

    from typer.testing import CliRunner

    from labelloop.ui.cli import app

    project = make_project(tmp_path / "a", guideline(("refund", "other")), [])
    runner = CliRunner()
    args = ["review", "--project", str(project.root), "--port"]
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = str(busy.getsockname()[1])
        got = runner.invoke(app, [*args, port])
        said = got.output + str(got.exception)  # the error reaches the user as one line
        assert got.exit_code != 0 and "Review console on" not in got.output
        assert "No console accounts yet" in said
        add_user(project.store, "ada", "admin", "correct-horse-battery")
        got = runner.invoke(app, [*args, port])
        said = got.output + str(got.exception)
        assert got.exit_code != 0 and "Review console on" not in got.output
        assert f"Cannot serve on 127.0.0.1:{port}" in said and "--port" in said
    project.store.close()


def test_spans_are_fixed_as_import_rows_write_them(tmp_path):
    from labelloop.core.types import Item, Span

    text = "Table for four at 7pm"
    project = make_project(tmp_path, guideline(("people", "time"), kind="spans"),
                           [("rita", "reviewer")])  # fmt: skip
    spans = LabelValue(spans=(Span(start=10, end=14, label="people"),))
    seed(project, [(Item(id=f"s{n}", text=text), spans, 0.6, Route.ACTIVE) for n in range(3)])
    token = create_token(project.store, "rita")
    good = [{"start": 10, "end": 14, "label": "people"}, {"start": 18, "end": 21, "label": "time"}]
    with served(project) as url, Client(url, token) as api:
        view = api.next_review()
        assert view.suggestion.value == {"spans": [{"start": 10, "end": 14, "label": "people"}]}
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", [{"start": 10, "end": "x", "label": "people"}])
        assert refused.value.status == 400 and "value.spans.0.end" in refused.value.detail
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", [{"start": 10, "end": 14, "label": "nope"}])
        assert refused.value.status == 400 and "nope" in refused.value.detail
        # a span whose text is not the text at its offsets is refused, not stored
        bad = [{"start": 0, "end": 3, "label": "time", "text": "zzz"}]
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", bad)
        assert refused.value.status == 400
        assert "says its text is 'zzz', but the text there is 'Tab'" in refused.value.detail
        # spans sharing characters are refused: the console draws one mark a character
        nested = [
            {"start": 10, "end": 14, "label": "people"},
            {"start": 12, "end": 14, "label": "time"},
        ]
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", nested)
        assert refused.value.status == 400
        assert "people[10:14] 'four' and time[12:14] 'ur' overlap" in refused.value.detail
        # a label name is not a span answer: the message shows how one is written
        with pytest.raises(ApiError) as refused:
            api.review(view.item["id"], "fix", "people")
        assert refused.value.status == 400 and '[{"start": 0' in refused.value.detail
        first = api.review(view.item["id"], "fix", good)
        assert first.review["value"]["spans"] == good
        second = api.review(first.next.item["id"], "fix", {"spans": good[:1]})
        assert second.review["action"] == "accept"  # the model's spans, picked again
        third = api.review(second.next.item["id"], "fix", [])  # [] is "no spans"
        assert third.review["value"] == {"spans": []}
    assert len([r for r in project.store.iter_reviews() if r.reviewer == "rita"]) == 3
    project.store.close()
