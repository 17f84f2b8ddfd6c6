"""Failed sign-ins, counted per account and client address, and per address over all names.

After ``per_account`` failures for one account from one address within the window, that
pair is refused (HTTP 429, ``Retry-After``) until the oldest failure leaves the window; after
``per_address`` failures from one address, whatever the names, that address is. A refused
attempt is not counted, so a refusal always ends; a success clears the account's count for
that address. Counting per account *and* address keeps someone guessing a reviewer's
password from locking the reviewer out from their own machine.

The counts live in the console process (``limits``' moving windows in memory): a restart
forgets them. Behind a reverse proxy the address is the one uvicorn takes from
``X-Forwarded-For`` when the proxy is in its ``--forwarded-allow-ips`` (127.0.0.1 by
default).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class LoginThrottle:
    def __init__(self, per_account: int, per_address: int, window_minutes: int):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.account = RateLimitItemPerMinute(per_account, window_minutes)
        self.address = RateLimitItemPerMinute(per_address, window_minutes)

    @classmethod
    def from_config(cls, review) -> LoginThrottle:
        return cls(
            review.login_failures_per_account,
            review.login_failures_per_address,
            review.login_window_minutes,
        )

    def _keys(self, name: str, address: str):
        return (
            (self.account, ("account", name.casefold(), address)),
            (self.address, ("address", address)),
        )

    def wait(self, name: str, address: str) -> int:
        """Seconds before ``name`` may try again from ``address``; 0: now."""
        waits = [
            self.limiter.get_window_stats(limit, *ids).reset_time - time.time()
            for limit, ids in self._keys(name, address)
            if not self.limiter.test(limit, *ids)
        ]
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, name: str, address: str) -> None:
        for limit, ids in self._keys(name, address):
            self.limiter.hit(limit, *ids)

    def succeeded(self, name: str, address: str) -> None:
        limit, ids = self._keys(name, address)[0]
        self.limiter.clear(limit, *ids)
