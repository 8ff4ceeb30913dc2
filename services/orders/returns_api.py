"""The returns' HTTP routes (mounted with the orders' under ``/api/v1``).

A customer asks to return lines of their own delivered order; the warehouse (role
``fulfilment``) or ops records what it received.  What each does is
:mod:`services.orders.returns`."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.orders import returns
from services.orders.errors import (
    FulfilmentOnly,
    NotAwaitingReceipt,
    NotReturnable,
    ReturnExceedsOrder,
    ReturnNotFound,
)
from services.orders.return_schemas import NewReturn, Receipt, ReturnOut
from shared.service import ServiceDep
from shared.web.auth import CurrentPrincipal
from shared.web.problems import (
    Conflict,
    DomainProblems,
    Forbidden,
    NotFound,
    Unprocessable,
    problem_responses,
)

router = APIRouter(tags=["returns"])

RETURN_PROBLEMS: DomainProblems = {
    ReturnNotFound: lambda e: NotFound(f"return {e.return_id!r} not found"),
    NotReturnable: lambda e: Conflict(str(e)),
    ReturnExceedsOrder: lambda e: Unprocessable(str(e), field=e.field),
    NotAwaitingReceipt: lambda e: Conflict(str(e)),
    FulfilmentOnly: lambda e: Forbidden(str(e)),
}


@router.post(
    "/orders/{order_id}/returns",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 409, 422),
)
async def request_return(
    order_id: str, body: NewReturn, service: ServiceDep, principal: CurrentPrincipal
) -> ReturnOut:
    """Ask to return lines of a delivered order within the return window
    (``OMS_RETURN_WINDOW_DAYS``): never more of a product than was delivered minus
    what other returns hold.  Announces ``return.requested``; the return saga then
    waits for the warehouse's receipt, restocks and refunds at the prices paid."""
    return await returns.request_return(service, order_id, body, principal)


@router.get("/orders/{order_id}/returns", responses=problem_responses(401, 404, 422))
async def list_returns(
    order_id: str, service: ServiceDep, principal: CurrentPrincipal
) -> list[ReturnOut]:
    """The order's returns, oldest first."""
    return await returns.returns_of_order(service, order_id, principal)


@router.get("/returns/{return_id}", responses=problem_responses(401, 404, 422))
async def get_return(return_id: str, service: ServiceDep, principal: CurrentPrincipal) -> ReturnOut:
    """One return with its lines."""
    return await returns.get_return(service, return_id, principal)


@router.post("/returns/{return_id}/receipt", responses=problem_responses(401, 403, 404, 409, 422))
async def record_receipt(
    return_id: str, body: Receipt, service: ServiceDep, principal: CurrentPrincipal
) -> ReturnOut:
    """The warehouse (role ``fulfilment``, or ``ops``) received the return's goods,
    in these quantities (each at most what was asked back); announces
    ``return.received``.  A return received, refunded or expired answers 409."""
    return await returns.record_receipt(service, return_id, body, principal)
