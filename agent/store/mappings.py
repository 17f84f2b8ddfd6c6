"""Label mappings (rename, merge, split) recorded and applied without rewriting history.

Reviews stay append-only. For an item whose reviews use a renamed or merged label, the
latest review of *every* reviewer of that item is appended again, in its original order,
with the labels mapped, ``source = "mapping"``, the original time and a ``reason`` naming
the mapping; the original rows stay as they were. Re-appending every reviewer's latest
review (not only the affected ones) keeps "the latest review of the item" what it was.
A split label cannot be mapped: the item gets one ``reopen`` review (reviewer
``labelloop``), after which its earlier decisions no longer count and people decide again.

Suggestions: the latest suggestion of each model for an affected item is appended again
with its labels mapped (cost 0, so spend is not counted twice) or, for a split, as a
failed suggestion whose error says why, so the item waits in the active queue.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from labelloop.core.records import LabelMapping
from labelloop.core.types import REOPEN, LabelValue, Review, Suggestion
from labelloop.store.base import (
    review_from_row,
    review_to_values,
    suggestion_from_row,
    suggestion_to_values,
    to_record,
)
from labelloop.store.tables import LabelMappingRow, ReviewRow, SuggestionRow

T_MAPPINGS = LabelMappingRow.__table__
T_REVIEWS = ReviewRow.__table__
T_SUGG = SuggestionRow.__table__
#: the reviewer name on reviews the program writes itself
SYSTEM_REVIEWER = "labelloop"

#: maps a value to its new form, or None when it cannot be mapped (a split label)
Remap = Callable[[LabelValue], LabelValue | None]


class MappingsMixin:
    def apply_label_mapping(
        self, record: dict, touched: frozenset[str], remap: Remap, note: str, model: str
    ) -> LabelMappingRow:
        """Record the mapping (``record``: kind, mapping, targets, guideline versions) and
        apply it, in one transaction, to every item whose reviews or suggestions use a
        ``touched`` label. A reopened item that ``model`` (the routing model) never labeled
        gets a failed suggestion from it, so it waits for people in the active queue."""
        affected = lambda v: v is not None and bool(touched & set(v.names()))  # noqa: E731
        reviews = self._latest_per_reviewer()
        items = sorted(i for i, rs in reviews.items() if any(affected(r.value) for r, _ in rs))
        suggestions = [s for s in self._latest_per_model() if affected(s.value)]
        with self.engine.begin() as c:
            mapping_id = c.execute(
                sa.insert(T_MAPPINGS).returning(T_MAPPINGS.c.id),
                [{**record, "created_at": datetime.now(UTC)}],
            ).scalar_one()
            reason = f"label mapping {mapping_id}: {note}"
            rows, reopened = [], []
            for item_id in items:
                copies = _copies(reviews[item_id], remap, affected, reason)
                reopened += [item_id] if copies is None else []
                rows += copies if copies is not None else [_reopen(item_id, reason)]
            if rows:
                c.execute(sa.insert(T_REVIEWS), rows)
            new = [_suggestion_copy(s, remap, reason) for s in suggestions]
            labeled = {s.item_id for s in suggestions if s.model == model}
            labeled |= set(self.latest_suggestions(model=model, item_ids=reopened))
            new += [_failed(i, model, reason) for i in reopened if i not in labeled]
            if new:
                c.execute(sa.insert(T_SUGG), new)
            counts = {
                "reviews_mapped": len(rows) - len(reopened),
                "suggestions_mapped": len(suggestions),
                "items_reopened": len(reopened),
            }
            c.execute(sa.update(T_MAPPINGS).where(T_MAPPINGS.c.id == mapping_id).values(counts))
        return self.label_mappings()[-1]

    def label_mappings(self, since: datetime | None = None) -> list[LabelMapping]:
        """Recorded mappings, oldest first (made after ``since`` when given)."""
        q = sa.select(LabelMappingRow).order_by(LabelMappingRow.id)
        if since is not None:
            q = q.where(LabelMappingRow.created_at > since)
        with self.session() as s:
            return [to_record(LabelMapping, r) for r in s.exec(q).scalars()]

    def _latest_per_reviewer(self) -> dict[str, list[tuple[Review, int | None]]]:
        """item -> each reviewer's latest review (and its import) since the item's last
        reopen, oldest first."""
        latest: dict[str, dict[str, tuple[Review, int | None]]] = {}
        with self.session() as s:
            for row in s.exec(sa.select(ReviewRow).order_by(ReviewRow.id)).scalars():
                if row.action == REOPEN:
                    latest.pop(row.item_id, None)
                else:
                    latest.setdefault(row.item_id, {})[row.reviewer] = (
                        review_from_row(row),
                        row.import_id,
                    )
        return {i: sorted(rs.values(), key=lambda p: p[0].id) for i, rs in latest.items()}

    def _latest_per_model(self):
        sub = (
            sa.select(sa.func.max(T_SUGG.c.id).label("id"))
            .group_by(T_SUGG.c.item_id, T_SUGG.c.model)
            .subquery()
        )
        q = sa.select(SuggestionRow).join(sub, sub.c.id == SuggestionRow.id)
        with self.session() as s:
            return [suggestion_from_row(r) for r in s.exec(q.order_by(SuggestionRow.id)).scalars()]


def _copies(reviews, remap: Remap, affected, reason: str) -> list[dict] | None:
    """Every reviewer's latest review again, mapped; None when a label cannot be mapped.

    A copy keeps the original's import: a sample import's label must still pair for
    calibration."""
    out = []
    for r, import_id in reviews:
        value = r.value
        if affected(value):
            value = remap(value)
            if value is None:
                return None
        copy = r.model_copy(update={"value": value, "source": "mapping", "reason": reason})
        out.append(review_to_values(copy, import_id=import_id))
    return out


def _reopen(item_id: str, reason: str) -> dict:
    review = Review(
        item_id=item_id, reviewer=SYSTEM_REVIEWER, action=REOPEN, source="mapping", reason=reason
    )
    return review_to_values(review)


def _failed(item_id: str, model: str, reason: str) -> dict:
    error = f"{reason}: a person decides"
    return suggestion_to_values(
        Suggestion(item_id=item_id, model=model, value=None, status="failed", error=error)
    )


def _suggestion_copy(s, remap: Remap, reason: str) -> dict:
    value = remap(s.value)
    update: dict = {"value": value, "cost_usd": 0.0, "created_at": datetime.now(UTC)}
    if value is None:
        update |= {"status": "failed", "error": f"{reason}: a person decides"}
    return suggestion_to_values(s.model_copy(update=update))
