"""The order page: order, user, products, payments and saga progress in one answer.

Every part is fetched at once with :func:`~bff.downstream.fan_out` under the
request's deadline, so the page costs about its slowest part, not their sum.
The order is essential (no page without it; its failure is the answer's);
every other part is optional: failing or too slow, it is ``null`` and named in
``degraded`` while the rest still arrives in time.

The products are the one part that depends on another: their ids are in the
order.  They start as soon as the order arrives (served from the product cache,
so usually without a call), while the user, payments and progress run beside.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from bff import API, Caller, Once, fetch_order, parse_answer
from bff.downstream import Section, fan_out
from bff_web.context import Web
from bff_web.schemas import Order, OrderDetails, Payment, Product, Progress, Transition, User
from shared.logging import get_logger

log = get_logger(__name__)


async def order_details(web: Web, caller: Caller, order_id: str) -> OrderDetails:
    """Gather the page; call inside the request's deadline."""
    downstreams = web.downstreams
    auth = caller.auth
    segment = quote(order_id, safe="")
    raw_order: Once[dict[str, Any]] = Once(lambda: fetch_order(web, caller, order_id))

    async def order() -> Order:
        return parse_answer(Order, await raw_order(), "orders")

    async def user() -> User:
        # A customer only ever sees their own order, so no need to wait for it.
        user_id = (await raw_order())["userId"] if caller.principal.is_ops else caller.user_id
        answer = await downstreams.users.get_json(
            f"{API}/users/{quote(user_id, safe='')}", headers=auth
        )
        return parse_answer(User, answer, "users")

    async def products() -> list[Product | None]:
        ids = list(dict.fromkeys(line["productId"] for line in (await raw_order())["items"]))
        found = await asyncio.gather(*(web.products.get(i) for i in ids), return_exceptions=True)
        failed = [f for f in found if isinstance(f, BaseException)]
        if failed and len(failed) == len(found):
            raise failed[0]
        return [
            None if isinstance(f, BaseException) else parse_answer(Product, f, "inventory")
            for f in found
        ]

    async def payments() -> list[Payment]:
        answer = await downstreams.payments.get_json(
            f"{API}/payments", params={"orderId": order_id}, headers=auth
        )
        return [parse_answer(Payment, p, "payments") for p in answer]

    async def progress() -> Progress:
        saga = await downstreams.saga.get_json(f"{API}/sagas/{segment}", headers=auth)
        return Progress(
            state=saga["state"],
            command=saga.get("step"),
            updated_at=saga["updatedAt"],
            transitions=[
                Transition.model_validate({"at": h["at"], **h["detail"]})
                for h in saga.get("history", [])
                if h.get("kind") == "transition"
            ],
        )

    try:
        result = await fan_out(
            {
                "order": Section(order, essential=True, service="orders"),
                "user": Section(user, essential=False, service="users"),
                "products": Section(products, essential=False, service="inventory"),
                "payments": Section(payments, essential=False, service="payments"),
                "progress": Section(progress, essential=False, service="saga"),
            }
        )
    finally:
        raw_order.cancel()

    values = result.values
    degraded = list(result.degraded)
    if values["products"] is not None and None in values["products"]:
        # Some products could not be read: the list stays, with those entries null.
        degraded.append("products")
    web.count_degraded(degraded)
    return OrderDetails(
        order=values["order"],
        user=values["user"],
        products=values["products"],
        payments=values["payments"],
        progress=values["progress"],
        degraded=degraded,
    )
