"""A small TTL cache that also merges concurrent fetches of the same key.

Aggregated pages ask for the same things over and over (the products of an
order, featured products on every home screen).  ``CoalescingCache`` keeps
answers for a short TTL and, more importantly under load, lets all callers
asking for a key that is already being fetched wait for that one fetch instead
of each sending their own request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Generic, TypeVar

from bff.downstream.inflight import InFlight
from shared.clock import Clock

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CoalescingCache(Generic[K, V]):
    """Cache ``fetch(key)`` results for ``ttl_seconds``, one fetch in flight per key.

    * Concurrent ``get(key)`` calls share one in-flight fetch and its outcome.
    * Successful results are kept for the TTL, at most ``max_entries`` of them
      (least recently used go first).  Failures are not cached: the next call
      fetches again.
    * A caller that gives up (is cancelled) does not cancel the shared fetch
      others are waiting for.  The fetch runs in the context of the caller that
      started it, so it uses that caller's deadline and correlation id.
    """

    def __init__(
        self,
        fetch: Callable[[K], Awaitable[V]],
        ttl_seconds: float,
        *,
        max_entries: int = 1024,
        clock: Clock = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._fetch = fetch
        self._ttl = ttl_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._in_flight: InFlight[K, V] = InFlight()

    async def get(self, key: K) -> V:
        """The cached value for ``key``, or the outcome of the (shared) fetch."""
        entry = self._entries.get(key)
        if entry is not None:
            expires_at, value = entry
            if self._clock() < expires_at:
                self._entries.move_to_end(key)
                return value
            del self._entries[key]
        return await self._in_flight.run(key, lambda: self._fetch_and_store(key))

    async def get_many(self, keys: Iterable[K]) -> dict[K, V]:
        """Values for every distinct key, fetched concurrently; raises the first failure."""
        distinct = list(dict.fromkeys(keys))
        values = await asyncio.gather(*(self.get(key) for key in distinct))
        return dict(zip(distinct, values, strict=True))

    def clear(self) -> None:
        """Forget every cached value."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    async def _fetch_and_store(self, key: K) -> V:
        value = await self._fetch(key)
        self._entries[key] = (self._clock() + self._ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return value
