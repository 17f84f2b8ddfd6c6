"""Sending what is due: signed POSTs, tried again with backoff, from any process on the store.

A pass (``deliver_due``) records the ``item.decided`` events of new reviews
(``labelloop.hooks.sources``), then claims the deliveries that are due, sends them and logs
every attempt. A claim lasts a few times the timeout: a process killed while sending leaves a
claim that lapses, and another pass tries that delivery again (receivers drop a delivery id
they have seen). A 2xx answer delivers; 410 Gone disables the webhook; anything else (another
status, a redirect, which is never followed, a timeout, a target refused by
``labelloop.hooks.targets``, the secret's variable missing in this process) is tried again
``backoff_seconds`` later, the wait doubling each time with jitter, until ``max_attempts``
(``[webhooks]`` in labelloop.toml). The schedule is in the store: it survives restarts.

Deliveries run in the console process (``Dispatcher``, a background thread), in
``labelloop worker`` processes (the same thread), and in ``labelloop webhooks deliver``,
which sends what is due now and exits.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx

from labelloop.core.errors import LabelloopError
from labelloop.core.records import ClaimedDelivery, WebhookAttempt
from labelloop.core.types import utcnow
from labelloop.hooks import events
from labelloop.hooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign
from labelloop.hooks.sources import record_decisions
from labelloop.hooks.targets import TargetRefused, check_target
from labelloop.store.locks import holder_name
from labelloop.store.webhooks import DELIVERED, FAILED, PENDING

if TYPE_CHECKING:
    from labelloop.project import Project, WebhooksConfig

log = logging.getLogger(__name__)
#: its number is the version of the payloads' format
USER_AGENT = "labelloop-webhooks/1"
#: deliveries claimed (and sent side by side) at a time
PARALLEL = 8
#: a claim lasts this many times the timeout (connect, send and answer each get one), plus
#: ``CLAIM_MARGIN_S``
CLAIM_TIMEOUTS = 3
CLAIM_MARGIN_S = 30.0
#: the longest error text kept per attempt
MAX_ERROR = 500


@dataclass
class Pass:
    """What one pass did: events recorded, and attempts by outcome."""

    recorded: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.failed

    def add(self, outcome: str) -> None:
        """Count an attempt's outcome: ``delivered``, ``retrying`` or ``failed``."""
        setattr(self, outcome, getattr(self, outcome) + 1)


def deliver_due(
    project: Project,
    *,
    holder: str | None = None,
    client: httpx.Client | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    stop: threading.Event | None = None,
) -> Pass:
    """Record new events, then send every delivery due now (those that fail and are due
    again at once included), until none is left, ``deadline`` (``time.monotonic()``) has
    passed or ``stop`` is set. ``timeout``: at most this per attempt (else the config's)."""
    store, done = project.store, Pass()
    hooks = store.list_webhooks()
    if not any(h.live for h in hooks):
        return done
    try:
        done.recorded = record_decisions(project, hooks)
    except LabelloopError as exc:  # the guideline does not load now: the reviews wait for it
        log.warning("webhooks: decisions not turned into events yet: %s", exc)
    config = project.config.webhooks
    limit = min(config.timeout_seconds, timeout or config.timeout_seconds)
    holder = holder or holder_name()
    rng = random.Random()
    with (
        nullcontext(client) if client is not None else http_client(limit) as http,
        ThreadPoolExecutor(PARALLEL, thread_name_prefix="webhook") as pool,
    ):
        while not (stop is not None and stop.is_set()):
            if deadline is not None and time.monotonic() >= deadline:
                break
            now = utcnow()
            until = now + timedelta(seconds=CLAIM_TIMEOUTS * limit + CLAIM_MARGIN_S)
            claims = store.claim_deliveries(holder, now, until, PARALLEL)
            if not claims:
                break
            tried = pool.map(lambda c: attempt(c, http, project, holder), claims)
            for claim, one in zip(claims, tried, strict=True):
                done.add(settle(project, claim, one, rng))
    return done


def http_client(timeout: float) -> httpx.Client:
    """The client deliveries go through: no redirects followed, no proxy from the
    environment (the request goes to the address that was checked)."""
    return httpx.Client(
        timeout=timeout, follow_redirects=False, trust_env=False, headers={"User-Agent": USER_AGENT}
    )


def attempt(
    claim: ClaimedDelivery, http: httpx.Client, project: Project, holder: str
) -> WebhookAttempt:
    """Send a claimed delivery once; the attempt as the log keeps it."""
    at, started = utcnow(), time.monotonic()
    code, error = _send(claim, http, project.config.webhooks, project.config.project_id)
    return WebhookAttempt(
        delivery_id=claim.id,
        attempt=claim.attempt,
        at=at,
        duration_ms=int((time.monotonic() - started) * 1000),
        status_code=code,
        error=error[:MAX_ERROR] if error else None,
        holder=holder,
    )


def settle(project: Project, claim: ClaimedDelivery, tried: WebhookAttempt, rng) -> str:
    """Log the attempt and what follows from it: delivered, tried again later, or failed
    (given up, or the webhook disabled on 410 Gone); which of the three (``Pass.add``)."""
    store, config = project.store, project.config.webhooks
    code = tried.status_code
    if code is not None and 200 <= code < 300:
        store.finish_attempt(claim, tried, DELIVERED)
        return "delivered"
    if code == 410:
        why = f"the receiver answered 410 Gone on {tried.at:%Y-%m-%d %H:%M} UTC"
        store.finish_attempt(claim, tried, FAILED, disable=why)
        log.warning("webhook %s disabled: %s", claim.webhook.id, why)
        return "failed"
    if claim.attempt >= config.max_attempts:
        store.finish_attempt(claim, tried, FAILED)
        log.warning(
            "webhook %s: delivery %s given up after %d attempts (%s)",
            claim.webhook.id, claim.uid, claim.attempt, tried.error,
        )  # fmt: skip
        return "failed"
    wait = backoff(claim.attempt, config.backoff_seconds, rng)
    store.finish_attempt(claim, tried, PENDING, next_at=utcnow() + timedelta(seconds=wait))
    return "retrying"


def backoff(attempt: int, base: float, rng=random) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): ``base`` doubled each
    time, times a random factor from 0.8 to 1.2 so that receivers are not hit in step."""
    return base * 2 ** (attempt - 1) * rng.uniform(0.8, 1.2)


def _send(
    claim: ClaimedDelivery, http: httpx.Client, config: WebhooksConfig, project_id: str | None
) -> tuple[int | None, str | None]:
    """POST the event; the status code (None without an answer) and what went wrong."""
    hook = claim.webhook
    secret = os.environ.get(hook.secret_env)
    if not secret:
        return None, (
            f"{hook.secret_env} is not set in this process: set the webhook's secret in every "
            "process that delivers (the console, workers, `labelloop webhooks deliver`)"
        )
    try:
        target = check_target(hook.url, config.allow_private)
    except TargetRefused as exc:
        return None, str(exc)
    payload = events.body(events.envelope(claim.event, project_id))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Host": target.host_header,
        EVENT_HEADER: claim.event.kind,
        DELIVERY_HEADER: claim.uid,
        SIGNATURE_HEADER: sign(secret, payload),
    }
    url = httpx.URL(target.url).copy_with(host=target.address)  # the address checked
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        with http.stream(
            "POST", url, content=payload, headers=headers, extensions=extensions
        ) as response:  # the answer's body is never read
            code, moved = response.status_code, response.headers.get("location")
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if 200 <= code < 300:
        return code, None
    if 300 <= code < 400:
        return code, (
            f"redirected ({code}) to {moved or 'nowhere'}: redirects are not followed; "
            "register the final URL"
        )
    return code, f"the receiver answered {code}"


class Dispatcher:
    """Delivers in a background thread of this process, a pass every ``poll_s`` seconds
    (``[webhooks] poll_seconds``)::

        dispatcher = Dispatcher(project).start()
        ...
        dispatcher.stop()  # waits for the pass in flight

    or ``with Dispatcher(project): ...``. Any number of processes may run one on a store:
    each delivery is claimed by one of them at a time. A pass that fails (the store
    unreachable, ...) is logged and the next one runs as usual."""

    def __init__(self, project: Project, poll_s: float | None = None) -> None:
        self.project = project
        self.poll_s = poll_s if poll_s is not None else project.config.webhooks.poll_seconds
        self.holder = holder_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Dispatcher:
        """Start the thread (once; a running dispatcher is left as it is)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop after the attempts in flight; wait up to ``timeout`` seconds for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Dispatcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        with http_client(self.project.config.webhooks.timeout_seconds) as http:
            while not self._stop.is_set():
                try:
                    deliver_due(self.project, holder=self.holder, client=http, stop=self._stop)
                except Exception:  # the next pass tries again; nothing is lost in the store
                    log.exception("webhook delivery pass failed; next try in %.1f s", self.poll_s)
                self._stop.wait(self.poll_s)
