"""Every endpoint of the console over plain HTTP: none answers without a session, admin ones
refuse reviewers; and the sign-in, cookie, CSP, size and origin rules of the server."""

from __future__ import annotations

import json
import re

import httpx
import pytest
import sqlalchemy as sa

from labelloop.core.types import Route
from labelloop.review.auth import SESSION_COOKIE
from tests.support import console_probes as probes
from tests.support.console import PASSWORD, make_project, seed, served, texts
from tests.support.console import guideline_text as guideline
from tests.support.console_probes import ADMIN_ONLY, SIGNED_IN, call, signed_in


@pytest.fixture(scope="module")
def console_project(tmp_path_factory):
    users = [("rita", "reviewer"), ("ada", "admin")]
    project = make_project(tmp_path_factory.mktemp("ep"), guideline(("refund", "other")), users)
    seed(project, texts("ep", 3, route=Route.ACTIVE))
    yield project
    project.store.close()


@pytest.fixture(scope="module")
def console(console_project):
    with served(console_project) as url:
        yield url


@pytest.fixture(scope="module")
def routes(console_project) -> list[tuple[str, str]]:
    from labelloop.ui.server import create_app

    return probes.app_routes(create_app(console_project))


@pytest.fixture(scope="module")
def dependencies(console) -> dict[str, dict]:
    return probes.dependencies(console)


def test_every_endpoint_is_known_to_this_test(dependencies):
    # a new event must be classified in tests/support/console_probes.py, so that the checks cover it
    assert set(dependencies) == ADMIN_ONLY | SIGNED_IN


def test_no_endpoint_answers_without_a_session(console, dependencies):
    with httpx.Client(base_url=console, timeout=20) as anonymous:
        for name, dep in dependencies.items():
            body = {"data": [], "fn_index": dep["id"], "session_hash": "x", "trigger_id": None}
            r = anonymous.post("/gradio_api/queue/join", json=body)
            assert r.status_code == 401, name
        for path in (
            "/config",
            "/gradio_api/info",
            "/session",
            "/gradio_api/queue/data?session_hash=x",
        ):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/").status_code == 303  # the page itself: to the sign-in form
        anonymous.cookies.set(SESSION_COOKIE, "forged")
        assert anonymous.get("/config").status_code == 401


#: Gradio's routes that once answered without a session
ONCE_OPEN = {
    ("GET", "/openapi.json"),
    ("GET", "/manifest.json"),
    ("GET", "/gradio_api/app_id"),
    ("GET", "/gradio_api/startup-events"),
    ("GET", "/gradio_api/heartbeat/{session_hash}"),
    ("POST", "/gradio_api/cancel"),
    ("POST", "/gradio_api/reset"),
}


def test_every_route_of_the_app_refuses_a_request_without_a_live_session(console, routes):
    from labelloop.ui.api.app import PUBLIC as API_PUBLIC  # its routes want a token instead
    from labelloop.ui.security import PUBLIC

    assert len(routes) > 60 and ONCE_OPEN <= set(routes)  # Gradio's routes were walked
    assert PUBLIC <= set(routes)
    with signed_in(console, "rita") as ended:
        logged_out = ended.cookies[SESSION_COOKIE]
        ended.get("/logout")  # its cookie no longer opens anything
    for cookie in (None, "forged", logged_out):
        with httpx.Client(base_url=console, timeout=20) as client:
            if cookie:
                client.cookies.set(SESSION_COOKIE, cookie)
            for method, path in routes:
                if (method, path) in PUBLIC | API_PUBLIC:
                    continue
                url = re.sub(r"\{[^}]*\}", "x", path)
                request = client.build_request(method, url, json={} if method == "POST" else None)
                answer = client.send(request, stream=True)  # a heartbeat would never end
                answer.close()
                expected = 303 if (method, path) == ("GET", "/") else 401
                assert answer.status_code == expected, (method, path, cookie)
            # a page asked for by a browser goes to the sign-in form
            page = client.get("/gradio_api/info", headers={"accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"] == "/login"


def test_a_websocket_without_a_session_is_closed_before_it_opens():
    import asyncio

    from labelloop.ui.security import SecurityMiddleware

    async def app(scope, receive, send):
        raise AssertionError("reached the app")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    middleware = SecurityMiddleware(app, max_body=1024, signed_in=lambda _: None)
    scope = {"type": "websocket", "path": "/gradio_api/x", "headers": [], "client": ("1.2.3.4", 1)}
    asyncio.run(middleware(scope, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_admin_endpoints_refuse_a_reviewer_and_serve_an_admin(console, dependencies):
    with signed_in(console, "rita") as reviewer, signed_in(console, "ada") as admin:
        for name in sorted(ADMIN_ONLY):
            refused = call(reviewer, dependencies[name])
            assert refused["success"] is False, name
            assert "needs an admin account" in json.dumps(refused["output"]), name
        for name in ("dashboard", "adj_list", "export_file"):
            assert call(admin, dependencies[name])["success"] is True, name
        loaded = call(reviewer, dependencies["review_load"])
        assert loaded["success"] is True and 'data-item="ep0' in loaded["output"]["data"][0]


def test_sign_in_sets_a_strict_httponly_cookie_and_logout_ends_it(console):
    with httpx.Client(base_url=console, timeout=20) as client:
        r = client.post("/login", data={"username": "rita", "password": PASSWORD})
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert client.get("/session").json() == {"user": "rita", "role": "reviewer"}
        client.get("/logout")
        assert client.get("/session").status_code == 401
        bad = client.post("/login", data={"username": "rita", "password": "wrong-password"})
        assert bad.status_code == 401 and SESSION_COOKIE not in client.cookies


def test_pages_carry_a_csp_and_requests_are_size_and_origin_checked(console):
    with signed_in(console, "rita") as client:
        page = client.get("/", headers={"accept": "text/html"})
        policy = page.headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in policy and "unsafe-eval" not in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1]
        assert "img-src 'self' data: blob:" in policy and "connect-src 'self'" in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert "content-security-policy" in client.get("/login").headers
        big = client.post("/gradio_api/queue/join", content=b"x" * (2 * 1024 * 1024))
        assert big.status_code == 413
        other = client.post(
            "/gradio_api/queue/join", json={}, headers={"origin": "https://evil.example"}
        )
        assert other.status_code == 403


def test_a_proxy_header_is_trusted_only_when_configured_and_from_the_proxy(tmp_path):
    from starlette.requests import Request

    from labelloop.ui.server import Accounts

    def request(client: str, user: str | None) -> Request:
        headers = [(b"x-forwarded-user", user.encode())] if user else []
        scope = {"type": "http", "headers": headers, "client": (client, 5000), "path": "/"}
        return Request(scope)

    users = [("rita", "reviewer")]
    plain = make_project(tmp_path / "plain", guideline(("a", "b")), users)
    assert Accounts(plain).user(request("127.0.0.1", "rita")) is None
    proxied = make_project(
        tmp_path / "sso", guideline(("a", "b")), users, proxy_auth_header="X-Forwarded-User"
    )
    accounts = Accounts(proxied)
    assert accounts.user(request("127.0.0.1", "rita")).name == "rita"
    assert accounts.user(request("10.0.0.9", "rita")) is None  # not the proxy
    assert accounts.user(request("127.0.0.1", "mallory")) is None  # no such account


def test_failed_sign_ins_are_throttled_per_account_and_per_address(tmp_path, caplog):
    users = [("rita", "reviewer"), ("ada", "admin"), ("cy", "reviewer"), ("bo", "reviewer")]
    limits = {"login_failures_per_account": 3, "login_failures_per_address": 5}
    project = make_project(tmp_path, guideline(("refund", "other")), users, **limits)
    try:
        with served(project) as url, httpx.Client(base_url=url, timeout=20) as client:

            def sign_in(name: str, password: str) -> httpx.Response:
                return client.post("/login", data={"username": name, "password": password})

            assert [sign_in("rita", "guess-number-1").status_code for _ in range(3)] == [401] * 3
            refused = sign_in("rita", PASSWORD)  # the right password, but too late
            assert refused.status_code == 429 and SESSION_COOKIE not in client.cookies
            assert 0 < int(refused.headers["retry-after"]) <= 15 * 60
            assert "Too many failed sign-ins" in refused.text
            # another account from the same address is not locked out by rita's failures
            assert sign_in("ada", PASSWORD).status_code == 303
            client.cookies.clear()
            # failures over any names count against the address, refusals do not: 3 + 1 is
            # under its limit of 5, 3 + 2 reaches it
            assert sign_in("nobody", "x-password").status_code == 401
            assert sign_in("cy", PASSWORD).status_code == 303
            client.cookies.clear()
            assert sign_in("nobody", "x-password").status_code == 401
            assert sign_in("bo", PASSWORD).status_code == 429
            # ... but it does not refuse accounts that have signed in from the address
            assert sign_in("ada", PASSWORD).status_code == 303
        # what was typed as a name is logged only when it names an account (else it may
        # be a password typed in the wrong field)
        failures = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
        assert failures.count("failed sign-in for account 'rita' from 127.0.0.1") == 3
        assert failures.count("failed sign-in for an unknown account name from 127.0.0.1") == 2
        assert "nobody" not in caplog.text
    finally:
        project.store.close()


def test_a_success_clears_the_account_count():
    from labelloop.ui.throttle import LoginThrottle

    throttle = LoginThrottle(
        per_account=3, per_address=100, per_account_total=100, window_minutes=1
    )
    for _ in range(2):
        throttle.failed("Rita", "10.0.0.1")
    throttle.succeeded("rita", "10.0.0.1")
    for _ in range(2):
        throttle.failed("rita", "10.0.0.1")
    assert throttle.wait("rita", "10.0.0.1") == 0
    throttle.failed("RITA", "10.0.0.1")  # names count case-insensitively
    assert 0 < throttle.wait("rita", "10.0.0.1") <= 60
    assert throttle.wait("rita", "10.0.0.2") == 0  # another address is not refused


def test_an_unknown_name_costs_the_same_password_check(tmp_path, monkeypatch):
    from labelloop.review import auth

    project = make_project(tmp_path, guideline(("a", "b")), [("rita", "reviewer")])
    checked: list[str] = []
    verify = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda h, p: checked.append(h) or verify(h, p))
    assert auth.authenticate(project.store, "nobody", PASSWORD) is None
    assert auth.authenticate(project.store, "rita", "wrong-password") is None
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)
    project.store.close()


def _locked(*_args, **_kwargs):
    raise sa.exc.OperationalError(
        "INSERT INTO reviews (item_id, reviewer) VALUES (?, ?)",
        ("ep-secret-id", "rita"),
        Exception("database is locked"),
    )


def test_a_store_failure_reaches_the_reviewer_without_its_sql(console, dependencies, monkeypatch):
    from labelloop.ui.handlers import Console

    for method in ("command", "dashboard", "browse"):
        monkeypatch.setattr(Console, method, _locked)
    with signed_in(console, "ada") as admin:
        for name in ("review_command", "dashboard", "browse_page"):
            failed = call(admin, dependencies[name])
            shown = json.dumps(failed["output"])
            assert failed["success"] is False, name
            for leak in ("INSERT", "ep-secret-id", "parameters", "locked"):
                assert leak not in shown, (name, shown)
        said = call(admin, dependencies["review_command"])["output"]["error"]
        assert said.startswith("The store did not answer")
