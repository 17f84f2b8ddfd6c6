"""Calibration pairs, calibration runs and calibrated probabilities."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from agent.store.base import review_from_row, suggestion_from_row
from agent.store.tables import CalibrationRunRow, ImportRow, ReviewRow, SuggestionRow
from agent.types import Frozen, Review, Suggestion

T_REVIEWS = ReviewRow.__table__
T_SUGG = SuggestionRow.__table__
T_IMPORTS = ImportRow.__table__
T_RUNS = CalibrationRunRow.__table__
DECIDED = ("accept", "fix", "import")


class Pair(Frozen):
    """A model suggestion and a blind human label on a uniformly drawn item."""

    suggestion: Suggestion
    review: Review
    source: str  # "calibration" (console, blind) | "import" (a sample import)

    @property
    def correct(self) -> bool:
        return self.suggestion.value is not None and (
            self.suggestion.value.key() == self.review.value.key()
        )


class CalibrationMixin:
    def calibration_pairs(
        self,
        model: str,
        prompt_version: str,
        guideline_version: str,
        since: datetime | None = None,
    ) -> list[Pair]:
        """Pairs that may fit the calibrator and the threshold, one per item (latest review).

        Only blind reviews from the calibration queue, paired with the suggestion that was
        routed there, and labels from imports marked as a uniform sample, paired with the
        model's latest suggestion. Active-queue and audit reviews never enter.
        """
        pairs: dict[str, Pair] = {}
        for review, sugg in self._queue_pairs(model, since) + self._sample_pairs(model, since):
            if (
                sugg.prompt_version == prompt_version
                and sugg.guideline_version == guideline_version
            ):
                source = "import" if review.source == "import" else "calibration"
                pairs[review.item_id] = Pair(suggestion=sugg, review=review, source=source)
        return [pairs[k] for k in sorted(pairs)]

    def _queue_pairs(self, model: str, since):
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(SuggestionRow, SuggestionRow.id == ReviewRow.suggestion_id)
            .where(
                ReviewRow.queue == "calibration",
                ReviewRow.blind.is_(True),
                ReviewRow.action.in_(DECIDED),
                SuggestionRow.model == model,
            )
            .order_by(ReviewRow.id)
        )
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        with self.session() as s:
            return [(review_from_row(r), suggestion_from_row(g)) for r, g in s.exec(q).all()]

    def _sample_pairs(self, model: str, since):
        latest = (
            sa.select(sa.func.max(T_SUGG.c.id).label("id"))
            .where(T_SUGG.c.model == model)
            .group_by(T_SUGG.c.item_id)
            .subquery()
        )
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(ImportRow, ImportRow.id == ReviewRow.import_id)
            .join(SuggestionRow, SuggestionRow.item_id == ReviewRow.item_id)
            .join(latest, latest.c.id == SuggestionRow.id)
            .where(ImportRow.sample.is_(True), ReviewRow.action == "import")
            .order_by(ReviewRow.id)
        )
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        with self.session() as s:
            return [(review_from_row(r), suggestion_from_row(g)) for r, g in s.exec(q).all()]

    def skipped_calibration_items(self) -> int:
        """Calibration items a reviewer skipped (reported, never silently dropped)."""
        q = sa.select(sa.func.count(sa.distinct(T_REVIEWS.c.item_id))).where(
            T_REVIEWS.c.queue == "calibration", T_REVIEWS.c.action == "skip"
        )
        with self.engine.connect() as c:
            return c.execute(q).scalar_one()

    def save_calibration_run(self, row: CalibrationRunRow) -> int:
        with self.session() as s:
            s.add(row)
            s.commit()
            return row.id

    def latest_calibration_run(self, model: str | None = None) -> CalibrationRunRow | None:
        q = sa.select(CalibrationRunRow).order_by(CalibrationRunRow.id.desc()).limit(1)
        if model is not None:
            q = q.where(CalibrationRunRow.model == model)
        with self.session() as s:
            return s.exec(q).scalars().first()

    def set_calibrated(self, probabilities: dict[int, float | None]) -> None:
        """Store calibrated P(correct) on suggestions, by suggestion id."""
        if not probabilities:
            return
        rows = [{"sid": k, "p": v} for k, v in probabilities.items()]
        stmt = (
            sa.update(T_SUGG)
            .where(T_SUGG.c.id == sa.bindparam("sid"))
            .values(calibrated=sa.bindparam("p"))
        )
        with self.engine.begin() as c:
            c.execute(stmt, rows)

    def audit_outcomes(self, since: datetime | None = None) -> tuple[int, int]:
        """(audited, wrong) for blind audit reviews of auto-accepted labels."""
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(SuggestionRow, SuggestionRow.id == ReviewRow.suggestion_id)
            .where(ReviewRow.queue == "audit", ReviewRow.action.in_(DECIDED))
        )
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        n = wrong = 0
        with self.session() as s:
            for r, g in s.exec(q).all():
                review, sugg = review_from_row(r), suggestion_from_row(g)
                n += 1
                wrong += sugg.value is None or sugg.value.key() != review.value.key()
        return n, wrong
