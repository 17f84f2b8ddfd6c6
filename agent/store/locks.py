"""Run locks: a long-running job claims its name (``label:MODEL``) so a second process on
the same store refuses to start instead of doing the same paid work again.

A claim lasts ``ttl`` seconds and is renewed by a background thread while the job works.
A process killed without releasing it leaves a claim that lapses at its expiry, or at once
for a process on the same machine that is no longer running.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labelloop.core.records import RunLock
from labelloop.store.tables import RunLockRow

T_LOCKS = RunLockRow.__table__
#: a claim lasts this long without renewal
TTL = timedelta(seconds=60)


def holder_name() -> str:
    """This process: host, pid and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_here(holder: str) -> bool:
    """Whether ``holder`` names a process on this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LocksMixin:
    def claim_run(self, name: str, holder: str, detail: str, now: datetime) -> RunLock | None:
        """Take ``name`` for ``holder``; None when taken, else the live claim in the way."""
        values = {
            "name": name,
            "holder": holder,
            "detail": detail,
            "started_at": now,
            "expires_at": now + TTL,
        }
        ins = (pg_insert if self.dialect == "postgresql" else sqlite_insert)(T_LOCKS)
        ins = ins.values(values).on_conflict_do_update(
            index_elements=["name"],
            set_={k: ins.excluded[k] for k in ("holder", "detail", "started_at", "expires_at")},
            where=T_LOCKS.c.expires_at <= now,
        )
        with self.engine.begin() as c:
            c.execute(ins)
            row = c.execute(sa.select(T_LOCKS).where(T_LOCKS.c.name == name)).one()
            if row.holder == holder:
                return None
            if dead_here(row.holder):  # killed on this machine: its claim is void now
                c.execute(
                    sa.update(T_LOCKS)
                    .where(T_LOCKS.c.name == name, T_LOCKS.c.holder == row.holder)
                    .values(values)
                )
                return None
        return RunLock(**row._mapping)

    def renew_run(self, name: str, holder: str, now: datetime) -> bool:
        with self.engine.begin() as c:
            n = c.execute(
                sa.update(T_LOCKS)
                .where(T_LOCKS.c.name == name, T_LOCKS.c.holder == holder)
                .values(expires_at=now + TTL)
            ).rowcount
        return n > 0

    def release_run(self, name: str, holder: str) -> None:
        with self.engine.begin() as c:
            c.execute(sa.delete(T_LOCKS).where(T_LOCKS.c.name == name, T_LOCKS.c.holder == holder))

    @contextmanager
    def run_lock(self, name: str, detail: str) -> Iterator[RunLock | None]:
        """Hold ``name`` while the block runs, renewed every ``TTL / 4``; yields None, or
        the other process's claim (and holds nothing) when it is taken."""
        holder = holder_name()
        other = self.claim_run(name, holder, detail, datetime.now(UTC))
        if other is not None:
            yield other
            return
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(TTL.total_seconds() / 4):
                self.renew_run(name, holder, datetime.now(UTC))

        thread = threading.Thread(target=renew, name=f"lock:{name}", daemon=True)
        thread.start()
        try:
            yield None
        finally:
            stop.set()
            thread.join()
            self.release_run(name, holder)
