"""The console's web server: sign-in, sessions, security headers, the Gradio app, and the
JSON API under ``/api/v1`` (``labelloop.ui.api``).

The Gradio Blocks are mounted in a FastAPI app whose ``auth_dependency`` maps the
session cookie (or a trusted proxy's header) to an account; in front of both, the security
middleware refuses every request without one but the sign-in form's (``labelloop.ui.security``).
Handlers check the account again themselves (``labelloop.ui.guard``), because a role is a property
of the account, not of the page a user saw. Which client a request comes from, and which
peer connected, is ``labelloop.ui.proxy``'s to say.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

# The console must not phone home (analytics, version checks) from a reviewer's network.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse  # noqa: E402
from starlette.concurrency import run_in_threadpool  # noqa: E402

from labelloop.core.errors import LabelloopError  # noqa: E402
from labelloop.hooks.delivery import Dispatcher  # noqa: E402
from labelloop.review.auth import (  # noqa: E402
    SESSION_COOKIE,
    SessionPolicy,
    authenticate,
    end_session,
    session_user,
    start_session,
)
from labelloop.ui import pages  # noqa: E402
from labelloop.ui.api.app import PREFIX as API_PREFIX  # noqa: E402
from labelloop.ui.api.app import create_api  # noqa: E402
from labelloop.ui.api.jobs import JobRunner  # noqa: E402
from labelloop.ui.files import ConsoleFiles, UploadGuard  # noqa: E402
from labelloop.ui.proxy import PEER, AddressList, ForwardedMiddleware  # noqa: E402
from labelloop.ui.security import SecurityMiddleware  # noqa: E402
from labelloop.ui.throttle import LoginThrottle  # noqa: E402

STATIC = Path(__file__).parent / "static"
#: concurrent event runs per handler: reviewers must not queue behind each other
CONCURRENCY = 32
log = logging.getLogger(__name__)


class Accounts:
    """Who is behind a request: a live session cookie, or a trusted proxy's header."""

    def __init__(self, project):
        self.store = project.store
        review = project.config.review
        self.policy = SessionPolicy.from_config(review)
        self.proxy_header = (review.proxy_auth_header or "").lower() or None
        self.proxy_from = AddressList(review.proxy_auth_from)

    def user(self, request):
        """The enabled account behind ``request`` (FastAPI or Starlette), else None."""
        if self.proxy_header is not None:
            named = request.headers.get(self.proxy_header)
            if named and peer(request) in self.proxy_from:
                user = self.store.get_user(named)
                return user if user is not None and not user.disabled else None
        return session_user(self.store, request.cookies.get(SESSION_COOKIE), self.policy)

    def name(self, request) -> str | None:
        """Gradio's ``auth_dependency``: the user name, or None for a 401."""
        user = self.user(request)
        return user.name if user is not None else None


def peer(request) -> str | None:
    """The address that connected (a proxy, for a proxied request), not the client it names."""
    if PEER in request.scope:
        return request.scope[PEER]
    return request.client.host if request.client else None


def create_app(project, service=None, blocks: gr.Blocks | None = None) -> FastAPI:
    """The ASGI app: /login, /logout, the console's static script, and the Gradio Blocks."""
    from labelloop.review.service import ReviewService
    from labelloop.ui.app import build_app

    accounts = Accounts(project)
    service = service or ReviewService(project)
    review = project.config.review
    files = ConsoleFiles(review.export_retention_minutes)
    lifespan = partial(_lifespan, files=files, project=project)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    _add_login_routes(app, project, accounts, service)
    app.mount(API_PREFIX, create_api(project, service))  # before the Gradio app, which takes "/"

    @app.get("/session", include_in_schema=False)
    def session(request: Request) -> JSONResponse:
        user = accounts.user(request)
        if user is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        return JSONResponse({"user": user.name, "role": user.role})

    @app.get("/ll-static/console.js", include_in_schema=False)
    def console_js() -> FileResponse:
        return FileResponse(STATIC / "console.js", media_type="text/javascript")

    limit = review.max_request_kb * 1024
    app.add_middleware(UploadGuard, allowed=review.max_upload_kb > 0)
    app.add_middleware(
        SecurityMiddleware,
        max_body=limit,
        signed_in=accounts.name,
        api_prefix=API_PREFIX,
        api_max_body=review.api_max_request_kb * 1024,
    )
    # outermost: every layer inside sees the client, and SSO the peer, as labelloop.ui.proxy says
    app.add_middleware(ForwardedMiddleware, trusted=review.trusted_proxies)
    with files.as_gradio_cache():  # Gradio's copies and uploads go to the private folder
        blocks = blocks or build_app(project, accounts, service, files)
        return _mount(app, blocks, accounts, min(review.max_upload_kb * 1024, limit))


@asynccontextmanager
async def _lifespan(app: FastAPI, files: ConsoleFiles, project) -> AsyncIterator[None]:
    """While the console serves: its private files swept, webhook events delivered
    (``labelloop.hooks``), and on a SQLite store the jobs the API queues run in this process
    (on PostgreSQL, ``labelloop worker`` runs them)."""
    runner = JobRunner(project) if project.store.dialect == "sqlite" else None
    dispatcher = Dispatcher(project)
    async with files.lifespan(app):
        await run_in_threadpool(dispatcher.start)
        if runner is not None:
            await run_in_threadpool(runner.start)
        try:
            yield
        finally:
            if runner is not None:
                await run_in_threadpool(runner.stop)
            await run_in_threadpool(dispatcher.stop)


def _mount(app: FastAPI, blocks: gr.Blocks, accounts: Accounts, max_file_size: int) -> FastAPI:
    from labelloop.ui.app import CSS

    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth_dependency=accounts.name,
        footer_links=[],
        run_history=False,
        show_error=False,  # an unexpected exception's text (SQL, paths) reaches the log only
        max_file_size=max_file_size,
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        css=CSS,
        head='<script src="/ll-static/console.js" defer></script>',
        theme=gr.themes.Default(font=gr.themes.Font("system-ui"), font_mono="monospace"),
    )


def _add_login_routes(app: FastAPI, project, accounts: Accounts, service) -> None:
    task = project.guideline().task
    throttle = LoginThrottle.from_config(project.config.review)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request, expired: int = 0) -> HTMLResponse:
        if accounts.user(request) is not None:
            return RedirectResponse("/", status_code=303)
        note = "Your session expired: sign in again." if expired else ""
        return HTMLResponse(pages.login_html(task, note=note))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request):
        form = await request.form()
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        address = request.client.host if request.client else "unknown"  # see labelloop.ui.proxy
        wait = throttle.wait(name, address)
        if wait:
            error = f"Too many failed sign-ins: try again in {math.ceil(wait / 60)} min."
            page = pages.login_html(task, error=error, name=name)
            return HTMLResponse(page, status_code=429, headers={"Retry-After": str(wait)})
        user = None
        if name and password:  # the password hash check takes tens of ms: off the event loop
            user = await run_in_threadpool(authenticate, project.store, name, password)
        if user is None:
            throttle.failed(name, address)
            # what was typed as a name is often a password: only an account's name is logged
            known = name and await run_in_threadpool(project.store.get_user, name)
            who = f"account {name!r}" if known else "an unknown account name"
            log.warning("failed sign-in for %s from %s", who, address)
            page = pages.login_html(task, error="Wrong user name or password.", name=name)
            return HTMLResponse(page, status_code=401)
        throttle.succeeded(name, address)
        token = start_session(project.store, user.name, accounts.policy)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(accounts.policy.max_age.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.api_route("/logout", methods=["GET", "POST"], include_in_schema=False)
    def logout(request: Request) -> RedirectResponse:
        user = accounts.user(request)
        if user is not None:
            service.release(user.name)  # the items go back to the other reviewers now
        end_session(project.store, request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response


class Server:
    """A running console (uvicorn in a thread) for ``block=False`` callers such as tests."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, url: str):
        self.server, self.thread, self.url = server, thread, url

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def check_servable(project, host: str, port: int) -> None:
    """Refuse, with the fix, a console that could not serve: no account to sign in with,
    or the address taken by another process."""
    if not project.store.list_users():
        raise LabelloopError(
            "No console accounts yet: add one with `labelloop users add NAME --role reviewer`"
        )
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise LabelloopError(
            f"Cannot serve on {host}:{port} ({exc.strerror or exc}): another process uses it; "
            "stop it or pick another with --port"
        ) from None


def serve(
    project,
    host: str = "127.0.0.1",
    port: int = 7860,
    open_browser: bool = False,
    *,
    block: bool = True,
) -> Server | None:
    """Serve the console on ``host:port``; with ``block=False`` return once it is up."""
    check_servable(project, host, port)
    app = create_app(project)
    # proxy headers are read by labelloop.ui.proxy, from [review] trusted_proxies only
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    url = f"http://{host}:{port}/"
    if open_browser:
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    if block:
        # what the process built to serve (Gradio's app and schemas, the routes) lives as
        # long as it does: frozen, the collector's full passes no longer walk it (~120 ms,
        # every dozen pushes of 1,000 items; benchmarks/bench_api.py)
        gc.collect()
        gc.freeze()
        server.run()
        return None
    thread = threading.Thread(target=server.run, daemon=True, name="labelloop-console")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise LabelloopError(f"The console did not start on {host}:{port}: is the port free?")
        time.sleep(0.02)
    return Server(server, thread, url)
