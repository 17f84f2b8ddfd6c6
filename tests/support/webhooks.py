"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that checks every
signature, answers with scripted statuses, and keeps what it was sent."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labelloop.core.types import Item, LabelValue, Suggestion
from labelloop.hooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, verify
from labelloop.project import Project, WebhooksConfig

SECRET = "test-webhook-secret-0123456789abcdef"
SECRET_ENV = "LABELLOOP_WEBHOOK_SECRET"


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    event: str
    delivery: str
    signed: bool
    payload: dict
    status: int


class Receiver:
    """``with Receiver() as r:`` serves on ``r.url``; ``r.script(delivery_or_event, [500,
    500, 200])`` answers a delivery (or every delivery of an event type) with those
    statuses in turn, then 200; ``delay`` seconds are spent on each request."""

    def __init__(self, secret: str = SECRET, delay: float = 0.0) -> None:
        self.secret = secret
        self.delay = delay
        self.received: list[Received] = []
        self._scripts: dict[str, deque[int]] = defaultdict(deque)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._take(self, body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, key: str, statuses: list[int]) -> None:
        with self._lock:
            self._scripts[key].extend(statuses)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _take(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.delay:
            time.sleep(self.delay)
        delivery = handler.headers.get(DELIVERY_HEADER, "")
        event = handler.headers.get(EVENT_HEADER, "")
        with self._lock:
            queued = self._scripts.get(delivery) or self._scripts.get(event)
            status = queued.popleft() if queued else 200
            self.received.append(
                Received(
                    path=handler.path,
                    event=event,
                    delivery=delivery,
                    signed=verify(self.secret, handler.headers.get(SIGNATURE_HEADER), body),
                    payload=json.loads(body),
                    status=status,
                )
            )
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def of(self, event: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event == event]


def allow_local(project: Project, **settings) -> None:
    """Let ``project`` send to 127.0.0.1 (test receivers), retrying at once by default."""
    project.config.webhooks = WebhooksConfig(
        allow_private=["127.0.0.1/32"], **{"backoff_seconds": 0.0, "timeout_seconds": 5, **settings}
    )


def calibration_ready(project: Project, n: int = 6) -> None:
    """Items with suggestions of the local model under the project's guideline version:
    ``labelloop calibrate`` runs on them (too few pairs to fit: nothing auto-accepted)."""
    from tests.conftest import add_items

    version = project.guideline().version
    items = [Item(id=f"c{k}", text=f"where is my new card {k}") for k in range(n)]
    add_items(project.store, items)
    project.store.add_suggestions(
        [
            Suggestion(
                item_id=i.id,
                model="local",
                value=LabelValue(label="card_arrival"),
                confidence=0.8,
                prompt_version="v1",
                guideline_version=version,
                signals={"prob": 0.8},
            )
            for i in items
        ]
    )
