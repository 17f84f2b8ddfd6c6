"""Failed sign-ins, counted three ways within a moving window of ``login_window_minutes``.

- per account and client address (``login_failures_per_account``, 5): someone guessing
  one account from one place;
- per client address over all names (``login_failures_per_address``, 20): one password
  tried on many accounts;
- per account over all addresses (``login_failures_per_account_total``, 30): guesses on one
  account from many places, so that addresses a client can vary (a botnet, or headers a
  misconfigured proxy passes on) do not multiply the guesses it gets.

Past a limit, sign-in is refused (HTTP 429, ``Retry-After``) until the oldest failure
leaves the window. A refused attempt is not counted, so a refusal always ends; a success
clears the account's count for that address.

The two wide limits could lock out people who did nothing: everyone behind one proxy or
office address shares its per-address count, and anyone can fail on an account's name
from elsewhere. So an account that has signed in from an address (since the console
started) is *known* there, and the wide limits do not refuse it there: only its own
per-account-and-address limit does. Someone else at that address guessing that account
still gets at most ``login_failures_per_account`` tries per window; a spray from a shared
address locks out only the accounts that have not yet signed in from it.

The counts and known addresses live in the console process (``limits``' moving windows and
a bounded table in memory): a restart forgets them. The client address is the one
``labelloop.ui.proxy`` derives (the peer, or what a trusted proxy forwards).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

#: (account, address) pairs remembered as known, least recently used forgotten first
KNOWN_MAX = 10_000


class LoginThrottle:
    def __init__(
        self, per_account: int, per_address: int, per_account_total: int, window_minutes: int
    ):
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.pair = RateLimitItemPerMinute(per_account, window_minutes)
        self.address = RateLimitItemPerMinute(per_address, window_minutes)
        self.account = RateLimitItemPerMinute(per_account_total, window_minutes)
        self.known: OrderedDict[tuple[str, str], None] = OrderedDict()

    @classmethod
    def from_config(cls, review) -> LoginThrottle:
        return cls(
            review.login_failures_per_account,
            review.login_failures_per_address,
            review.login_failures_per_account_total,
            review.login_window_minutes,
        )

    def _keys(self, name: str, address: str, *, wide: bool = True):
        name = name.casefold()
        keys = [(self.pair, ("pair", name, address))]
        if wide:
            keys += [(self.address, ("address", address)), (self.account, ("account", name))]
        return keys

    def wait(self, name: str, address: str) -> int:
        """Seconds before ``name`` may try again from ``address``; 0: now."""
        wide = (name.casefold(), address) not in self.known
        waits = [
            self.limiter.get_window_stats(limit, *ids).reset_time - time.time()
            for limit, ids in self._keys(name, address, wide=wide)
            if not self.limiter.test(limit, *ids)
        ]
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, name: str, address: str) -> None:
        for limit, ids in self._keys(name, address):
            self.limiter.hit(limit, *ids)

    def succeeded(self, name: str, address: str) -> None:
        limit, ids = self._keys(name, address, wide=False)[0]
        self.limiter.clear(limit, *ids)
        key = (name.casefold(), address)
        self.known[key] = None
        self.known.move_to_end(key)
        while len(self.known) > KNOWN_MAX:
            self.known.popitem(last=False)
