"""The saga's housekeeping, off the path of every saga: a background task in each
saga process that, now and then, folds the count changes into the counts by
state (:mod:`saga.statecounts`) and removes the finished sagas past their
retention (:mod:`saga.retention`).

Folding is safe from any number of processes at once; pruning is done by one
saga process at a time (a PostgreSQL advisory lock, held for a round; SQLite has
a single process).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from saga.statecounts import fold_changes
from shared.logging import get_logger
from shared.persistence.database import Database

log = get_logger(__name__)

FOLD_SECONDS = 5.0


class Housekeeping:
    """Runs :meth:`round` every ``every`` seconds until stopped; each further job
    given (``jobs``) runs in the round after the fold."""

    def __init__(
        self,
        db: Database,
        *,
        every: float = FOLD_SECONDS,
        jobs: list[Callable[[], Awaitable[object]]] | None = None,
    ) -> None:
        self.db = db
        self.every = every
        self.jobs = list(jobs or [])
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> None:
        await fold_changes(self.db)
        for job in self.jobs:
            await job()

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # the next round tries again
                log.exception("saga.housekeeping_failed")
            await asyncio.sleep(self.every)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="saga-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
