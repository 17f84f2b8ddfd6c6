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
