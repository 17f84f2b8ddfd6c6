"""Chat-completion logs as proxies and SDK loggers keep them: one row per call, holding the
request (its ``messages``) and the response (its ``choices``). Such a row is turned into
the contract's ``{"id", "messages", "meta"}`` before it is checked like any other row:

    {"request": {"model": "gpt-4o", "messages": [...], "tools": [...]},
     "response": {"id": "chatcmpl-1", "model": "gpt-4o-2024-08-06",
                  "choices": [{"message": {"role": "assistant", ...}, "finish_reason": "stop"}],
                  "usage": {...}}}

The conversation is the request's messages followed by the response's message (its tool
calls included); the row's ``id`` is its own, or the response's. The model, finish reason,
usage and the tools the request offered are kept under ``meta``.
"""

from __future__ import annotations

from typing import Any

from labelloop.ingest.checks import RowError
from labelloop.ingest.readers import json_kind

LOG_KEYS = ("request", "response")
BODY_KEYS = ("text", "messages", "conversations")
LOG_EXAMPLE = (
    '{"request": {"messages": [{"role": "user", "content": "..."}]}, "response": '
    '{"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "content": "..."}}]}}'
)


def is_completion_log(raw: dict[str, Any]) -> bool:
    return any(k in raw for k in LOG_KEYS)


def completion_row(raw: dict[str, Any]) -> dict[str, Any]:
    """The contract row a logged chat completion stands for (other rows as they are)."""
    if not is_completion_log(raw):
        return raw
    both = [k for k in BODY_KEYS if raw.get(k) is not None]
    if both:
        raise RowError(f"the row has both {both[0]!r} and a logged 'request'/'response'; keep one")
    request, response = raw.get("request"), raw.get("response")
    if not isinstance(request, dict) or not isinstance(request.get("messages"), list):
        raise RowError(
            "a logged chat completion needs 'request' with the request's 'messages'; "
            f"write the row as {LOG_EXAMPLE}"
        )
    if not isinstance(response, dict):
        what = "no 'response'" if response is None else f"a JSON {json_kind(response)} 'response'"
        raise RowError(
            f"the row has {what}: a failed or unfinished call has no reply to label; "
            "leave it out, or import its request alone as 'messages'"
        )
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices:
        raise RowError(
            "the response has no 'choices'; log the whole chat-completions response "
            f"(e.g. {LOG_EXAMPLE})"
        )
    if len(choices) > 1:
        raise RowError(
            f"the response has {len(choices)} choices (n > 1) and a row is one conversation; "
            "import each choice as its own row, or keep one"
        )
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        raise RowError(
            "choice 0 of the response has no 'message' (a streamed log keeps 'delta' "
            "chunks: join them into one message first)"
        )
    message = {k: v for k, v in message.items() if v is not None}
    if "content" not in message and isinstance(message.get("refusal"), str):
        message["content"] = message["refusal"]  # a refusal is the reply a person reads
    if isinstance(message.get("function_call"), dict) and "tool_calls" not in message:
        message["tool_calls"] = [{"type": "function", "function": message["function_call"]}]
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    logged = {
        "model": response.get("model") or request.get("model"),
        "finish_reason": choice.get("finish_reason"),
        "usage": response.get("usage"),
        "tools": request.get("tools"),
        "response_id": response.get("id"),
    }
    out = {k: v for k, v in raw.items() if k not in LOG_KEYS}
    out["id"] = raw.get("id", response.get("id"))
    out["messages"] = [*request["messages"], {"role": "assistant", **message}]
    out["meta"] = {**{k: v for k, v in logged.items() if v is not None}, **meta}
    return out
