"""Returns through a BFF: asking to return lines of a delivered order, and reading
an order's returns, on the caller's token (the orders service applies ownership,
the window and the quantities; its refusals reach the client as they are)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from bff.app import Bff
from bff.caller import Caller
from bff.problems import answer_within
from shared.web.app import API_PREFIX as API
from shared.web.auth import ensure_owner
from shared.web.problems import BadGateway
from shared.web.schemas import CamelModel, JsonInteger, RequestBody, SafeId


class ReturnItem(RequestBody):
    product_id: SafeId
    quantity: Annotated[int, Field(gt=0, le=1_000_000), JsonInteger]


class ReturnRequest(RequestBody):
    """The lines to send back: products of the order and how many of each."""

    items: list[ReturnItem] = Field(min_length=1, max_length=100)


class ReturnLine(CamelModel):
    product_id: str
    quantity: int
    unit_price: int = Field(description="the price paid, minor units")
    received_quantity: int | None = None


class Return(CamelModel):
    """A return as the customer follows it: ``requested`` until the warehouse
    receives the goods, then ``refunded`` (``refundedAmount`` paid back), or
    ``expired`` when they never arrived."""

    id: str
    order_id: str
    status: str
    items: list[ReturnLine]
    refunded_amount: int = Field(description="minor units paid back, once refunded")
    created_at: datetime
    received_at: datetime | None = None


def _returns_of(order_id: str) -> str:
    return f"{API}/orders/{quote(order_id, safe='')}/returns"


async def request_return(bff: Bff, caller: Caller, order_id: str, body: ReturnRequest) -> Any:
    """Ask the orders service for the return (not retried: a second request would ask
    for a second return)."""
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        answer = await bff.downstreams.orders.post_json(
            _returns_of(order_id), body.model_dump(mode="json", by_alias=True), headers=caller.auth
        )
    return _owned(caller, answer)


async def fetch_returns(bff: Bff, caller: Caller, order_id: str) -> list[Any]:
    async with answer_within(bff.settings.bff_request_deadline_seconds):
        answer = await bff.downstreams.orders.get_json(_returns_of(order_id), headers=caller.auth)
    if not isinstance(answer, list):
        raise BadGateway("orders answered the returns with something else than a list")
    return [_owned(caller, item) for item in answer]


def _owned(caller: Caller, answer: Any) -> Any:
    """The answer once the caller is seen to own it (a service answering too much
    never leaks another customer's return)."""
    owner = answer.get("userId") if isinstance(answer, dict) else None
    ensure_owner(caller.principal, str(owner), "return")
    return answer
