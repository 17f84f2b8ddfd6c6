"""What the review service hands the console: plain frozen dataclasses, no behaviour."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from labelloop.core.types import Item, LabelValue, Queue, Review, Suggestion

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
BLIND_QUEUES = frozenset({Queue.CALIBRATION, Queue.AUDIT, Queue.GOLD})
#: the queue name recorded on reviews of gold items and of decisions changed in the browser
GOLD_QUEUE = Queue.GOLD
BROWSER_QUEUE = Queue.BROWSER
ADJUDICATION_QUEUE = Queue.ADJUDICATION

#: an answer as a console, the Python API or the JSON API gives it: a label value, a label
#: name or a list of names, a list of spans ``{"start", "end", "label"}``, or an import row's
#: answer (``{"spans": [...]}``, ``{"turns": {...}}``, ...)
ValueInput = (
    LabelValue | str | Sequence[str] | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None
)


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
    #: ``unit: turn``: whose turns are labeled (user, assistant or any)
    turn_role: str = "user"
    #: editing an item decided before (item browser, adjudication): the answer the editor
    #: starts from; None in the review stream, where it starts from the suggestion
    start: LabelValue | None = None
    #: the item's route when it was leased (a decision after it moved is no calibration pair)
    route: str | None = None
    #: a judging item's reply ids in the order this reviewer sees them (``shown_order``);
    #: empty for other tasks
    order: tuple[str, ...] = ()
    #: a guideline with questions: the question asked now (the view's kind, labels and
    #: suggestion are that question's), the questions to ask in order, the answers given so
    #: far (question, value, action, ms), and the routing suggestion whole
    question: str | None = None
    questions: tuple[str, ...] = ()
    answered: tuple[tuple[str, LabelValue, str, int | None], ...] = ()
    whole: Suggestion | None = None
    #: editing a decided item with questions: the whole answer the editor starts from
    whole_start: LabelValue | None = None
    #: the item's values of the guideline's ``context:`` fields, (field, value) in its order
    context: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """A recorded decision and the reviewer's next item (None when the queues are empty);
    an answer to one question of several records nothing yet (``review`` None) and the
    next view asks the item's next question."""

    review: Review | None
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
    #: taken back by an undo (kept in the item's history, counted nowhere)
    undone: bool = False
    bulk: bool = False
    bulk_id: int | None = None


@dataclass(frozen=True)
class AdjudicationView:
    """Every answer on an item side by side, with the model's suggestion."""

    item: Item
    suggestion: Suggestion | None
    answers: tuple[Answer, ...]
    labels: tuple[str, ...]
    kind: str
    #: a judging item's reply ids in the order the adjudicator sees them
    order: tuple[str, ...] = ()
    #: what the guideline says of each label the answers name
    sections: tuple[GuidelineSection, ...] = ()


@dataclass(frozen=True)
class BrowseFilters:
    """Item browser filters; every field left None filters nothing.

    ``text`` matches its words as a phrase (whole words, in order, any case, no stemming)
    in the item's text or turns, on SQLite and PostgreSQL alike. ``label`` matches the
    item's final human label or, without one, its routed suggestion's. ``route`` also
    takes ``unlabeled``. Confidence bounds are inclusive. ``reviewer``, ``since`` and
    ``until`` match items with a standing review by that reviewer, made at or after
    ``since`` and before ``until``.
    """

    text: str | None = None
    label: str | None = None
    route: str | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    reviewer: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    #: set by the service for reviewers: the label and confidence filters read the model's
    #: answer only on items its user may see it on ("reviewed": decided items only)
    visible: str | None = None


@dataclass(frozen=True)
class BulkPlan:
    """What a bulk accept would do, shown before it is confirmed: the items it would accept
    (each with the suggestion it would accept) and the matches it leaves out, by why."""

    token: str
    items: tuple[tuple[str, int], ...]
    left_out: tuple[tuple[str, int], ...]
    filters: BrowseFilters

    @property
    def count(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class BulkResult:
    """A bulk accept or its undo: the items it changed and those it left as they were."""

    bulk_id: int
    changed: tuple[str, ...]
    #: (item id, why it was left as it is)
    kept: tuple[tuple[str, str], ...]


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
    #: a gold item (its known answer is for admins only)
    gold: bool = False
    #: the routed suggestion's value (``suggested`` is it in words)
    value: LabelValue | None = None


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
    #: the item's values of the guideline's ``context:`` fields, (field, value) in its order
    context: tuple[tuple[str, Any], ...] = ()
