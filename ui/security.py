"""Security middleware for the console: body size limit, same-origin writes, CSP.

One ASGI middleware in front of everything (the sign-in routes and the Gradio app):

- request bodies over ``max_body`` bytes are refused with 413, whether announced in
  Content-Length or streamed;
- a state-changing request whose ``Origin`` is another site is refused with 403 (the
  SameSite=Strict cookie already keeps it unauthenticated; this keeps it out entirely);
- nothing answers without a session (a live cookie or a trusted proxy's header) but the
  sign-in form, sign-out and the favicon (``PUBLIC``): every Gradio route, Gradio's and
  FastAPI's API documents and whatever route a later Gradio adds are refused with 401, and a
  page asked for without one goes to the sign-in form;
- the JSON API (``api_prefix``) authenticates each request itself, with a bearer token and
  no cookie: it is let through without a session, with its own body limit (``api_max_body``);
- every response gets a Content-Security-Policy. Gradio's page carries inline bootstrap
  scripts, so HTML pages are allowed exactly their own inline scripts by hash: injected
  inline scripts and event-handler attributes (``onerror=``) do not run, and images,
  scripts, frames and connections may only come from the console itself.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: (method, path) answered without a session: the sign-in form needs nothing else
PUBLIC = frozenset(
    {
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/logout"),
        ("POST", "/logout"),
        ("GET", "/favicon.ico"),
    }
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.S | re.I)
_BASE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "font-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; "
    "object-src 'none'; frame-src 'none'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; worker-src 'self' blob:"
)
EXTRA_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}


def csp(script_hashes: list[str] | None = None) -> str:
    """The Content-Security-Policy, allowing the page's own inline scripts by hash."""
    allowed = " ".join(f"'sha256-{h}'" for h in script_hashes or [])
    # No 'unsafe-eval': the console shows its HTML through labelloop.ui.markup, which compiles
    # nothing.
    # Inline scripts and handler attributes stay blocked: only the hashed ones run.
    return f"{_BASE_POLICY}; script-src 'self' {allowed}".rstrip()


def inline_script_hashes(html: bytes) -> list[str]:
    """Base64 SHA-256 of each inline ``<script>`` body, as CSP ``'sha256-...'`` wants them."""
    return sorted(
        {
            base64.b64encode(hashlib.sha256(body).digest()).decode()
            for body in _INLINE_SCRIPT.findall(html)
        }
    )


class BodyTooLarge(Exception):
    pass


class SecurityMiddleware:
    """See the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        signed_in: Callable[[HTTPConnection], str | None],
        api_prefix: str | None = None,
        api_max_body: int | None = None,
    ):
        self.app = app
        self.max_body = max_body
        self.signed_in = signed_in
        self.api_prefix = api_prefix.rstrip("/") + "/" if api_prefix else None
        self.api_max_body = api_max_body or max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not await self._has_session(scope):
            return await send({"type": "websocket.close", "code": 1008})
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        api = self.api_prefix is not None and scope["path"].startswith(self.api_prefix)
        limit = self.api_max_body if api else self.max_body
        refusal = self._refusal(scope, headers, limit)
        if refusal is None and not api and (scope["method"], scope["path"]) not in PUBLIC:
            if not await self._has_session(scope):
                refusal = _sign_in_first(scope, headers)
        if refusal is not None:
            return await refusal(scope, receive, send)
        if api:  # JSON only: no page to hash scripts in
            return await self._guarded(scope, receive, _with_headers(send, csp()), limit)
        if _is_page_request(scope, headers):
            # pages are read uncompressed so that their inline scripts can be hashed
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"accept-encoding"]
            return await self._page(scope, receive, send)
        await self._guarded(scope, receive, _with_headers(send, csp()))

    def _refusal(self, scope: Scope, headers: Headers, limit: int):
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return PlainTextResponse("Request too large", status_code=413)
        if scope["method"] in UNSAFE_METHODS and not _same_origin(headers):
            return PlainTextResponse("Cross-site request refused", status_code=403)
        return None

    async def _has_session(self, scope: Scope) -> bool:
        # the session lookup reads the store: off the event loop
        return await run_in_threadpool(self.signed_in, HTTPConnection(scope)) is not None

    def _limited(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(f"request body over {limit} bytes")
            return message

        return limited

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            hashes = (
                inline_script_hashes(body) if "text/html" in headers.get("content-type", "") else []
            )
            _secure(headers, csp(hashes))
            headers["content-length"] = str(len(body))
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self._guarded(scope, receive, buffered)

    async def _guarded(
        self, scope: Scope, receive: Receive, send: Send, limit: int | None = None
    ) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._limited(receive, limit or self.max_body), sending)
        except BodyTooLarge:
            if not started:  # a streamed body that outgrew the limit
                await PlainTextResponse("Request too large", status_code=413)(scope, receive, send)


def _sign_in_first(scope: Scope, headers: Headers):
    if _is_page_request(scope, headers) or (scope["method"], scope["path"]) == ("GET", "/"):
        return RedirectResponse("/login", status_code=303)
    return JSONResponse({"detail": "Not signed in: sign in at /login"}, status_code=401)


def _is_page_request(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "GET" and "text/html" in headers.get("accept", "")


def _same_origin(headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:  # not sent by a browser's cross-site form or fetch
        return True
    return urlsplit(origin).netloc == headers.get("host")


def _secure(headers: MutableHeaders, policy: str) -> None:
    headers["content-security-policy"] = policy
    for key, value in EXTRA_HEADERS.items():
        headers[key] = value


def _with_headers(send: Send, policy: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            _secure(MutableHeaders(scope=message), policy)
        await send(message)

    return sending
