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

from bff import API, Caller, parse_answer
from bff.checkout import add_checkout_route, checked_and_placed
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
    order = await checked_and_placed(
        web,
        caller,
        body.items,
        body.payment_method_id,
        request_body["shippingAddress"],
        idempotency_key,
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
