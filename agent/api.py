"""The loop from Python, without the CLI: open or create a project, import, label,
calibrate, review, export and read its status.

Every function here runs the same code as the command of the same name, and returns a typed
result that the command prints::

    import labelloop

    project = labelloop.create_project("intents", guideline="guideline.md")
    labelloop.import_rows(project, [{"id": "1", "text": "my card never arrived"}])
    run = labelloop.label_items(project)                    # the embedded offline model
    with labelloop.review_session(project, "ana") as session:
        while (view := session.next()) is not None:
            session.accept(view.item.id)
    report = labelloop.calibrate(project, target_accuracy=0.9)
    labelloop.export_items(project, "labeled.jsonl")
    print(labelloop.status(project).routes)
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from labelloop.core.errors import AccessDenied, ImportFileError, LabelloopError
from labelloop.ingest.importer import ImportResult
from labelloop.label.labeler import LabelRun
from labelloop.project import Project, init_project, load_project
from labelloop.review.views import ItemView, Outcome, ValueInput

#: a project, or the folder that holds one
ProjectLike = Project | str | Path

__all__ = [
    "Calibration",
    "ImportResult",
    "LabelRun",
    "Project",
    "ProjectLike",
    "ReviewSession",
    "Status",
    "add_user",
    "calibrate",
    "create_project",
    "export_items",
    "import_file",
    "import_rows",
    "label_items",
    "open_project",
    "review_session",
    "status",
]


def create_project(root: str | Path, guideline: str | Path, **settings: Any) -> Project:
    """A new project in ``root`` with a copy of ``guideline`` (``labelloop init``).

    ``settings`` are ``labelloop.toml``'s top-level keys (``model``, ``database_url``, ...)."""
    return init_project(root, guideline, **settings)


def open_project(root: str | Path | None = None) -> Project:
    """The project in ``root`` (else ``LABELLOOP_PROJECT``, else the current folder).
    A folder without one is refused: ``create_project`` makes one."""
    return load_project(root)


def _project(project: ProjectLike) -> Project:
    if isinstance(project, Project):
        return project
    if isinstance(project, str | Path):
        return load_project(project)
    raise TypeError(
        f"expected a labelloop Project or a project folder, got {type(project).__name__}: "
        "use labelloop.open_project(FOLDER) or labelloop.create_project(FOLDER, guideline=...)"
    )


def import_file(
    project: ProjectLike,
    path: str | Path,
    *,
    format: str | None = None,
    reviewer: str | None = None,
    sample: bool = False,
) -> ImportResult:
    """Import a file of items and their human labels (``labelloop import``): checked
    against the guideline and stored all or nothing, then routed."""
    from labelloop.loop import import_file as run

    return run(_project(project), path, fmt=format, reviewer=reviewer, sample=sample)


def import_rows(
    project: ProjectLike,
    rows: Iterable[Mapping[str, Any]],
    *,
    reviewer: str | None = None,
    sample: bool = False,
) -> ImportResult:
    """Import rows shaped as the lines of an import file (``{"id", "text", "label"?, ...}``).

    The rows go through the same checks as a file: a bad row raises an error naming its
    position (``row 1`` is the first) and nothing is stored."""
    if isinstance(rows, Mapping) or isinstance(rows, str | bytes):
        raise TypeError("rows must be a list (or other iterable) of row dicts: wrap one row in [ ]")
    project = _project(project)
    with tempfile.TemporaryDirectory(prefix="labelloop-rows-") as tmp:
        path = Path(tmp) / "rows.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for n, row in enumerate(rows, 1):
                if not isinstance(row, Mapping):
                    raise TypeError(f"row {n} is a {type(row).__name__}, not a dict of fields")
                fh.write(json.dumps(dict(row), ensure_ascii=False) + "\n")
        try:
            return import_file(project, path, format="jsonl", reviewer=reviewer, sample=sample)
        except ImportFileError as exc:  # name rows, not the temporary file they passed through
            raise ImportFileError(str(exc).replace(f"{path}:", "row ")) from None


def label_items(
    project: ProjectLike,
    model: str | None = None,
    *,
    limit: int | None = None,
    stale: bool = False,
    reviewed: bool = False,
    **provider_options: Any,
) -> LabelRun:
    """Propose labels with ``model`` (default: the project's; ``local`` offline) and route
    them (``labelloop label``)."""
    from labelloop.loop import label as run

    project = _project(project)
    return run(project, model, limit=limit, stale=stale, reviewed=reviewed, **provider_options)


@dataclass(frozen=True)
class Calibration:
    """What a look of the calibration loop decided (``labelloop calibrate``).

    ``threshold`` is None when nothing could be certified at the target (then
    ``more_reviews_needed`` says about how many more blind reviews a threshold needs);
    ``guarantee`` is the sentence that states what is certified; ``details`` holds
    everything the command prints (read-only)."""

    model: str | None
    threshold: float | None
    coverage: float | None
    calibration_pairs: int
    more_reviews_needed: int
    guarantee: str | None
    routes: Mapping[str, int]
    details: Mapping[str, Any] = field(repr=False)

    @property
    def auto_accepts(self) -> bool:
        return self.threshold is not None


def calibrate(
    project: ProjectLike,
    target_accuracy: float = 0.95,
    delta: float = 0.05,
    *,
    model: str | None = None,
) -> Calibration:
    """Learn from blind reviews how far confidences can be trusted; auto-accept what is
    certified at ``target_accuracy`` with probability at least ``1 - delta``.

    The evidence is the calibration queue's blind reviews (a uniform draw of the labeled
    items, answered without seeing the model's label): review them first
    (``review_session``). Items are routed again with the result: at or above the
    threshold auto-accepted (a share audited), below it to people. With too few blind
    reviews nothing is auto-accepted and the result says how many more are needed.
    ``model``: one cascade stage only (default: the routing model, or every stage).
    """
    from labelloop.route.calibrate import calibrate as run

    for name, value in (("target_accuracy", target_accuracy), ("delta", delta)):
        if not 0 < value < 1:
            raise LabelloopError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    project = _project(project)
    report = run(project, target_accuracy=target_accuracy, delta=delta, model=model)
    top = report["stages"][0] if "stages" in report else report
    return Calibration(
        model=top.get("model"),
        threshold=top.get("threshold"),
        coverage=top.get("coverage"),
        calibration_pairs=int(top.get("calibration_pairs") or 0),
        more_reviews_needed=int(top.get("more_reviews_needed") or 0),
        guarantee=top.get("guarantee"),
        routes=MappingProxyType(dict(report.get("routes") or {})),
        details=MappingProxyType(report),
    )


def add_user(project: ProjectLike, name: str, role: str, password: str) -> None:
    """Create or update a console account (``labelloop users add``): ``role`` is
    ``reviewer`` or ``admin``."""
    from labelloop.review.auth import add_user as run

    run(_project(project).store, name, role, password)


class ReviewSession:
    """One reviewer's decisions, as the console makes them: items come leased from the
    review queues in the console's order, and each decision is recorded as theirs.

    The reviewer must have an account (``labelloop users add``); close the session (or use
    it as a context manager) to release the item it holds."""

    def __init__(self, project: ProjectLike, reviewer: str) -> None:
        from labelloop.review.service import ReviewService

        self.reviewer = reviewer
        self._service = ReviewService(_project(project), background_prefetch=False)
        try:
            self._service.user(reviewer)  # an unknown or disabled reviewer fails here
        except AccessDenied as exc:
            self._service.close()
            raise AccessDenied(
                f"{exc}; add the account first: labelloop.add_user(project, {reviewer!r}, "
                "'reviewer', PASSWORD) (or `labelloop users add`)"
            ) from None

    def next(self) -> ItemView | None:
        """The item to decide now (the same one until it is decided); None when none waits."""
        return self._service.next_item(self.reviewer)

    def accept(self, item_id: str) -> Outcome:
        """Accept the model's label (refused on blind items, which show none)."""
        return self._service.decide(self.reviewer, item_id, "accept")

    def fix(self, item_id: str, value: ValueInput) -> Outcome:
        """Give the label: a label name, a list of names, spans, or one per question."""
        return self._service.decide(self.reviewer, item_id, "fix", value)

    def reject(self, item_id: str, reason: str, comment: str | None = None) -> Outcome:
        """The item cannot be labeled under the guideline (``reason`` from the guideline's
        reject reasons; ``other`` needs a comment)."""
        return self._service.decide(self.reviewer, item_id, "reject", None, reason, comment)

    def skip(self, item_id: str) -> Outcome:
        return self._service.decide(self.reviewer, item_id, "skip")

    def close(self) -> None:
        self._service.release(self.reviewer)
        self._service.close()

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def review_session(project: ProjectLike, reviewer: str) -> Iterator[ReviewSession]:
    """A review session for ``reviewer``, released when the block ends."""
    session = ReviewSession(project, reviewer)
    try:
        yield session
    finally:
        session.close()


def export_items(
    project: ProjectLike,
    out: str | Path,
    format: str | None = None,
    *,
    queue: str | None = None,
) -> int:
    """Write items with suggestions, routes, final labels and reviews to ``out``
    (``labelloop export``); returns the number of rows. ``format``: jsonl, csv,
    labelstudio, hf or conll; by default csv for a ``.csv`` file, else jsonl."""
    from labelloop.export.writer import export as run
    from labelloop.route.state import routing_model

    project = _project(project)
    fmt = format or ("csv" if Path(out).suffix.lower() == ".csv" else "jsonl")
    model, stages = routing_model(project), project.config.routing.cascade or ()
    return run(project.store, out, fmt, queue, model, stages, guideline=project.guideline())


@dataclass(frozen=True)
class Status:
    """Where a project stands (``labelloop status``): items per route and per review queue,
    reviews, and the calibration in force. ``calibrated``: a calibration has been fitted;
    ``threshold``: the confidence at or above which labels are auto-accepted (None: nothing
    is). ``details`` is everything ``status --json`` prints (read-only)."""

    task: str
    model: str
    items: int
    reviews: int
    routes: Mapping[str, int]
    queues: Mapping[str, int]
    calibrated: bool
    threshold: float | None
    details: Mapping[str, Any] = field(repr=False)

    @property
    def auto_accepts(self) -> bool:
        return self.threshold is not None


def status(project: ProjectLike) -> Status:
    """Counts per route and queue, calibration and spend."""
    from labelloop.route.status import project_status

    data = project_status(_project(project))
    cal = data["calibration"]
    return Status(
        task=data["task"],
        model=data["model"],
        items=data["items"],
        reviews=data["reviews"],
        routes=MappingProxyType(dict(data["routes"])),
        queues=MappingProxyType(dict(data["queues"])),
        calibrated=bool(cal.get("calibrated")),
        threshold=data["calibration_outlook"]["threshold"],
        details=MappingProxyType(data),
    )
