"""Signing webhook requests, and checking a signature on the receiving side.

Every request carries ``X-Labelloop-Signature: t=<unix seconds>,v1=<hex>``: the
HMAC-SHA256, keyed with the webhook's secret, of the timestamp, a dot and the raw body
(``f"{t}.".encode() + body``). A receiver recomputes it over the body exactly as it arrived,
before parsing the JSON, and refuses a timestamp too far from its own clock, so that a
recorded request cannot be played again later::

    from labelloop.hooks.signing import verify

    body = request.body()  # bytes, as received
    header = request.headers.get("X-Labelloop-Signature", "")
    if not verify(os.environ["LABELLOOP_WEBHOOK_SECRET"], header, body):
        return Response(status_code=400)

The same request is sent again after a failure with a new timestamp and signature but the
same ``X-Labelloop-Delivery`` id: a receiver drops a delivery id it has seen. This module
needs nothing outside Python's standard library and can be copied into a receiver.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Labelloop-Signature"
EVENT_HEADER = "X-Labelloop-Event"
DELIVERY_HEADER = "X-Labelloop-Delivery"
#: how far (seconds) a signature's timestamp may be from the receiver's clock by default
TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``timestamp + "." + body`` keyed with ``secret``."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Labelloop-Signature`` value for ``body``: ``t=<timestamp>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str,
    header: str | None,
    body: bytes | str,
    tolerance_s: float = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (an ``X-Labelloop-Signature`` value) signs ``body`` with
    ``secret`` at a time within ``tolerance_s`` seconds of ``now`` (default: this clock).

    False for a missing or malformed header, another secret, a changed body or an old (or
    future) timestamp. Several ``v1=`` entries are allowed; one that matches is enough."""
    if not secret or not header:
        return False
    if isinstance(body, str):
        body = body.encode()
    timestamp, given = _parse(header)
    if timestamp is None or not given:
        return False
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, g) for g in given)


def fingerprint(secret: str) -> str:
    """A short, one-way mark of a secret, to show whether it changed (never the secret)."""
    return hashlib.sha256(b"labelloop webhook secret\0" + secret.encode()).hexdigest()[:8]


def _parse(header: str) -> tuple[int | None, list[str]]:
    """The timestamp and the ``v1`` signatures of a header; (None, []) when malformed."""
    timestamp: int | None = None
    given: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return None, []
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == "v1":
            given.append(value.strip().lower())
    return timestamp, given
