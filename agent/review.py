"""The review service: what the console asks of the store, as plain Python (no Gradio here).

One :class:`ReviewService` per project and server process. A reviewer is served from the
calibration, audit and active queues (``[review] queues``, in that order), each item leased
to them for ``lease_seconds``; one more item is leased and prepared ahead (the prefetch), so
the view that follows a decision is ready when the decision is recorded. A share of items
(``[review] overlap``) goes to ``overlap_reviewers`` different people in turn; when their
answers differ the item waits in the ``adjudication`` queue for an admin.

Calibration, audit and gold items are shown blind, as is a ``blind_share`` of the rest and
everything for reviewers whose blind setting is on; the review row records ``blind`` so the
anchoring of reviewers on the model can be measured. Gold items (known answers, see
:meth:`ReviewService.add_gold`) are mixed in at ``gold_rate``.

Every decision is one append-only review row. Roles are checked here too: admin-only
methods take the acting user and raise :class:`agent.errors.AccessDenied` for anyone else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from agent.types import Item, LabelValue, Review, Suggestion

Action = Literal["accept", "fix", "reject", "skip"]
ACTIONS: tuple[str, ...] = ("accept", "fix", "reject", "skip")
#: why a reviewer rejects an item; ``other`` needs a comment
REJECT_REASONS: tuple[str, ...] = (
    "wrong_label",
    "guideline_unclear",
    "ambiguous_item",
    "bad_input",
    "other",
)
#: queues whose items are always shown without the model's suggestion
BLIND_QUEUES = frozenset({"calibration", "audit", "gold"})
#: the queue name recorded on reviews of gold items and of decisions changed in the browser
GOLD_QUEUE = "gold"
BROWSER_QUEUE = "browser"
ADJUDICATION_QUEUE = "adjudication"

ValueInput = LabelValue | str | Sequence[str] | None


@dataclass(frozen=True)
class GuidelineSection:
    """The guideline section a suggestion relies on: its heading and Markdown text."""

    heading: str
    text: str


@dataclass(frozen=True)
class SimilarExample:
    """A reviewed item close to the one under review, with its human label."""

    item: Item
    value: LabelValue
    reviewer: str
    similarity: float


@dataclass(frozen=True)
class ItemView:
    """One leased item as a reviewer sees it.

    ``suggestion``, ``confidence``, ``rationale`` and ``section`` are None when the item is
    shown blind. ``gold`` and ``overlap`` are for the server and admins: showing them to the
    reviewer would tell them which items are checked.
    """

    item: Item
    queue: str
    reviewer: str
    suggestion: Suggestion | None
    #: calibrated P(correct) when calibration exists, else the model's own probability
    confidence: float | None
    rationale: str | None
    section: GuidelineSection | None
    similar: tuple[SimilarExample, ...]
    blind: bool
    gold: bool
    overlap: bool
    #: the suggestion the item was routed on (kept for the review row, shown or not)
    suggestion_id: int | None
    labels: tuple[str, ...]
    kind: str
    unit: str
    leased_until: datetime


@dataclass(frozen=True)
class Outcome:
    """A recorded decision and the reviewer's next item (None when the queues are empty)."""

    review: Review
    next: ItemView | None


@dataclass(frozen=True)
class Answer:
    """One person's answer on an item, for the adjudication view and the item detail."""

    reviewer: str
    action: str
    value: LabelValue | None
    reason: str | None
    comment: str | None
    queue: str | None
    blind: bool
    created_at: datetime
    review_id: int


@dataclass(frozen=True)
class AdjudicationView:
    """Every answer on an item side by side, with the model's suggestion."""

    item: Item
    suggestion: Suggestion | None
    answers: tuple[Answer, ...]
    labels: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class BrowseFilters:
    """Item browser filters; every field left None filters nothing.

    ``label`` matches the item's final human label or, without one, its suggestion's.
    ``confidence`` bounds are inclusive; ``since``/``until`` bound the latest review's time
    (or, for items never reviewed, the time the item was added).
    """

    text: str | None = None
    label: str | None = None
    route: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    reviewer: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class BrowseRow:
    """One line of the item browser."""

    item_id: str
    preview: str
    route: str
    suggested: str | None
    confidence: float | None
    label: str | None
    reviewers: tuple[str, ...]
    updated_at: datetime | None


@dataclass(frozen=True)
class BrowsePage:
    """A page of the browser; ``total`` is exact up to ``total_capped`` and a floor above it."""

    rows: tuple[BrowseRow, ...]
    page: int
    page_size: int
    has_more: bool
    total: int
    total_capped: bool


@dataclass(frozen=True)
class ItemDetail:
    """Everything known about one item: all suggestions, all reviews, route, gold answer."""

    item: Item
    route: str
    route_reason: str
    suggestions: tuple[Suggestion, ...]
    answers: tuple[Answer, ...]
    final: LabelValue | None
    final_source: str | None
    gold: LabelValue | None


@dataclass
class _Reviewer:
    """What the service holds for one reviewer between calls: the current and next views."""

    current: ItemView | None = None
    prefetched: ItemView | None = None
    history: list[int] = field(default_factory=list)


class ReviewService:
    """The review console's backend over one project; thread-safe, one per server process."""

    def __init__(self, project, *, seed: int | None = None) -> None:
        """Serve ``project`` (an ``agent.config.Project``); ``seed`` fixes the gold draws."""
        raise NotImplementedError

    # --- the review stream -------------------------------------------------------------

    def next_item(self, reviewer: str) -> ItemView | None:
        """The reviewer's current item (leasing one if needed); None when nothing waits."""
        raise NotImplementedError

    def decide(
        self,
        reviewer: str,
        item_id: str,
        action: Action,
        value: ValueInput = None,
        reason: str | None = None,
        comment: str | None = None,
        duration_ms: int | None = None,
    ) -> Outcome:
        """Record accept / fix (``value``) / reject (``reason``) / skip on a leased item."""
        raise NotImplementedError

    def undo(self, reviewer: str) -> ItemView | None:
        """Supersede the reviewer's last decision and lease that item back to them."""
        raise NotImplementedError

    def release(self, reviewer: str) -> None:
        """Give back every lease the reviewer holds (logout)."""
        raise NotImplementedError

    def set_blind(self, admin: str, reviewer: str, blind: bool) -> None:
        """Admin: show ``reviewer`` every item blind (or stop doing so)."""
        raise NotImplementedError

    # --- gold --------------------------------------------------------------------------

    def add_gold(self, admin: str, answers: Mapping[str, ValueInput]) -> int:
        """Admin: make items gold with their known answers; returns how many were added."""
        raise NotImplementedError

    def gold_from_import(self, admin: str, import_id: int | None = None) -> int:
        """Admin: labels of an import (default: every import marked ``--sample``) become gold."""
        raise NotImplementedError

    def gold_accuracy(self, admin: str) -> dict[str, tuple[int, int]]:
        """Admin: reviewer -> (correct, total) on gold items."""
        raise NotImplementedError

    # --- adjudication ------------------------------------------------------------------

    def adjudication_items(self, admin: str, limit: int = 100) -> list[str]:
        """Admin: item ids waiting for adjudication, oldest first."""
        raise NotImplementedError

    def adjudication_view(self, admin: str, item_id: str) -> AdjudicationView:
        """Admin: every answer on the item, with the suggestion and comments."""
        raise NotImplementedError

    def adjudicate(
        self, admin: str, item_id: str, value: ValueInput, comment: str | None = None
    ) -> Review:
        """Admin: the final label; it wins over every other review of the item."""
        raise NotImplementedError

    # --- item browser ------------------------------------------------------------------

    def browse(self, user: str, filters: BrowseFilters, page: int = 0, page_size: int = 30):
        """A page of items matching the filters, newest activity first (a ``BrowsePage``)."""
        raise NotImplementedError

    def item_detail(self, user: str, item_id: str) -> ItemDetail:
        """The item with every suggestion and review."""
        raise NotImplementedError

    def change_decision(
        self,
        user: str,
        item_id: str,
        action: Action,
        value: ValueInput = None,
        reason: str | None = None,
        comment: str | None = None,
    ) -> Review:
        """A new review row that replaces the user's earlier decision on any item."""
        raise NotImplementedError

    def bulk_accept(self, admin: str, filters: BrowseFilters) -> int:
        """Admin: accept the suggestion of every matching item not yet reviewed."""
        raise NotImplementedError

    # --- dashboard ---------------------------------------------------------------------

    def dashboard(self, admin: str) -> dict:
        """Admin: progress, throughput, agreement, calibration, audit alarm and cost."""
        raise NotImplementedError
