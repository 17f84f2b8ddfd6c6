"""Several labeling processes on one store: workers, item leases, a shared rate limit and
a shared budget, and queued jobs.

A worker registers (``join_crew``), claims items a chunk at a time (``claim_items``: an
item is claimed when it has no lease or its lease lapsed), renews its leases with its
heartbeat and releases each item once its suggestion is stored. A worker killed mid-run
stops renewing: its items are taken over once their leases lapse (at once by a process on
the same machine, which can see that the holder is gone). Times are the database's clock
on PostgreSQL, so workers on machines whose clocks differ agree on what has lapsed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from labelloop.core.records import Job, Worker
from labelloop.store.base import aware
from labelloop.store.locks import dead_here
from labelloop.store.tables import (
    JobRow,
    LabelLeaseRow,
    RateGrantRow,
    WorkerRow,
)

T_WORKERS = WorkerRow.__table__
T_LEASES = LabelLeaseRow.__table__
T_GRANTS = RateGrantRow.__table__
T_JOBS = JobRow.__table__


class WorkersMixin:
    # --- clock ------------------------------------------------------------------------------

    def _clock(self):
        """Now, as SQL: the database's clock on PostgreSQL (shared by every machine)."""
        if self.dialect == "postgresql":
            return sa.func.clock_timestamp()
        return sa.literal(datetime.now(UTC), sa.DateTime(timezone=True))

    def db_now(self) -> datetime:
        with self.engine.connect() as c:
            return aware(c.execute(sa.select(self._clock())).scalar_one())

    # --- workers ----------------------------------------------------------------------------

    def join_crew(
        self, holder: str, model: str, command: str, ttl: float, max_cost: float | None
    ) -> str:
        """Register ``holder``; it joins the crew of the workers labeling ``model`` now, or
        starts one. Returns the crew."""
        life = timedelta(seconds=ttl)
        with self.engine.begin() as c:
            self._lock(c, f"crew:{model}")
            live = c.execute(
                sa.select(T_WORKERS.c.crew)
                .where(
                    T_WORKERS.c.model == model,
                    T_WORKERS.c.finished_at.is_(None),
                    T_WORKERS.c.expires_at > self._clock(),
                )
                .order_by(T_WORKERS.c.started_at)
                .limit(1)
            ).scalar()
            crew = live or holder
            c.execute(
                sa.insert(T_WORKERS).values(
                    holder=holder,
                    model=model,
                    crew=crew,
                    command=command,
                    started_at=self._clock(),
                    heartbeat_at=self._clock(),
                    expires_at=self._clock() + life,
                    status="running",
                    claimed=0,
                    labeled=0,
                    in_flight=0,
                    taken_over=0,
                    spent_usd=0.0,
                    reserved_usd=0.0,
                    max_cost=max_cost,
                )
            )
        return crew

    def heartbeat(self, holder: str, model: str, ttl: float, **counts: float) -> bool:
        """Renew the worker and its leases for ``ttl`` seconds, with its counts; False when
        its row is gone or was marked stopped (it lapsed and others took its items)."""
        life = timedelta(seconds=ttl)
        with self.engine.begin() as c:
            n = c.execute(
                sa.update(T_WORKERS)
                .where(T_WORKERS.c.holder == holder, T_WORKERS.c.status == "running")
                .values(heartbeat_at=self._clock(), expires_at=self._clock() + life, **counts)
            ).rowcount
            c.execute(
                sa.update(T_LEASES)
                .where(T_LEASES.c.holder == holder, T_LEASES.c.model == model)
                .values(expires_at=self._clock() + life)
            )
        return n > 0

    def finish_worker(self, holder: str, status: str = "finished", **counts: float) -> None:
        """The worker is done: its leases are released, its row kept for ``workers``."""
        with self.engine.begin() as c:
            c.execute(sa.delete(T_LEASES).where(T_LEASES.c.holder == holder))
            c.execute(
                sa.update(T_WORKERS)
                .where(T_WORKERS.c.holder == holder)
                .values(
                    {
                        **counts,
                        "status": status,
                        "finished_at": self._clock(),
                        "in_flight": 0,
                        "reserved_usd": 0.0,
                    }
                )
            )

    def workers(self, since: timedelta | None = timedelta(days=1)) -> list[Worker]:
        """Workers running now, and those that ended within ``since``, newest first."""
        held = (
            sa.select(T_LEASES.c.holder, sa.func.count().label("n"))
            .group_by(T_LEASES.c.holder)
            .subquery()
        )
        q = sa.select(T_WORKERS, sa.func.coalesce(held.c.n, 0).label("leases")).outerjoin(
            held, held.c.holder == T_WORKERS.c.holder
        )
        if since is not None:
            q = q.where(
                sa.or_(
                    T_WORKERS.c.finished_at.is_(None),
                    T_WORKERS.c.finished_at > self._clock() - since,
                )
            )
        q = q.order_by(T_WORKERS.c.started_at.desc())
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        return [
            Worker(
                **{
                    k: aware(v) if isinstance(v, datetime) else v
                    for k, v in r._mapping.items()
                    if k in Worker.__dataclass_fields__
                }
            )
            for r in rows
        ]

    # --- leases -----------------------------------------------------------------------------

    def claim_items(
        self, model: str, holder: str, item_ids: Sequence[str], ttl: float
    ) -> tuple[list[str], list[str]]:
        """Claim what is free of ``item_ids`` for ``model``: items with no lease, or whose
        lease lapsed (or whose holder is a process on this machine that no longer runs).
        Returns (claimed, taken over from another worker), in the order given."""
        if not item_ids:
            return [], []
        life = timedelta(seconds=ttl)
        ids = list(dict.fromkeys(item_ids))
        with self.engine.begin() as c:
            before = {
                r.item_id: (r.holder, aware(r.expires_at))
                for r in c.execute(
                    sa.select(T_LEASES.c.item_id, T_LEASES.c.holder, T_LEASES.c.expires_at).where(
                        T_LEASES.c.model == model, T_LEASES.c.item_id.in_(ids)
                    )
                )
            }
            gone = {h for h, _ in before.values() if h != holder and dead_here(h)}
            if gone:
                c.execute(
                    sa.update(T_LEASES)
                    .where(T_LEASES.c.holder.in_(gone))
                    .values(expires_at=self._clock() - timedelta(seconds=1))
                )
            rows = [{"model": model, "item_id": i, "holder": holder} for i in ids]
            if self.dialect == "postgresql":
                now_sql = sa.func.clock_timestamp()
                ins = pg_insert(T_LEASES).values(
                    [{**r, "claimed_at": now_sql, "expires_at": now_sql + life} for r in rows]
                )
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                now = datetime.now(UTC)
                ins = sqlite_insert(T_LEASES).values(
                    [{**r, "claimed_at": now, "expires_at": now + life} for r in rows]
                )
            ins = ins.on_conflict_do_update(
                index_elements=["model", "item_id"],
                set_={k: ins.excluded[k] for k in ("holder", "claimed_at", "expires_at")},
                where=sa.or_(T_LEASES.c.expires_at <= self._clock(), T_LEASES.c.holder == holder),
            ).returning(T_LEASES.c.item_id, T_LEASES.c.holder)
            got = {r.item_id for r in c.execute(ins) if r.holder == holder}
        claimed = [i for i in ids if i in got]
        taken = [i for i in claimed if i in before and before[i][0] != holder]
        return claimed, taken

    def release_items(self, model: str, holder: str, item_ids: Collection[str]) -> None:
        """Give items back (their suggestions are stored, or the worker stops)."""
        ids = list(item_ids)
        with self.engine.begin() as c:
            for i in range(0, len(ids), 900):
                c.execute(
                    sa.delete(T_LEASES).where(
                        T_LEASES.c.model == model,
                        T_LEASES.c.holder == holder,
                        T_LEASES.c.item_id.in_(ids[i : i + 900]),
                    )
                )

    def held_by_others(self, model: str, holder: str, item_ids: Collection[str]) -> set[str]:
        """Those of ``item_ids`` another worker holds a live lease on."""
        ids = list(item_ids)
        out: set[str] = set()
        with self.engine.connect() as c:
            for i in range(0, len(ids), 900):
                q = sa.select(T_LEASES.c.item_id, T_LEASES.c.holder).where(
                    T_LEASES.c.model == model,
                    T_LEASES.c.holder != holder,
                    T_LEASES.c.expires_at > self._clock(),
                    T_LEASES.c.item_id.in_(ids[i : i + 900]),
                )
                out.update(r.item_id for r in c.execute(q) if not dead_here(r.holder))
        return out

    # --- a shared rate limit ----------------------------------------------------------------

    def grant_rate(
        self,
        bucket: str,
        tokens: int,
        max_requests: float | None,
        max_tokens: float | None,
        span: float,
    ) -> float:
        """Grant one request of ``tokens`` under limits shared by every worker of
        ``bucket``: at most ``max_requests`` requests and ``max_tokens`` tokens granted in
        any ``span`` seconds. Returns 0 when granted, else the seconds until a grant could
        be made."""
        span = timedelta(seconds=span)
        with self.engine.begin() as c:
            self._lock(c, f"rate:{bucket}")
            now = aware(c.execute(sa.select(self._clock())).scalar_one())
            # what left the window is not needed again
            c.execute(
                sa.delete(T_GRANTS).where(T_GRANTS.c.bucket == bucket, T_GRANTS.c.at <= now - span)
            )
            mine = T_GRANTS.c.bucket == bucket
            requests, used = c.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(T_GRANTS.c.requests), 0),
                    sa.func.coalesce(sa.func.sum(T_GRANTS.c.tokens), 0),
                ).where(mine)
            ).one()
            asked = min(tokens, int(max_tokens)) if max_tokens else tokens
            fits = (max_requests is None or requests + 1 <= max_requests) and (
                max_tokens is None or used + asked <= max_tokens
            )
            if not fits:
                return self._rate_wait(c, mine, now, span, requests, used, asked,
                                       max_requests, max_tokens)  # fmt: skip
            c.execute(sa.insert(T_GRANTS).values(bucket=bucket, at=now, requests=1, tokens=asked))
        return 0.0

    @staticmethod
    def _rate_wait(c, mine, now, span, requests, used, asked, max_requests, max_tokens) -> float:
        """Seconds until one more request of ``asked`` tokens fits the window: until the
        grants in the way are older than ``span`` (every grant is one request)."""
        waits = [1e-3]
        if max_requests is not None and requests + 1 > max_requests:
            excess = int(requests + 1 - int(max_requests))
            q = sa.select(T_GRANTS.c.at).where(mine).order_by(T_GRANTS.c.at)
            at = c.execute(q.offset(excess - 1).limit(1)).scalar()
            waits.append((aware(at) + span - now).total_seconds())
        if max_tokens is not None and used + asked > max_tokens:
            held = sa.func.sum(T_GRANTS.c.tokens).over(order_by=(T_GRANTS.c.at, T_GRANTS.c.id))
            sub = sa.select(T_GRANTS.c.at, held.label("held")).where(mine).subquery()
            need = used + asked - max_tokens
            q = sa.select(sub.c.at).where(sub.c.held >= need).order_by(sub.c.at).limit(1)
            at = c.execute(q).scalar()
            waits.append((aware(at) + span - now).total_seconds())
        return max(waits)

    def rate_grants(self, bucket: str) -> list[datetime]:
        """When each request of ``bucket`` was granted (for checks and benchmarks)."""
        with self.engine.connect() as c:
            q = sa.select(T_GRANTS.c.at).where(T_GRANTS.c.bucket == bucket).order_by(T_GRANTS.c.at)
            return [aware(r) for r in c.execute(q).scalars()]

    # --- a shared budget --------------------------------------------------------------------

    def reserve_budget(self, holder: str, crew: str, amount: float, limit: float) -> bool:
        """Reserve ``amount`` of the crew's budget for ``holder``'s next item, when the
        crew's spend and reservations leave room under ``limit``."""
        with self.engine.begin() as c:
            self._lock(c, f"budget:{crew}")
            used = c.execute(
                sa.select(
                    sa.func.coalesce(
                        sa.func.sum(
                            T_WORKERS.c.spent_usd
                            + sa.case(  # a stopped or lapsed worker's calls are over
                                (
                                    sa.and_(
                                        T_WORKERS.c.finished_at.is_(None),
                                        T_WORKERS.c.expires_at > self._clock(),
                                    ),
                                    T_WORKERS.c.reserved_usd,
                                ),
                                else_=0.0,
                            )
                        ),
                        0.0,
                    )
                ).where(T_WORKERS.c.crew == crew)
            ).scalar_one()
            if used + amount > limit:
                return False
            c.execute(
                sa.update(T_WORKERS)
                .where(T_WORKERS.c.holder == holder)
                .values(reserved_usd=T_WORKERS.c.reserved_usd + amount)
            )
        return True

    def settle_budget(self, holder: str, reserved: float, spent: float) -> None:
        """An item is done: its reservation becomes what it cost."""
        with self.engine.begin() as c:
            c.execute(
                sa.update(T_WORKERS)
                .where(T_WORKERS.c.holder == holder)
                .values(
                    reserved_usd=sa.func.greatest(T_WORKERS.c.reserved_usd - reserved, 0.0)
                    if self.dialect == "postgresql"
                    else sa.func.max(T_WORKERS.c.reserved_usd - reserved, 0.0),
                    spent_usd=T_WORKERS.c.spent_usd + spent,
                )
            )

    def crew_spend(self, crew: str) -> float:
        with self.engine.connect() as c:
            q = sa.select(sa.func.coalesce(sa.func.sum(T_WORKERS.c.spent_usd), 0.0)).where(
                T_WORKERS.c.crew == crew
            )
            return float(c.execute(q).scalar_one())

    # --- jobs -------------------------------------------------------------------------------

    def add_job(self, kind: str, args: dict, requested_by: str | None = None) -> int:
        with self.engine.begin() as c:
            return c.execute(
                sa.insert(T_JOBS)
                .values(
                    kind=kind,
                    args=args,
                    status="queued",
                    requested_by=requested_by,
                    created_at=datetime.now(UTC),
                )
                .returning(T_JOBS.c.id)
            ).scalar_one()

    def take_job(self, holder: str, kinds: Collection[str]) -> Job | None:
        """The oldest queued job of ``kinds``, now running for ``holder``; None if none.
        Workers never take the same job: the row is locked, and skipped by the others."""
        q = (
            sa.select(T_JOBS.c.id)
            .where(T_JOBS.c.status == "queued", T_JOBS.c.kind.in_(list(kinds)))
            .order_by(T_JOBS.c.id)
            .limit(1)
        )
        if self.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        with self.engine.begin() as c:
            job_id = c.execute(q).scalar()
            if job_id is None:
                return None
            c.execute(
                sa.update(T_JOBS)
                .where(T_JOBS.c.id == job_id)
                .values(status="running", holder=holder, started_at=self._clock())
            )
            row = c.execute(sa.select(T_JOBS).where(T_JOBS.c.id == job_id)).one()
        return _job(row)

    def finish_job(self, job_id: int, result: dict | None = None, error: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(
                sa.update(T_JOBS)
                .where(T_JOBS.c.id == job_id)
                .values(
                    status="failed" if error else "done",
                    finished_at=self._clock(),
                    result=result,
                    error=error,
                )
            )

    def job(self, job_id: int) -> Job | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(T_JOBS).where(T_JOBS.c.id == job_id)).first()
        return _job(row) if row is not None else None

    def jobs(self, limit: int = 50) -> list[Job]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(T_JOBS).order_by(T_JOBS.c.id.desc()).limit(limit)).all()
        return [_job(r) for r in rows]

    # --- helpers ----------------------------------------------------------------------------

    def _lock(self, c, name: str) -> None:
        """Serialize a transaction on ``name`` (PostgreSQL; SQLite serializes writers)."""
        if self.dialect == "postgresql":
            c.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(name))))


def _job(row) -> Job:
    m = dict(row._mapping)
    m["args"] = m.get("args") or {}
    for k in ("created_at", "started_at", "finished_at"):
        m[k] = aware(m[k])
    return Job(**m)
