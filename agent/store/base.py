"""The store's core: engine, sessions and row <-> domain conversions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from labelloop.core.types import Item, LabelValue, Message, Reply, Review, Suggestion
from labelloop.store.db import create_engine, migrate
from labelloop.store.tables import ItemRow, ReviewRow, SuggestionRow

R = TypeVar("R")


def aware(dt: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored as UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


def item_from_row(row) -> Item:
    msgs = row.messages
    replies = getattr(row, "replies", None)
    return Item(
        id=row.id,
        text=row.text,
        messages=tuple(Message(**m) for m in msgs) if msgs is not None else None,
        target_turn=row.target_turn,
        replies=tuple(Reply.model_validate(r) for r in replies) if replies else None,
        meta=row.meta or {},
    )


def item_to_values(item: Item, import_id: int | None = None, line: int | None = None) -> dict:
    return {
        "id": item.id,
        "kind": "conversation" if item.is_conversation else "text",
        "text": item.text,
        "messages": [m.as_row() for m in item.messages] if item.messages else None,
        "target_turn": item.target_turn,
        "replies": [r.model_dump(exclude_none=True) for r in item.replies]
        if item.replies
        else None,
        "meta": item.meta or None,
        "content_hash": item.content_hash(),
        "import_id": import_id,
        "line": line,
        "created_at": datetime.now(UTC),
    }


def value_from_json(data: dict | str | None) -> LabelValue | None:
    """A stored label value, from the column's decoded JSON or from its text (see
    ``value_text``): values repeat across items, so each distinct text is parsed once."""
    if isinstance(data, str):
        return _value_from_text(data)
    if data is None:
        return None
    if "turns" in data:
        data = {**data, "turns": {int(k): v for k, v in data["turns"].items()}}
    return LabelValue(**data)


@lru_cache(maxsize=4096)
def _value_from_text(text: str) -> LabelValue | None:
    return value_from_json(json.loads(text))  # frozen: one instance serves every row


def value_text(column: sa.Column) -> sa.Label:
    """A JSON ``value`` column read as its text, for ``value_from_json`` to parse once."""
    return sa.cast(column, sa.Text).label(column.name)


class _JSONText(sa.types.TypeDecorator):
    """JSON that reaches Python as text (SQLite and PostgreSQL alike), decoded here."""

    impl = sa.Text
    cache_ok = True

    def process_result_value(self, value: str | None, dialect) -> object:
        return json.loads(value) if value is not None else None


def json_or_null(column: sa.Column) -> sa.Label:
    """A JSON column whose stored JSON ``null`` comes back as SQL NULL, so the common
    empty cell (an item's messages when it is a text, its meta when it has none) is
    never decoded."""
    text = sa.func.nullif(sa.cast(column, sa.Text), "null")
    return sa.type_coerce(text, _JSONText).label(column.name)


def suggestion_from_row(row: SuggestionRow) -> Suggestion:
    return Suggestion(
        id=row.id,
        item_id=row.item_id,
        model=row.model,
        value=value_from_json(row.value),
        confidence=row.confidence,
        calibrated=row.calibrated,
        rationale=row.rationale or "",
        signals=row.signals or {},
        prompt_version=row.prompt_version,
        guideline_version=row.guideline_version,
        fewshot_ids=tuple(row.fewshot_ids or ()),
        cache_key=row.cache_key,
        status=row.status,
        error=row.error,
        raw=row.raw,
        cost_usd=row.cost_usd,
        created_at=aware(row.created_at),
    )


def suggestion_to_values(s: Suggestion) -> dict:
    return {
        "item_id": s.item_id,
        "model": s.model,
        "prompt_version": s.prompt_version,
        "guideline_version": s.guideline_version,
        "fewshot_ids": list(s.fewshot_ids),
        "cache_key": s.cache_key,
        "value": s.value.as_dict() if s.value is not None else None,
        "confidence": s.confidence,
        "calibrated": s.calibrated,
        "rationale": s.rationale,
        "signals": dict(s.signals),
        "status": s.status,
        "error": s.error,
        "raw": s.raw,
        "cost_usd": s.cost_usd,
        "created_at": s.created_at,
    }


def review_from_row(row: ReviewRow) -> Review:
    return Review(
        id=row.id,
        item_id=row.item_id,
        reviewer=row.reviewer,
        action=row.action,
        value=value_from_json(row.value),
        queue=row.queue,
        blind=row.blind,
        suggestion_id=row.suggestion_id,
        duration_ms=row.duration_ms,
        reason=row.reason,
        comment=row.comment,
        source=row.source,
        supersedes=row.supersedes,
        bulk=bool(row.bulk),
        bulk_id=row.bulk_id,
        route_changed=bool(row.route_changed),
        created_at=aware(row.created_at),
    )


def review_to_values(r: Review, import_id: int | None = None) -> dict:
    return {
        "item_id": r.item_id,
        "reviewer": r.reviewer,
        "action": r.action,
        "value": r.value.as_dict() if r.value is not None else None,
        "queue": r.queue,
        "blind": r.blind,
        "suggestion_id": r.suggestion_id,
        "duration_ms": r.duration_ms,
        "reason": r.reason,
        "comment": r.comment,
        "source": r.source,
        "supersedes": r.supersedes,
        "bulk": r.bulk,
        "bulk_id": r.bulk_id,
        "route_changed": r.route_changed,
        "import_id": import_id,
        "created_at": r.created_at,
    }


class StoreBase:
    """Holds the engine; the mixins add one concern each."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str):
        """Open (and migrate) the store at a SQLAlchemy URL."""
        engine = create_engine(url)
        migrate(engine)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


ITEM_COLUMNS = ItemRow.__table__.c


def to_record(cls: type[R], row: Any, **given: Any) -> R:
    """A frozen record (``labelloop.core.records``) from a row with the same field names."""
    values = {f.name: getattr(row, f.name) for f in dataclass_fields(cls) if f.name not in given}
    return cls(**values, **given)
