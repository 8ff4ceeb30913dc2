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

from fastapi import APIRouter

from bff import (
    API,
    Caller,
    answer_within,
    concurrently,
    parse_answer,
    place_order,
    price_basket,
    usable_payment_method,
)
from bff.checkout import add_checkout_route
from bff_web.context import Web
from bff_web.schemas import CheckoutAccepted, CheckoutRequest, Order

router = APIRouter(tags=["checkout"])


async def _place(
    web: Web,
    caller: Caller,
    body: CheckoutRequest,
    idempotency_key: str | None,
    request_body: dict[str, Any],
) -> CheckoutAccepted:
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


add_checkout_route(
    router,
    _place,
    poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}/details",
    doc="Place an order for the basket; the answer is ``pending`` until the saga ends.",
)
