"""``POST /checkout`` from saved data: an address id, a payment method id, the basket.

The saved address, the payment method and every product's price are fetched at
once; anything not found (or not the caller's) is a 422 naming the field before
any order exists.  The answer is minimal: the order's id, status and total.
``Idempotency-Key`` makes a retry on a flaky network safe.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Response, status

from bff_mobile.context import MobileDep
from bff_mobile.schemas import Address, CheckoutAccepted, CheckoutRequest, ServiceOrder
from shared.bff import (
    API,
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    Caller,
    CurrentCaller,
    StoredAnswer,
    answer_within,
    concurrently,
    downstream_key,
    parse_answer,
    price_basket,
    problem_responses,
)
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
    responses=problem_responses(401, 409, 422, 429, 502, 504),
)
async def checkout(
    body: CheckoutRequest,
    caller: CurrentCaller,
    mobile: MobileDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> CheckoutAccepted:
    """Place an order with a saved address and payment method; ``pending`` until the saga ends."""
    mobile.checkout_limiter.check(caller.user_id, "checkouts")
    request_body = body.model_dump(mode="json", by_alias=True)

    async def place() -> StoredAnswer:
        downstreams = mobile.downstreams
        async with answer_within(mobile.settings.bff_write_deadline_seconds):
            address, _, basket = await concurrently(
                _saved_address(downstreams.users, caller, body.address_id),
                _payment_method(downstreams.payments, caller, body.payment_method_id),
                price_basket(
                    downstreams.inventory, [(i.product_id, i.quantity) for i in body.items]
                ),
            )
            answer = await downstreams.orders.post_json(
                f"{API}/orders",
                {
                    "userId": caller.user_id,
                    "items": basket.order_items(),
                    "currency": basket.currency,
                    "paymentMethodId": body.payment_method_id,
                    "shippingAddress": address.model_dump(by_alias=True, exclude={"id"}),
                },
                headers=caller.auth,
                idempotency_key=(
                    downstream_key(caller.user_id, idempotency_key) if idempotency_key else None
                ),
            )
        order = parse_answer(ServiceOrder, answer, "orders")
        accepted = CheckoutAccepted(
            order_id=order.id, status=order.status, total_amount=order.total_amount
        )
        return StoredAnswer(status.HTTP_202_ACCEPTED, accepted.model_dump(by_alias=True))

    answer, replayed = await mobile.bff.idempotency.run(
        caller.user_id, idempotency_key, request_body, place
    )
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    accepted = parse_answer(CheckoutAccepted, answer.body, "orders")
    response.headers["Location"] = f"{API}/orders/{quote(accepted.order_id, safe='')}"
    return accepted


async def _saved_address(users: DownstreamClient, caller: Caller, address_id: str) -> Address:
    path = f"{API}/users/{quote(caller.user_id, safe='')}/addresses/{quote(address_id, safe='')}"
    try:
        answer = await users.get_json(path, headers=caller.auth)
    except DownstreamRejected as error:
        if error.status in (404, 422):
            raise Unprocessable(
                f"addressId: no saved address {address_id!r}", field="addressId"
            ) from None
        raise
    return parse_answer(Address, answer, "users")


async def _payment_method(
    payments: DownstreamClient, caller: Caller, payment_method_id: str
) -> dict[str, Any]:
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
