"""The LLM call log: every request and response, committed as it happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.records import LLMCall
from labelloop.store.base import to_record
from labelloop.store.tables import LLMCallRow, PromptPrefixRow

T_CALLS = LLMCallRow.__table__
T_PREFIX = PromptPrefixRow.__table__


class CallsMixin:
    def log_call(self, row: dict) -> int:
        """Append one call (request, response or error, usage, cost) and commit at once."""
        row = {"created_at": datetime.now(UTC), **row}
        with self.engine.begin() as c:
            return c.execute(sa.insert(T_CALLS).returning(T_CALLS.c.id), [row]).scalar_one()

    def save_prefix(self, digest: str, text: str) -> None:
        """Keep a static prompt prefix once, however many requests (and workers starting
        at the same moment) share it."""
        ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(T_PREFIX)
        ins = ins.values(hash=digest, text=text, created_at=datetime.now(UTC))
        with self.engine.begin() as c:
            c.execute(ins.on_conflict_do_nothing(index_elements=["hash"]))

    def committed_responses(self, cache_keys: list[str]) -> dict[str, str]:
        """cache key -> the latest successful raw response logged for it."""
        out: dict[str, str] = {}
        for i in range(0, len(cache_keys), 900):
            q = (
                sa.select(T_CALLS.c.cache_key, T_CALLS.c.response)
                .where(T_CALLS.c.cache_key.in_(cache_keys[i : i + 900]), T_CALLS.c.status == "ok")
                .order_by(T_CALLS.c.id)
            )
            with self.engine.connect() as c:
                out.update((k, r) for k, r in c.execute(q))
        return out

    def calls_for(self, item_id: str) -> list[LLMCall]:
        with self.session() as s:
            q = sa.select(LLMCallRow).where(LLMCallRow.item_id == item_id).order_by(LLMCallRow.id)
            return [to_record(LLMCall, r) for r in s.exec(q).scalars()]

    def prune_calls(self, older_than_days: int) -> int:
        """Delete call-log rows older than the retention period; returns how many."""
        cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
        with self.engine.begin() as c:
            return c.execute(sa.delete(T_CALLS).where(T_CALLS.c.created_at < cutoff)).rowcount

    def llm_totals_by_model(self) -> dict[str, dict]:
        """Calls, failures, tokens and cost per model from the call log."""
        q = sa.select(
            T_CALLS.c.model,
            sa.func.count(),
            sa.func.sum(sa.case((T_CALLS.c.status != "ok", 1), else_=0)),
            sa.func.coalesce(sa.func.sum(T_CALLS.c.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(T_CALLS.c.completion_tokens), 0),
            sa.func.coalesce(sa.func.sum(T_CALLS.c.cost_usd), 0.0),
        ).group_by(T_CALLS.c.model)
        with self.engine.connect() as c:
            return {
                m: {
                    "calls": n,
                    "errors": int(e or 0),
                    "prompt_tokens": int(pt),
                    "completion_tokens": int(ct),
                    "cost_usd": float(cost),
                }
                for m, n, e, pt, ct, cost in c.execute(q)
            }
