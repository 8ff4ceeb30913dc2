"""The signed-in user's orders: the list, the order page, and cancelling.

The caller's token goes on to the services, which apply ownership themselves
(another user's order answers 404 there, and so here).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, status

from bff import (
    API,
    CurrentCaller,
    Id,
    answer_within,
    fetch_order_page,
    parse_answer,
    problem_responses,
)
from bff_web.context import WebDep
from bff_web.details import order_details
from bff_web.schemas import Order, OrderDetails, OrderPage
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
    responses=problem_responses(401, 404, 409, 422, 502, 504),
)
async def cancel_order(order_id: OrderId, caller: CurrentCaller, web: WebDep) -> Order:
    """Ask for the order to be cancelled; the saga undoes what was done (refund, release).

    The order answered is as it is now: its status turns ``cancelled`` when the
    saga has compensated.
    """
    async with answer_within(web.settings.bff_write_deadline_seconds):
        # Asking twice has the effect of asking once (the saga cancels an order once),
        # so a request lost to a closing kept-alive connection is sent again.
        order = await web.downstreams.orders.post_json(
            f"{API}/orders/{quote(order_id, safe='')}/cancel",
            None,
            headers=caller.auth,
            idempotent=True,
        )
    return parse_answer(Order, order, "orders")
