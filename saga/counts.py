"""What the ops dashboard shows at the top: sagas by state, how many are stuck, and
how many finished per minute over the last hour (``GET /sagas/summary``); the
state diagram as data (``GET /sagas/diagram``), drawn in the page; and the timing
this process runs sagas with (``GET /sagas/timing``).

Included before the API's router, so neither path is taken for a saga id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, func
from sqlmodel import col, select

from saga.api import Runtime, SagaKindName, stuck_rule
from saga.definition import TERMINAL, SagaStatus
from saga.diagram import saga_graph
from saga.models import SagaRow
from saga.runtime import SagaRuntime
from saga.statecounts import counts_by_state
from shared.clock import utcnow
from shared.web.auth import OpsPrincipal
from shared.web.problems import NotFound, problem_responses
from shared.web.schemas import CamelModel

router = APIRouter(tags=["sagas"])

WINDOW_MINUTES = 60
FINISHED = tuple(s.value for s in SagaStatus if s in TERMINAL)


class FinishedMinute(CamelModel):
    """Sagas that came to rest in one minute, by how they ended."""

    minute: datetime
    completed: int = 0
    cancelled: int = 0
    failed: int = 0


class SagaCounts(CamelModel):
    by_state: dict[str, int]
    """Every state, with how many sagas are in it now (zero included)."""
    in_flight: int
    """Sagas not at rest."""
    stuck: int
    """Sagas the list's ``stuck`` filter selects."""
    finished_per_minute: list[FinishedMinute]
    """The last hour, oldest minute first, one entry a minute (the current one last).
    A saga counts in the minute it last changed while at rest."""


@router.get("/sagas/summary", response_model=SagaCounts)
async def saga_counts(runtime: Runtime, _ops: OpsPrincipal) -> SagaCounts:
    """Counts by state, stuck, and sagas finished per minute over the last hour."""
    now = utcnow()
    this_minute = now.replace(second=0, microsecond=0)
    start = this_minute - timedelta(minutes=WINDOW_MINUTES - 1)
    minute = _minute_of(runtime)
    by_state = await counts_by_state(runtime.db)
    async with runtime.db.reads() as session:
        stuck = (
            await session.exec(
                select(func.count()).select_from(SagaRow).where(stuck_rule(runtime).where(now))
            )
        ).one()
        finished = (
            await session.exec(
                select(minute, SagaRow.status, func.count())
                .where(col(SagaRow.status).in_(FINISHED), col(SagaRow.updated_at) >= start)
                .group_by(minute, col(SagaRow.status))
            )
        ).all()
    counts = {status.value: 0 for status in SagaStatus}
    for status, n in by_state.items():
        # A row stored by definition 3 says `compensating`: shown as it is.
        counts[str(status)] = counts.get(str(status), 0) + int(n)
    minutes = [FinishedMinute(minute=start + timedelta(minutes=i)) for i in range(WINDOW_MINUTES)]
    for at, status, n in finished:
        index = int((_as_minute(at) - start).total_seconds() // 60)
        if 0 <= index < WINDOW_MINUTES:
            setattr(minutes[index], str(status), int(n))
    return SagaCounts(
        by_state=counts,
        in_flight=sum(n for status, n in counts.items() if status not in FINISHED),
        stuck=int(stuck),
        finished_per_minute=minutes,
    )


def _minute_of(runtime: SagaRuntime) -> ColumnElement[Any]:
    """``updated_at`` truncated to its minute (UTC), as this database can say it."""
    if runtime.db.engine.dialect.name == "postgresql":
        return func.date_trunc("minute", func.timezone("UTC", col(SagaRow.updated_at)))
    # SQLite keeps the timestamp as UTC text, `YYYY-MM-DD HH:MM:SS.ffffff`.
    return func.substr(col(SagaRow.updated_at), 1, 16)


def _as_minute(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get("/sagas/diagram", responses=problem_responses(401, 403, 404, 422))
async def saga_diagram(
    runtime: Runtime,
    _ops: OpsPrincipal,
    kind: Annotated[
        SagaKindName, Query(description="the definition drawn: order (default), return")
    ] = "order",
) -> dict[str, Any]:
    """A saga definition's state diagram as data, drawn from the definition this
    process runs: ``states`` (each ``forward``, ``undo`` or ``rest``), ``edges``
    (``from`` null is the start; each with the inputs that take it) and ``stays``
    (inputs that keep a state)."""
    if kind not in runtime.kinds:
        raise NotFound(f"no saga definition {kind!r}: one of {', '.join(runtime.kinds.names)}")
    return saga_graph(runtime.kinds[kind].definition).to_json()


class SagaTiming(CamelModel):
    """The timing and retry policy the running saga process uses (its ``OMS_SAGA_*``
    settings), as read by ``oms saga export`` and ``oms scenario run``."""

    step_timeout_seconds: float
    """How long a participant has to answer a step's command before it is resent."""
    step_retries: int
    """How often a forward command is resent on timeout before compensating."""
    compensation_retries: int
    """How often a compensation is retried before the saga is ``failed``."""
    compensation_backoff_seconds: float
    """The wait before retrying a refused compensation; doubles per failure."""
    compensation_backoff_max_seconds: float
    """The longest wait between two compensation retries."""
    return_receipt_timeout_seconds: float | None = None
    """How long a return saga waits for the warehouse's receipt before the return
    expires (``OMS_RETURN_RECEIPT_DAYS``); none when no return saga is served."""


@router.get("/sagas/timing", response_model=SagaTiming)
async def saga_timing(runtime: Runtime, _ops: OpsPrincipal) -> SagaTiming:
    """The timing and retry policy this saga process runs with (read-only)."""
    receipt = (
        runtime.kinds["return"].definition.config.receipt_timeout_seconds
        if "return" in runtime.kinds
        else None
    )
    return SagaTiming(**asdict(runtime.definition.config), return_receipt_timeout_seconds=receipt)
