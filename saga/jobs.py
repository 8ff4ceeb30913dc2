"""Bulk retries and aborts past what one request does, run as jobs.

A job (``POST /saga-jobs``, :mod:`saga.jobs_api`) names its sagas by the list's
filter, who asks and why, and a rate (sagas a second).  It is stored before it
runs; a :class:`JobRunner` in every saga process takes each running job no other
process holds (a PostgreSQL advisory lock per job, released if the process
dies; SQLite has one process) and works through the sagas the filter selects in
the list's (created_at, id) order: each saga retried or aborted as ``POST
/sagas/{id}/retry`` would (its own transaction, its history naming who and why),
its outcome and the job's progress stored together.  So a job resumes after a
restart from the saga after the last one done, and a cancel (``POST
/saga-jobs/{id}/cancel``) stops it before its next saga.  The rate keeps it from
starving fresh checkouts: one short transaction every ``1/rate`` seconds, and none
while ``yield_in_flight`` sagas or more are in flight (counted from the counts by
state, :mod:`saga.statecounts`): a retried saga is real work for every participant,
so the job adds it only where live checkouts leave room.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, or_, text, update
from sqlmodel import col, select

from saga.bulk import Operation, SagaFilter, act_on, matching_filter
from saga.models import SagaJobOutcomeRow, SagaJobRow, SagaRow
from saga.runtime import SagaRuntime
from saga.statecounts import counts_by_state
from saga.stuck import AT_REST
from shared.clock import utcnow
from shared.logging import get_logger

log = get_logger(__name__)

RUNNING, CANCELLED, DONE = "running", "cancelled", "done"
BATCH = 50
YIELD_PAUSE_SECONDS = 0.5
"""How long a job waits before it looks again at the sagas in flight."""
JOB_LOCK_NAMESPACE = 5_022
JOBS = SagaJobRow.__table__  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def holding(runtime: SagaRuntime, job_id: str) -> AsyncIterator[bool]:
    """Whether this process holds ``job_id`` for the block (see the module docstring)."""
    if not runtime.db.is_postgres:
        yield True
        return
    key = {"n": JOB_LOCK_NAMESPACE, "id": job_id}
    async with runtime.db.engine.connect() as connection:
        taken = (
            await connection.execute(text("SELECT pg_try_advisory_lock(:n, hashtext(:id))"), key)
        ).scalar()
        await connection.commit()
        try:
            yield bool(taken)
        finally:
            if taken:
                await connection.execute(text("SELECT pg_advisory_unlock(:n, hashtext(:id))"), key)
                await connection.commit()


async def _next(runtime: SagaRuntime, job: SagaJobRow) -> list[SagaRow]:
    """The next sagas the job's filter selects, after the last one it took."""
    criteria = SagaFilter.model_validate(job.filter)
    stmt = matching_filter(runtime, criteria, SagaRow)
    if job.after_created_at is not None and job.after_id is not None:
        stmt = stmt.where(
            or_(
                col(SagaRow.created_at) > job.after_created_at,
                and_(
                    col(SagaRow.created_at) == job.after_created_at,
                    col(SagaRow.id) > job.after_id,
                ),
            )
        )
    stmt = stmt.order_by(col(SagaRow.created_at), col(SagaRow.id)).limit(BATCH)
    async with runtime.db.reads() as session:
        return list((await session.exec(stmt)).all())


async def _record(runtime: SagaRuntime, job: SagaJobRow, saga: SagaRow, outcome: Any) -> None:
    """The saga's outcome and the job's progress, in one transaction."""
    now = utcnow()
    async with runtime.db.sessions() as session:
        session.add(
            SagaJobOutcomeRow(
                job_id=job.id,
                saga_id=saga.id,
                ok=outcome.ok,
                state=outcome.state,
                error=outcome.error,
                at=now,
            )
        )
        await session.exec(
            update(SagaJobRow)
            .where(col(SagaJobRow.id) == job.id)
            .values(
                done=SagaJobRow.done + 1,
                succeeded=SagaJobRow.succeeded + (1 if outcome.ok else 0),
                after_created_at=saga.created_at,
                after_id=saga.id,
                updated_at=now,
            )
        )
        await session.commit()


async def _finish(runtime: SagaRuntime, job_id: str) -> None:
    async with runtime.db.sessions() as session:
        await session.exec(
            update(SagaJobRow)
            .where(col(SagaJobRow.id) == job_id, col(SagaJobRow.status) == RUNNING)
            .values(status=DONE, updated_at=utcnow())
        )
        await session.commit()


async def in_flight(runtime: SagaRuntime) -> int:
    """Sagas not at rest, whichever kind and whoever started them."""
    counts = await counts_by_state(runtime.db)
    return sum(n for state, n in counts.items() if state not in AT_REST)


async def _room(runtime: SagaRuntime, job_id: str, yield_in_flight: int) -> bool:
    """Wait until fewer than ``yield_in_flight`` sagas are in flight; False if the job
    stopped running meanwhile."""
    waiting = False
    while (busy := await in_flight(runtime)) >= yield_in_flight:
        if not waiting:
            log.info("saga.job_waits", job=job_id, in_flight=busy, limit=yield_in_flight)
            waiting = True
        await asyncio.sleep(YIELD_PAUSE_SECONDS)
        current = await runtime.db.read_row(SagaJobRow, job_id)
        if current is None or current.status != RUNNING:
            return False
    if waiting:
        log.info("saga.job_resumes", job=job_id, in_flight=busy)
    return True


async def run_job(runtime: SagaRuntime, job_id: str, *, yield_in_flight: int = 24) -> None:
    """Work through the job until it is done or cancelled (the caller holds it)."""
    while True:
        job = await runtime.db.read_row(SagaJobRow, job_id)
        if job is None or job.status != RUNNING:
            return
        sagas = await _next(runtime, job)
        if not sagas:
            await _finish(runtime, job_id)
            log.info("saga.job_done", job=job_id, done=job.done, succeeded=job.succeeded)
            return
        for saga in sagas:
            current = await runtime.db.read_row(SagaJobRow, job_id)
            if current is None or current.status != RUNNING:
                return
            if not await _room(runtime, job_id, yield_in_flight):
                return
            action: Operation = "retry" if job.action == "retry" else "abort"
            outcome = await act_on(runtime, action, saga.id, actor=job.actor, reason=job.reason)
            await _record(runtime, job, saga, outcome)
            job.after_created_at, job.after_id = saga.created_at, saga.id
            await asyncio.sleep(1 / job.rate)


class JobRunner:
    """Looks for running jobs every ``poll`` seconds and runs those it can hold."""

    def __init__(
        self, runtime: SagaRuntime, *, poll: float = 1.0, yield_in_flight: int = 24
    ) -> None:
        self.runtime = runtime
        self.poll = poll
        self.yield_in_flight = yield_in_flight
        self._watcher: asyncio.Task[None] | None = None
        self._jobs: dict[str, asyncio.Task[None]] = {}

    async def _hold_and_run(self, job_id: str) -> None:
        try:
            async with holding(self.runtime, job_id) as mine:
                if mine:
                    await run_job(self.runtime, job_id, yield_in_flight=self.yield_in_flight)
        except Exception:  # looked at again at the next poll
            log.exception("saga.job_failed", job=job_id)

    async def _watch(self) -> None:
        while True:
            try:
                async with self.runtime.db.reads() as session:
                    running = (
                        await session.exec(
                            select(SagaJobRow.id).where(col(SagaJobRow.status) == RUNNING)
                        )
                    ).all()
                for job_id in running:
                    task = self._jobs.get(job_id)
                    if task is None or task.done():
                        self._jobs[job_id] = asyncio.create_task(
                            self._hold_and_run(job_id), name=f"saga-job-{job_id}"
                        )
            except Exception:
                log.exception("saga.jobs_poll_failed")
            await asyncio.sleep(self.poll)

    def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="saga-jobs")

    async def stop(self) -> None:
        tasks = [t for t in (self._watcher, *self._jobs.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._watcher, self._jobs = None, {}


__all__ = ["CANCELLED", "DONE", "JOBS", "RUNNING", "JobRunner", "run_job"]
