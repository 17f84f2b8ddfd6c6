"""``labelloop worker``: a long-running process on a PostgreSQL store that runs queued
label and calibrate jobs and, between them, labels whatever the model still has to label
(new imports), sharing that work with every other worker (``labelloop.label.crew``)."""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labelloop.core.errors import LabelloopError, RunLocked
from labelloop.core.records import Job
from labelloop.label.labeler import LabelRun
from labelloop.project import Project
from labelloop.store.locks import holder_name

if TYPE_CHECKING:
    from labelloop.label.crew import Crew

#: the jobs a worker takes
JOB_KINDS = ("label", "calibrate")
#: what a label job may set (the `labelloop label` options)
LABEL_ARGS = frozenset(
    {"model", "limit", "stale", "reviewed", "max_cost", "concurrency", "api_base"}
)
CALIBRATE_ARGS = frozenset({"model", "target_accuracy", "delta"})


@dataclass
class Shift:
    """What one worker did: label runs, jobs, items labeled."""

    runs: int = 0
    labeled: int = 0
    failed: int = 0
    taken_over: int = 0
    jobs: list[tuple[int, str, str]] = field(default_factory=list)


def check_job(kind: str, args: dict) -> None:
    """Refuse a job a worker could not run, naming what is wrong."""
    allowed = {"label": LABEL_ARGS, "calibrate": CALIBRATE_ARGS}.get(kind)
    if allowed is None:
        raise LabelloopError(f"Unknown job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise LabelloopError(
            f"A {kind} job takes {', '.join(sorted(allowed))}; not {', '.join(unknown)}"
        )


def queue_job(project: Project, kind: str, args: dict, requested_by: str | None = None) -> int:
    """Queue a label or calibrate job for the workers; its id."""
    if project.store.dialect != "postgresql":
        raise LabelloopError(
            "Jobs are run by `labelloop worker` processes, which need a PostgreSQL store "
            "(database_url in labelloop.toml); on SQLite, run the command itself."
        )
    check_job(kind, args)
    return project.store.add_job(kind, {k: v for k, v in args.items() if v is not None},
                                 requested_by)  # fmt: skip


def run_job(project: Project, job: Job, progress=None) -> dict:
    """Run one queued job; what it did, as JSON."""
    from labelloop import loop

    args = dict(job.args)
    check_job(job.kind, args)
    if job.kind == "calibrate":
        from labelloop.route.calibrate import calibrate

        return calibrate(
            project,
            args.get("target_accuracy", 0.95),
            args.get("delta", 0.05),
            model=args.get("model"),
        )
    model = args.pop("model", None)
    flags = {k: args.pop(k) for k in ("limit", "stale", "reviewed") if k in args}
    run = loop.label(project, model, progress=progress, command="worker", **flags, **args)
    return run.model_dump(mode="json")


def work(
    project: Project,
    model: str | None = None,
    *,
    once: bool = False,
    poll: float = 5.0,
    stop: threading.Event | None = None,
    on_run: Callable[[LabelRun], Any] | None = None,
    on_job: Callable[[Job, dict | None, str | None], Any] | None = None,
    webhooks: bool = True,
    **options: Any,
) -> Shift:
    """Run jobs and label until ``stop`` is set (or, with ``once``, until nothing is left).

    Each cycle takes the oldest queued job (no two workers take the same one); with none
    queued, it labels what ``model`` (default: the project's) still has to label, as one
    worker of the crew; then waits ``poll`` seconds when there was nothing to do. With
    ``webhooks``, a thread delivers webhook events meanwhile (``labelloop.hooks.delivery``).
    """
    from labelloop import loop

    store = project.store
    if store.dialect != "postgresql":
        raise LabelloopError(
            "`labelloop worker` needs a PostgreSQL store, where workers share the work "
            "(database_url in labelloop.toml); a SQLite store takes one `labelloop label` "
            "process at a time."
        )
    stop = stop or threading.Event()
    holder = holder_name()
    shift = Shift()
    with _crew(project, model, options) as crew, _delivering(project, webhooks):
        while not stop.is_set():
            if run_next_job(project, holder, shift, on_job):
                continue
            try:
                run = loop.label(project, model, command="worker", crew=crew, **options)
            except RunLocked:  # the embedded model: another process labels with it now
                if once:
                    break
                stop.wait(poll)
                continue
            shift.runs += 1
            shift.labeled += run.labeled
            shift.failed += run.failed
            shift.taken_over += run.taken_over
            if on_run:
                on_run(run)
            if run.labeled == 0:
                if once:
                    break
                stop.wait(poll)
    return shift


def run_next_job(project: Project, holder: str, shift: Shift, on_job=None) -> bool:
    """Take the oldest queued job and run it; False when none is queued. A job that fails
    is recorded as failed, with why, and the worker goes on."""
    job = project.store.take_job(holder, JOB_KINDS)
    if job is None:
        return False
    try:
        result, error = run_job(project, job), None
    except LabelloopError as exc:
        result, error = None, str(exc)
    except Exception:
        result, error = None, traceback.format_exc(limit=5)
    project.store.finish_job(job.id, result=result, error=error)
    shift.jobs.append((job.id, job.kind, "failed" if error else "done"))
    if on_job:
        on_job(job, result, error)
    return True


@contextmanager
def _delivering(project: Project, on: bool) -> Iterator[None]:
    """Webhook deliveries in a thread of this worker, for as long as it runs (several
    workers share them: each delivery is claimed by one)."""
    if not on:
        yield
        return
    from labelloop.hooks.delivery import Dispatcher

    with Dispatcher(project):
        yield


@contextmanager
def _crew(project: Project, model: str | None, options: dict) -> Iterator[Crew | None]:
    """The crew this worker labels ``model`` in, for as long as it runs (one row in
    ``labelloop workers``, its counts over its life); None for the embedded model."""
    from labelloop.label.crew import Crew

    name = project.model(model)
    if name == "local":
        yield None
        return
    with Crew(project.store, name, "worker", options.get("max_cost")) as crew:
        yield crew
