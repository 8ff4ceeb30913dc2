"""One fetch per key at a time: callers asking for the same thing at once share it.

Used by :class:`~bff.downstream.cache.CoalescingCache` (a product asked for by
many pages at once) and by :class:`~bff.downstream.client.DownstreamClient`
(identical concurrent reads, sent once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InFlight(Generic[K, V]):
    """Runs ``fetch`` for a key unless a fetch for that key is running; then waits for it.

    * Every caller gets the shared fetch's outcome, value or error.
    * A caller that gives up (is cancelled) does not cancel the fetch the others
      wait for.  The fetch runs in the context of the caller that started it, so
      it uses that caller's deadline and correlation id.
    * Once it ends, the next caller of the key starts a fetch of its own.
    """

    def __init__(self) -> None:
        self._tasks: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(fetch())
            self._tasks[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: one waiter being cancelled must not cancel the fetch for the others.
        return await asyncio.shield(task)

    def __contains__(self, key: object) -> bool:
        return key in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def _forget(self, key: K, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        # Read the outcome even when every waiter gave up, so a failure of an
        # abandoned fetch is not reported as "never retrieved".
        if not task.cancelled():
            task.exception()
