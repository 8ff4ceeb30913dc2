"""``/saga-jobs``: bulk retries and aborts run as jobs (:mod:`saga.jobs`): start
one (after a dry run said how many sagas it selects), follow its progress,
cancel it, read each saga's outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import update
from sqlmodel import col, select

from saga.api import OperatorRequest, Runtime
from saga.bulk import Operation, SagaFilter, SelectFilter, count_selected, in_words
from saga.jobs import CANCELLED, RUNNING
from saga.models import SagaJobOutcomeRow, SagaJobRow
from shared.clock import utcnow
from shared.web.auth import OpsPrincipal
from shared.web.problems import Conflict, NotFound, problem_responses
from shared.web.schemas import CamelModel

router = APIRouter(tags=["saga jobs"])

RATE_MAX = 500.0
DEFAULT_RATE = 20.0


class JobRequest(OperatorRequest):
    action: Operation
    filter: SagaFilter
    rate: float = Field(default=DEFAULT_RATE, gt=0, le=RATE_MAX)
    """Sagas a second at most."""


class JobView(CamelModel):
    id: str
    action: str
    described: str
    """The selection in words (``every failed saga``)."""
    reason: str
    actor: str
    rate: float
    status: str
    """``running``, ``cancelled`` or ``done``."""
    selected: int
    """How many sagas the filter selected when the job was started."""
    done: int
    succeeded: int
    created_at: datetime
    updated_at: datetime


class JobOutcome(CamelModel):
    saga_id: str
    ok: bool
    state: str | None
    error: str | None
    at: datetime


def view(row: SagaJobRow) -> JobView:
    return JobView.model_validate(row, from_attributes=True)


async def _job(runtime: Runtime, job_id: str) -> SagaJobRow:
    row = await runtime.db.read_row(SagaJobRow, job_id)
    if row is None:
        raise NotFound(f"job {job_id} not found")
    return row


@router.post(
    "/saga-jobs",
    response_model=JobView,
    status_code=201,
    responses=problem_responses(401, 403, 409, 422),
)
async def start_job(body: JobRequest, runtime: Runtime, ops: OpsPrincipal) -> JobView:
    """Retry or abort every saga the filter selects, at ``rate`` a second, as a job
    recorded with who asked and why; 409 when the filter selects none now (there is
    nothing to do, though the same filter may select sagas later)."""
    count = await count_selected(runtime, SelectFilter(filter=body.filter))
    if count == 0:
        raise Conflict("the filter selects no saga: no job started")
    now = utcnow()
    row = SagaJobRow(
        id=str(uuid.uuid4()),
        action=body.action,
        filter=body.filter.model_dump(exclude_unset=True, by_alias=True),
        described=in_words(body.filter),
        reason=body.reason,
        actor=ops.sub,
        rate=body.rate,
        status=RUNNING,
        selected=count,
        created_at=now,
        updated_at=now,
    )
    async with runtime.db.sessions() as session:
        session.add(row)
        await session.commit()
    return view(row)


@router.get("/saga-jobs", response_model=list[JobView])
async def list_jobs(
    runtime: Runtime, _ops: OpsPrincipal, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[JobView]:
    """Jobs, newest first, with their progress."""
    stmt = select(SagaJobRow).order_by(col(SagaJobRow.created_at).desc()).limit(limit)
    async with runtime.db.reads() as session:
        return [view(row) for row in (await session.exec(stmt)).all()]


@router.get("/saga-jobs/{job_id}", response_model=JobView)
async def show_job(job_id: str, runtime: Runtime, _ops: OpsPrincipal) -> JobView:
    return view(await _job(runtime, job_id))


@router.post("/saga-jobs/{job_id}/cancel", response_model=JobView)
async def cancel_job(job_id: str, runtime: Runtime, _ops: OpsPrincipal) -> JobView:
    """Stop the job before its next saga; 409 when it is no longer running."""
    async with runtime.db.sessions() as session:
        result = await session.exec(
            update(SagaJobRow)
            .where(col(SagaJobRow.id) == job_id, col(SagaJobRow.status) == RUNNING)
            .values(status=CANCELLED, updated_at=utcnow())
        )
        await session.commit()
    row = await _job(runtime, job_id)
    if result.rowcount != 1:
        raise Conflict(f"job {job_id} is {row.status}, not running")
    return view(row)


@router.get("/saga-jobs/{job_id}/outcomes", response_model=list[JobOutcome])
async def job_outcomes(
    job_id: str,
    runtime: Runtime,
    _ops: OpsPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    failed_only: Annotated[bool, Query(alias="failedOnly")] = False,
) -> list[JobOutcome]:
    """What the job did to each saga, in the order it did it."""
    await _job(runtime, job_id)
    stmt = select(SagaJobOutcomeRow).where(SagaJobOutcomeRow.job_id == job_id)
    if failed_only:
        stmt = stmt.where(col(SagaJobOutcomeRow.ok).is_(False))
    stmt = stmt.order_by(col(SagaJobOutcomeRow.id)).limit(limit)
    async with runtime.db.reads() as session:
        rows = (await session.exec(stmt)).all()
    return [JobOutcome.model_validate(r, from_attributes=True) for r in rows]
