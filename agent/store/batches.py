"""Provider batch jobs: the files of requests handed to a batch API, and their items."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from labelloop.core.records import BatchJob
from labelloop.store.base import aware
from labelloop.store.tables import BatchJobItemRow, BatchJobRow, LLMCallRow

T_BATCHES = BatchJobRow.__table__
T_BATCH_ITEMS = BatchJobItemRow.__table__
T_CALLS = LLMCallRow.__table__
_TIMES = ("created_at", "updated_at", "logged_at", "collected_at")


def _record(row) -> BatchJob:
    values = dict(row._mapping)
    values.update({k: aware(values[k]) for k in _TIMES})
    return BatchJob(**values)


class BatchesMixin:
    def add_batch_job(self, job: dict, items: list[dict]) -> None:
        """Record a batch and its items (``item_id``, ``cache_key``, ``fewshot``) before
        anything is uploaded."""
        now = datetime.now(UTC)
        with self.engine.begin() as c:
            c.execute(sa.insert(T_BATCHES), [{"created_at": now, "updated_at": now, **job}])
            for i in range(0, len(items), 5000):
                rows = [{"batch_id": job["id"], **it} for it in items[i : i + 5000]]
                c.execute(sa.insert(T_BATCH_ITEMS), rows)

    def update_batch_job(self, batch_id: str, **values) -> None:
        values["updated_at"] = datetime.now(UTC)
        with self.engine.begin() as c:
            c.execute(sa.update(T_BATCHES).where(T_BATCHES.c.id == batch_id).values(**values))

    def batch_jobs(self, model: str | None = None, open_only: bool = False) -> list[BatchJob]:
        """Batches, oldest first (of ``model``; only those not yet collected nor abandoned)."""
        q = sa.select(T_BATCHES).order_by(T_BATCHES.c.created_at, T_BATCHES.c.id)
        if model is not None:
            q = q.where(T_BATCHES.c.model == model)
        if open_only:
            q = q.where(T_BATCHES.c.collected_at.is_(None), T_BATCHES.c.status != "abandoned")
        with self.engine.connect() as c:
            return [_record(r) for r in c.execute(q)]

    def batch_job(self, batch_id: str) -> BatchJob | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(T_BATCHES).where(T_BATCHES.c.id == batch_id)).first()
        return _record(row) if row is not None else None

    def batch_job_items(self, batch_id: str) -> list[tuple[str, str, list]]:
        """(item id, cache key, few-shot example ids) of each item in the batch."""
        t = T_BATCH_ITEMS
        q = sa.select(t.c.item_id, t.c.cache_key, t.c.fewshot).where(t.c.batch_id == batch_id)
        with self.engine.connect() as c:
            return [(i, k, list(f or ())) for i, k, f in c.execute(q.order_by(t.c.item_id))]

    def items_in_open_batches(self, model: str) -> dict[str, str]:
        """item id -> the open batch (not yet collected nor abandoned) that asked it."""
        b, t = T_BATCHES, T_BATCH_ITEMS
        q = (
            sa.select(t.c.item_id, t.c.batch_id)
            .join(b, b.c.id == t.c.batch_id)
            .where(b.c.model == model, b.c.collected_at.is_(None), b.c.status != "abandoned")
        )
        with self.engine.connect() as c:
            return dict(c.execute(q).all())

    def in_open_batches(self, model: str, item_ids: list[str]) -> set[str]:
        """Those of ``item_ids`` an open batch of ``model`` asked."""
        b, t = T_BATCHES, T_BATCH_ITEMS
        out: set[str] = set()
        with self.engine.connect() as c:
            for i in range(0, len(item_ids), 900):
                q = (
                    sa.select(t.c.item_id)
                    .join(b, b.c.id == t.c.batch_id)
                    .where(
                        b.c.model == model,
                        b.c.collected_at.is_(None),
                        b.c.status != "abandoned",
                        t.c.item_id.in_(item_ids[i : i + 900]),
                    )
                )
                out.update(c.execute(q).scalars())
        return out

    def log_batch_results(self, batch_id: str, calls: list[dict], cost_usd: float) -> bool:
        """Commit a batch's answers to the call log, once: False (nothing written) when an
        earlier collection already did."""
        now = datetime.now(UTC)
        with self.engine.begin() as c:
            done = c.execute(
                sa.update(T_BATCHES)
                .where(T_BATCHES.c.id == batch_id, T_BATCHES.c.logged_at.is_(None))
                .values(logged_at=now, updated_at=now, cost_usd=cost_usd)
            ).rowcount
            if not done:
                return False
            for i in range(0, len(calls), 2000):
                rows = [{"created_at": now, **call} for call in calls[i : i + 2000]]
                c.execute(sa.insert(T_CALLS), rows)
        return True
