"""Gold answers from the command line: a labeled file, or the labels of an import."""

from __future__ import annotations

from pathlib import Path

from labelloop.ingest.importer import parse_rows
from labelloop.ingest.readers import detect_format, read_rows, row_error
from labelloop.review.service import ReviewService


def add_gold_file(project, path: str | Path, admin: str, fmt: str | None = None) -> int:
    """Admin: the labels in a file (any import format, one per row) become the gold
    answers of those items, which must be in the store already; returns how many."""
    fmt = detect_format(path, fmt)
    answers = {}
    limit = project.config.max_item_chars
    rows = parse_rows(
        read_rows(path, fmt, by_question=project.guideline().asks_questions),
        project.guideline(),
        path,
        fmt,
        admin,
        max_item_chars=limit,
    )
    for row in rows:
        values = [r.value for r in row.reviews if r.value is not None]
        if len(values) != 1:
            raise row_error(path, fmt, row.line, "a gold row needs exactly one label")
        answers[row.item.id] = values[0]
    return _with_service(project, lambda svc: svc.add_gold(admin, answers))


def gold_from_import(project, admin: str, import_id: int | None = None) -> int:
    """Admin: the labels of an import (default: every import marked ``--sample``) become
    gold answers; returns how many."""
    return _with_service(project, lambda svc: svc.gold_from_import(admin, import_id))


def _with_service(project, call):
    svc = ReviewService(project, background_prefetch=False)
    try:
        return call(svc)
    finally:
        svc.close()
