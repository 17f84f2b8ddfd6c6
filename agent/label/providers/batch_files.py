"""What goes into a provider's batch file, what comes out of one, and its price.

A line asks what a live call would: the request the LLM provider's runner builds for the
item's prompt (for a judged item, also for its replies in reverse order), less what only a
client uses (the timeout), under the call's cache key as its ``custom_id`` (``KEY`` or
``KEY:swap``). An answer read back is the chat completion as the provider sent it, to be
committed to the call log and parsed there like a live call's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from labelloop.core.types import Item
from labelloop.label.providers.base import LabelContext
from labelloop.label.providers.batch_api import ENDPOINT, body_model
from labelloop.label.providers.llm import (
    PLAN_CHUNK,
    SWAP,
    Job,
    LLMProvider,
    NoLog,
    Planner,
    _Runner,
    logged_request,
)

#: a provider's limits on one batch file (OpenAI's): lines, and bytes
MAX_LINES = 50_000
MAX_BYTES = 200_000_000
#: keys of a request that the client uses and the provider never sees
CLIENT_ONLY = ("timeout",)
#: what a batch costs of the live price when litellm knows no batch price (OpenAI's rate)
BATCH_DISCOUNT = 0.5


@dataclass
class Line:
    """One request of a batch file, and the same request as the call log keeps it."""

    custom_id: str
    body: dict[str, Any]
    logged: dict[str, Any] = field(repr=False)

    def encode(self) -> bytes:
        row = {"custom_id": self.custom_id, "method": "POST", "url": ENDPOINT, "body": self.body}
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


class _Bodies:
    """A wire that only builds request bodies, named as a batch line names the model."""

    def __init__(self, model: str):
        self.model = model

    def request(self, messages, **params: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": list(messages), **params}


class LineMaker:
    """The batch lines of items, planned as a live run plans them."""

    def __init__(self, provider: LLMProvider, ctx: LabelContext):
        self.planner = Planner(provider, ctx)
        wire = _Bodies(body_model(provider.model, provider.api_base))
        self.runner = _Runner(provider, ctx.guideline, NoLog(), {}, wire)

    def lines(self, items: Sequence[Item]) -> Iterator[tuple[Job, list[Line]]]:
        """Each item's job and its lines, planned a chunk at a time."""
        for start in range(0, len(items), PLAN_CHUNK):
            for job in self.planner.jobs(items[start : start + PLAN_CHUNK]):
                out = [self.line(job.key, job.prompt.messages, "label")]
                if job.swapped is not None:
                    out.append(self.line(f"{job.key}:{SWAP}", job.swapped.messages, SWAP))
                yield job, out

    def line(self, custom_id: str, messages, kind: str) -> Line:
        r = self.runner
        request = r.request(messages)
        body = {k: v for k, v in request.items() if k not in CLIENT_ONLY}
        logged = logged_request(
            request, kind, secrets=r.secrets, static=r.static, redact_message=r.redact_message
        )
        return Line(custom_id, body, logged)


@dataclass
class Result:
    """One line of a result file: the answer as text (a chat completion), or why none."""

    custom_id: str
    response: str | None
    usage: dict[str, Any]
    error: str | None = None


def read_results(text: str) -> list[Result]:
    """The lines of an output or error file."""
    out = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        response = line.get("response") or {}
        code, body = response.get("status_code"), response.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                body = {"error": {"message": body}}
        cid = str(line.get("custom_id"))
        if code == 200 and isinstance(body, dict) and body.get("choices") is not None:
            out.append(Result(cid, json.dumps(body, ensure_ascii=False), body.get("usage") or {}))
            continue
        error = line.get("error") or (body or {}).get("error") or {}
        said = error.get("message") if isinstance(error, dict) else str(error)
        out.append(Result(cid, None, {}, f"HTTP {code}: {said}" if code else str(said)))
    return out


@lru_cache(maxsize=64)
def batch_rates(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token at litellm's batch prices; None when it has none."""
    from labelloop.label.providers.transport import litellm

    try:
        info = litellm.get_model_info(model)
    except Exception:  # a model litellm has no entry for
        return None
    per_in = info.get("input_cost_per_token_batches")
    per_out = info.get("output_cost_per_token_batches")
    if per_in is None or per_out is None:
        return None
    return float(per_in), float(per_out)


def batch_price(model: str, usage: dict[str, Any]) -> float:
    """The price of one answered line: litellm's batch rates, else the live price at
    OpenAI's batch discount; 0 for a model with no known price."""
    from labelloop.label.providers.wire import price

    rates = batch_rates(model)
    if rates is None:
        return price(model, usage) * BATCH_DISCOUNT
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    return prompt * rates[0] + completion * rates[1]
