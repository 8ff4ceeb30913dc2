"""Retry or abort many sagas at once (``POST /sagas/retry``, ``POST /sagas/abort``).

The body names the sagas, by a list of ids or by the list's filter, and the
reason; each saga is acted on as ``POST /sagas/{id}/retry`` (or ``abort``) would,
one transaction each, recorded with who asked and why, and the answer reports
every saga's outcome.  One saga that cannot be acted on (not found, nothing to
retry) does not stop the others.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field, model_validator
from pydantic.json_schema import SkipJsonSchema
from sqlmodel import col, select
from starlette.exceptions import HTTPException

from saga.api import (
    OperatorRequest,
    Runtime,
    SagaId,
    matching,
    operate,
    stuck_rule,
)
from saga.definition import OperatorAbort, OperatorRetry, SagaState, StateFilter
from saga.models import SagaRow
from saga.runtime import SagaRuntime
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

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: object) -> object:
        if isinstance(data, dict) and any(value is None for value in data.values()):
            raise ValueError("a criterion is left out, never null")
        return data

    @model_validator(mode="after")
    def _some_criterion(self) -> SagaFilter:
        if not self.model_fields_set:
            raise ValueError("name at least one of state, stuck, orderId, userId")
        return self


class ByIds(OperatorRequest):
    ids: list[SagaId] = Field(min_length=1, max_length=MOST_AT_ONCE)
    """The sagas (order ids) to act on; a repeated id counts once."""


class ByFilter(OperatorRequest):
    filter: SagaFilter
    """Every saga the list would show with this filter, at most ``MOST_AT_ONCE``."""


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


async def _selected(runtime: SagaRuntime, body: ByIds | ByFilter) -> list[str]:
    if isinstance(body, ByIds):
        return list(dict.fromkeys(body.ids))
    criteria = body.filter
    stmt = matching(
        select(SagaRow.id),  # type: ignore[arg-type]
        rule=stuck_rule(runtime),
        now=utcnow(),
        state=criteria.state,
        stuck=bool(criteria.stuck),
        order_id=criteria.order_id,
        user_id=criteria.user_id,
    )
    stmt = stmt.order_by(col(SagaRow.created_at), col(SagaRow.id)).limit(MOST_AT_ONCE + 1)
    async with runtime.db.reads() as session:
        ids = [str(saga_id) for saga_id in (await session.exec(stmt)).all()]
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
    outcomes = []
    for saga_id in await _selected(runtime, body):
        command = (OperatorRetry if action == "retry" else OperatorAbort)(
            actor=ops.sub, reason=body.reason
        )
        try:
            after = await operate(runtime, saga_id, command)
        except Problem as refused:
            state = None if refused.status == 404 else await _state_of(runtime, saga_id)
            outcomes.append(Outcome(id=saga_id, ok=False, state=state, error=refused.detail))
            continue
        except Exception as error:  # the others still get their turn
            log.exception("sagas.bulk_action_failed", saga_id=saga_id, action=action)
            outcomes.append(
                Outcome(id=saga_id, ok=False, state=None, error=f"not applied: {error!r}")
            )
            continue
        outcomes.append(Outcome(id=saga_id, ok=True, state=after.state, error=None))
    log.info("sagas.bulk_action", action=action, requested=len(outcomes), actor=ops.sub)
    return BulkResult(
        action=action,
        requested=len(outcomes),
        succeeded=sum(o.ok for o in outcomes),
        outcomes=outcomes,
    )


async def _state_of(runtime: SagaRuntime, saga_id: str) -> str | None:
    async with runtime.db.reads() as session:
        row = await session.get(SagaRow, saga_id)
    return None if row is None else SagaState.from_json(row.state).status.value


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
