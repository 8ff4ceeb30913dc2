"""``POST /checkout``: price the basket from the inventory and place the order.

Everything that can make the request fail is checked before the order exists:
the body (422 naming the field), every product (looked up concurrently, unknown
ones named) and the payment method, which is looked up at the same time.  The
order then goes to the orders service; the saga takes it from there.

With ``Idempotency-Key`` a retried checkout answers the first one's answer and
never places a second order.  With ``?wait=<seconds>`` the answer waits for
the saga to end and carries the final status (200), or the current one (202)
if that takes longer.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Response, status

from bff_web.context import WebDep
from bff_web.outcome import MAX_WAIT_SECONDS, wait_for_outcome
from bff_web.schemas import CheckoutAccepted, CheckoutRequest, Order
from shared.bff import (
    API,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    CurrentCaller,
    StoredAnswer,
    answer_within,
    concurrently,
    downstream_key,
    parse_answer,
    price_basket,
    problem_responses,
)
from shared.bff.caller import Caller
from shared.downstream import DownstreamClient, DownstreamRejected
from shared.web.problems import Unprocessable

router = APIRouter(tags=["checkout"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_HEADER,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="any unique string (a UUID); a retry with the same key and body "
        "gets the first answer and places no second order",
    ),
]


@router.post(
    "/checkout",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"description": "The saga ended within `wait`: the final status"},
        **problem_responses(401, 409, 422, 429, 502, 504),
    },
)
async def checkout(
    body: CheckoutRequest,
    caller: CurrentCaller,
    web: WebDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    wait: Annotated[
        float | None,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the final status"),
    ] = None,
) -> CheckoutAccepted:
    """Place an order for the basket; the answer is ``pending`` until the saga ends."""
    web.checkout_limiter.check(caller.user_id, "checkouts")
    request_body = body.model_dump(mode="json", by_alias=True)

    async def place() -> StoredAnswer:
        async with answer_within(web.settings.bff_write_deadline_seconds):
            downstreams = web.downstreams
            basket, _ = await concurrently(
                price_basket(
                    downstreams.inventory, [(i.product_id, i.quantity) for i in body.items]
                ),
                _check_payment_method(downstreams.payments, caller, body.payment_method_id),
            )
            order = await downstreams.orders.post_json(
                f"{API}/orders",
                {
                    "userId": caller.user_id,
                    "items": basket.order_items(),
                    "currency": basket.currency,
                    "paymentMethodId": body.payment_method_id,
                    "shippingAddress": request_body["shippingAddress"],
                },
                headers=caller.auth,
                # With the client's key the call may be retried, under a key of its own.
                idempotency_key=(
                    downstream_key(caller.user_id, idempotency_key) if idempotency_key else None
                ),
            )
        placed = parse_answer(Order, order, "orders")
        accepted = CheckoutAccepted(
            order_id=placed.id,
            status=placed.status,
            total_amount=placed.total_amount,
            currency=placed.currency,
        )
        return StoredAnswer(status.HTTP_202_ACCEPTED, accepted.model_dump(by_alias=True))

    answer, replayed = await web.bff.idempotency.run(
        caller.user_id, idempotency_key, request_body, place
    )
    accepted = parse_answer(CheckoutAccepted, answer.body, "orders")
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    response.headers["Location"] = f"{API}/orders/{quote(accepted.order_id, safe='')}/details"
    if wait:
        final = await wait_for_outcome(
            web.downstreams,
            caller,
            accepted.order_id,
            wait,
            call_budget=web.settings.bff_request_deadline_seconds,
        )
        if final is not None:
            response.status_code = status.HTTP_200_OK
            accepted = accepted.model_copy(update={"status": final})
    return accepted


async def _check_payment_method(
    payments: DownstreamClient, caller: Caller, payment_method_id: str
) -> dict[str, Any]:
    """The payment method, if the caller may use it; otherwise a 422 naming the field."""
    try:
        method: dict[str, Any] = await payments.get_json(
            f"{API}/payment-methods/{quote(payment_method_id, safe='')}", headers=caller.auth
        )
    except DownstreamRejected as error:
        if error.status in (403, 404, 422):
            raise Unprocessable(
                f"paymentMethodId: no payment method {payment_method_id!r} for this user",
                field="paymentMethodId",
            ) from None
        raise
    return method
