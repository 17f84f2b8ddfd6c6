"""What test_console_endpoints.py does not already ask of every route: expired and idle
sessions on every route, every Gradio event with each kind of dead cookie, every admin event
from a reviewer, every write from another site, and file routes asked for files they must
not serve; each refused (tests/support/console_probes.py; the reliability benchmark runs the same
probes, with every kind of cookie on every route and the sign-in throttle's)."""

from __future__ import annotations

import pytest

from labelloop.core.types import Route
from tests.support import console_probes as probes
from tests.support.console import guideline_text as guideline
from tests.support.console import make_project, seed, texts


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    root = tmp_path_factory.mktemp("probes")
    project = make_project(root, guideline(("refund", "other")), probes.ACCOUNTS)
    seed(project, texts("ep", 3, route=Route.ACTIVE))
    with probes.served_app(project) as (url, app):
        yield project, url, app
    project.store.close()


def test_nothing_is_served_that_must_be_refused(console):
    project, url, app = console
    routes = probes.app_routes(app)
    deps = probes.dependencies(url)
    creds = probes.cookies(project, url)
    stale = {k: v for k, v in creds.items() if k in ("expired session", "idle session")}
    found = probes.route_probes(url, routes, stale)
    found += probes.endpoint_probes(url, deps, creds)
    found += probes.role_probes(url, deps)
    found += probes.cross_site_probes(url, routes)
    found += probes.traversal_probes(url, project)
    seen = probes.summary(found)
    # the probes reached what they meant to: every kind, Gradio's API and the login routes
    assert set(seen["by kind"]) == {"route", "endpoint", "role", "cross-site", "traversal"}
    assert seen["routes probed"] >= 60 and seen["by kind"]["traversal"]["probes"] >= 40
    assert {"/config", "/gradio_api/queue/join", "/session"} <= {p.target for p in found}
    assert seen["accepted probes"] == []


def test_a_probe_counts_an_answer_as_accepted_and_a_refusal_as_refused():
    assert probes.accepted(200) and probes.accepted(422) and probes.accepted(500)
    assert probes.accepted(303, "/") and not probes.accepted(303, "/login")
    assert not any(probes.accepted(s) for s in (400, 401, 403, 404, 405, 413))
