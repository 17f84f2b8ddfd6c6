"""Access probes against a served console, shared by
tests/console/test_console_endpoints.py, tests/console/test_access_probes.py and the
reliability benchmark (benchmarks/reliability/access.py).

Each probe is one request that must be refused, and says whether it was:

- **route**: every route of the app (walked from the app itself, so a new one is probed
  without being listed) with no session, a forged cookie, a logged-out, an expired and an
  idle session; only the sign-in routes (``labelloop.ui.security.PUBLIC``) and the JSON
  API's OpenAPI document (``labelloop.ui.api.app.PUBLIC``) may answer;
- **endpoint**: every Gradio event, joined through the queue, with the same cookies;
- **role**: every admin-only event, called by a signed-in reviewer;
- **cross-site**: every state-changing route, by a signed-in admin, from another origin;
- **traversal**: file routes asked, by a signed-in admin, for files outside what they serve
  (dot segments raw and encoded, absolute paths, the project's own files, other hosts);
- **throttle**: wrong passwords for one account, each from a new ``X-Forwarded-For``,
  beyond the account's limit of failed sign-ins.

A request is taken as accepted when it was answered (2xx), redirected anywhere but the
sign-in form, reached the handler's own validation (422) or failed inside it (5xx).
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from starlette.routing import Mount

from labelloop.review.auth import SESSION_COOKIE, SessionPolicy, start_session
from labelloop.store.db import sqlite_path
from labelloop.ui.api.app import PUBLIC as API_PUBLIC
from labelloop.ui.security import PUBLIC
from tests.support.console import PASSWORD

ADMIN_ONLY = {
    "bulk_preview",
    "bulk_confirm",
    "bulk_drop",
    "bulk_undo_last",
    "adj_list",
    "adj_open",
    "adj_decide",
    "adj_list_1",
    "adj_list_2",
    "dashboard",
    "dashboard_1",
}
ADMIN_ONLY |= {"export_file", "set_blind", "adj_edit"}
ADMIN_ONLY |= {"hooks_list", "hook_add", "hook_remove"}
SIGNED_IN = {"review_command", "review_load", "browse_page", "browse_page_1", "browse_page_2"}
SIGNED_IN |= {"browse_page_3"}
SIGNED_IN |= {"item_open", "item_change", "item_edit"}
# Enter in a browser filter's box (text, reviewer, confidences, dates) and in the id box
SIGNED_IN |= {f"browse_page_{k}" for k in range(4, 10)} | {"item_open_1"}
#: plausible arguments, so that a refusal is the role check and not a malformed call
ARGS = {
    "bulk_preview": ["", "", "", 0, 100, "", "", ""],
    "bulk_confirm": ["0123", None, "", "", "", 0, 100, "", "", ""],
    "adj_open": [None],
    "adj_edit": [None],
    "item_edit": ["ep0"],
    "adj_decide": [None, None, "refund", "ok"],
    "export_file": ["jsonl"],
    "set_blind": ["rita", True],
    "hook_add": ["https://hooks.example.com/x", ["item.decided"], ""],
    "hook_remove": ["1"],
}
#: the accounts a probed project needs (all with ``PASSWORD``): ``tess`` is the one the
#: throttle probe locks out
ACCOUNTS = [("rita", "reviewer"), ("ada", "admin"), ("tess", "reviewer")]

#: values for path parameters, and bodies for POST routes, so that a route that does not
#: check the session answers as it would to a real client
PATH_VALUES = {
    "size": "192",
    "id": "0",
    "environment": "client",
    "type": "index",
    "file_name": "index.js",
    "url_path": "http://127.0.0.1/",
    "path_or_url": "labelloop.toml",
    "event_id": "0123456789abcdef",
    "session_hash": "probe",
    "run": "0",
    "component_id": "1",
    "segment_id": "0",
    "ext": "ts",
    "api_name": "review_load",
    "key": "x",
    "path": "index.js",
}
BODIES = {
    "/gradio_api/reset": {"event_id": "0123456789abcdef"},
    "/gradio_api/cancel": {"session_hash": "probe", "fn_index": 0, "event_id": "0123"},
    "/gradio_api/stream/{event_id}": {"data": [], "fn_index": 0, "session_hash": "probe"},
    "/gradio_api/queue/join": {"data": [], "fn_index": 0, "session_hash": "probe"},
    "/gradio_api/component_server": {
        "session_hash": "probe",
        "component_id": 1,
        "fn_name": "x",
        "data": None,
    },
    "/gradio_api/vibe-edit": {"prompt": "x"},
    "/gradio_api/vibe-code": {"code": "x"},
    "/gradio_api/vibe-starter-queries": {},
    "/gradio_api/undo-vibe-edit": {"hash": "x"},
}
FORM_ROUTES = {"/login", "/login/"}
EVIL_ORIGINS = ("https://evil.example", "null")
#: requests that stream until the client goes (answered as soon as headers come)
TIMEOUT = 20


@dataclass
class Probe:
    """One request that must be refused."""

    kind: str
    who: str
    method: str
    target: str
    status: int | None
    accepted: bool
    note: str = ""


def accepted(status: int, location: str = "") -> bool:
    """Whether a response means the request got past the checks (see the module docstring)."""
    if 300 <= status < 400:
        return not urlsplit(location).path.startswith("/login")
    return status < 300 or status == 422 or status >= 500


# --- signing in and calling events ---------------------------------------------------------


@contextmanager
def signed_in(url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        r = client.post("/login", data={"username": name, "password": PASSWORD})
        assert r.status_code == 303 and SESSION_COOKIE in client.cookies, r.status_code
        yield client


def dependencies(url: str) -> dict[str, dict]:
    """The console's events by api_name, read from its config as an admin."""
    with signed_in(url, "ada") as admin:
        config = admin.get("/config").json()
    return {d["api_name"]: d for d in config["dependencies"] if d["backend_fn"]}


def call(client: httpx.Client, dep: dict, data: list | None = None) -> dict:
    """Run one event through Gradio's queue as the page does (with ``data``, else plausible
    arguments); the final message."""
    session = uuid.uuid4().hex
    data = data if data is not None else ARGS.get(dep["api_name"].removesuffix("_1"))
    body = {
        "data": data if data is not None else [None] * len(dep["inputs"]),
        "fn_index": dep["id"],
        "session_hash": session,
        "event_data": None,
        "trigger_id": dep["targets"][0][0] if dep["targets"] else None,
    }
    join = client.post("/gradio_api/queue/join", json=body)
    assert join.status_code == 200, join.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session}) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                msg = json.loads(line[5:])
                if msg.get("msg") == "process_completed":
                    return msg
    raise AssertionError(f"no answer for {dep['api_name']}")


# --- what there is to probe ----------------------------------------------------------------


def app_routes(app) -> list[tuple[str, str]]:
    """(method, path template) of every route of an ASGI app, through mounts and routers."""
    return sorted(set(_routes(app.routes)))


def _routes(routes, prefix: str = "") -> Iterator[tuple[str, str]]:
    for route in routes:
        if hasattr(route, "effective_route_contexts"):  # a router included in FastAPI's
            yield from _routes(route.effective_route_contexts(), prefix)
        elif isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is None:  # static files and the like: anything under the mount
                yield "GET", f"{prefix}{route.path}/{{path}}"
            else:
                yield from _routes(inner, prefix + route.path)
        else:
            for method in sorted(route.methods or ("GET",)):
                yield method, prefix + route.path


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def cookies(project, url: str) -> dict[str, str | None]:
    """The session cookies to try, by what they are: none, forged, logged out, expired, idle
    (the last two an admin's)."""
    store, policy = project.store, SessionPolicy.from_config(project.config.review)
    now = datetime.now(UTC)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        client.post("/login", data={"username": "rita", "password": PASSWORD})
        logged_out = client.cookies[SESSION_COOKIE]
        client.get("/logout")
    old = now - policy.max_age - timedelta(minutes=1)
    idle = now - policy.idle - timedelta(minutes=1)
    return {
        "no session": None,
        "forged cookie": uuid.uuid4().hex,
        "logged out": logged_out,
        "expired session": start_session(store, "ada", policy, now=old),
        "idle session": start_session(store, "ada", policy, now=idle),
    }


# --- the probes ----------------------------------------------------------------------------


def _send(
    client: httpx.Client, method: str, route: str, cookie: str | None, origin: str | None = None
) -> tuple[int | None, str]:
    """One request to ``route`` (its pattern) with a plausible body; (status, location)."""
    headers = {"accept": "application/json"}
    if cookie is not None:
        headers["cookie"] = f"{SESSION_COOKIE}={cookie}"
    if origin is not None:
        headers["origin"] = origin
    extra: dict = {}
    if method == "POST" and route in FORM_ROUTES:
        extra["data"] = {"username": "nobody", "password": "not-a-password"}
    elif method == "POST":
        extra["json"] = BODIES.get(route.rstrip("/"), {})
    try:
        with client.stream(method, concrete(route), headers=headers, **extra) as r:
            return r.status_code, r.headers.get("location", "")
    except httpx.TimeoutException:
        return None, "timed out"


def route_probes(url: str, routes, creds: dict[str, str | None]) -> list[Probe]:
    probes = []
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        for method, path in routes:
            if (method, path) in PUBLIC or (method, path) in API_PUBLIC:
                continue
            for who, cookie in creds.items():
                status, where = _send(client, method, path, cookie)
                ok = status is None or accepted(status, where)
                probes.append(Probe("route", who, method, path, status, ok, where))
    return probes


def endpoint_probes(url: str, deps: dict[str, dict], creds: dict[str, str | None]) -> list:
    probes = []
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        for name, dep in sorted(deps.items()):
            body = {"data": [], "fn_index": dep["id"], "session_hash": "probe", "trigger_id": None}
            for who, cookie in creds.items():
                headers = {"cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
                r = client.post("/gradio_api/queue/join", json=body, headers=headers)
                probes.append(
                    Probe("endpoint", who, "POST", name, r.status_code, accepted(r.status_code))
                )
    return probes


def role_probes(url: str, deps: dict[str, dict]) -> list[Probe]:
    probes = []
    with signed_in(url, "rita") as reviewer:
        for name in sorted(ADMIN_ONLY & set(deps)):
            answer = call(reviewer, deps[name])
            refused = answer["success"] is False and "needs an admin account" in json.dumps(
                answer["output"]
            )
            probes.append(Probe("role", "reviewer", "POST", name, 200, not refused))
    return probes


def cross_site_probes(url: str, routes) -> list[Probe]:
    probes = []
    writes = [(m, p) for m, p in routes if m in ("POST", "PUT", "PATCH", "DELETE")]
    with signed_in(url, "ada") as admin:
        cookie = admin.cookies[SESSION_COOKIE]
        for method, path in writes:
            for origin in EVIL_ORIGINS:
                status, _ = _send(admin, method, path, cookie, origin)
                ok = status is None or status != 403
                probes.append(Probe("cross-site", f"admin from {origin}", method, path, status, ok))
    return probes


def traversal_targets(project) -> list[tuple[str, str]]:
    """(raw path, what in the answer would show the file was served)."""
    root = project.root.resolve()
    secrets = [(str(root / "labelloop.toml"), "project_id"), ("/etc/passwd", "root:")]
    db = sqlite_path(project.database_url)
    if db is not None and db.exists():
        secrets.append((str(db.resolve()), "SQLite format 3"))
    up = "../" * 12
    enc = "..%2f" * 12
    dots = "%2e%2e/" * 12
    targets = []
    for path, mark in secrets:
        rel = path.lstrip("/")
        for route in ("/gradio_api/file=", "/gradio_api/file/"):
            targets += [(route + path, mark), (route + up + rel, mark), (route + enc + rel, mark)]
        for route in ("/static/", "/assets/", "/svelte/", "/ll-static/"):
            targets += [(route + up + rel, mark), (route + dots + rel, mark)]
    targets.append(("/gradio_api/file=ui/server.py", "SecurityMiddleware"))
    targets.append(("/gradio_api/file=pyproject.toml", "[project]"))
    for far in ("http://evil.example/x", "file:///etc/passwd", "http://127.0.0.1:9/"):
        targets += [("/gradio_api/proxy=" + far, ""), ("/gradio_api/file=" + far, "")]
    return targets


def traversal_probes(url: str, project) -> list[Probe]:
    """Raw paths (no client normalises the dot segments away), as a signed-in admin: served
    when the answer holds the file's mark, or for another host, when it was fetched."""
    parts = urlsplit(url)
    with signed_in(url, "ada") as admin:
        cookie = admin.cookies[SESSION_COOKIE]
    probes = []
    for path, mark in traversal_targets(project):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
        try:
            conn.request("GET", path, headers={"cookie": f"{SESSION_COOKIE}={cookie}"})
            r = conn.getresponse()
            body = r.read(1 << 20).decode("utf-8", "replace")
            status = r.status
        finally:
            conn.close()
        served = mark in body if mark else status < 300 or status >= 500
        probes.append(Probe("traversal", "admin", "GET", path, status, served))
    return probes


def throttle_probes(url: str, project, tries: int = 20) -> list[Probe]:
    """Wrong passwords for ``tess``, each with a new forwarded address: the ones evaluated
    (401) beyond the account's limit were accepted."""
    limit = project.config.review.login_failures_per_account
    probes = []
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        for n in range(tries):
            headers = {"x-forwarded-for": f"198.51.100.{n + 1}", "x-real-ip": f"198.51.100.{n + 1}"}
            form = {"username": "tess", "password": f"wrong-password-{n}"}
            r = client.post("/login", data=form, headers=headers)
            evaluated = r.status_code == 401
            probes.append(
                Probe(
                    "throttle",
                    f"198.51.100.{n + 1}",
                    "POST",
                    "/login",
                    r.status_code,
                    evaluated and n >= limit,
                )
            )
    return probes


def probe_console(project, url: str, app) -> list[Probe]:
    """Every probe against the console of ``project`` served at ``url`` (``app`` its ASGI
    app, for the routes); the project needs ``ACCOUNTS``."""
    routes = app_routes(app)
    deps = dependencies(url)
    creds = cookies(project, url)
    probes = route_probes(url, routes, creds)
    probes += endpoint_probes(url, deps, creds)
    probes += role_probes(url, deps)
    probes += cross_site_probes(url, routes)
    probes += traversal_probes(url, project)
    probes += throttle_probes(url, project)
    return probes


def summary(probes: list[Probe]) -> dict:
    """Counts by kind, and every accepted probe."""
    kinds: dict[str, dict[str, int]] = {}
    for p in probes:
        k = kinds.setdefault(p.kind, {"probes": 0, "accepted": 0})
        k["probes"] += 1
        k["accepted"] += p.accepted
    return {
        "probes": len(probes),
        "accepted": sum(p.accepted for p in probes),
        "routes probed": len({(p.method, p.target) for p in probes if p.kind == "route"}),
        "by kind": kinds,
        "accepted probes": [asdict(p) for p in probes if p.accepted],
    }


@contextmanager
def served_app(project) -> Iterator[tuple[str, object]]:
    """The console for ``project`` on a free port: its base URL and its ASGI app."""
    from labelloop.ui.server import serve
    from tests.support.console import free_port

    server = serve(project, "127.0.0.1", free_port(), block=False)
    try:
        yield server.url.rstrip("/"), server.server.config.app
    finally:
        server.close()
