"""Helpers for the LLM labeler tests: a project per task shape, labeling through the stub."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from labelloop import loop
from labelloop.core.types import Suggestion
from labelloop.label.labeler import LabelRun
from labelloop.project import Project, init_project
from tests.conftest import GUIDELINE

#: an OpenAI-compatible model string: litellm sends it to ``api_base`` as model "stub-model"
MODEL = "openai/stub-model"

MULTI = """\
---
task: review-topics
kind: multi
labels: [billing, shipping, quality]
---
# Review topics

Every topic the review mentions.

## Labels

### billing
Charges, prices and refunds.

### shipping
Delivery and packaging.

### quality
How well the product works.
"""

SPANS = """\
---
task: entities
kind: spans
labels: [PRODUCT, CITY]
---
# Entities

Mark every product name and every city.

## Labels

### PRODUCT
The name of a product.

### CITY
A city.
"""

TURNS = """\
---
task: turn-intent
unit: turn
labels: [greeting, refund, other]
---
# Turn intent

Label each user turn of a support chat.

## Labels

### greeting
Hello, thanks and goodbye.

### refund
The customer wants money back.

### other
Anything else.
"""

GUIDELINES = {"single": GUIDELINE, "multi": MULTI, "spans": SPANS, "turns": TURNS}

#: one item per shape, and the stub's scripted answer for it
SHAPE_ITEMS = {
    "single": {"id": "s-1", "text": "I would like my money back for the broken kettle."},
    "multi": {"id": "m-1", "text": "Charged twice, and the box arrived crushed."},
    "spans": {"id": "e-1", "text": "My Kettle 3000 broke in Paris."},
    "turns": {
        "id": "t-1",
        "messages": [
            {"role": "user", "content": "hi there"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "I want my money back"},
        ],
    },
}
SHAPE_SCRIPT = {
    "s-1": {"label": "refund", "confidence": 0.9, "logprob_confidence": 0.8},
    "m-1": {"labels": ["billing", "shipping"], "confidence": 0.8},
    "e-1": {
        "spans": [
            {"start": 3, "end": 14, "label": "PRODUCT"},
            {"start": 24, "end": 29, "label": "CITY"},
        ],
        "confidence": 0.9,
    },
    "t-1": {
        "answer": {
            "turns": [{"turn": 0, "label": "greeting"}, {"turn": 2, "label": "refund"}],
            "guideline_section": "refund",
            "rationale": "Turn 2 asks for money back.",
            "confidence": 85,
        },
        "logprob_confidence": 0.9,
    },
}
#: the value each shape's item must end with
SHAPE_VALUES = {
    "single": {"label": "refund"},
    "multi": {"labels": ["billing", "shipping"]},
    "spans": {
        "spans": [
            {"start": 3, "end": 14, "label": "PRODUCT", "text": "Kettle 3000"},
            {"start": 24, "end": 29, "label": "CITY", "text": "Paris"},
        ]
    },
    "turns": {"turns": {"0": "greeting", "2": "refund"}},
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_project(
    root: Path, rows: list[dict], shape: str = "single", reviewer: str | None = None, **settings
) -> Project:
    """A project for the shape's guideline with ``rows`` imported (the CLI's import path)."""
    root.mkdir(parents=True, exist_ok=True)
    guideline = root / f"{shape}.md"
    guideline.write_text(GUIDELINES[shape], encoding="utf-8")
    project = init_project(root / "project", guideline, **settings)
    loop.import_file(project, write_jsonl(root / "items.jsonl", rows), reviewer=reviewer)
    return project


def label(project: Project, api_base: str, model: str = MODEL, **options) -> LabelRun:
    """``labelloop label --model MODEL --api-base URL``, with short retry waits."""
    options.setdefault("retry_wait", 0.01)
    return loop.label(project, model, api_base=api_base, **options)


def suggestions(project: Project, model: str = MODEL) -> dict[str, Suggestion]:
    return project.store.latest_suggestions(model=model)


def call_rows(db: Path, where: str = "1=1") -> list[sqlite3.Row]:
    """Rows of the call log, read as another process would."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(f"SELECT * FROM llm_calls WHERE {where} ORDER BY id").fetchall()
    finally:
        conn.close()


def leaky(app, seen: list[str]):
    """The stub, noting each request's Authorization header and echoing it in every error
    body, as a careless server would (OpenAI's 401 echoes part of the key)."""

    async def asgi(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        seen.append(auth)
        held: dict = {}

        async def relay(message):
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.update(message)
                return
            if message["type"] == "http.response.body" and held:
                body = json.loads(message["body"])
                body["error"]["message"] += f" (you sent: {auth})"
                data = json.dumps(body).encode()
                headers = [(k, v) for k, v in held["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(data)).encode()))
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": data})
                return
            await send(message)

        await app(scope, receive, relay)

    return asgi


@contextmanager
def litellm_debug():
    """litellm's debug logging on, and back as it was afterwards."""
    from labelloop.label.providers.transport import litellm

    loggers = [litellm._logging.verbose_logger, litellm._logging.verbose_router_logger]
    loggers.append(litellm._logging.verbose_proxy_logger)
    levels = [lg.level for lg in loggers]
    litellm._turn_on_debug()
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
