"""Model suggestions and the LLM call log."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import sqlalchemy as sa

from labelloop.core.types import Suggestion
from labelloop.store.base import suggestion_from_row, suggestion_to_values
from labelloop.store.tables import SuggestionRow

T_SUGG = SuggestionRow.__table__


class SuggestionsMixin:
    def add_suggestions(self, suggestions: Sequence[Suggestion]) -> list[int]:
        """Insert suggestions in one transaction and return their ids, in order."""
        if not suggestions:
            return []
        rows = [suggestion_to_values(s) for s in suggestions]
        with self.engine.begin() as c:
            result = c.execute(
                sa.insert(T_SUGG).returning(T_SUGG.c.id, sort_by_parameter_order=True), rows
            )
            return [r[0] for r in result]

    def latest_suggestions(
        self, model: str | None = None, item_ids: Sequence[str] | None = None
    ) -> dict[str, Suggestion]:
        """The newest suggestion per item (from ``model`` when given)."""
        latest = sa.select(T_SUGG.c.item_id, sa.func.max(T_SUGG.c.id).label("id"))
        if model is not None:
            latest = latest.where(T_SUGG.c.model == model)
        if item_ids is not None:
            latest = latest.where(T_SUGG.c.item_id.in_(list(item_ids)))
        sub = latest.group_by(T_SUGG.c.item_id).subquery()
        q = sa.select(SuggestionRow).join(sub, sub.c.id == SuggestionRow.id)
        with self.session() as s:
            return {r.item_id: suggestion_from_row(r) for r in s.exec(q).scalars()}

    def version_suggestions(
        self, model: str, prompt_version: str, guideline_version: str
    ) -> dict[str, Suggestion]:
        """The newest suggestion per item made by ``model`` under these versions."""
        latest = (
            sa.select(T_SUGG.c.item_id, sa.func.max(T_SUGG.c.id).label("id"))
            .where(
                T_SUGG.c.model == model,
                T_SUGG.c.prompt_version == prompt_version,
                T_SUGG.c.guideline_version == guideline_version,
            )
            .group_by(T_SUGG.c.item_id)
            .subquery()
        )
        q = sa.select(SuggestionRow).join(latest, latest.c.id == SuggestionRow.id)
        with self.session() as s:
            return {r.item_id: suggestion_from_row(r) for r in s.exec(q).scalars()}

    def suggestions_for(self, item_id: str) -> list[Suggestion]:
        """Every suggestion made for an item, oldest first."""
        q = sa.select(SuggestionRow).where(SuggestionRow.item_id == item_id)
        with self.session() as s:
            return [suggestion_from_row(r) for r in s.exec(q.order_by(SuggestionRow.id)).scalars()]

    def get_suggestion(self, suggestion_id: int) -> Suggestion | None:
        with self.session() as s:
            row = s.get(SuggestionRow, suggestion_id)
            return suggestion_from_row(row) if row else None

    def suggestions_by_id(self, suggestion_ids: Sequence[int]) -> list[Suggestion]:
        """The suggestions with these ids."""
        out: list[Suggestion] = []
        with self.session() as s:
            for i in range(0, len(suggestion_ids), 900):
                q = sa.select(SuggestionRow).where(
                    SuggestionRow.id.in_(suggestion_ids[i : i + 900])
                )
                out += [suggestion_from_row(r) for r in s.exec(q).scalars()]
        return out

    def has_suggestions(self, model: str) -> bool:
        """Whether ``model`` has made any suggestion (one index lookup)."""
        q = sa.select(T_SUGG.c.id).where(T_SUGG.c.model == model).limit(1)
        with self.engine.connect() as c:
            return c.execute(q).first() is not None

    def newest_suggestions(self, model: str) -> dict[str, tuple[int, str, str]]:
        """item id -> (id, prompt version, guideline version) of its newest suggestion by
        ``model``: in one read, what a run labels and what it saw before listing it."""
        sub = (
            sa.select(sa.func.max(T_SUGG.c.id).label("id"))
            .where(T_SUGG.c.model == model)
            .group_by(T_SUGG.c.item_id)
            .subquery()
        )
        t = T_SUGG.c
        q = sa.select(t.item_id, t.id, t.prompt_version, t.guideline_version).join(
            sub, sub.c.id == t.id
        )
        with self.engine.connect() as c:
            return {r.item_id: (r.id, r.prompt_version, r.guideline_version) for r in c.execute(q)}

    def suggestion_versions(self, model: str) -> dict[str, tuple[str, str]]:
        """item id -> (prompt version, guideline version) of its newest suggestion by model."""
        return {i: (p, g) for i, (_, p, g) in self.newest_suggestions(model).items()}

    def latest_suggestion_ids(self, model: str, item_ids: Collection[str]) -> dict[str, int]:
        """item id -> the id of its newest suggestion by ``model``, for these items."""
        q = sa.select(T_SUGG.c.item_id, sa.func.max(T_SUGG.c.id)).where(T_SUGG.c.model == model)
        out: dict[str, int] = {}
        ids = list(item_ids)
        with self.engine.connect() as c:
            for i in range(0, len(ids), 900):
                part = q.where(T_SUGG.c.item_id.in_(ids[i : i + 900])).group_by(T_SUGG.c.item_id)
                out.update(c.execute(part).all())
        return out

    def failed_with_signal(self, model: str, signal: str) -> set[str]:
        """Items whose newest suggestion by ``model`` failed and carries ``signal``."""
        sub = (
            sa.select(sa.func.max(T_SUGG.c.id).label("id"))
            .where(T_SUGG.c.model == model)
            .group_by(T_SUGG.c.item_id)
            .subquery()
        )
        q = (
            sa.select(T_SUGG.c.item_id, T_SUGG.c.signals)
            .join(sub, sub.c.id == T_SUGG.c.id)
            .where(T_SUGG.c.status == "failed")
        )
        with self.engine.connect() as c:
            return {r.item_id for r in c.execute(q) if signal in (r.signals or {})}

    def suggestion_totals(self) -> dict:
        """Suggestions made, failures and money spent, per model."""
        q = sa.select(
            T_SUGG.c.model,
            sa.func.count(),
            sa.func.sum(sa.case((T_SUGG.c.status == "failed", 1), else_=0)),
            sa.func.coalesce(sa.func.sum(T_SUGG.c.cost_usd), 0.0),
        ).group_by(T_SUGG.c.model)
        with self.engine.connect() as c:
            return {
                m: {"suggestions": n, "failed": int(f or 0), "cost_usd": float(cost)}
                for m, n, f, cost in c.execute(q)
            }
