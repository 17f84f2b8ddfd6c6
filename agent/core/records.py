"""What the store hands out besides items, suggestions and reviews: plain frozen records,
read once from a row and never tied to a database session.

Field names are the columns' (``labelloop.store.tables``), so a record reads like the row
it came from; the store builds them (``labelloop.store.base.to_record``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labelloop.core.types import Route


@dataclass(frozen=True, slots=True)
class ItemRoute:
    """Where an item stands now, and what the item browser shows and filters on."""

    item_id: str
    route: Route
    reason: str = ""
    suggestion_id: int | None = None
    #: orders the active queue (lower first)
    priority: float = 0.0
    #: the final human label, else the routed suggestion's (short form)
    label: str | None = None
    #: the routed suggestion's calibrated, else own, confidence
    confidence: float | None = None
    updated_at: datetime | None = None
    #: a guideline with questions: the questions auto-accepted on this item (people answer
    #: only the others)
    accepted: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Account:
    """A console account."""

    name: str
    role: str
    password_hash: str = field(repr=False)
    disabled: bool = False
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class LoginSession:
    """A signed-in browser, keyed by a hash of its token."""

    token_hash: str = field(repr=False)
    username: str
    created_at: datetime
    seen_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LabelMapping:
    """A recorded rename, merge or split of labels and what it changed."""

    id: int
    kind: str
    mapping: dict[str, Any] | None
    targets: list[str] | None
    guideline_before: str = ""
    guideline_after: str = ""
    reviews_mapped: int = 0
    suggestions_mapped: int = 0
    items_reopened: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    """One look of the calibration loop as stored: its threshold, targets and metrics
    (``id`` None: not stored yet)."""

    model: str
    prompt_version: str = ""
    guideline_version: str = ""
    method: str = "threshold"
    threshold: float | None = None
    target_accuracy: float | None = None
    delta: float | None = None
    n_pairs: int = 0
    coverage: float | None = None
    params: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    created_at: datetime | None = None
    id: int | None = None
    #: a guideline with questions: the question calibrated (None: the item as a whole)
    question: str | None = None


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One request to a hosted model and its response (or failure), as logged."""

    id: int
    model: str
    cache_key: str
    item_id: str | None = None
    request: dict[str, Any] | None = field(default=None, repr=False)
    response: str | None = field(default=None, repr=False)
    status: str = "ok"
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float = 0.0
    latency_ms: int | None = None
    attempt: int = 1
    run_id: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One import of a file: where from, what it added."""

    id: int
    path: str
    format: str
    sha256: str
    reviewer: str | None = None
    rows: int = 0
    items_added: int = 0
    reviews_added: int = 0
    sample: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RunLock:
    """A long-running job's claim on its name (``label:MODEL``)."""

    name: str
    holder: str
    detail: str = ""
    started_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Worker:
    """A labeling process on a shared store, as ``labelloop workers`` shows it."""

    holder: str
    model: str
    crew: str
    command: str = "label"
    status: str = "running"
    started_at: datetime | None = None
    heartbeat_at: datetime | None = None
    expires_at: datetime | None = None
    finished_at: datetime | None = None
    claimed: int = 0
    labeled: int = 0
    in_flight: int = 0
    taken_over: int = 0
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    max_cost: float | None = None
    #: items it holds leases on now
    leases: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    """A label or calibrate job queued for ``labelloop worker`` processes."""

    id: int
    kind: str
    args: dict
    status: str = "queued"
    holder: str | None = None
    requested_by: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A file of requests handed to a provider's batch API, and where it stands."""

    id: str
    model: str
    api_base: str | None = None
    #: submitting | abandoned | the provider's status (validating, in_progress, finalizing,
    #: completed, failed, expired, cancelling, cancelled)
    status: str = "submitting"
    provider_batch_id: str | None = None
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    prompt_version: str = ""
    guideline_version: str = ""
    items: int = 0
    lines: int = 0
    request_counts: dict | None = None
    #: the few-shot examples its lines show, by item id: {id: {value, reviewer, review_id}}
    examples: dict | None = None
    estimate_usd: float = 0.0
    cost_usd: float = 0.0
    note: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    logged_at: datetime | None = None
    collected_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Not yet collected nor abandoned: its items wait for its answers."""
        return self.collected_at is None and self.status != "abandoned"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listings show it: never the token itself."""

    id: int
    user: str
    prefix: str
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Webhook:
    """A receiver of events, as ``labelloop webhooks list`` shows it: never its secret."""

    id: int
    url: str
    events: tuple[str, ...]
    secret_env: str
    secret_fingerprint: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_reason: str | None = None
    removed_at: datetime | None = None

    @property
    def live(self) -> bool:
        """Neither removed nor disabled: events are sent to it."""
        return self.removed_at is None and self.disabled_at is None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A fact webhooks are told about (``key`` names it once: ``review:42``)."""

    id: int
    uid: str
    kind: str
    key: str
    data: dict[str, Any]
    occurred_at: datetime
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One try at a delivery: the receiver's status code, or why there was none."""

    delivery_id: int
    attempt: int
    at: datetime
    duration_ms: int | None = None
    status_code: int | None = None
    error: str | None = None
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One event to one webhook, with its attempts (oldest first), for the delivery log."""

    id: int
    uid: str
    webhook_id: int
    event_uid: str
    kind: str
    #: pending | delivered | failed | cancelled
    status: str
    attempts: int
    next_attempt_at: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    log: tuple[WebhookAttempt, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this process holds until ``until`` and sends now: its ``attempt``-th try."""

    id: int
    uid: str
    attempt: int
    until: datetime
    webhook: Webhook
    event: WebhookEvent
