"""The checkout steps both BFFs take; each gathers its own inputs around them.

::

    checkout request ─▶ rate limit per user
                     ─▶ once_per_key (Idempotency-Key: stored answer, 409, 422)
                          ─▶ price_basket ∥ usable_payment_method ∥ (the BFF's own lookups)
                          ─▶ place_order (POST /orders, retried only under a derived key)

Everything that can make a checkout fail is checked before the order exists;
the saga takes the order from there.  :func:`add_checkout_route` declares the
``POST /checkout`` route both BFFs answer, around each one's own placing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar, get_type_hints
from urllib.parse import quote

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from bff.app import Bff, BffDep
from bff.caller import Caller, CurrentCaller
from bff.concurrency import concurrently
from bff.downstream import DownstreamRejected
from bff.idempotency import StoredAnswer, downstream_key
from bff.outcome import WaitQuery, ended_within_wait, final_within, reason_as_given
from bff.pricing import PricedBasket, price_basket
from bff.problems import answer_within, parse_answer
from bff.schemas import CheckoutAnswer, CheckoutItem
from shared.web.app import API_PREFIX as API
from shared.web.idempotency import REPLAYED_HEADER, IdempotencyKey
from shared.web.limits import CHECKOUT
from shared.web.problems import Unprocessable

A = TypeVar("A", bound=CheckoutAnswer)


def add_checkout_route(
    router: APIRouter,
    place: Callable[[Any, Caller, Any, str | None, dict[str, Any]], Awaitable[CheckoutAnswer]],
    *,
    poll: Callable[[str], str],
    doc: str,
    reason: Callable[[str | None], str | None] = reason_as_given,
    **route: Any,
) -> None:
    """``POST /checkout`` on ``router``, around the BFF's own ``place(bff, caller,
    body, idempotency key, body as JSON)``, which places the order and says what to
    answer (its ``body`` and return annotations name the route's request and answer
    models): the per-user rate limit, once per ``Idempotency-Key``, ``Location`` at
    ``poll(order id)``, and with ``wait`` the saga's end (200, the final status and
    ``reason(the saga's reason)``).  ``doc`` describes the route; ``route`` adds to
    its declaration."""
    hints = get_type_hints(place)
    answer: type[CheckoutAnswer] = hints["return"]

    async def checkout(
        body: BaseModel,
        caller: CurrentCaller,
        bff: BffDep,
        response: Response,
        idempotency_key: IdempotencyKey = None,
        wait: WaitQuery = None,
    ) -> CheckoutAnswer:
        bff.checkout_limiter.check(caller.user_id, "checkouts")
        request_body = body.model_dump(mode="json", by_alias=True)

        async def handle() -> StoredAnswer:
            accepted = await place(bff, caller, body, idempotency_key, request_body)
            return StoredAnswer(status.HTTP_202_ACCEPTED, accepted.model_dump(by_alias=True))

        stored = await once_per_key(bff, caller, idempotency_key, request_body, response, handle)
        accepted = parse_answer(answer, stored.body, "orders")
        response.headers["Location"] = poll(accepted.order_id)
        final = await final_within(bff, caller, accepted.order_id, wait)
        if final is not None:
            response.status_code = status.HTTP_200_OK
            update = {"status": final.status, "reason": reason(final.reason)}
            accepted = accepted.model_copy(update=update)
        return accepted

    checkout.__doc__ = doc
    checkout.__annotations__["body"] = hints["body"]  # the BFF's own request model
    router.post(
        "/checkout",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=answer,
        responses=ended_within_wait(
            answer, "the final status (and reason)", 401, 409, 422, 429, 502, 504
        ),
        openapi_extra=CHECKOUT,
        **route,
    )(checkout)


async def once_per_key(
    bff: Bff,
    caller: Caller,
    key: str | None,
    body: Any,
    response: Response,
    handle: Callable[[], Awaitable[StoredAnswer]],
) -> StoredAnswer:
    """Run ``handle`` once per caller, key and body; a replay is marked ``Idempotent-Replayed``."""
    answer, replayed = await bff.idempotency.run(caller.user_id, key, body, handle)
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return answer


async def usable_payment_method(
    bff: Bff, caller: Caller, payment_method_id: str, *, field: str = "paymentMethodId"
) -> dict[str, Any]:
    """The payment method, if the caller may use it; otherwise a 422 naming ``field``."""
    try:
        method: dict[str, Any] = await bff.downstreams.payments.get_json(
            f"{API}/payment-methods/{quote(payment_method_id, safe='')}", headers=caller.auth
        )
    except DownstreamRejected as error:
        if error.status in (403, 404, 422):
            raise Unprocessable(
                f"{field}: no payment method {payment_method_id!r} for this user", field=field
            ) from None
        raise
    return method


async def checked_and_placed(
    bff: Bff,
    caller: Caller,
    items: Sequence[CheckoutItem],
    payment_method_id: str,
    shipping_address: Mapping[str, Any] | Coroutine[Any, Any, Mapping[str, Any]],
    idempotency_key: str | None,
) -> Any:
    """A BFF's checkout within its write deadline: the basket priced, the payment
    method checked and the shipping address found (when it is a lookup of the BFF's
    own, not the address itself), all at once; then the order placed
    (:func:`place_order`).  The orders service's answer."""
    if not isinstance(shipping_address, Coroutine):
        shipping_address = _given(shipping_address)
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        basket, _, address = await concurrently(
            price_basket(bff.downstreams.inventory, [(i.product_id, i.quantity) for i in items]),
            usable_payment_method(bff, caller, payment_method_id),
            shipping_address,
        )
        return await place_order(
            bff,
            caller,
            basket,
            payment_method_id=payment_method_id,
            shipping_address=address,
            idempotency_key=idempotency_key,
        )


async def _given(address: Mapping[str, Any]) -> Mapping[str, Any]:
    return address


async def place_order(
    bff: Bff,
    caller: Caller,
    basket: PricedBasket,
    *,
    payment_method_id: str,
    shipping_address: Mapping[str, Any],
    idempotency_key: str | None,
) -> Any:
    """Create the order as the caller; the orders service answers it ``pending``.

    Without the client's ``Idempotency-Key`` the call is made once, never
    retried: a retry could place a second order.  With it, the call carries a
    key derived from the caller's (stable across the client's retries) and may
    be retried on a lost answer.
    """
    return await bff.downstreams.orders.post_json(
        f"{API}/orders",
        {
            "userId": caller.user_id,
            "items": basket.order_items(),
            "currency": basket.currency,
            "paymentMethodId": payment_method_id,
            "shippingAddress": dict(shipping_address),
        },
        headers=caller.auth,
        idempotency_key=downstream_key(caller.user_id, idempotency_key)
        if idempotency_key
        else None,
    )
