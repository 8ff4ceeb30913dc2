"""``POST /checkout``: price the basket from the inventory and place the order.

Everything that can make the request fail is checked before the order exists:
the body (422 naming the field), every product (looked up concurrently, unknown
ones named) and the payment method, which is looked up at the same time.  The
order then goes to the orders service; the saga takes it from there.

With ``Idempotency-Key`` a retried checkout answers the first one's answer and
never places a second order.  With ``?wait=<seconds>`` the answer waits for
the saga to end and carries the final status (200) and, for a cancelled order,
its ``reason``; or the current status (202) if that takes longer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Response, status

from bff import (
    API,
    CurrentCaller,
    IdempotencyKey,
    answer_within,
    concurrently,
    parse_answer,
    place_order,
    price_basket,
    problem_responses,
    usable_payment_method,
)
from bff.checkout import accept_checkout
from bff.outcome import WaitQuery
from bff_web.context import WebDep
from bff_web.schemas import CheckoutAccepted, CheckoutRequest, Order
from shared.web.limits import CHECKOUT

router = APIRouter(tags=["checkout"])


@router.post(
    "/checkout",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "model": CheckoutAccepted,
            "description": "The saga ended within `wait`: the final status (and reason)",
        },
        **problem_responses(401, 409, 422, 429, 502, 504),
    },
    openapi_extra=CHECKOUT,
)
async def checkout(
    body: CheckoutRequest,
    caller: CurrentCaller,
    web: WebDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = None,
) -> CheckoutAccepted:
    """Place an order for the basket; the answer is ``pending`` until the saga ends."""

    async def place(request_body: dict[str, Any]) -> CheckoutAccepted:
        async with answer_within(web.settings.bff_write_deadline_seconds):
            basket, _ = await concurrently(
                price_basket(
                    web.downstreams.inventory, [(i.product_id, i.quantity) for i in body.items]
                ),
                usable_payment_method(web, caller, body.payment_method_id),
            )
            order = await place_order(
                web,
                caller,
                basket,
                payment_method_id=body.payment_method_id,
                shipping_address=request_body["shippingAddress"],
                idempotency_key=idempotency_key,
            )
        placed = parse_answer(Order, order, "orders")
        return CheckoutAccepted(
            order_id=placed.id,
            status=placed.status,
            total_amount=placed.total_amount,
            currency=placed.currency,
        )

    return await accept_checkout(
        web,
        caller,
        body,
        response,
        idempotency_key=idempotency_key,
        wait=wait,
        place=place,
        answer=CheckoutAccepted,
        poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}/details",
    )
