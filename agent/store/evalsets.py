"""Frozen eval sets (versioned, never edited) and the runs that labeled them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from labelloop.core.types import Frozen, LabelValue
from labelloop.store.base import aware, value_from_json
from labelloop.store.tables import EvalRunItemRow, EvalRunRow, EvalSetItemRow, EvalSetRow

T_SETS = EvalSetRow.__table__
T_SET_ITEMS = EvalSetItemRow.__table__
T_RUNS = EvalRunRow.__table__
T_RUN_ITEMS = EvalRunItemRow.__table__


class EvalSet(Frozen):
    """One version of a named eval set with its gold labels (item id -> value)."""

    id: int
    name: str
    version: int
    guideline_version: str
    params: dict
    created_at: datetime
    gold: dict[str, LabelValue]
    review_ids: dict[str, int | None]


class EvalRun(Frozen):
    """One labeling of an eval-set version: model, prompt and guideline versions, answers."""

    id: int
    eval_set_id: int
    model: str
    prompt_version: str
    guideline_version: str
    items: int
    failed: int
    cost_usd: float
    params: dict
    created_at: datetime


class RunAnswer(Frozen):
    value: LabelValue | None = None
    confidence: float | None = None
    status: str = "ok"
    error: str | None = None


class EvalSetsMixin:
    def create_eval_set(
        self,
        name: str,
        guideline_version: str,
        params: dict,
        gold: Sequence[tuple[str, int | None, LabelValue]],
    ) -> EvalSet:
        """Freeze a new version of ``name`` holding ``gold`` (item id, review id, value)."""
        with self.engine.begin() as c:
            last = c.execute(
                sa.select(sa.func.max(T_SETS.c.version)).where(T_SETS.c.name == name)
            ).scalar()
            set_id = c.execute(
                sa.insert(T_SETS).returning(T_SETS.c.id),
                [
                    {
                        "name": name,
                        "version": (last or 0) + 1,
                        "frozen": True,
                        "guideline_version": guideline_version,
                        "params": params,
                        "created_at": datetime.now(UTC),
                    }
                ],
            ).scalar_one()
            if gold:
                c.execute(
                    sa.insert(T_SET_ITEMS),
                    [
                        {"eval_set_id": set_id, "item_id": i, "review_id": r, "gold": v.as_dict()}
                        for i, r, v in gold
                    ],
                )
        return self.eval_set_by_id(set_id)

    def eval_set_by_id(self, set_id: int) -> EvalSet | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(T_SETS).where(T_SETS.c.id == set_id)).first()
            if row is None:
                return None
            items = c.execute(
                sa.select(T_SET_ITEMS)
                .where(T_SET_ITEMS.c.eval_set_id == set_id)
                .order_by(T_SET_ITEMS.c.item_id)
            ).all()
        return EvalSet(
            id=row.id,
            name=row.name,
            version=row.version,
            guideline_version=row.guideline_version or "",
            params=row.params or {},
            created_at=aware(row.created_at),
            gold={r.item_id: value_from_json(r.gold) for r in items if r.gold is not None},
            review_ids={r.item_id: r.review_id for r in items},
        )

    def eval_set(self, name: str, version: int | None = None) -> EvalSet | None:
        """The named set's latest version, or ``version``."""
        q = sa.select(T_SETS.c.id).where(T_SETS.c.name == name)
        q = q.where(T_SETS.c.version == version) if version is not None else q
        with self.engine.connect() as c:
            set_id = c.execute(q.order_by(T_SETS.c.version.desc()).limit(1)).scalar()
        return self.eval_set_by_id(set_id) if set_id is not None else None

    def eval_sets(self) -> list[dict]:
        """Every version of every set: id, name, version, items, guideline, when."""
        n = (
            sa.select(T_SET_ITEMS.c.eval_set_id, sa.func.count().label("n"))
            .group_by(T_SET_ITEMS.c.eval_set_id)
            .subquery()
        )
        q = (
            sa.select(T_SETS, sa.func.coalesce(n.c.n, 0).label("n"))
            .outerjoin(n, n.c.eval_set_id == T_SETS.c.id)
            .order_by(T_SETS.c.name, T_SETS.c.version)
        )
        with self.engine.connect() as c:
            return [
                {
                    "id": r.id,
                    "name": r.name,
                    "version": r.version,
                    "items": r.n,
                    "guideline_version": r.guideline_version,
                    "params": r.params or {},
                    "created_at": aware(r.created_at),
                }
                for r in c.execute(q)
            ]

    def add_eval_run(self, run: dict, answers: dict[str, RunAnswer]) -> EvalRun:
        """Store one run (model, versions, counts, params) and every item's answer."""
        with self.engine.begin() as c:
            run_id = c.execute(
                sa.insert(T_RUNS).returning(T_RUNS.c.id),
                [{**run, "created_at": datetime.now(UTC)}],
            ).scalar_one()
            if answers:
                c.execute(
                    sa.insert(T_RUN_ITEMS),
                    [
                        {
                            "run_id": run_id,
                            "item_id": item_id,
                            "value": a.value.as_dict() if a.value is not None else None,
                            "confidence": a.confidence,
                            "status": a.status,
                            "error": a.error,
                        }
                        for item_id, a in answers.items()
                    ],
                )
        return self.eval_runs(run_ids=[run_id])[0]

    def eval_runs(
        self, set_ids: Sequence[int] | None = None, run_ids: Sequence[int] | None = None
    ) -> list[EvalRun]:
        """Runs, oldest first (of these sets, or these ids)."""
        q = sa.select(T_RUNS).order_by(T_RUNS.c.id)
        if set_ids is not None:
            q = q.where(T_RUNS.c.eval_set_id.in_(list(set_ids)))
        if run_ids is not None:
            q = q.where(T_RUNS.c.id.in_(list(run_ids)))
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        return [
            EvalRun(
                id=r.id,
                eval_set_id=r.eval_set_id,
                model=r.model,
                prompt_version=r.prompt_version,
                guideline_version=r.guideline_version,
                items=r._mapping["items"],
                failed=r.failed,
                cost_usd=r.cost_usd,
                params=r.params or {},
                created_at=aware(r.created_at),
            )
            for r in rows
        ]

    def eval_run_answers(self, run_id: int) -> dict[str, RunAnswer]:
        q = sa.select(T_RUN_ITEMS).where(T_RUN_ITEMS.c.run_id == run_id)
        with self.engine.connect() as c:
            return {
                r.item_id: RunAnswer(
                    value=value_from_json(r.value),
                    confidence=r.confidence,
                    status=r.status,
                    error=r.error,
                )
                for r in c.execute(q)
            }
