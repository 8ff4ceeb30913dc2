"""Reading the caller's orders from the orders service, as both BFFs do.

The caller's token goes on, so the orders service applies ownership itself
(another user's order answers 404 there).  The BFF checks the owner of what it
got once more, so a service answering too much can never leak an order.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bff.app import Bff
from bff.caller import Caller
from bff.downstream.client import Primitive
from shared.web.app import API_PREFIX as API
from shared.web.auth import ensure_owner
from shared.web.cursor import decode_cursor


async def fetch_order(bff: Bff, caller: Caller, order_id: str) -> dict[str, Any]:
    """One order as the orders service answers it; another user's is a 404."""
    order: dict[str, Any] = await bff.downstreams.orders.get_json(
        f"{API}/orders/{quote(order_id, safe='')}", headers=caller.auth
    )
    ensure_owner(caller.principal, str(order.get("userId")), f"order {order_id!r}")
    return order


async def fetch_order_page(bff: Bff, caller: Caller, *, limit: int, cursor: str | None) -> Any:
    """A page of the caller's orders, newest first (``cursor``: the last page's ``nextCursor``).

    A cursor the orders service could not have handed out is refused here, as it
    would refuse it, without the call."""
    decode_cursor(cursor)
    params: dict[str, Primitive] = {"userId": caller.user_id, "limit": limit}
    if cursor:
        params["cursor"] = cursor
    return await bff.downstreams.orders.get_json(
        f"{API}/orders", params=params, headers=caller.auth
    )
