"""Retry or abort many sagas at once (``POST /sagas/retry``, ``POST /sagas/abort``),
and what such a request would do before it is sent (``POST /sagas/retry/dry-run``,
``POST /sagas/abort/dry-run``): how many sagas it selects, its filter in words and,
for a retry, the sagas a retry is unlikely to help.

The body names the sagas, by a list of ids or by the list's filter, and the
reason; each saga is acted on as ``POST /sagas/{id}/retry`` (or ``abort``) would,
one transaction each, recorded with who asked and why, and the answer reports
every saga's outcome.  One saga that cannot be acted on (not found, nothing to
retry) does not stop the others.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import func, or_
from sqlmodel import col, select
from starlette.exceptions import HTTPException

from saga.api import (
    OperatorRequest,
    Runtime,
    SagaId,
    SagaKindName,
    matching,
    operate,
    stuck_rule,
)
from saga.definition import (
    OperatorAbort,
    OperatorRetry,
    SagaStatus,
    StateFilter,
    statuses_matching,
)
from saga.kinds import state_of
from saga.models import SagaHistoryRow, SagaRow
from saga.runtime import SagaRuntime
from saga.statecounts import counts_by_state
from saga.stuck import ANSWERED
from shared.auth import Principal
from shared.clock import utcnow
from shared.logging import get_logger
from shared.web.auth import OpsPrincipal
from shared.web.problems import Problem, Unprocessable
from shared.web.schemas import CamelModel, RequestBody

router = APIRouter(tags=["sagas"])
log = get_logger(__name__)

MOST_AT_ONCE = 500
"""The most sagas one bulk request acts on; beyond it the request is refused (422),
so an over-broad filter cannot abort half the shop by mistake."""

Operation = Literal["retry", "abort"]


class SagaFilter(RequestBody):
    """The list's filter: every criterion given must hold, and at least one is given."""

    model_config = {"json_schema_extra": {"minProperties": 1}}

    state: StateFilter | SkipJsonSchema[None] = None
    stuck: Literal[True] | SkipJsonSchema[None] = None
    order_id: SagaId | SkipJsonSchema[None] = None
    user_id: SagaId | SkipJsonSchema[None] = None
    kind: SagaKindName | SkipJsonSchema[None] = None
    """Only sagas of this definition (``order``, ``return``)."""

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict) and any(value is None for value in data.values()):
            raise ValueError("a criterion is left out, never null")
        return data

    @model_validator(mode="after")
    def _some_criterion(self) -> SagaFilter:
        if not self.model_fields_set:
            raise ValueError("name at least one of state, stuck, orderId, userId, kind")
        return self


class SelectIds(RequestBody):
    ids: list[SagaId] = Field(min_length=1, max_length=MOST_AT_ONCE)
    """The sagas (order ids) to act on; a repeated id counts once."""


class SelectFilter(RequestBody):
    filter: SagaFilter
    """Every saga the list would show with this filter, at most ``MOST_AT_ONCE``."""


class ByIds(SelectIds, OperatorRequest):
    pass


class ByFilter(SelectFilter, OperatorRequest):
    pass


class Doubt(CamelModel):
    """A saga a retry is unlikely to help, and why."""

    id: str
    why: str


class DryRun(CamelModel):
    """What a bulk request with this selection would act on; nothing is done."""

    action: Operation
    described: str
    """The selection in words (``every failed saga``, ``3 sagas named by id``,
    ``saga 6f1…``)."""
    selects: int
    """How many sagas the selection holds now (a filter: counted in full, beyond
    ``mostAtOnce`` too)."""
    most_at_once: int
    """The most one request acts on: a larger selection is refused (422)."""
    doubts: list[Doubt]
    """Retry only: the selected sagas that failed on a refusal, not for want of an
    answer (a card that declines the refund, payments answering a refund short of
    the capture), which a retry asks again and which fail again unless the refusal
    has gone away; each with why."""


def in_words(criteria: SagaFilter) -> str:
    """The filter as a person says it: ``every stuck failed saga of customer u1``."""
    state = {"compensating": "compensating (any undo state)"}.get(
        str(criteria.state), str(criteria.state)
    )
    adjectives = ["stuck" if criteria.stuck else "", state if criteria.state else ""]
    kind = f"{criteria.kind} " if criteria.kind else ""
    words = ["every", *filter(None, adjectives), f"{kind}saga"]
    if criteria.order_id is not None:
        words.append(f"of order {criteria.order_id}")
    if criteria.user_id is not None:
        words.append(f"of customer {criteria.user_id}")
    return " ".join(words)


class Outcome(CamelModel):
    id: str
    ok: bool
    state: str | None
    """The saga's state afterwards (null when there is no such saga)."""
    error: str | None
    """Why nothing was done to it (not found, nothing to retry...), or null."""


class BulkResult(CamelModel):
    action: Operation
    requested: int
    succeeded: int
    outcomes: list[Outcome]


def matching_filter(runtime: SagaRuntime, criteria: SagaFilter, what: Any) -> Any:
    """``select(what)`` of the sagas the filter selects."""
    return matching(
        select(what),
        rule=stuck_rule(runtime),
        now=utcnow(),
        state=criteria.state,
        stuck=bool(criteria.stuck),
        order_id=criteria.order_id,
        user_id=criteria.user_id,
        kind=criteria.kind,
    )


async def _ids(runtime: SagaRuntime, body: SelectIds | SelectFilter) -> list[str]:
    """The sagas selected, at most ``MOST_AT_ONCE + 1`` of a filter (oldest first)."""
    if isinstance(body, SelectIds):
        return list(dict.fromkeys(body.ids))
    stmt = matching_filter(runtime, body.filter, SagaRow.id)
    stmt = stmt.order_by(col(SagaRow.created_at), col(SagaRow.id)).limit(MOST_AT_ONCE + 1)
    async with runtime.db.reads() as session:
        return [str(saga_id) for saga_id in (await session.exec(stmt)).all()]


async def _selected(runtime: SagaRuntime, body: ByIds | ByFilter) -> list[str]:
    ids = await _ids(runtime, body)
    if len(ids) > MOST_AT_ONCE:
        raise Unprocessable(
            f"the filter selects more than {MOST_AT_ONCE} sagas, the most one request "
            "acts on: narrow it, or send several requests",
            field="filter",
        )
    return ids


async def _act(
    runtime: SagaRuntime, action: Operation, body: ByIds | ByFilter, ops: Principal
) -> BulkResult:
    outcomes = [
        await act_on(runtime, action, saga_id, actor=ops.sub, reason=body.reason)
        for saga_id in await _selected(runtime, body)
    ]
    log.info("sagas.bulk_action", action=action, requested=len(outcomes), actor=ops.sub)
    return BulkResult(
        action=action,
        requested=len(outcomes),
        succeeded=sum(o.ok for o in outcomes),
        outcomes=outcomes,
    )


async def act_on(
    runtime: SagaRuntime, action: Operation, saga_id: str, *, actor: str, reason: str
) -> Outcome:
    """Retry or abort one saga as ``POST /sagas/{id}/ACTION`` would, recorded with
    ``actor`` and ``reason``; what came of it (never raises: the others of a bulk
    action still get their turn)."""
    command = (OperatorRetry if action == "retry" else OperatorAbort)(actor=actor, reason=reason)
    try:
        after = await operate(runtime, saga_id, command)
    except Problem as refused:
        state = None if refused.status == 404 else await _state_of(runtime, saga_id)
        return Outcome(id=saga_id, ok=False, state=state, error=refused.detail)
    except Exception as error:
        log.exception("sagas.bulk_action_failed", saga_id=saga_id, action=action)
        return Outcome(id=saga_id, ok=False, state=None, error=f"not applied: {error!r}")
    return Outcome(id=saga_id, ok=True, state=after.state, error=None)


async def _state_of(runtime: SagaRuntime, saga_id: str) -> str | None:
    row = await runtime.db.read_row(SagaRow, saga_id)
    return None if row is None else str(state_of(row.kind, row.state).status.value)


async def count_selected(runtime: SagaRuntime, body: SelectIds | SelectFilter) -> int:
    """How many sagas the selection holds now; a filter by state alone is read from
    the counts by state (:mod:`saga.statecounts`), not counted."""
    if isinstance(body, SelectIds):
        return len(set(body.ids))
    if body.filter.model_fields_set == {"state"}:
        by_state = await counts_by_state(runtime.db)
        return sum(by_state.get(s, 0) for s in statuses_matching(str(body.filter.state)))
    stmt = matching_filter(runtime, body.filter, func.count()).select_from(SagaRow)
    async with runtime.db.reads() as session:
        return int((await session.exec(stmt)).one())


def _reason() -> Any:
    """A stored state's ``reason`` as its kind's codec would give it, read in SQL:
    an order's compensation trouble, else its failure reason; a return's reason."""
    state = col(SagaRow.state)
    return func.coalesce(
        func.nullif(state["compensationFailure"].as_string(), ""),
        func.nullif(state["failureReason"].as_string(), ""),
        state["reason"].as_string(),
    )


async def _doubts(runtime: SagaRuntime, ids: list[str]) -> list[Doubt]:
    """The failed sagas among ``ids`` whose failure was a refusal (module docstring).
    The database picks them out of their states and counts their operator retries:
    no state crosses to be decoded, and the history is read for those doubted only."""
    reason = _reason()
    async with runtime.db.reads() as session:
        refused = (
            await session.exec(
                select(SagaRow.id, reason)
                .where(
                    col(SagaRow.id).in_(ids),
                    SagaRow.status == SagaStatus.failed.value,
                    or_(*(reason.startswith(start, autoescape=True) for start, _ in ANSWERED)),
                )
                .order_by(col(SagaRow.created_at), col(SagaRow.id))
            )
        ).all()
        action = col(SagaHistoryRow.detail)["action"].as_string()
        retries = dict(
            (
                await session.exec(
                    select(SagaHistoryRow.saga_id, func.count())
                    .where(
                        col(SagaHistoryRow.saga_id).in_([saga_id for saga_id, _ in refused]),
                        SagaHistoryRow.kind == "operator",
                        action == "retry",
                    )
                    .group_by(col(SagaHistoryRow.saga_id))
                )
            ).all()
            if refused
            else []
        )
    doubts = []
    for saga_id, why_failed in refused:
        why = f"failed on a refusal, not a timeout: {why_failed}"
        if times := retries.get(saga_id, 0):
            again = "once" if times == 1 else f"{times} times"
            why += f"; retried {again} already, and failed again"
        doubts.append(Doubt(id=saga_id, why=why))
    return doubts


async def _dry_run(
    runtime: SagaRuntime, action: Operation, body: SelectIds | SelectFilter
) -> DryRun:
    ids = await _ids(runtime, body)
    if isinstance(body, SelectIds):
        count = len(ids)
        described = f"saga {ids[0]}" if count == 1 else f"{count} sagas named by id"
    else:
        count = await count_selected(runtime, body) if len(ids) > MOST_AT_ONCE else len(ids)
        described = in_words(body.filter)
    doubts = await _doubts(runtime, ids[:MOST_AT_ONCE]) if action == "retry" else []
    return DryRun(
        action=action,
        described=described,
        selects=count,
        most_at_once=MOST_AT_ONCE,
        doubts=doubts,
    )


@router.post("/sagas/retry/dry-run", response_model=DryRun)
async def retry_sagas_dry_run(
    body: SelectIds | SelectFilter, runtime: Runtime, _ops: OpsPrincipal
) -> DryRun:
    """What ``POST /sagas/retry`` with this selection would act on, without acting:
    the selection in words, how many sagas it holds, and those a retry is unlikely
    to help (failed on a refusal), each with why."""
    return await _dry_run(runtime, "retry", body)


@router.post("/sagas/abort/dry-run", response_model=DryRun)
async def abort_sagas_dry_run(
    body: SelectIds | SelectFilter, runtime: Runtime, _ops: OpsPrincipal
) -> DryRun:
    """What ``POST /sagas/abort`` with this selection would act on, without acting:
    the selection in words and how many sagas it holds."""
    return await _dry_run(runtime, "abort", body)


@router.post("/sagas/retry", response_model=BulkResult)
async def retry_sagas(body: ByIds | ByFilter, runtime: Runtime, ops: OpsPrincipal) -> BulkResult:
    """Retry every saga named (``ids``) or selected (``filter``), as
    ``POST /sagas/{id}/retry`` would each; every saga's outcome is reported."""
    return await _act(runtime, "retry", body, ops)


@router.post("/sagas/abort", response_model=BulkResult)
async def abort_sagas(body: ByIds | ByFilter, runtime: Runtime, ops: OpsPrincipal) -> BulkResult:
    """Abort (compensate now) every saga named (``ids``) or selected (``filter``), as
    ``POST /sagas/{id}/abort`` would each; every saga's outcome is reported."""
    return await _act(runtime, "abort", body, ops)


@router.api_route("/sagas/retry", methods=["GET", "HEAD"], include_in_schema=False)
@router.api_route("/sagas/abort", methods=["GET", "HEAD"], include_in_schema=False)
async def not_a_saga() -> None:
    """``GET /sagas/retry`` would otherwise be read as the saga whose id is ``retry``."""
    raise HTTPException(405)
