"""Rate limits shared by every worker on a store: requests and tokens per minute, counted
in a sliding window of grants that the store keeps (``Store.grant_rate``).

One process asks the store for one grant at a time; its calls queue behind that. A grant
is made at the database's clock, a moment before the request leaves: the window is
counted over a little more than its length (``MARGIN``), so requests as the provider sees
them arrive never exceed the limit in any window either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

#: seconds added to the window the store counts grants over
MARGIN = 0.5
#: the longest a waiting call sleeps before asking again
MAX_NAP = 1.0

#: grant(tokens, max_requests, max_tokens, span) -> 0 when granted, else seconds to wait
Grant = Callable[[int, float | None, float | None, float], float]


class SharedLimits:
    """``rpm`` and ``tpm`` for all the workers that share ``grant`` (the store's, for one
    model), counted in any ``window`` seconds (the limits scaled to it: 60 by default)."""

    def __init__(
        self, grant: Grant, rpm: float | None, tpm: float | None, window: float = 60.0
    ) -> None:
        self.grant = grant
        self.rpm, self.tpm, self.window = rpm, tpm, window
        self.max_requests = rpm * window / 60 if rpm else None
        self.max_tokens = tpm * window / 60 if tpm else None
        self._lock: asyncio.Lock | None = None
        #: seconds calls spent waiting for a grant
        self.waited = 0.0

    async def acquire(self, tokens: int) -> None:
        if self.max_requests is None and self.max_tokens is None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        async with self._lock:
            while True:
                wait = await asyncio.to_thread(
                    self.grant, tokens, self.max_requests, self.max_tokens, self.window + MARGIN
                )
                if wait <= 0:
                    return
                started = loop.time()
                await asyncio.sleep(min(wait, MAX_NAP) + 0.002)
                self.waited += loop.time() - started
