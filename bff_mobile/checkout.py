"""``POST /checkout`` from saved data: an address id, a payment method id, the basket.

The saved address, the payment method and every product's price are fetched at
once; anything not found (or not the caller's) is a 422 naming the field before
any order exists.  The answer is minimal: the order's id, status and total.
``Idempotency-Key`` makes a retry on a flaky network safe.  With
``?wait=<seconds>`` the answer waits for the saga to end and carries the final
status (200) and, for a cancelled order, its ``reason``; or the current status
(202) if that takes longer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter

from bff import API, Caller, parse_answer
from bff.checkout import add_checkout_route, checked_and_placed
from bff.downstream import DownstreamRejected
from bff.schemas import Address
from bff_mobile.context import Mobile
from bff_mobile.schemas import (
    CheckoutAccepted,
    CheckoutRequest,
    ServiceOrder,
    compact_reason,
)
from shared.web.problems import Unprocessable

router = APIRouter(tags=["checkout"])


async def _place(
    mobile: Mobile,
    caller: Caller,
    body: CheckoutRequest,
    idempotency_key: str | None,
    request_body: dict[str, Any],
) -> CheckoutAccepted:
    answer = await checked_and_placed(
        mobile,
        caller,
        body.items,
        body.payment_method_id,
        _saved_address(mobile, caller, body.address_id),
        idempotency_key,
    )
    order = parse_answer(ServiceOrder, answer, "orders")
    return CheckoutAccepted(order_id=order.id, status=order.status, total_amount=order.total_amount)


add_checkout_route(
    router,
    _place,
    poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}",
    doc="Place an order with a saved address and payment method; ``pending`` until the saga ends.",
    reason=compact_reason,
    # Compact: no ``reason`` unless the order was cancelled.
    response_model_exclude_none=True,
)


async def _saved_address(mobile: Mobile, caller: Caller, address_id: str) -> dict[str, Any]:
    """One of the caller's saved addresses, as an order's shipping address; any other
    id is a 422 naming ``addressId``."""
    path = f"{API}/users/{quote(caller.user_id, safe='')}/addresses/{quote(address_id, safe='')}"
    try:
        answer = await mobile.downstreams.users.get_json(path, headers=caller.auth)
    except DownstreamRejected as error:
        if error.status in (404, 422):
            raise Unprocessable(
                f"addressId: no saved address {address_id!r}", field="addressId"
            ) from None
        raise
    address = parse_answer(Address, answer, "users")
    return address.model_dump(by_alias=True, exclude={"id"})
