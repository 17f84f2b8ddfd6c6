"""A typed client of the JSON API (``/api/v1``) for a team's pipeline::

    from labelloop.client import Client

    with Client("http://labelloop.internal:7860", token=os.environ["LABELLOOP_TOKEN"]) as api:
        api.push_items([{"id": "t-1", "text": "my card never arrived"}])
        job = api.wait_for(api.queue_job("label"))
        for row in api.iter_items(route="auto_accepted"):
            print(row["id"], row["label"])

Requests and answers are the models the server's OpenAPI document is made from
(``labelloop.ui.api.schemas``); a refusal raises :class:`ApiError` with the server's status
and one-line reason. Only ``httpx`` and ``pydantic`` are needed, not the rest of labelloop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from labelloop.ui.api.schemas import (
    Account,
    ImportSummary,
    ItemsPage,
    JobOut,
    NextItem,
    ReviewItem,
    ReviewOut,
)

__all__ = ["ApiError", "Client"]


class ApiError(Exception):
    """The server refused a request: ``status`` (401 token, 403 role, 409 lease, 422 input,
    ...) and ``detail``, its reason."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Client:
    """The API of the console at ``url``, as the account whose ``token`` it holds."""

    def __init__(self, url: str, token: str, *, timeout: float = 60.0, transport=None):
        self._http = httpx.Client(
            base_url=url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- account and project ----------------------------------------------------------

    def me(self) -> Account:
        return Account.model_validate(self._call("GET", "/me"))

    def status(self) -> dict[str, Any]:
        """What ``labelloop status --json`` prints (admins)."""
        return self._call("GET", "/status")

    # --- items ------------------------------------------------------------------------

    def push_items(
        self,
        rows: Iterable[Mapping[str, Any]],
        *,
        reviewer: str | None = None,
        sample: bool = False,
    ) -> ImportSummary:
        """Import rows shaped as JSONL import lines, all or nothing (admins)."""
        params: dict[str, Any] = {"sample": sample}
        if reviewer is not None:
            params["reviewer"] = reviewer
        body = [dict(r) for r in rows]
        return ImportSummary.model_validate(self._call("POST", "/items", json=body, params=params))

    def items(self, *, cursor: str | None = None, limit: int = 100, **filters: Any) -> ItemsPage:
        """One page of export rows in id order; ``filters``: route, label, text, reviewer,
        since, until, min_confidence, max_confidence."""
        params = {k: _param(v) for k, v in filters.items() if v is not None}
        params["limit"] = limit
        if cursor is not None:
            params["cursor"] = cursor
        return ItemsPage.model_validate(self._call("GET", "/items", params=params))

    def iter_items(self, *, limit: int = 500, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every matching export row, a page at a time."""
        cursor = None
        while True:
            page = self.items(cursor=cursor, limit=limit, **filters)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # --- reviews ----------------------------------------------------------------------

    def next_review(self) -> ReviewItem | None:
        """The item to decide now, leased to this account; None when none waits."""
        return NextItem.model_validate(self._call("GET", "/reviews/next")).next

    def review(
        self,
        item_id: str,
        action: str,
        value: Any = None,
        *,
        reason: str | None = None,
        comment: str | None = None,
        duration_ms: int | None = None,
    ) -> ReviewOut:
        """Accept, fix (``value``), reject (``reason``) or skip the leased item."""
        body = {
            "item_id": item_id,
            "action": action,
            "value": value,
            "reason": reason,
            "comment": comment,
            "duration_ms": duration_ms,
        }
        return ReviewOut.model_validate(self._call("POST", "/reviews", json=body))

    # --- jobs -------------------------------------------------------------------------

    def queue_job(self, kind: str, **args: Any) -> JobOut:
        """Queue a ``label`` or ``calibrate`` job with the command's options (admins)."""
        body = {"kind": kind, "args": args}
        return JobOut.model_validate(self._call("POST", "/jobs", json=body))

    def job(self, job_id: int) -> JobOut:
        return JobOut.model_validate(self._call("GET", f"/jobs/{job_id}"))

    def jobs(self, limit: int = 50) -> list[JobOut]:
        return [
            JobOut.model_validate(j) for j in self._call("GET", "/jobs", params={"limit": limit})
        ]

    def wait_for(self, job: JobOut | int, timeout: float = 600.0, poll: float = 0.5) -> JobOut:
        """The job once it is done or failed; ``TimeoutError`` after ``timeout`` seconds."""
        job_id = job if isinstance(job, int) else job.id
        deadline = time.monotonic() + timeout
        while True:
            got = self.job(job_id)
            if got.status in ("done", "failed"):
                return got
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} is still {got.status} after {timeout:.0f} s")
            time.sleep(poll)

    # --- export -----------------------------------------------------------------------

    def export(self, out: str | Path, format: str = "jsonl", queue: str | None = None) -> int:
        """Stream what ``labelloop export`` writes into the file ``out`` (admins); the
        number of rows. The file appears whole or not at all."""
        params = {"format": format} | ({"queue": queue} if queue else {})
        out = Path(out)
        tmp = out.with_name(out.name + ".part")
        lines = 0
        with self._http.stream("GET", "/export", params=params) as answer:
            _raise_for(answer, read=True)
            with tmp.open("wb") as fh:
                for chunk in answer.iter_bytes():
                    fh.write(chunk)
                    lines += chunk.count(b"\n")
        tmp.replace(out)
        return lines - 1 if format == "csv" and lines else lines

    # --- internals --------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._http.request(method, path, **kwargs)
        _raise_for(answer)
        return answer.json()


def _param(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _raise_for(answer: httpx.Response, read: bool = False) -> None:
    if answer.status_code < 400:
        return
    if read:
        answer.read()
    try:
        detail = answer.json().get("detail", answer.text)
    except ValueError:
        detail = answer.text
    if not isinstance(detail, str):  # a validation error: the first problem, located
        first = detail[0] if isinstance(detail, list) and detail else detail
        where = ".".join(str(p) for p in first.get("loc", ())) if isinstance(first, dict) else ""
        msg = first.get("msg", first) if isinstance(first, dict) else first
        detail = f"{where}: {msg}" if where else str(msg)
    raise ApiError(answer.status_code, detail)
