"""The signed-in user's orders: the list, the order page, and cancelling.

The caller's token goes on to the services, which apply ownership themselves
(another user's order answers 404 there, and so here).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter

from bff import (
    API,
    CurrentCaller,
    answer_within,
    parse_answer,
    problem_responses,
)
from bff.orders import OrderId, add_cancel_route, add_list_route
from bff_web.context import WebDep
from bff_web.details import order_details
from bff_web.schemas import CancelAccepted, Order, OrderDetails, OrderPage

router = APIRouter(prefix="/orders", tags=["orders"])


def _page(answer: Any) -> OrderPage:
    return parse_answer(OrderPage, answer, "orders")


add_list_route(router, _page, most=100, doc="The caller's orders, newest first.")


@router.get("/{order_id}/details", responses=problem_responses(401, 404, 422, 502, 504))
async def get_order_details(order_id: OrderId, caller: CurrentCaller, web: WebDep) -> OrderDetails:
    """The order with its user, products, payments and saga progress, fetched in parallel.

    Within the request deadline (``OMS_BFF_REQUEST_DEADLINE_SECONDS``) whatever
    happens: a part that fails or is late is ``null`` and named in ``degraded``.
    Only the order itself is indispensable.
    """
    async with answer_within(web.settings.bff_request_deadline_seconds):
        return await order_details(web, caller, order_id)


add_cancel_route(
    router,
    answer=CancelAccepted,
    poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}/details",
    accepted=lambda answer, poll: CancelAccepted(
        **parse_answer(Order, answer, "orders").model_dump(), cancel_requested=True, poll=poll
    ),
)
