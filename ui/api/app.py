"""The JSON API, version 1: ``/api/v1`` in the console's process.

Every route but the OpenAPI document (``/api/v1/openapi.json``, public by design) wants
``Authorization: Bearer TOKEN``, a token made with ``labelloop tokens create NAME``; it acts
as that account, with its role now. A missing, wrong or revoked token, or one of a disabled
account, gets 401; a reviewer's token on an admin route gets 403. Cookies are not read here,
so a page on another site cannot act through a reviewer's browser.

Each route runs the code the console and the CLI run: a push is ``labelloop import`` (the
same checks and errors, all or nothing), a review goes through the review service (leases,
blind items, roles), a page of items holds ``labelloop export`` rows with what a reviewer may
not see left out (``labelloop.review.listing``), a job is what ``labelloop worker`` runs.

Errors are ``{"detail": "..."}``: 400 a request the project refuses, 401 no valid token,
403 the role, 404 no such job, 409 a decision on an item not leased to the caller, 422 a
body or parameter that does not fit: FastAPI's list of the parts that do not fit the schema
(``[{"loc": [...], "msg": "...", "type": "..."}]``), or why the project refuses a value that
does (a bad import row names its row).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from labelloop.core.errors import AccessDenied, InputError, LabelloopError, ReviewConflict
from labelloop.core.records import Account as AccountRow
from labelloop.core.records import Job
from labelloop.core.types import Route
from labelloop.export import values
from labelloop.review.tokens import token_user
from labelloop.review.views import BrowseFilters, ItemView
from labelloop.ui.api import schemas
from labelloop.ui.api.listing import MAX_PAGE, item_page

VERSION = "v1"
PREFIX = f"/api/{VERSION}"
ROUTES = tuple(r.value for r in Route)
#: (method, path) answered without a token: the OpenAPI document
PUBLIC = frozenset({("GET", f"{PREFIX}/openapi.json"), ("HEAD", f"{PREFIX}/openapi.json")})
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `labelloop tokens create NAME` prints one (shown once).",
)
_ERRORS = {
    400: {"model": schemas.Problem, "description": "The project refuses the request"},
    401: {"model": schemas.Problem, "description": "No valid token"},
    403: {"model": schemas.Problem, "description": "The token's role may not do this"},
}
#: a route that reads a body or parameters: FastAPI's list of what does not fit, or why the
#: project refuses what does
_INVALID = {422: {"model": schemas.Invalid, "description": "A body or parameter that does not fit"}}


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> AccountRow:
    """The enabled account whose live token the request carries; 401 otherwise."""
    token = credentials.credentials if credentials is not None else None
    user = token_user(request.app.state.store, token)
    if user is None:
        why = "Missing" if token is None else "Wrong, revoked or expired"
        raise HTTPException(
            401,
            f"{why} API token: send `Authorization: Bearer TOKEN` with a token from "
            "`labelloop tokens create NAME`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


def admin(user: Annotated[AccountRow, Depends(caller)]) -> AccountRow:
    """The caller, if an admin; 403 for a reviewer."""
    if user.role != "admin":
        raise HTTPException(403, f"{user.name!r} is a reviewer: this route is for admins")
    return user


Caller = Annotated[AccountRow, Depends(caller)]
Admin = Annotated[AccountRow, Depends(admin)]


def create_api(project, service) -> FastAPI:
    """The ``/api/v1`` app over ``project``, deciding through the console's ``service``."""
    store = project.store
    api = FastAPI(
        title="labelloop API",
        version=VERSION,
        description=(__doc__ or "").split("\n\n", 1)[1],
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=_ERRORS,
    )
    api.state.store = store

    @api.exception_handler(LabelloopError)
    async def refused(_request: Request, exc: LabelloopError) -> JSONResponse:
        status = 400
        if isinstance(exc, InputError):
            status = 422
        elif isinstance(exc, AccessDenied):
            status = 403
        elif isinstance(exc, ReviewConflict):
            status = 409
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @api.exception_handler(RequestValidationError)
    async def unfit(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # each error holds what was sent, which may be a NaN or an Infinity (Python's JSON
        # reads them): null in strict JSON
        return JSONResponse({"detail": _plain(jsonable_encoder(exc.errors()))}, status_code=422)

    @api.get("/me", response_model=schemas.Account, tags=["account"])
    def me(user: Caller) -> schemas.Account:
        """The account the token belongs to, and its role."""
        return schemas.Account(user=user.name, role=user.role)

    @api.post(
        "/items",
        response_model=schemas.ImportSummary,
        tags=["items"],
        responses={422: {"model": schemas.Invalid, "description": "A row or the body is refused"}},
    )
    def push_items(
        user: Admin,
        rows: Annotated[list[schemas.ImportRow], Body(min_length=1)],
        reviewer: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=200,
                pattern=schemas.NO_NUL,
                description="Who labeled rows that hold labels (default: the token's account)",
            ),
        ] = None,
        sample: Annotated[
            bool,
            Query(
                description="The rows are a uniform random sample labeled blind "
                "(`labelloop import --sample`): their labels may calibrate"
            ),
        ] = False,
    ) -> schemas.ImportSummary:
        """Import rows, each shaped as a line of a JSONL import file, all or nothing: a bad
        row refuses the whole push, naming the row (``row 1`` is the first)."""
        from labelloop.api import import_rows

        got = import_rows(project, rows, reviewer=reviewer or user.name, sample=sample)
        return schemas.ImportSummary(**got.model_dump())

    @api.get("/items", response_model=schemas.ItemsPage, tags=["items"], responses=_INVALID)
    def list_items(
        user: Caller,
        route: Annotated[str | None, Query(description=f"One of {', '.join(ROUTES)}")] = None,
        label: Annotated[str | None, Query(min_length=1, pattern=schemas.NO_NUL)] = None,
        text: Annotated[
            str | None, Query(pattern=schemas.NO_NUL, description="Words, as a phrase")
        ] = None,
        reviewer: Annotated[str | None, Query(min_length=1, pattern=schemas.NO_NUL)] = None,
        since: schemas.Moment | None = None,
        until: schemas.Moment | None = None,
        min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
        max_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> schemas.ItemsPage:
        """Items in id order, each as an export row (suggestion, route, final label,
        reviews), filtered as the console's item browser filters. A reviewer's token gets
        no model answer on items reviewed blind, and only its own reviews on items still
        waiting for answers."""
        if route is not None and route not in ROUTES:
            raise LabelloopError(f"Unknown route {route!r}: one of {', '.join(ROUTES)}")
        filters = BrowseFilters(
            text=text,
            label=label,
            route=route,
            min_confidence=min_confidence,
            max_confidence=max_confidence,
            reviewer=reviewer,
            since=since,
            until=until,
        )
        page = item_page(service, user.name, filters, cursor, limit)
        return schemas.ItemsPage(items=page.rows, next_cursor=page.next_cursor)

    @api.get("/reviews/next", response_model=schemas.NextItem, tags=["reviews"])
    def next_review(user: Caller) -> schemas.NextItem:
        """The caller's item to decide now, leased to them (the same item until it is
        decided or the lease lapses); null when no item waits."""
        return schemas.NextItem(next=_review_item(service.next_item(user.name)))

    @api.post(
        "/reviews",
        response_model=schemas.ReviewOut,
        tags=["reviews"],
        responses={
            **_INVALID,
            409: {"model": schemas.Problem, "description": "The item is not leased to the caller"},
        },
    )
    def post_review(user: Caller, decision: schemas.ReviewIn) -> schemas.ReviewOut:
        """Record a decision on the item leased to the caller, as the console does: accept
        (refused on blind items), fix with ``value``, reject with a ``reason``, or skip."""
        out = service.decide(
            user.name,
            decision.item_id,
            decision.action,
            decision.value,
            decision.reason,
            decision.comment,
            decision.duration_ms,
        )
        review = None
        if out.review is not None:
            from labelloop.core.standing import review_json

            review = {"id": out.review.id, "item_id": out.review.item_id,
                      **review_json(out.review)}  # fmt: skip
        return schemas.ReviewOut(review=review, next=_review_item(out.next))

    @api.post(
        "/jobs", response_model=schemas.JobOut, status_code=201, tags=["jobs"], responses=_INVALID
    )
    def queue_job(user: Admin, job: Annotated[schemas.JobIn, Body()]) -> schemas.JobOut:
        """Queue a label or calibrate job: ``labelloop worker`` processes run it on
        PostgreSQL, the console's process on SQLite."""
        args = job.args.model_dump(exclude_none=True, exclude_defaults=True)
        job_id = store.add_job(job.kind, args, user.name)
        return _job_out(_find_job(store, job_id))

    @api.get("/jobs", response_model=list[schemas.JobOut], tags=["jobs"], responses=_INVALID)
    def list_jobs(
        _user: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 50
    ) -> list[schemas.JobOut]:
        """The newest jobs first."""
        return [_job_out(j) for j in store.jobs(limit)]

    @api.get(
        "/jobs/{job_id}",
        response_model=schemas.JobOut,
        tags=["jobs"],
        responses={**_INVALID, 404: {"model": schemas.Problem, "description": "No such job"}},
    )
    def get_job(
        _user: Admin, job_id: Annotated[int, Path(ge=1, le=schemas.MAX_ID)]
    ) -> schemas.JobOut:
        return _job_out(_find_job(store, job_id))

    @api.get("/status", response_model=dict[str, Any], tags=["project"])
    def status(_user: Admin) -> dict[str, Any]:
        """What ``labelloop status --json`` prints."""
        from labelloop.route.status import project_status

        return _plain(project_status(project))

    @api.get(
        "/export",
        tags=["project"],
        response_class=StreamingResponse,
        responses={
            **_INVALID,
            200: {
                "content": {"application/x-ndjson": {}, "text/csv": {}},
                "description": "The export, streamed a row at a time",
            },
        },
    )
    async def export(
        _user: Admin,
        format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",
        queue: Annotated[
            str | None,
            Query(
                description="Only the items waiting in this "
                "queue (a blind queue's: the items alone)"
            ),
        ] = None,
    ) -> StreamingResponse:
        """What ``labelloop export`` writes, streamed: JSONL or CSV."""
        from labelloop.export.writer import stream
        from labelloop.route.state import routing_model

        stages = project.config.routing.cascade or ()
        model = await run_in_threadpool(routing_model, project)
        guideline = await run_in_threadpool(service.guideline)  # read again only when edited
        rows = await run_in_threadpool(stream, store, format, queue, model, stages, guideline)
        kind = "application/x-ndjson" if format == "jsonl" else "text/csv"
        name = f"{guideline.task}.{format}"
        return StreamingResponse(
            _in_threads(rows),
            media_type=f"{kind}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return api


async def _in_threads(rows):
    """The rows of a blocking iterator (it reads the store a page at a time), read off the
    event loop a batch at a time."""
    batch = 500

    def take():
        out = []
        for row in rows:
            out.append(row)
            if len(out) == batch:
                break
        return out

    while True:
        chunk = await run_in_threadpool(take)
        if not chunk:
            return
        yield "".join(chunk).encode("utf-8")


def _review_item(view: ItemView | None) -> schemas.ReviewItem | None:
    if view is None:
        return None
    from labelloop.export.writer import item_json, without_models

    s = view.suggestion
    suggestion = None
    if s is not None and not view.blind:
        value = s.value.as_dict() if s.value is not None else None
        suggestion = schemas.Suggested(
            value=value, confidence=view.confidence, rationale=view.rationale, model=s.model
        )
    return schemas.ReviewItem(
        item=item_json(without_models(view.item)),
        queue=str(view.queue),
        blind=view.blind,
        kind=view.kind,
        labels=list(view.labels),
        leased_until=view.leased_until,
        question=view.question,
        questions=list(view.questions),
        suggestion=suggestion,
        reply_order=list(view.order),
        context=dict(view.context),  # picked by context_of, as the console shows them
    )


def _find_job(store, job_id: int) -> Job:
    job = store.job(job_id)
    if job is None:
        raise HTTPException(404, f"No job {job_id}: GET {PREFIX}/jobs lists them")
    return job


def _plain(data: Any) -> Any:
    """``data`` as strict JSON reads it back: times as text (as ``status --json`` prints
    them), a NaN or infinity as null."""
    return json.loads(values.json_text(json.loads(json.dumps(data, default=str))))


def _job_out(job: Job) -> schemas.JobOut:
    return schemas.JobOut(
        id=job.id,
        kind=job.kind,
        args=job.args,
        status=job.status,
        requested_by=job.requested_by,
        holder=job.holder,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        result=_plain(job.result) if job.result is not None else None,
        error=job.error,
    )
