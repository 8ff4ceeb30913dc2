"""The signed-in user's orders: the list, the order page, and cancelling.

The caller's token goes on to the services, which apply ownership themselves
(another user's order answers 404 there, and so here).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response, status

from bff import (
    API,
    CurrentCaller,
    Id,
    answer_within,
    fetch_order_page,
    parse_answer,
    problem_responses,
)
from bff.orders import accept_cancel
from bff.outcome import WaitQuery
from bff_web.context import WebDep
from bff_web.details import order_details
from bff_web.schemas import CancelAccepted, Order, OrderDetails, OrderPage
from shared.web.cursor import CursorQuery

router = APIRouter(prefix="/orders", tags=["orders"])
OrderId = Annotated[Id, Path(description="the order's id")]


@router.get("", responses=problem_responses(401, 422, 502, 504))
async def list_orders(
    caller: CurrentCaller,
    web: WebDep,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
    cursor: CursorQuery = None,
) -> OrderPage:
    """The caller's orders, newest first."""
    async with answer_within(web.settings.bff_request_deadline_seconds):
        page = await fetch_order_page(web, caller, limit=limit, cursor=cursor)
    return parse_answer(OrderPage, page, "orders")


@router.get("/{order_id}/details", responses=problem_responses(401, 404, 422, 502, 504))
async def get_order_details(order_id: OrderId, caller: CurrentCaller, web: WebDep) -> OrderDetails:
    """The order with its user, products, payments and saga progress, fetched in parallel.

    Within the request deadline (``OMS_BFF_REQUEST_DEADLINE_SECONDS``) whatever
    happens: a part that fails or is late is ``null`` and named in ``degraded``.
    Only the order itself is indispensable.
    """
    async with answer_within(web.settings.bff_request_deadline_seconds):
        return await order_details(web, caller, order_id)


@router.post(
    "/{order_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "model": CancelAccepted,
            "description": "The saga ended within `wait`: the order is cancelled",
        },
        **problem_responses(401, 404, 409, 422, 502, 504),
    },
)
async def cancel_order(
    order_id: OrderId,
    caller: CurrentCaller,
    web: WebDep,
    response: Response,
    wait: WaitQuery = None,
) -> CancelAccepted:
    """Ask for the order to be cancelled; the saga undoes what was done (refund, release).

    The answer says ``cancelRequested: true`` and where to poll (``poll``, and
    ``Location``): the status turns ``cancelled`` when the saga has undone the
    order.  With ``?wait`` the answer waits for that (200), or says the status
    now (202) if it takes longer or the saga needs ops to finish it.
    """
    return await accept_cancel(
        web,
        caller,
        order_id,
        response,
        wait=wait,
        poll=f"{API}/orders/{quote(order_id, safe='')}/details",
        accepted=lambda answer, poll: CancelAccepted(
            **parse_answer(Order, answer, "orders").model_dump(), cancel_requested=True, poll=poll
        ),
    )
