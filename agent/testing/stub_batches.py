"""The stub's Files and Batches endpoints: OpenAI's batch API, answered offline.

``POST /v1/files`` keeps an uploaded JSONL file in memory; ``POST /v1/batches`` starts a
batch over it. The batch is ``validating`` when created, ``in_progress`` until
``batch_seconds`` (a ``StubServer`` option) have passed, then every line is answered at
once by the same logic as ``/v1/chat/completions`` (script entries, faults and all; each
line is recorded in the stub's call log like a live request) and the batch is
``completed``, with an output file of the answered lines and an error file of the others
(an injected HTTP status, a dropped connection). ``batch_fail`` makes every new batch fail
as a whole (status ``failed``, no output), as a provider refusing the file would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from labelloop.testing import stub_llm as stub

ENDPOINTS = ("/v1/chat/completions",)
RUNNING = ("validating", "in_progress", "finalizing")
_lock = threading.Lock()


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _not_found(kind: str, key: str) -> JSONResponse:
    body = stub.error_body(f"No such {kind}: '{key}'", "invalid_request_error", None, "id")
    return JSONResponse(body, status_code=404)


def _bad(message: str, param: str | None = None) -> JSONResponse:
    body = stub.error_body(message, "invalid_request_error", None, param)
    return JSONResponse(body, status_code=400)


def _file_object(f: dict) -> dict:
    return {k: v for k, v in f.items() if k != "data"}


def add_file(state: stub.StubState, data: bytes, purpose: str, filename: str) -> dict:
    """Keep ``data`` as a file; its File object (without the bytes)."""
    f = {
        "id": _id("file"),
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "data": data,
    }
    state.files[f["id"]] = f
    return f


# --- files -------------------------------------------------------------------------------


async def create_file(request: Request) -> JSONResponse:
    """POST /v1/files (multipart: ``file``, ``purpose``)."""
    form = await request.form()
    upload, purpose = form.get("file"), form.get("purpose")
    if upload is None or isinstance(upload, str):
        return _bad("Missing required parameter: 'file'.", "file")
    if not purpose:
        return _bad("Missing required parameter: 'purpose'.", "purpose")
    data = await upload.read()
    f = add_file(request.app.state.stub, data, str(purpose), upload.filename or "upload.jsonl")
    return JSONResponse(_file_object(f))


async def get_file(request: Request) -> Response:
    """GET /v1/files/{id}; DELETE removes it."""
    state: stub.StubState = request.app.state.stub
    key = request.path_params["file_id"]
    f = state.files.get(key)
    if f is None:
        return _not_found("file", key)
    if request.method == "DELETE":
        del state.files[key]
        return JSONResponse({"id": key, "object": "file", "deleted": True})
    return JSONResponse(_file_object(f))


async def file_content(request: Request) -> Response:
    """GET /v1/files/{id}/content: the bytes as uploaded or written."""
    key = request.path_params["file_id"]
    f = request.app.state.stub.files.get(key)
    if f is None:
        return _not_found("file", key)
    return Response(f["data"], media_type="application/octet-stream")


# --- batches -----------------------------------------------------------------------------


async def create_batch(request: Request) -> JSONResponse:
    """POST /v1/batches: ``input_file_id``, ``endpoint``, ``completion_window``, ``metadata``."""
    state: stub.StubState = request.app.state.stub
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return _bad("The body must be a JSON object.")
    if body.get("input_file_id") not in state.files:
        return _bad(f"No such file: {body.get('input_file_id')!r}", "input_file_id")
    if body.get("endpoint") not in ENDPOINTS:
        return _bad(f"Unsupported endpoint {body.get('endpoint')!r}.", "endpoint")
    if body.get("completion_window") != "24h":
        return _bad("completion_window must be '24h'.", "completion_window")
    now = int(time.time())
    batch = {
        "id": _id("batch"),
        "object": "batch",
        "endpoint": body["endpoint"],
        "errors": None,
        "input_file_id": body["input_file_id"],
        "completion_window": "24h",
        "status": "validating",
        "output_file_id": None,
        "error_file_id": None,
        "created_at": now,
        "in_progress_at": None,
        "expires_at": now + 24 * 3600,
        "finalizing_at": None,
        "completed_at": None,
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": None,
        "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata") or None,
    }
    with _lock:
        state.batches[batch["id"]] = {"object": batch, "started": time.monotonic()}
    if state.batch_create_delay:
        await stub.sleep_unless_gone(request, state.batch_create_delay)
    return JSONResponse(batch)


async def get_batch(request: Request) -> JSONResponse:
    """GET /v1/batches/{id}: where it stands (it completes once its time has passed)."""
    state: stub.StubState = request.app.state.stub
    key = request.path_params["batch_id"]
    if key not in state.batches:
        return _not_found("batch", key)
    return JSONResponse(advance(state, key))


async def list_batches(request: Request) -> JSONResponse:
    """GET /v1/batches: newest first, ``limit`` (default 20) and ``after`` (a batch id)."""
    state: stub.StubState = request.app.state.stub
    limit = max(1, min(100, int(request.query_params.get("limit") or 20)))
    after = request.query_params.get("after")
    keys = list(reversed(state.batches))
    if after in keys:
        keys = keys[keys.index(after) + 1 :]
    page = [advance(state, k) for k in keys[:limit]]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(keys) > limit,
        }
    )


async def cancel_batch(request: Request) -> JSONResponse:
    """POST /v1/batches/{id}/cancel: a running batch is cancelled with no answer."""
    state: stub.StubState = request.app.state.stub
    key = request.path_params["batch_id"]
    if key not in state.batches:
        return _not_found("batch", key)
    with _lock:
        batch = state.batches[key]["object"]
        if batch["status"] in RUNNING:
            now = int(time.time())
            batch.update(status="cancelled", cancelling_at=now, cancelled_at=now)
    return JSONResponse(batch)


def advance(state: stub.StubState, key: str) -> dict:
    """The batch now: in progress until ``batch_seconds`` have passed, then answered."""
    with _lock:
        held = state.batches[key]
        batch = held["object"]
        if batch["status"] not in RUNNING:
            return dict(batch)
        now = int(time.time())
        if time.monotonic() - held["started"] < state.batch_seconds:
            batch.update(status="in_progress", in_progress_at=batch["in_progress_at"] or now)
            return dict(batch)
        if state.batch_fail:
            message = "The batch failed (injected by the stub LLM)."
            errors = {"object": "list", "data": [{"code": "stub_failure", "message": message}]}
            batch.update(status="failed", failed_at=now, errors=errors)
            return dict(batch)
        _run(state, batch)
        batch.update(status="completed", finalizing_at=now, completed_at=now)
        batch["in_progress_at"] = batch["in_progress_at"] or now
        return dict(batch)


def _run(state: stub.StubState, batch: dict) -> None:
    """Answer every line of the batch's input file into its output and error files."""
    data = state.files[batch["input_file_id"]]["data"].decode("utf-8")
    answered: list[str] = []
    failed: list[str] = []
    for text in data.splitlines():
        if not text.strip():
            continue
        line = json.loads(text)
        status, body = answer(state, line.get("body") or {})
        out = {
            "id": _id("batch_req"),
            "custom_id": line.get("custom_id"),
            "response": {"status_code": status, "request_id": uuid.uuid4().hex, "body": body},
            "error": None,
        }
        (answered if status == 200 else failed).append(json.dumps(out))
    name = batch["id"]
    if answered:
        f = add_file(state, _jsonl(answered), "batch_output", f"{name}_output.jsonl")
        batch["output_file_id"] = f["id"]
    if failed:
        f = add_file(state, _jsonl(failed), "batch_output", f"{name}_error.jsonl")
        batch["error_file_id"] = f["id"]
    total = len(answered) + len(failed)
    batch["request_counts"] = {"total": total, "completed": len(answered), "failed": len(failed)}


def _jsonl(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def answer(state: stub.StubState, body: dict[str, Any]) -> tuple[int, dict]:
    """The status and body one line's request gets, as ``/v1/chat/completions`` would
    answer it (a stall, ``timeout``, answers: a batch has no client to time out)."""
    refused = stub.invalid_request(body)
    if refused is not None:
        return refused.status_code, json.loads(refused.body)
    item = stub.find_item(body["messages"], state.item_pattern, state.item_role)
    item = stub.resolved(item, state.script)
    try:
        entry = stub.script_entry(state.script, item)
        call = state.calls.record(item, body)
        call.outcome, response, _stall = stub.decide(state, body, entry, item, call.attempt)
    except stub.ScriptError as exc:
        return 500, stub.error_body(str(exc), "stub_script_error", None)
    if isinstance(response, stub.DroppedResponse):
        return 500, stub.error_body("The connection dropped.", "server_error", None)
    return response.status_code, json.loads(response.body)


ROUTES = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files/{file_id}", get_file, methods=["GET", "DELETE"]),
    Route("/v1/files/{file_id}/content", file_content, methods=["GET"]),
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    Route("/v1/batches/{batch_id}", get_batch, methods=["GET"]),
    Route("/v1/batches/{batch_id}/cancel", cancel_batch, methods=["POST"]),
]
