"""Calibration pairs, calibration runs and calibrated probabilities."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from datetime import datetime

import sqlalchemy as sa

from labelloop.core.questions import answer_to
from labelloop.core.records import CalibrationRun
from labelloop.core.types import Frozen, LabelValue, Review, Suggestion
from labelloop.store.base import review_from_row, suggestion_from_row, to_record
from labelloop.store.routes import live_reviews
from labelloop.store.tables import (
    CalibrationRunRow,
    ImportRow,
    ReviewRow,
    RouteRow,
    SuggestionRow,
)

T_REVIEWS = ReviewRow.__table__
T_SUGG = SuggestionRow.__table__
T_IMPORTS = ImportRow.__table__
T_RUNS = CalibrationRunRow.__table__
DECIDED = ("accept", "fix", "import")
#: decided, blind reviews from the calibration queue, of items that stayed in it while leased
BLIND_CALIBRATION = (
    ReviewRow.queue == "calibration",
    ReviewRow.blind.is_(True),
    ReviewRow.route_changed.is_(False),
    ReviewRow.action.in_(DECIDED),
    live_reviews(),
)


#: decided blind reviews in the calibration or audit queue: neither saw the suggestion
BLIND_DECIDED = (
    ReviewRow.queue.in_(("calibration", "audit")),
    ReviewRow.blind.is_(True),
    ReviewRow.route_changed.is_(False),
    ReviewRow.action.in_(DECIDED),
    live_reviews(),
)


class Pair(Frozen):
    """A model suggestion and a blind human label on an item."""

    suggestion: Suggestion
    review: Review
    #: "calibration" (console, blind) | "audit" (console, blind) | "import" (a sample import)
    source: str

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
        consensus: Callable[[list[Review]], LabelValue | None] | None = None,
    ) -> list[Pair]:
        """Blind labels paired with the model's latest suggestion of the item, one per item
        (its latest review), where that suggestion has the given versions.

        Blind labels do not depend on any suggestion, so a label given while the item was
        routed on an older version (or another model) pairs with the current one. Blind
        reviews from the calibration and audit queues, and labels from imports marked as a
        uniform sample; active-queue reviews never enter.

        ``consensus``: the label of an item several people labeled blind, from their reviews
        (oldest first); None leaves the item out (no consensus). Without it, the latest
        review's label.
        """
        found = self._queue_pairs(model, since) + self._sample_pairs(model, since)
        pairs: dict[str, Pair] = {}
        votes: dict[str, list[Review]] = {}
        reopened = self.reopened_items()
        for review, sugg in sorted(found, key=lambda p: p[0].id):
            if (
                review.id > reopened.get(review.item_id, 0)
                and sugg.prompt_version == prompt_version
                and sugg.guideline_version == guideline_version
                and review.item_id not in sugg.fewshot_ids
            ):
                source = "import" if review.source == "import" else review.queue
                pairs[review.item_id] = Pair(suggestion=sugg, review=review, source=source)
                votes.setdefault(review.item_id, []).append(review)
        if consensus is not None:
            for item_id, reviews in votes.items():
                value = consensus(reviews)
                if value is None:
                    del pairs[item_id]
                else:
                    pair = pairs[item_id]
                    agreed = pair.review.model_copy(update={"value": value})
                    pairs[item_id] = pair.model_copy(update={"review": agreed})
        return [pairs[k] for k in sorted(pairs)]

    def _queue_pairs(self, model: str, since):
        """Blind calibration and audit reviews, with the model's latest suggestion."""
        latest = _latest(model)
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(SuggestionRow, SuggestionRow.item_id == ReviewRow.item_id)
            .join(latest, latest.c.id == SuggestionRow.id)
            .where(*BLIND_DECIDED)
        )
        return self._pairs(q, since)

    def _sample_pairs(self, model: str, since):
        latest = _latest(model)
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(ImportRow, ImportRow.id == ReviewRow.import_id)
            .join(SuggestionRow, SuggestionRow.item_id == ReviewRow.item_id)
            .join(latest, latest.c.id == SuggestionRow.id)
            .where(ImportRow.sample.is_(True), ReviewRow.action == "import")
        )
        return self._pairs(q, since)

    def _pairs(self, q, since) -> list[tuple[Review, Suggestion]]:
        """(review, suggestion) rows of a query, oldest review first, from ``since`` on."""
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        with self.session() as s:
            rows = s.exec(q.order_by(ReviewRow.id)).all()
            return [(review_from_row(r), suggestion_from_row(g)) for r, g in rows]

    def calibration_item_ids(self) -> set[str]:
        """Items with a human label that may calibrate: a blind calibration-queue decision
        or a label from an import marked as a sample."""
        queue = sa.select(ReviewRow.item_id).where(*BLIND_CALIBRATION)
        sample = (
            sa.select(ReviewRow.item_id)
            .join(ImportRow, ImportRow.id == ReviewRow.import_id)
            .where(ImportRow.sample.is_(True), ReviewRow.action == "import")
        )
        with self.engine.connect() as c:
            return set(c.execute(sa.union(queue, sample)).scalars())

    def skipped_calibration_item_ids(self) -> set[str]:
        """Calibration items a reviewer skipped: an outcome nobody may assume."""
        q = (
            sa.select(T_REVIEWS.c.item_id)
            .distinct()
            .where(T_REVIEWS.c.queue == "calibration", T_REVIEWS.c.action == "skip")
        )
        with self.engine.connect() as c:
            return set(c.execute(q).scalars())

    def skipped_calibration_items(self) -> int:
        """Calibration items a reviewer skipped (reported, never silently dropped)."""
        q = sa.select(sa.func.count(sa.distinct(T_REVIEWS.c.item_id))).where(
            T_REVIEWS.c.queue == "calibration", T_REVIEWS.c.action == "skip"
        )
        with self.engine.connect() as c:
            return c.execute(q).scalar_one()

    def save_calibration_run(self, run: CalibrationRun) -> int:
        """Store a new run; returns its id."""
        values = {f.name: getattr(run, f.name) for f in dataclass_fields(run)}
        row = CalibrationRunRow(**{k: v for k, v in values.items() if v is not None})
        with self.session() as s:
            s.add(row)
            s.commit()
            return row.id

    def latest_calibration_run(
        self, model: str | None = None, question: str | None = None
    ) -> CalibrationRun | None:
        """The newest run (of ``model``): of ``question``, else on the item as a whole."""
        q = sa.select(CalibrationRunRow).order_by(CalibrationRunRow.id.desc()).limit(1)
        if model is not None:
            q = q.where(CalibrationRunRow.model == model)
        if question is None:
            q = q.where(CalibrationRunRow.question.is_(None))
        else:
            q = q.where(CalibrationRunRow.question == question)
        with self.session() as s:
            row = s.exec(q).scalars().first()
            return None if row is None else to_record(CalibrationRun, row)

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

    def set_question_calibrated(self, probabilities: dict[int, dict[str, float | None]]) -> None:
        """Store calibrated P(answer correct) per question in suggestions' signals, as
        ``"{question}.calibrated"`` (suggestion id -> question -> probability); the other
        signals are kept as they are."""
        if not probabilities:
            return
        ids = list(probabilities)
        rows = []
        with self.engine.begin() as c:
            for i in range(0, len(ids), 900):
                chunk = ids[i : i + 900]
                q = sa.select(T_SUGG.c.id, T_SUGG.c.signals).where(T_SUGG.c.id.in_(chunk))
                for sid, signals in c.execute(q):
                    got = dict(signals or {})
                    got.update({f"{k}.calibrated": v for k, v in probabilities[sid].items()})
                    rows.append({"sid": sid, "sig": got})
            stmt = (
                sa.update(T_SUGG)
                .where(T_SUGG.c.id == sa.bindparam("sid"))
                .values(signals=sa.bindparam("sig", type_=T_SUGG.c.signals.type))
            )
            if rows:
                c.execute(stmt, rows)

    def audit_outcomes(
        self, since: datetime | None = None, model: str | None = None
    ) -> tuple[int, int]:
        """(audited, wrong) for blind audit reviews of auto-accepted labels (of ``model``)."""
        q = (
            sa.select(ReviewRow, SuggestionRow)
            .join(SuggestionRow, SuggestionRow.id == ReviewRow.suggestion_id)
            .where(ReviewRow.queue == "audit", ReviewRow.action.in_(DECIDED), live_reviews())
        )
        if model is not None:
            q = q.where(SuggestionRow.model == model)
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        n = wrong = 0
        with self.session() as s:
            for r, g in s.exec(q).all():
                review, sugg = review_from_row(r), suggestion_from_row(g)
                n += 1
                wrong += sugg.value is None or sugg.value.key() != review.value.key()
        return n, wrong

    def question_audit_outcomes(
        self, question: str, since: datetime | None = None
    ) -> tuple[int, int]:
        """(audited, wrong) for one question of a guideline with questions: blind audit
        reviews answering it on items whose route auto-accepted it (``routes.accepted``),
        against the routed suggestion's answer to it."""
        q = (
            sa.select(ReviewRow, SuggestionRow, RouteRow.accepted)
            .join(SuggestionRow, SuggestionRow.id == ReviewRow.suggestion_id)
            .join(RouteRow, RouteRow.item_id == ReviewRow.item_id)
            .where(
                ReviewRow.queue == "audit",
                ReviewRow.action.in_(DECIDED),
                RouteRow.accepted.is_not(None),
                live_reviews(),
            )
        )
        if since is not None:
            q = q.where(ReviewRow.created_at >= since)
        n = wrong = 0
        with self.session() as s:
            for r, g, accepted in s.exec(q).all():
                if question not in (accepted or ()):
                    continue
                review, sugg = review_from_row(r), suggestion_from_row(g)
                said = answer_to(review.value, question)
                if said is None:
                    continue
                got = answer_to(sugg.value, question)
                n += 1
                wrong += got is None or got.key() != said.key()
        return n, wrong


def _latest(model: str):
    """The id of the model's newest suggestion per item, as a subquery."""
    return (
        sa.select(sa.func.max(T_SUGG.c.id).label("id"))
        .where(T_SUGG.c.model == model)
        .group_by(T_SUGG.c.item_id)
        .subquery()
    )
