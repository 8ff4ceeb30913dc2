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

from fastapi import APIRouter, Response, status

from bff import (
    API,
    Caller,
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
from bff.downstream import DownstreamRejected
from bff.outcome import WaitQuery
from bff.schemas import Address
from bff_mobile.context import Mobile, MobileDep
from bff_mobile.schemas import (
    CheckoutAccepted,
    CheckoutRequest,
    ServiceOrder,
    compact_reason,
)
from shared.web.limits import CHECKOUT
from shared.web.problems import Unprocessable

router = APIRouter(tags=["checkout"])


@router.post(
    "/checkout",
    status_code=status.HTTP_202_ACCEPTED,
    # Compact: no ``reason`` unless the order was cancelled.
    response_model_exclude_none=True,
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
    mobile: MobileDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: WaitQuery = None,
) -> CheckoutAccepted:
    """Place an order with a saved address and payment method; ``pending`` until the saga ends."""

    async def place(request_body: dict[str, Any]) -> CheckoutAccepted:
        async with answer_within(mobile.settings.bff_write_deadline_seconds):
            address, _, basket = await concurrently(
                _saved_address(mobile, caller, body.address_id),
                usable_payment_method(mobile, caller, body.payment_method_id),
                price_basket(
                    mobile.downstreams.inventory, [(i.product_id, i.quantity) for i in body.items]
                ),
            )
            answer = await place_order(
                mobile,
                caller,
                basket,
                payment_method_id=body.payment_method_id,
                shipping_address=address.model_dump(by_alias=True, exclude={"id"}),
                idempotency_key=idempotency_key,
            )
        order = parse_answer(ServiceOrder, answer, "orders")
        return CheckoutAccepted(
            order_id=order.id, status=order.status, total_amount=order.total_amount
        )

    return await accept_checkout(
        mobile,
        caller,
        body,
        response,
        idempotency_key=idempotency_key,
        wait=wait,
        place=place,
        answer=CheckoutAccepted,
        poll=lambda order_id: f"{API}/orders/{quote(order_id, safe='')}",
        reason=compact_reason,
    )


async def _saved_address(mobile: Mobile, caller: Caller, address_id: str) -> Address:
    """One of the caller's saved addresses; any other id is a 422 naming ``addressId``."""
    path = f"{API}/users/{quote(caller.user_id, safe='')}/addresses/{quote(address_id, safe='')}"
    try:
        answer = await mobile.downstreams.users.get_json(path, headers=caller.auth)
    except DownstreamRejected as error:
        if error.status in (404, 422):
            raise Unprocessable(
                f"addressId: no saved address {address_id!r}", field="addressId"
            ) from None
        raise
    return parse_answer(Address, answer, "users")
