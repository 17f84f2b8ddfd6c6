"""The JSON API against its own OpenAPI document, route by route, with schemathesis.

Schemathesis reads ``/api/v1/openapi.json`` and calls every route it lists, in-process
(``create_api``, the app the console mounts), as an admin and as a reviewer (their token on
every call), on a project with items seeded on the active, calibration, audit and
auto-accepted routes, on SQLite and on PostgreSQL. Every call is checked for a server error
(5xx), a body that does not fit the schema documented for its status, and a status code or
content type the route does not document.

Each route gets ``MAX_EXAMPLES`` (20) calls whose data fit its schema and 20 whose data do
not (a parameter or body of the wrong shape, or no token), for each token, derandomized:
every run makes the same calls. Half the calls that fit are steered past the first refusal
(rows that import, a route or queue that exists, a queued job's id, the item leased to the
caller), so that ``POST /items`` and ``POST /reviews`` store what they are sent, not only
refuse it. The jobs ``POST /jobs`` queues stay queued: no console's process runs here.

The tests after it keep the requests that got a 500 before, with what they get now.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from labelloop.core.types import QUEUES, Route
from labelloop.review.service import ReviewService
from labelloop.review.tokens import create_token
from labelloop.ui.api.app import create_api
from labelloop.ui.api.listing import encode_cursor
from tests.support.console import guideline_text, make_project, seed, texts
from tests.support.services import postgres_database

#: calls per route, token and mode (fitting the schema or not)
MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
LABELS = ("refund", "other")
USERS = [("ada", "admin"), ("rita", "reviewer")]
SEEDED = (
    texts("act", 12, route=Route.ACTIVE)
    + texts("cal", 6, route=Route.CALIBRATION)
    + texts("aud", 4, "other", route=Route.AUDIT)
    + texts("auto", 3, route=Route.AUTO_ACCEPTED)
)
#: rows that import: new items and seeded ones again, some with a label
ROWS = st.lists(
    st.tuples(
        st.sampled_from([{"id": e[0].id, "text": e[0].text} for e in SEEDED])
        | st.fixed_dictionaries(
            {"id": st.text(min_size=1, max_size=12), "text": st.text(min_size=1, max_size=80)}
        ),
        st.fixed_dictionaries({}, optional={"label": st.sampled_from(LABELS)}),
    ).map(lambda parts: parts[0] | parts[1]),
    min_size=1,
    max_size=4,
    unique_by=lambda row: row["id"],
)

#: a decision's value: a label, or any JSON, as its schema says
FINITE = st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.sampled_from(LABELS) | st.recursive(
    st.none() | st.booleans() | st.integers() | FINITE | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api_project(request, tmp_path_factory):
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgres" else None
        folder = tmp_path_factory.mktemp("api-schema")
        project = make_project(folder, guideline_text(LABELS), USERS, database_url=url)
        stack.callback(project.store.close)
        seed(project, SEEDED)
        yield project


@pytest.fixture(scope="module")
def service(api_project):
    return ReviewService(api_project)


@pytest.fixture(scope="module")
def api(api_project, service):
    return create_api(api_project, service)


@pytest.fixture(scope="module")
def api_schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api, config=schemathesis.Config())


@pytest.fixture(scope="module")
def client(api):
    with TestClient(api) as client:
        yield client


def fitted(case, data, service, user: str) -> None:
    """Half the time, make a push import its rows, a filter name a route or a queue, a job
    id a queued job, a decision the caller's leased item (random ones are refused before the
    code past them runs)."""
    route = case.operation.label
    if data.draw(st.booleans(), label="left as generated"):
        return
    if route == "POST /items":
        case.body = data.draw(ROWS, label="rows")
    elif route == "GET /items":
        case.query = {**(case.query or {}), "route": data.draw(st.sampled_from(list(Route)))}
    elif route == "GET /export":
        case.query = {**(case.query or {}), "queue": data.draw(st.sampled_from(QUEUES))}
    # what is drawn does not depend on the project's state, which each call changes
    elif route == "GET /jobs/{job_id}":
        newest = data.draw(st.integers(0, 9), label="the nth newest job")
        jobs = service.store.jobs(limit=10)
        if jobs:
            case.path_parameters["job_id"] = jobs[newest % len(jobs)].id
    elif route == "POST /reviews":
        value = data.draw(VALUES, label="value")
        view = service.next_item(user)
        if view is not None:
            case.body |= {"item_id": view.item.id, "value": value}


def fuzz(
    operation: APIOperation, mode: GenerationMode, service, user: str, statuses: Counter
) -> str | None:
    """Call ``operation`` as ``user`` with ``mode`` data; what schemathesis found, or None."""
    headers = {"Authorization": f"Bearer {create_token(service.store, user)}"}

    @SETTINGS
    @given(case=operation.as_strategy(mode), data=st.data())
    def calls(case, data):
        if mode.is_positive:
            fitted(case, data, service, user)
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        statuses[operation.label, response.status_code] += 1

    try:
        calls()
    except (FailureGroup, Exception) as found:  # an exception out of the app is a 500
        notes = "\n".join(getattr(found, "__notes__", []))
        return f"{operation.label}, {mode} data: {type(found).__name__}: {found}\n{notes}"
    return None


@pytest.mark.parametrize("user", [name for name, _ in USERS])
def test_every_route_answers_as_its_schema_says(api_schema, service, user):
    statuses: Counter = Counter()
    found = [
        fuzz(result.ok(), mode, service, user, statuses)
        for result in api_schema.get_all_operations()
        for mode in GenerationMode
    ]
    assert not any(found), "\n\n".join(f for f in found if f)
    # the state-changing routes stored what they were sent, not only refused it
    assert statuses["POST /reviews", 200] > 0
    if user == "ada":
        assert statuses["POST /items", 200] > 0 and statuses["POST /jobs", 201] > 0
    else:
        assert statuses["POST /items", 403] > 0 and statuses["POST /jobs", 403] > 0
    assert {job.status for job in service.store.jobs(limit=1000)} <= {"queued"}


# --- counterexamples, kept ---------------------------------------------------------------


def as_user(store, user: str = "ada") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(store, user)}"}


def test_a_decision_whose_value_is_no_label_is_refused(client, service):
    # was a 500: the value reached the label check as it came, and was iterated
    seed(service.project, texts("spare", 2))
    view = service.next_item("rita")
    for value in (False, 3, 1.5, [["refund"]]):
        got = client.post(
            "/reviews",
            json={"item_id": view.item.id, "action": "fix", "value": value},
            headers=as_user(service.store, "rita"),
        )
        assert got.status_code == 400, value
        assert got.json()["detail"].startswith("A label is a name or a list of names, not ")
        assert got.json()["detail"].endswith("valid labels are refund, other")
    # objects are read as an import row's answer (spans, turns, ...): refused for what they lack
    for value, says in (([{"label": "refund"}], "value.spans.0.start"), ({}, "")):
        got = client.post(
            "/reviews",
            json={"item_id": view.item.id, "action": "fix", "value": value},
            headers=as_user(service.store, "rita"),
        )
        assert got.status_code == 400, value
        assert got.json()["detail"].startswith(says), got.json()


def test_a_nan_in_a_body_that_does_not_fit_comes_back_as_null(client, service):
    # was a 500: the 422 names what was sent, and strict JSON has no NaN
    got = client.post(
        "/jobs",
        content='{"kind": "calibrate", "args": {"target_accuracy": NaN}}',
        headers={**as_user(service.store), "Content-Type": "application/json"},
    )
    assert got.status_code == 422
    assert got.json()["detail"][0]["loc"][-1] == "target_accuracy"
    assert got.json()["detail"][0]["input"] is None


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/items", {"text": "re\x00fund"}, None),
        ("GET", "/items", {"text": "refund\x00", "route": "active"}, None),
        ("GET", "/items", {"label": "re\x00fund"}, None),
        ("GET", "/items", {"reviewer": "ri\x00ta"}, None),
        ("POST", "/items", {"reviewer": "ri\x00ta"}, [{"id": "nul-1", "text": "a text"}]),
        ("POST", "/reviews", {}, {"item_id": "act\x00", "action": "skip"}),
        ("POST", "/reviews", {}, {"item_id": "act00", "action": "skip", "comment": "\x00"}),
        ("POST", "/reviews", {}, {"item_id": "act00", "action": "reject", "reason": "\x00"}),
    ],
)
def test_text_with_a_nul_is_refused_before_the_store(client, service, method, path, params, body):
    # was a 500: SQLite's full-text search ends a phrase at a NUL, PostgreSQL takes none
    got = client.request(method, path, params=params, json=body, headers=as_user(service.store))
    assert got.status_code == 422
    assert got.json()["detail"][0]["type"] == "string_pattern_mismatch"


def test_a_cursor_that_names_an_id_with_a_nul_is_refused(client, service):
    cursor = encode_cursor("act\x00")
    got = client.get("/items", params={"cursor": cursor}, headers=as_user(service.store))
    assert got.status_code == 400
    assert got.json()["detail"].startswith("Invalid cursor")


@pytest.mark.parametrize(
    ("name", "moment"),
    [("since", "0001-01-01T00:00:00+14:00"), ("until", "9999-12-31T23:59:59-01:00")],
)
def test_a_time_past_the_years_utc_holds_is_refused(client, service, name, moment):
    # was a 500: the store converts the time to UTC, which has no year 0 nor 10000
    got = client.get("/items", params={name: moment}, headers=as_user(service.store))
    assert got.status_code == 422
    assert "before year 1 or after 9999 in UTC" in got.json()["detail"][0]["msg"]
    fine = client.get(
        "/items", params={name: "2001-01-01T00:00:00+14:00"}, headers=as_user(service.store)
    )
    assert fine.status_code == 200


@pytest.mark.parametrize("job_id", [2**31, 2**63])
def test_a_job_id_past_what_the_store_holds_is_refused(client, service, job_id):
    # was a 500: past 2**31 - 1 on PostgreSQL (INTEGER), past 2**63 - 1 on SQLite
    got = client.get(f"/jobs/{job_id}", headers=as_user(service.store))
    assert got.status_code == 422
    assert client.get(f"/jobs/{2**31 - 1}", headers=as_user(service.store)).status_code == 404
