"""Queued jobs run by the console's process, on a SQLite store.

On PostgreSQL, ``labelloop worker`` processes run the jobs the API queues; a SQLite store
takes one labeling process at a time, so there the console's process runs them itself,
one after another, in a thread of its own. A job a killed console left running is marked
failed when the next one starts, with why.
"""

from __future__ import annotations

import logging
import threading

from labelloop.store.locks import dead_here, holder_name
from labelloop.worker import Shift, run_next_job

log = logging.getLogger(__name__)


class JobRunner:
    """Runs the store's queued jobs, oldest first, until stopped."""

    def __init__(self, project, poll: float = 1.0):
        self.project, self.poll = project, poll
        self.holder = holder_name()
        self.shift = Shift()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._fail_orphans()
        self._thread = threading.Thread(target=self._run, daemon=True, name="labelloop-jobs")
        self._thread.start()

    def stop(self) -> None:
        """Stop taking jobs; wait up to 30 s for the one running now (a job the process
        ends in is marked failed by the next start)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ran = run_next_job(self.project, self.holder, self.shift)
            except Exception:  # the store went away for a moment: try again later
                log.exception("could not take a queued job")
                ran = False
            if not ran:
                self._stop.wait(self.poll)

    def _fail_orphans(self) -> None:
        store = self.project.store
        for job in store.jobs(limit=1000):
            if job.status == "running" and job.holder and dead_here(job.holder):
                store.finish_job(job.id, error=f"the process running it ({job.holder}) stopped")
