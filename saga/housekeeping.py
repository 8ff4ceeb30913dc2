"""The saga's housekeeping, off the path of every saga: a background task in each
saga process that, every few seconds, folds the count changes into the counts by
state (:mod:`saga.statecounts`) and then, in one saga process at a time (a
PostgreSQL advisory lock held for the round; SQLite has one process), compacts
the sagas that came to rest (:mod:`saga.records`) and removes those past their
retention (:mod:`saga.retention`), a small batch at a time with a pause between.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from saga.records import compact
from saga.retention import PAUSE_SECONDS, prune
from saga.statecounts import fold_changes
from shared.clock import utcnow
from shared.logging import get_logger
from shared.persistence.database import Database

log = get_logger(__name__)

EVERY_SECONDS = 5.0
HOUSEKEEPING_LOCK = (5_021, 1)
"""The advisory lock (two keys) held by the saga process doing this round's batches."""
MOST_PER_ROUND = 5_000
"""Sagas compacted, or removed, in one round at most: the rest wait for the next."""


@dataclass(frozen=True)
class Retention:
    days: float
    failed: bool = False
    archive: Path | None = None


@contextlib.asynccontextmanager
async def one_at_a_time(db: Database) -> AsyncIterator[bool]:
    """Whether this process holds the housekeeping lock for the block (PostgreSQL:
    a session advisory lock, released at the end; SQLite: always)."""
    if not db.is_postgres:
        yield True
        return
    async with db.engine.connect() as connection:
        taken = bool(
            (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:a, :b)"),
                    dict(zip("ab", HOUSEKEEPING_LOCK, strict=True)),
                )
            ).scalar()
        )
        await connection.commit()
        try:
            yield taken
        finally:
            if taken:
                await connection.execute(
                    text("SELECT pg_advisory_unlock(:a, :b)"),
                    dict(zip("ab", HOUSEKEEPING_LOCK, strict=True)),
                )
                await connection.commit()


class Housekeeping:
    """Runs :meth:`round` every ``every`` seconds until stopped."""

    def __init__(
        self,
        db: Database,
        *,
        retention: Retention | None = None,
        every: float = EVERY_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.retention = retention
        self.every = every
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    async def round(self) -> tuple[int, int]:
        """One round: the counts folded, then (holding the lock) sagas compacted and
        removed; how many of each."""
        await fold_changes(self.db)
        compacted = removed = 0
        async with one_at_a_time(self.db) as mine:
            if not mine:
                return 0, 0
            while compacted < MOST_PER_ROUND:
                looked = await compact(self.db, self.clock())
                compacted += looked
                if looked == 0:
                    break
                await asyncio.sleep(PAUSE_SECONDS)
            if self.retention is not None:
                cutoff = self.clock() - timedelta(days=self.retention.days)
                removed = await prune(
                    self.db,
                    cutoff,
                    failed=self.retention.failed,
                    archive=self.retention.archive,
                    most=MOST_PER_ROUND,
                )
        if removed:
            log.info("saga.pruned", sagas=removed)
        return compacted, removed

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
