"""The user's orders, compact: a paged list, one order with an ``ETag`` for polling
(the list has none), and cancelling."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from bff import (
    API,
    CurrentCaller,
    answer_within,
    fetch_order,
    parse_answer,
    problem_responses,
)
from bff.orders import OrderId, add_cancel_route, add_list_route
from bff_mobile.conditional import conditional_json
from bff_mobile.context import MobileDep
from bff_mobile.schemas import (
    CancelAccepted,
    CompactOrder,
    OrderPage,
    OrderSummary,
    ServiceOrder,
    ServiceOrderPage,
    compact_reason,
)

router = APIRouter(prefix="/orders", tags=["orders"])


def _page(answer: Any) -> OrderPage:
    page = parse_answer(ServiceOrderPage, answer, "orders")
    return OrderPage(
        items=[CompactOrder.of(order) for order in page.items], next_cursor=page.next_cursor
    )


add_list_route(
    router,
    _page,
    most=50,
    doc="""The caller's orders, newest first, one compact row each (no ``ETag``: poll one
    order with ``GET /orders/{orderId}``).""",
)


@router.get(
    "/{order_id}",
    response_model=OrderSummary,
    responses={
        304: {"description": "Not modified: the order is as the client's `If-None-Match` says"},
        **problem_responses(401, 404, 422, 502, 504),
    },
)
async def get_order(
    order_id: OrderId,
    request: Request,
    caller: CurrentCaller,
    mobile: MobileDep,
) -> Response:
    """One order, compact, with an ``ETag``; send it back in ``If-None-Match`` to poll
    for nothing but a 304 until the order changes."""
    async with answer_within(mobile.settings.bff_request_deadline_seconds):
        answer = await fetch_order(mobile, caller, order_id)
    order = parse_answer(ServiceOrder, answer, "orders")
    return conditional_json(request, OrderSummary.of(order))


add_cancel_route(
    router,
    answer=CancelAccepted,
    poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}",
    accepted=lambda answer, poll: CancelAccepted(
        **OrderSummary.of(parse_answer(ServiceOrder, answer, "orders")).model_dump(),
        cancel_requested=True,
        poll=poll,
    ),
    reason=compact_reason,
)
