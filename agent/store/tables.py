"""SQLModel tables. Schema changes go through a numbered migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from labelloop.core.types import utcnow


def _json(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class ImportRow(SQLModel, table=True):
    __tablename__ = "imports"
    id: int | None = Field(default=None, primary_key=True)
    path: str
    format: str
    sha256: str
    reviewer: str | None = None
    rows: int = 0
    items_added: int = 0
    reviews_added: int = 0
    #: the rows are a uniform random sample of the stream, labeled blind: they may calibrate
    sample: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class GuidelineRow(SQLModel, table=True):
    __tablename__ = "guidelines"
    version: str = Field(primary_key=True)
    task: str
    path: str | None = None
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class ItemRow(SQLModel, table=True):
    __tablename__ = "items"
    id: str = Field(primary_key=True)
    kind: str = "text"  # text | conversation
    text: str | None = Field(default=None, sa_column=Column(Text))
    messages: list | None = _json()
    target_turn: int | None = None
    replies: list | None = _json()
    meta: dict | None = _json()
    content_hash: str
    import_id: int | None = Field(default=None, foreign_key="imports.id")
    line: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class SuggestionRow(SQLModel, table=True):
    __tablename__ = "suggestions"
    __table_args__ = (Index("ix_suggestions_item_model", "item_id", "model"),)
    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="items.id")
    model: str
    prompt_version: str = ""
    guideline_version: str = ""
    fewshot_ids: list | None = _json()
    cache_key: str = Field(default="", index=True)
    value: dict | None = _json()
    confidence: float | None = None
    calibrated: float | None = None
    rationale: str = Field(default="", sa_column=Column(Text, nullable=False))
    signals: dict | None = _json()
    status: str = "ok"  # ok | failed
    error: str | None = Field(default=None, sa_column=Column(Text))
    raw: str | None = Field(default=None, sa_column=Column(Text))
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class RouteRow(SQLModel, table=True):
    """An item's current route; ``priority`` orders the active queue (lower first)."""

    __tablename__ = "routes"
    __table_args__ = (
        Index("ix_routes_queue_order", "route", "priority", "item_id"),
        # the item browser lists matches in id order: these give them without a sort
        Index("ix_routes_route_item", "route", "item_id"),
        Index("ix_routes_label_item_conf", "label", "item_id", "confidence"),
    )
    item_id: str = Field(foreign_key="items.id", primary_key=True)
    route: str
    reason: str = ""
    suggestion_id: int | None = Field(default=None, foreign_key="suggestions.id")
    priority: float = 0.0
    #: for the item browser: the final human label, else the routed suggestion's (short form)
    label: str | None = None
    #: for the item browser: the routed suggestion's calibrated, else own, confidence
    confidence: float | None = None
    #: a guideline with questions: the questions auto-accepted on this item (sorted names);
    #: NULL for one-question guidelines and items with none accepted
    accepted: list | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )
    updated_at: datetime = Field(default_factory=utcnow)


class ReviewRow(SQLModel, table=True):
    """Append-only: a changed mind is a new row."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_item_reviewer", "item_id", "reviewer"),
        Index("ix_reviews_reviewer_id", "reviewer", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="items.id", index=True)
    reviewer: str = Field(index=True)
    action: str  # accept | fix | reject | skip | import | undo
    value: dict | None = _json()
    queue: str | None = None
    blind: bool = False
    suggestion_id: int | None = Field(default=None, foreign_key="suggestions.id")
    duration_ms: int | None = None
    reason: str | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    source: str = "console"  # console | import
    import_id: int | None = Field(default=None, foreign_key="imports.id")
    #: an ``undo`` row names the review it takes back
    supersedes: int | None = Field(default=None, index=True)
    #: made by an admin's bulk accept in the item browser
    bulk: bool = False
    #: the bulk accept (``bulk_actions.id``) this review belongs to
    bulk_id: int | None = Field(default=None, index=True)
    #: the item's route changed while it was leased to the reviewer: kept as a decision,
    #: never a calibration pair
    route_changed: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)


class BulkActionRow(SQLModel, table=True):
    """One bulk accept in the item browser: who, on what filters, how many, and its undo."""

    __tablename__ = "bulk_actions"
    id: int | None = Field(default=None, primary_key=True)
    admin: str
    action: str = "accept"
    filters: dict | None = _json()
    items: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    undone_at: datetime | None = None
    undone_by: str | None = None


class RunLockRow(SQLModel, table=True):
    """A long-running job's claim (``label:MODEL``), renewed while it works."""

    __tablename__ = "run_locks"
    name: str = Field(primary_key=True)
    holder: str
    detail: str = ""
    started_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class GoldRow(SQLModel, table=True):
    """An item with a known answer, mixed into reviewers' queues to measure their accuracy."""

    __tablename__ = "gold_labels"
    item_id: str = Field(foreign_key="items.id", primary_key=True)
    value: dict = Field(sa_column=Column(JSON, nullable=False))
    source: str = ""
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class UserRow(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    role: str  # reviewer | admin
    password_hash: str
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class LeaseRow(SQLModel, table=True):
    """A review-queue lease: the item is with ``reviewer`` until ``expires_at``."""

    __tablename__ = "leases"
    item_id: str = Field(foreign_key="items.id", primary_key=True)
    reviewer: str = Field(primary_key=True)
    queue: str
    leased_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    __table_args__ = (
        Index("ix_leases_reviewer", "reviewer", "leased_at"),
        # one reviewer at a time per item; gold items are given to everyone
        Index(
            "ux_leases_one_holder",
            "item_id",
            unique=True,
            sqlite_where=text("queue != 'gold'"),
            postgresql_where=text("queue != 'gold'"),
        ),
    )


class FewShotRow(SQLModel, table=True):
    __tablename__ = "fewshot_examples"
    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="items.id", index=True)
    review_id: int = Field(foreign_key="reviews.id")
    active: bool = True
    added_at: datetime = Field(default_factory=utcnow)


class EvalSetRow(SQLModel, table=True):
    """One version of a named eval set; a new version is a new row, never an edit."""

    __tablename__ = "eval_sets"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int = 1
    frozen: bool = True
    guideline_version: str = ""
    #: how it was drawn: size asked, stratify, seed, eligible items, label counts
    params: dict | None = _json()
    created_at: datetime = Field(default_factory=utcnow)


class EvalSetItemRow(SQLModel, table=True):
    __tablename__ = "eval_set_items"
    eval_set_id: int = Field(foreign_key="eval_sets.id", primary_key=True)
    item_id: str = Field(foreign_key="items.id", primary_key=True)
    #: the review whose label is gold (the latest one agreeing with the consensus)
    review_id: int | None = Field(default=None, foreign_key="reviews.id")
    #: the gold label value as it was when the set was frozen
    gold: dict | None = _json()


class EvalRunRow(SQLModel, table=True):
    """One model / prompt version / guideline version labeling one eval-set version."""

    __tablename__ = "eval_runs"
    id: int | None = Field(default=None, primary_key=True)
    eval_set_id: int = Field(foreign_key="eval_sets.id", index=True)
    model: str
    prompt_version: str = ""
    guideline_version: str = ""
    items: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    params: dict | None = _json()
    created_at: datetime = Field(default_factory=utcnow)


class EvalRunItemRow(SQLModel, table=True):
    __tablename__ = "eval_run_items"
    run_id: int = Field(foreign_key="eval_runs.id", primary_key=True)
    item_id: str = Field(foreign_key="items.id", primary_key=True)
    value: dict | None = _json()
    confidence: float | None = None
    status: str = "ok"  # ok | failed
    error: str | None = Field(default=None, sa_column=Column(Text))


class LabelMappingRow(SQLModel, table=True):
    """A rename, merge or split of labels: the guideline edit and what it was applied to."""

    __tablename__ = "label_mappings"
    id: int | None = Field(default=None, primary_key=True)
    kind: str  # rename | merge | split
    #: old label -> new label (rename, merge); for a split, old label -> null
    mapping: dict | None = _json()
    #: the labels a split label became
    targets: list | None = _json()
    guideline_before: str = ""
    guideline_after: str = ""
    reviews_mapped: int = 0
    suggestions_mapped: int = 0
    items_reopened: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class CalibrationRunRow(SQLModel, table=True):
    __tablename__ = "calibration_runs"
    id: int | None = Field(default=None, primary_key=True)
    model: str
    prompt_version: str = ""
    guideline_version: str = ""
    method: str = "threshold"
    threshold: float | None = None
    target_accuracy: float | None = None
    delta: float | None = None
    n_pairs: int = 0
    coverage: float | None = None
    #: a guideline with questions: the question this run calibrated (NULL: the item as a
    #: whole, every answer right)
    question: str | None = None
    params: dict | None = _json()
    metrics: dict | None = _json()
    created_at: datetime = Field(default_factory=utcnow)


class LLMCallRow(SQLModel, table=True):
    __tablename__ = "llm_calls"
    id: int | None = Field(default=None, primary_key=True)
    model: str
    cache_key: str = Field(default="", index=True)
    item_id: str | None = Field(default=None, index=True)
    request: dict | None = _json()
    response: str | None = Field(default=None, sa_column=Column(Text))
    status: str = "ok"
    error: str | None = Field(default=None, sa_column=Column(Text))
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float = 0.0
    latency_ms: int | None = None
    attempt: int = 1
    run_id: str | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class PromptPrefixRow(SQLModel, table=True):
    """A static prompt prefix stored once; logged requests refer to it by hash."""

    __tablename__ = "prompt_prefixes"
    hash: str = Field(primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class StateRow(SQLModel, table=True):
    """Small project-wide state (routing policy in force, audit alarm, ...)."""

    __tablename__ = "project_state"
    key: str = Field(primary_key=True)
    value: dict | None = _json()
    updated_at: datetime = Field(default_factory=utcnow)


class WorkerRow(SQLModel, table=True):
    """A labeling process on a shared store: what it labels, its heartbeat, its counts.

    Workers labeling one model at the same time form a ``crew`` (the first one's holder
    name): ``--max-cost`` is a budget for the crew's spend together."""

    __tablename__ = "label_workers"
    holder: str = Field(primary_key=True)
    model: str = Field(index=True)
    crew: str
    command: str = "label"
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    finished_at: datetime | None = None
    #: running | finished | stopped (its lease lapsed, or an error ended it)
    status: str = "running"
    claimed: int = 0
    labeled: int = 0
    in_flight: int = 0
    #: items it took over from a worker whose lease lapsed
    taken_over: int = 0
    spent_usd: float = 0.0
    #: what its calls in flight are expected to cost (a share of the crew's budget)
    reserved_usd: float = 0.0
    max_cost: float | None = None


class LabelLeaseRow(SQLModel, table=True):
    """An item claimed by a worker for one model, until ``expires_at`` (renewed while it
    works); released once its suggestion is stored."""

    __tablename__ = "label_leases"
    __table_args__ = (Index("ix_label_leases_holder", "holder"),)
    model: str = Field(primary_key=True)
    item_id: str = Field(primary_key=True)
    holder: str
    claimed_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class RateGrantRow(SQLModel, table=True):
    """Requests (and their tokens) granted to a worker under a shared rate limit, at the
    database's clock: the limit counts the grants in a sliding window."""

    __tablename__ = "rate_grants"
    __table_args__ = (Index("ix_rate_grants_bucket_at", "bucket", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    bucket: str
    at: datetime
    requests: int = 1
    tokens: int = 0


class JobRow(SQLModel, table=True):
    """A label or calibrate job queued for ``labelloop worker`` processes."""

    __tablename__ = "jobs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    args: dict | None = _json()
    #: queued | running | done | failed
    status: str = Field(default="queued", index=True)
    holder: str | None = None
    requested_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict | None = _json()
    error: str | None = Field(default=None, sa_column=Column(Text))


class BatchJobRow(SQLModel, table=True):
    """One file of requests handed to a provider's batch API (``labelloop label --batch``).

    The row is written before anything is uploaded (``status`` "submitting"): a process
    killed before it records the provider's batch id finds the batch again through the
    metadata it was created with (``labelloop_batch``: this id)."""

    __tablename__ = "batch_jobs"
    id: str = Field(primary_key=True)
    model: str = Field(index=True)
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
    #: completed, failed, total: as the provider last reported them
    request_counts: dict | None = _json()
    #: the few-shot examples the lines show, by item id: {id: {value, reviewer, review_id}}
    examples: dict | None = _json()
    estimate_usd: float = 0.0
    cost_usd: float = 0.0
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    #: when the answers went to the call log, and when they were labeled
    logged_at: datetime | None = None
    collected_at: datetime | None = None


class BatchJobItemRow(SQLModel, table=True):
    """An item asked in a batch: its cache key (the line's ``custom_id``) and the ids of
    the few-shot examples it was shown."""

    __tablename__ = "batch_job_items"
    __table_args__ = (Index("ix_batch_job_items_item", "item_id"),)
    batch_id: str = Field(primary_key=True, foreign_key="batch_jobs.id")
    item_id: str = Field(primary_key=True)
    cache_key: str
    fewshot: list | None = _json()


class ApiTokenRow(SQLModel, table=True):
    """A user's API token, kept as its SHA-256 (the token itself is shown once)."""

    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(index=True)
    #: the token's first characters, to tell tokens apart in listings
    prefix: str
    hash: str = Field(unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class WebhookRow(SQLModel, table=True):
    """A receiver of events (``labelloop webhooks add``): its URL, the events it takes, and
    the name of the environment variable that holds its signing secret, never the secret."""

    __tablename__ = "webhooks"
    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    #: the event types it takes (``labelloop.hooks.events.EVENT_TYPES``)
    events: list = Field(sa_column=Column(JSON, nullable=False))
    secret_env: str
    #: a short hash of the secret as it was at registration, to show that it changed since
    secret_fingerprint: str | None = None
    created_by: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    #: set when the receiver answered 410 Gone: nothing more is sent to it
    disabled_at: datetime | None = None
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text))
    #: set by ``labelloop webhooks remove``; the row stays for its delivery log
    removed_at: datetime | None = None


class WebhookEventRow(SQLModel, table=True):
    """A fact webhooks are told about, recorded once: ``key`` names the fact (``review:42``)."""

    __tablename__ = "webhook_events"
    id: int | None = Field(default=None, primary_key=True)
    #: the event's id in payloads
    uid: str = Field(unique=True)
    kind: str
    key: str = Field(unique=True)
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    #: when the fact happened: webhooks registered after it are not told
    occurred_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDeliveryRow(SQLModel, table=True):
    """One event to one webhook: its state, and when it is next tried."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    #: sent as X-Labelloop-Delivery, the same on every attempt
    uid: str = Field(unique=True)
    webhook_id: int = Field(foreign_key="webhooks.id", index=True)
    event_id: int = Field(foreign_key="webhook_events.id")
    #: pending | delivered | failed | cancelled
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime
    #: the process sending it now, until ``claimed_until``
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class WebhookAttemptRow(SQLModel, table=True):
    """One try at a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="webhook_deliveries.id", index=True)
    attempt: int
    at: datetime
    duration_ms: int | None = None
    #: the receiver's answer; None when there was none (refused target, timeout, no secret)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    holder: str | None = None


class RouteHistoryRow(SQLModel, table=True):
    """Items per route at one moment: the points of the dashboard's burndown. Recorded
    after route writes, at most once per ``labelloop.store.history.EVERY``."""

    __tablename__ = "route_history"
    at: datetime = Field(primary_key=True)
    route: str = Field(primary_key=True)
    items: int
