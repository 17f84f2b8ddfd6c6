"""Several labeling processes on one PostgreSQL store, as one crew.

Each process (``labelloop label`` or ``labelloop worker``) registers as a worker, claims
the items it labels a chunk at a time with a lease (``Store.claim_items``), renews its
leases with a heartbeat while it works, and releases each item once its suggestion is
stored. Before labeling a claimed item it checks that no other worker stored a suggestion
for it since this one listed its work, so an answer is stored once per cache key. A worker
killed mid-run stops renewing: its items are taken over when their leases lapse, and only
its calls in flight then (at most its concurrency) may have been paid twice.

Rate limits (``rpm``/``tpm``) and ``--max-cost`` hold for the crew together: grants of the
rate limit and reservations of the budget go through the store.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from labelloop.core.types import Item
from labelloop.label.providers.limits import SharedLimits
from labelloop.store.locks import holder_name

if TYPE_CHECKING:
    from labelloop.store import Store

#: a lease lasts this long without renewal; renewed every third of it
LEASE_SECONDS = 30.0
#: how often a worker reports its counts (and renews its leases)
BEAT_SECONDS = 5.0
#: the most items claimed at a time
CLAIM_CHUNK = 64
#: how long a worker waits before looking again at items other workers hold
RECHECK_SECONDS = 0.5


class Crew:
    """This process as one worker of the crew labeling ``model`` on ``store``."""

    def __init__(
        self,
        store: Store,
        model: str,
        command: str = "label",
        max_cost: float | None = None,
        ttl: float = LEASE_SECONDS,
    ) -> None:
        self.store, self.model, self.command = store, model, command
        self.max_cost, self.ttl = max_cost, ttl
        self.holder = holder_name()
        self.crew = self.holder
        self.claimed = self.labeled = self.taken_over = self.by_others = 0
        self.in_flight = lambda: 0
        self.spent = lambda: 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life -------------------------------------------------------------------------------

    def __enter__(self) -> Crew:
        self.crew = self.store.join_crew(
            self.holder, self.model, self.command, self.ttl, self.max_cost
        )
        self._thread = threading.Thread(target=self._beat, name="crew-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        status = "finished" if exc_type is None else "stopped"
        self.store.finish_worker(self.holder, status, **self._counts(final=True))

    def _beat(self) -> None:
        # leases need a beat every third of their life; `labelloop workers` wants fresh counts
        while not self._stop.wait(min(self.ttl / 3, BEAT_SECONDS)):
            try:
                self.store.heartbeat(self.holder, self.model, self.ttl, **self._counts())
            except Exception:  # a missed beat is retried; a lease lapses only after ttl
                continue

    def _counts(self, final: bool = False) -> dict:
        counts = {
            "claimed": self.claimed,
            "labeled": self.labeled,
            "taken_over": self.taken_over,
            "in_flight": 0 if final else self.in_flight(),
        }
        if self.max_cost is None:  # with a shared budget, spend is settled item by item
            counts["spent_usd"] = self.spent()
        return counts

    # --- the provider's hooks ----------------------------------------------------------------

    def attach(self, provider) -> None:
        """Share the provider's rate limits and budget with the crew, and report its
        calls in flight and spend with the heartbeat."""
        spend = provider.spend
        self.in_flight = lambda: spend.in_flight
        self.spent = lambda: spend.cost_usd
        if provider.limits.rpm or provider.limits.tpm:
            store, bucket = self.store, f"llm:{provider.model}"

            def grant(tokens, max_requests, max_tokens, span):
                return store.grant_rate(bucket, tokens, max_requests, max_tokens, span)

            provider.limits = SharedLimits(
                grant, provider.limits.rpm, provider.limits.tpm, provider.rate_window
            )
        if self.max_cost is not None:
            provider.shared_budget = self

    def reserve(self, amount: float) -> bool:
        return self.store.reserve_budget(self.holder, self.crew, amount, self.max_cost)

    def settle(self, reserved: float, spent: float) -> None:
        self.store.settle_budget(self.holder, reserved, spent)

    # --- work -------------------------------------------------------------------------------

    def source(self, todo: Sequence[Item], seen: dict[str, int]) -> Claims:
        """The items of ``todo`` this worker gets, claimed as they are asked for.
        ``seen``: each item's newest suggestion id (by the model) before ``todo`` was
        listed; an item whose newest suggestion changed since was labeled by another."""
        return Claims(self, todo, seen)

    def done(self, item_ids: Sequence[str]) -> None:
        """Suggestions for these items are stored: release them."""
        if item_ids:
            self.store.release_items(self.model, self.holder, item_ids)
            self.labeled += len(item_ids)


class Claims:
    """A worker's items, claimed a chunk at a time; items other workers hold are looked at
    again once the list is through, and taken over when their leases lapse."""

    def __init__(self, crew: Crew, todo: Sequence[Item], seen: dict[str, int]) -> None:
        self.crew = crew
        self.items = {i.id: i for i in todo}
        ids = list(self.items)
        # each worker starts at its own place in the list: fewer claims collide
        start = zlib.crc32(crew.holder.encode()) % len(ids) if ids else 0
        self.pending = ids[start:] + ids[:start]
        self.busy: list[str] = []
        self.seen = seen
        #: items this worker claimed for this list
        self.mine = 0
        #: seconds the caller should wait before asking again (items held by others)
        self.wait = 0.0

    def __len__(self) -> int:
        return len(self.items)

    def expected(self) -> int:
        """How many items this worker will have labeled at most: those it claimed, and
        those no worker has labeled yet."""
        return self.mine + len(self.pending) + len(self.busy)

    @property
    def exhausted(self) -> bool:
        return not self.pending and not self.busy

    def next_chunk(self, size: int = CLAIM_CHUNK) -> list[Item] | None:
        """The next items this worker holds; [] when every item left is held by another
        worker for now (ask again after ``wait``); None when nothing is left."""
        crew, store = self.crew, self.crew.store
        size = min(size, CLAIM_CHUNK)
        self.wait = 0.0
        while self.pending:
            chunk, self.pending = self.pending[:size], self.pending[size:]
            got = self._claim(chunk)
            if got:
                return got
        while self.busy:
            others = store.held_by_others(crew.model, crew.holder, self.busy)
            free = [i for i in self.busy if i not in others]
            self.busy = [i for i in self.busy if i in others]
            labeled = self._labeled_since(self.busy)
            self.busy = [i for i in self.busy if i not in labeled]
            crew.by_others += len(labeled)
            got = self._claim(free[:size])
            self.busy += free[size:]
            if got:
                return got
            if self.busy:
                self.wait = RECHECK_SECONDS
                return []
        return None

    def _claim(self, ids: list[str]) -> list[Item]:
        crew, store = self.crew, self.crew.store
        claimed, taken = store.claim_items(crew.model, crew.holder, ids, crew.ttl)
        got = set(claimed)
        self.busy += [i for i in ids if i not in got]
        # stored by another worker since this one listed them, or asked in a provider
        # batch submitted since: not labeled twice
        labeled = self._labeled_since(claimed) | store.in_open_batches(crew.model, claimed)
        if labeled:
            store.release_items(crew.model, crew.holder, labeled)
            crew.by_others += len(labeled)
        mine = [i for i in claimed if i not in labeled]
        crew.claimed += len(mine)
        self.mine += len(mine)
        crew.taken_over += sum(1 for i in taken if i not in labeled)
        return [self.items[i] for i in mine]

    def _labeled_since(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        now = self.crew.store.latest_suggestion_ids(self.crew.model, ids)
        return {i for i in ids if now.get(i) != self.seen.get(i)}
