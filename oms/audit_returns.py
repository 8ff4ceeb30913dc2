"""The audit's checks of returns (``oms audit``, :mod:`oms.audit`).

A return saga at rest: ``completed`` has its return ``refunded`` for exactly what
was received at the prices paid and its received goods restocked, once and as
received; ``expired`` has its return ``expired``, nothing restocked and nothing
refunded.  An order never has more refunded than was captured, and a completed
order saga nets its total less what its returns refunded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Get = Callable[..., Awaitable[Any]]
"""``get(service, path, **params)``: a service's JSON answer, None for a 404."""


async def order_returned(get: Get, order_id: str) -> int:
    """What the order's returns refunded, in minor units."""
    returns = await get("orders", f"/orders/{order_id}/returns") or []
    return sum(int(r["refundedAmount"]) for r in returns)


async def return_problems(get: Get, saga: dict[str, Any]) -> list[str]:
    """What a return saga at rest and its return, restock and refund disagree on."""
    return_id, state = saga["id"], saga["state"]
    found, restock = await asyncio.gather(
        get("orders", f"/returns/{return_id}"), get("inventory", f"/restocks/{return_id}")
    )
    if found is None:
        return ["return saga has no return"]
    money = await get("payments", "/payments/summary", orderId=found["orderId"])
    problems: list[str] = []
    if int(money["refunded"]) > int(money["captured"]):
        problems.append(
            f"order {found['orderId']} refunded {money['refunded']}, "
            f"more than the {money['captured']} captured"
        )
    received = {
        line["productId"]: int(line["receivedQuantity"])
        for line in found["items"]
        if line.get("receivedQuantity")
    }
    restocked = {i["productId"]: int(i["quantity"]) for i in (restock or {}).get("items", [])}
    refunded = int(found["refundedAmount"])
    if state == "completed":
        worth = sum(
            received.get(line["productId"], 0) * int(line["unitPrice"]) for line in found["items"]
        )
        if found["status"] != "refunded":
            problems.append(f"return saga completed but the return is {found['status']}")
        if restock is None or restocked != received:
            problems.append(f"restocked {restocked or 'nothing'}, received {received}")
        if refunded != worth:
            problems.append(f"refunded {refunded}, the received goods are worth {worth}")
    elif state == "expired":
        if found["status"] != "expired":
            problems.append(f"return saga expired but the return is {found['status']}")
        if restock is not None:
            problems.append(f"an expired return restocked {restocked}")
        if refunded:
            problems.append(f"an expired return refunded {refunded}")
    return problems
