"""The saga service's HTTP API: ops views and actions (docs/design.md, HTTP contracts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field, StringConstraints
from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from saga.definition import (
    OperatorAbort,
    OperatorRetry,
    RecordedDecision,
    SagaState,
    StateFilter,
    input_from_json,
    replay,
    statuses_ahead,
    statuses_matching,
)
from saga.kinds import state_of
from saga.models import ParkedMessageRow, SagaDeadlineRow, SagaRow
from saga.records import history_of, tape_of
from saga.returns.statuses import ReturnStateFilter
from saga.runtime import SagaNotFound, SagaRuntime
from saga.stuck import StuckRule
from saga.timeline import describe
from shared.clock import utcnow
from shared.logging import get_logger
from shared.web.auth import CurrentPrincipal, OpsPrincipal, ensure_owner
from shared.web.cursor import CursorQuery, Position, decode_cursor
from shared.web.problems import (
    Conflict,
    NotFound,
)
from shared.web.schemas import CamelModel, RequestBody, Text

router = APIRouter(tags=["sagas"])
log = get_logger(__name__)

MAX_AGE_SECONDS = 100 * 365 * 24 * 3600
"""``olderThan`` beyond a century means nothing, and beyond a few thousand
years it no longer makes a date."""


AgeQuery = Annotated[
    float | None,
    Query(alias="olderThan", ge=0, le=MAX_AGE_SECONDS, description="age in seconds"),
]
"""An ``olderThan`` filter: bounded where it is parsed, so the cutoff it makes is a date."""


SagaKindName = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]
"""A definition's name (``saga/kinds.py``): ``order``, ``return``."""

SagaId = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
"""A saga's id, which is its order's id."""


class SagaSummary(CamelModel):
    id: str
    kind: str = "order"
    """Which definition runs it: ``order`` (its id is the order's) or ``return`` (the return's)."""
    state: str
    command: str | None = Field(alias="step")
    """The command the saga waits on (forward or compensation), or, failed, would resume.

    Its public name is ``step`` (docs/design.md, HTTP contracts); inside the
    code a step is inventory, payment or order, and what is awaited is a command."""
    attempts: int
    """How often ``command`` has been sent (0 when nothing is awaited)."""
    version: int
    user_id: str
    created_at: datetime
    updated_at: datetime
    deadline_at: datetime | None
    failure_reason: str | None
    stuck: str | None
    """Why the saga is stuck (the step it waits on, since when, attempts), or null
    when it is not (see ``saga.stuck``)."""


class SagaPage(CamelModel):
    items: list[SagaSummary]
    next_cursor: str | None


class HistoryItem(CamelModel):
    at: datetime
    kind: str
    text: str
    """The entry in words (``payment.charge sent, attempt 2``); ``detail`` in full."""
    detail: dict[str, Any]
    message_id: str | None
    definition_version: int


class DeadlineView(CamelModel):
    command: str = Field(alias="step")
    """The command the deadline guards; ``step`` in JSON, as in :class:`SagaSummary`."""
    attempt: int
    due_at: datetime


class SagaDetail(SagaSummary):
    definition_version: int
    order: dict[str, Any]
    steps: dict[str, Any]
    deadlines: list[DeadlineView]
    ahead: list[str]
    """The states still ahead if every step answers as hoped (empty once at rest)."""
    history: list[HistoryItem]


class OperatorRequest(RequestBody):
    reason: str = Field(min_length=1, max_length=500)


async def _runtime(request: Request) -> SagaRuntime:
    runtime: SagaRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[SagaRuntime, Depends(_runtime)]


def stuck_rule(runtime: SagaRuntime) -> StuckRule:
    """A deadline is overdue once it is a few polls late (the poller fires due ones)."""
    return StuckRule(grace_seconds=max(2.0, runtime.poll_seconds * 4))


def summary(row: SagaRow, rule: StuckRule, now: datetime) -> SagaSummary:
    state = state_of(row.kind, row.state)
    return SagaSummary(
        id=row.id,
        kind=row.kind,
        # The decoded state's status: a row stored by definition 3 says `compensating`.
        state=state.status.value,
        command=state.current,
        attempts=state.attempt,
        version=row.version,
        user_id=row.user_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deadline_at=row.deadline_at,
        failure_reason=state.reason,
        stuck=rule.why(row, state, now),
    )


def matching(
    stmt: SelectOfScalar[SagaRow],
    *,
    rule: StuckRule,
    now: datetime,
    state: str | None = None,
    stuck: bool = False,
    order_id: str | None = None,
    user_id: str | None = None,
    kind: str | None = None,
) -> SelectOfScalar[SagaRow]:
    """``stmt`` narrowed to the sagas the list filter selects (every criterion given holds)."""
    if kind is not None:
        stmt = stmt.where(SagaRow.kind == kind)
    if state:
        stmt = stmt.where(col(SagaRow.status).in_(statuses_matching(state)))
    if stuck:
        stmt = stmt.where(rule.where(now))
    if order_id is not None:
        stmt = stmt.where(SagaRow.id == order_id)
    if user_id is not None:
        stmt = stmt.where(SagaRow.user_id == user_id)
    return stmt


@router.get("/sagas", response_model=SagaPage)
async def list_sagas(
    runtime: Runtime,
    _ops: OpsPrincipal,
    state: Annotated[
        StateFilter | ReturnStateFilter | None,
        Query(description="a saga state, e.g. failed; compensating matches every undo state"),
    ] = None,
    kind: Annotated[
        SagaKindName | None, Query(description="only sagas of this definition: order, return")
    ] = None,
    stuck: Annotated[
        bool,
        Query(
            description="only stuck sagas: not at rest, and retrying (the awaited command "
            "sent more than once) or overdue (deadline passed without firing, or none)"
        ),
    ] = False,
    order_id: Annotated[SagaId | None, Query(alias="orderId", description="the order's id")] = None,
    user_id: Annotated[
        SagaId | None, Query(alias="userId", description="the customer's id")
    ] = None,
    older_than: AgeQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: CursorQuery = None,
) -> SagaPage:
    """Sagas, newest first; every filter given must hold.  Each saga says why it is
    stuck, when it is."""
    after = decode_cursor(cursor)
    now = utcnow()
    rule = stuck_rule(runtime)
    stmt = matching(
        select(SagaRow),
        rule=rule,
        now=now,
        state=state,
        stuck=stuck,
        order_id=order_id,
        user_id=user_id,
        kind=kind,
    )
    if older_than is not None:
        stmt = stmt.where(col(SagaRow.created_at) < now - timedelta(seconds=older_than))
    if after is not None:
        stmt = stmt.where(
            or_(
                col(SagaRow.created_at) < after.created_at,
                (col(SagaRow.created_at) == after.created_at) & (col(SagaRow.id) < after.id),
            )
        )
    stmt = stmt.order_by(col(SagaRow.created_at).desc(), col(SagaRow.id).desc()).limit(limit + 1)
    async with runtime.db.reads() as session:
        rows = list((await session.exec(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return SagaPage(
        items=[summary(r, rule, now) for r in rows],
        next_cursor=Position(rows[-1].created_at, rows[-1].id).encode() if more and rows else None,
    )


class ParkedInputView(CamelModel):
    """An event kept for a saga that has not started: applied when ``order.created``
    arrives, so one parked for long means that event, or the saga, went missing."""

    saga_id: str
    message_id: str
    type: str
    received_at: datetime


@router.get("/parked-inputs", response_model=list[ParkedInputView])
async def list_parked_inputs(
    runtime: Runtime,
    _ops: OpsPrincipal,
    older_than: AgeQuery = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[ParkedInputView]:
    """Events waiting for their saga to start, oldest first."""
    stmt = select(ParkedMessageRow)
    if older_than is not None:
        cutoff = utcnow() - timedelta(seconds=older_than)
        stmt = stmt.where(col(ParkedMessageRow.received_at) < cutoff)
    stmt = stmt.order_by(col(ParkedMessageRow.received_at), col(ParkedMessageRow.id)).limit(limit)
    async with runtime.db.reads() as session:
        rows = (await session.exec(stmt)).all()
    return [
        ParkedInputView(
            saga_id=row.saga_id,
            message_id=row.message_id,
            type=str(row.input.get("type", row.input.get("kind", "?"))),
            received_at=row.received_at,
        )
        for row in rows
    ]


async def _load(runtime: SagaRuntime, saga_id: str) -> SagaRow:
    row = await runtime.db.read_row(SagaRow, saga_id)
    if row is None:
        raise NotFound(f"saga {saga_id} not found")
    return row


@router.get("/sagas/{saga_id}", response_model=SagaDetail)
async def show_saga(saga_id: str, runtime: Runtime, principal: CurrentPrincipal) -> SagaDetail:
    """State, step, version, deadlines and full history. Ops, or the order's customer."""
    row = await _load(runtime, saga_id)
    ensure_owner(principal, row.user_id, "saga")
    state = state_of(row.kind, row.state)
    async with runtime.db.read_engine.connect() as connection:
        history = await history_of(connection, saga_id)
    async with runtime.db.reads() as session:
        deadlines = (
            await session.exec(select(SagaDeadlineRow).where(SagaDeadlineRow.saga_id == saga_id))
        ).all()
    base = summary(row, stuck_rule(runtime), utcnow())
    return SagaDetail(
        **base.model_dump(),
        definition_version=row.definition_version,
        order=state.order.to_json() if isinstance(state, SagaState) else state.order_view(),
        steps=state.steps.to_json() if isinstance(state, SagaState) else {"sent": state.sent},
        deadlines=[
            DeadlineView(command=d.command, attempt=d.attempt, due_at=d.due_at) for d in deadlines
        ],
        ahead=(
            [status.value for status in statuses_ahead(state)]
            if isinstance(state, SagaState)
            else state.ahead()
        ),
        history=[
            HistoryItem(
                at=h.at,
                kind=h.kind,
                text=describe(h.kind, h.detail),
                detail=h.detail,
                message_id=h.message_id,
                definition_version=h.definition_version,
            )
            for h in history
        ],
    )


async def operate(
    runtime: SagaRuntime, saga_id: str, action: OperatorRetry | OperatorAbort
) -> SagaSummary:
    """Apply an operator's action to one saga; 404 when there is none, 409 when
    there is nothing to do (the history says why)."""
    try:
        decision = await runtime.operate(saga_id, action)
    except SagaNotFound:
        raise NotFound(f"saga {saga_id} not found") from None
    if decision.ignored:
        reasons = "; ".join(
            str(h.detail.get("why", "")) for h in decision.history if h.kind == "ignored"
        )
        raise Conflict(
            f"nothing to {'retry' if isinstance(action, OperatorRetry) else 'abort'}: {reasons}"
        )
    return summary(await _load(runtime, saga_id), stuck_rule(runtime), utcnow())


@router.post("/sagas/{saga_id}/retry", response_model=SagaSummary)
async def retry_saga(
    saga_id: str, body: OperatorRequest, runtime: Runtime, ops: OpsPrincipal
) -> SagaSummary:
    """Re-send the current step's command (or restart a failed compensation)."""
    return await operate(runtime, saga_id, OperatorRetry(actor=ops.sub, reason=body.reason))


@router.post("/sagas/{saga_id}/abort", response_model=SagaSummary)
async def abort_saga(
    saga_id: str, body: OperatorRequest, runtime: Runtime, ops: OpsPrincipal
) -> SagaSummary:
    """Compensate now."""
    return await operate(runtime, saga_id, OperatorAbort(actor=ops.sub, reason=body.reason))


@router.get("/sagas/{saga_id}/replay")
async def replay_saga(saga_id: str, runtime: Runtime, _ops: OpsPrincipal) -> dict[str, Any]:
    """Re-run the stored inputs through the current definition; report divergences."""
    row = await _load(runtime, saga_id)
    inputs, recorded = await load_tape(runtime, saga_id)
    definition = runtime.kinds[row.kind].definition if row.kind in runtime.kinds else None
    report = replay(definition or runtime.definition, inputs, recorded)
    return {"sagaId": saga_id, "inputs": len(inputs), **report.to_json()}


async def load_tape(runtime: SagaRuntime, saga_id: str) -> tuple[list[Any], list[RecordedDecision]]:
    async with runtime.db.read_engine.connect() as connection:
        rows = await tape_of(connection, saga_id)
    return (
        [input_from_json(r.input) for r in rows],
        [RecordedDecision.from_json(r.decision) for r in rows],
    )
