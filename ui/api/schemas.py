"""What the JSON API takes and returns: the OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: an import row, as a line of a JSONL import file holds it (``labelloop import``)
ImportRow = dict[str, Any]
#: an export row, as ``labelloop export --format jsonl`` writes it
ExportRow = dict[str, Any]
#: text without a NUL character: no text in the project holds one, and PostgreSQL refuses
#: to store or compare one
NO_NUL = r"^[^\x00]*$"
#: the largest id an ``INTEGER`` column holds (on PostgreSQL, where it has 32 bits)
MAX_ID = 2**31 - 1


def _in_utc(moment: datetime) -> datetime:
    """``moment`` in UTC when it names its offset; refused when that takes it past the
    years 1 to 9999."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{moment.isoformat()} is before year 1 or after 9999 in UTC") from None


#: a time a filter compares with, in UTC (the store compares in UTC)
Moment = Annotated[datetime, AfterValidator(_in_utc)]


class Problem(BaseModel):
    """Why a request was refused."""

    detail: str


class FieldError(BaseModel):
    """A part of a request that does not fit the schema, where (``loc``) and why."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A body or parameter that does not fit: the parts that do not fit the schema, or why
    the project refuses what does (a refused import row names its row)."""

    detail: str | list[FieldError]


class Account(BaseModel):
    """The account a token belongs to."""

    user: str
    role: Literal["reviewer", "admin"]


class ImportSummary(BaseModel):
    """What a push of items stored (the counts ``labelloop import`` prints)."""

    rows: int
    items_added: int
    items_existing: int
    reviews_added: int
    reviews_existing: int
    #: of the reviews added, those that change their reviewer's earlier answer
    reviews_changed: int = 0
    seconds: float
    import_id: int
    #: items the push answered that stay queued: a reviewer has them open, or they wait for
    #: answers given in the console (overlap, adjudication)
    still_queued: list[str] = []


class ItemsPage(BaseModel):
    """A page of items in id order; pass ``next_cursor`` as ``cursor`` for the next one
    (null after the last page)."""

    items: list[ExportRow]
    next_cursor: str | None


class Suggested(BaseModel):
    """The model's answer shown with a review item (absent on blind items)."""

    value: dict[str, Any] | None
    confidence: float | None
    rationale: str | None
    model: str


class ReviewItem(BaseModel):
    """An item leased to the caller for review, as the console shows it."""

    item: ImportRow
    queue: str
    blind: bool
    kind: str
    labels: list[str]
    leased_until: datetime
    #: a guideline with questions: the question to answer now, and all of them in order
    question: str | None = None
    questions: list[str] = []
    suggestion: Suggested | None = None
    #: a judging item's reply ids in the order shown to this reviewer
    reply_order: list[str] = []
    #: the guideline's ``context:`` fields as the console shows them above the item
    context: dict[str, Any] = Field(
        default_factory=dict,
        description="The item's values of the guideline's `context:` fields (`meta` keys or "
        "dotted paths into `meta`), field name to value in the guideline's order, as the "
        "console shows them above the item; a field the item does not have is left out, "
        "and a guideline without `context:` gives an empty object.",
    )


class NextItem(BaseModel):
    """The caller's item to decide now; null when no item waits."""

    next: ReviewItem | None


class ReviewIn(BaseModel):
    """A decision on an item leased to the caller (``GET /reviews/next``)."""

    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, pattern=NO_NUL)
    action: Literal["accept", "fix", "reject", "skip"]
    #: the label for ``fix`` (and optionally ``accept``): a label name, a list of names,
    #: spans, or what the task's import rows hold under their answer key
    value: Any = None
    #: ``reject``: one of the guideline's reject reasons
    reason: str | None = Field(None, pattern=NO_NUL)
    comment: str | None = Field(None, pattern=NO_NUL)
    duration_ms: int | None = Field(None, ge=0, le=86_400_000)


class ReviewOut(BaseModel):
    """The stored review (null when the answer was to one question of several) and the
    caller's next item."""

    review: dict[str, Any] | None
    next: ReviewItem | None


class LabelArgs(BaseModel):
    """A label job's options, as ``labelloop label`` takes them (its ``--api-base`` is
    for the command line only: a token must not send the provider key elsewhere)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)
    limit: int | None = Field(None, ge=1)
    stale: bool = False
    reviewed: bool = False
    max_cost: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1, le=1024)


class CalibrateArgs(BaseModel):
    """A calibrate job's options, as ``labelloop calibrate`` takes them."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)
    target_accuracy: float = Field(0.95, gt=0, lt=1)
    delta: float = Field(0.05, gt=0, lt=1)


class LabelJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["label"]
    args: LabelArgs = LabelArgs()


class CalibrateJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["calibrate"]
    args: CalibrateArgs = CalibrateArgs()


#: a job to queue: run by ``labelloop worker`` processes on PostgreSQL, by the console's
#: process on SQLite
JobIn = Annotated[LabelJob | CalibrateJob, Field(discriminator="kind")]


class JobOut(BaseModel):
    id: int
    kind: str
    args: dict[str, Any]
    status: Literal["queued", "running", "done", "failed"]
    requested_by: str | None = None
    holder: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
