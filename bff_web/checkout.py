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

from urllib.parse import quote

from fastapi import APIRouter, Response, status

from bff import (
    API,
    CurrentCaller,
    IdempotencyKey,
    StoredAnswer,
    answer_within,
    concurrently,
    once_per_key,
    parse_answer,
    place_order,
    price_basket,
    problem_responses,
    usable_payment_method,
)
from bff.outcome import WaitQuery, final_within
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
    web.checkout_limiter.check(caller.user_id, "checkouts")
    request_body = body.model_dump(mode="json", by_alias=True)

    async def place() -> StoredAnswer:
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
        accepted = CheckoutAccepted(
            order_id=placed.id,
            status=placed.status,
            total_amount=placed.total_amount,
            currency=placed.currency,
        )
        return StoredAnswer(status.HTTP_202_ACCEPTED, accepted.model_dump(by_alias=True))

    answer = await once_per_key(web, caller, idempotency_key, request_body, response, place)
    accepted = parse_answer(CheckoutAccepted, answer.body, "orders")
    response.headers["Location"] = f"{API}/orders/{quote(accepted.order_id, safe='')}/details"
    final = await final_within(web, caller, accepted.order_id, wait)
    if final is not None:
        response.status_code = status.HTTP_200_OK
        accepted = accepted.model_copy(update={"status": final.status, "reason": final.reason})
    return accepted
