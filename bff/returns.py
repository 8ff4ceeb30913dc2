"""Returns through a BFF: asking to return lines of a delivered order, and reading
an order's returns, on the caller's token (the orders service applies ownership,
the window and the quantities; its refusals reach the client as they are).

Both BFFs mount :data:`router` right after their own ``/orders`` routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, status
from pydantic import Field

from bff.app import Bff, BffDep
from bff.caller import Caller, CurrentCaller
from bff.orders import OrderId
from bff.problems import answer_within, parse_answer
from shared.web.app import API_PREFIX as API
from shared.web.auth import ensure_owner
from shared.web.problems import BadGateway, problem_responses
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


router = APIRouter(prefix="/orders", tags=["orders"])


@router.post(
    "/{order_id}/returns",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 404, 409, 422, 502, 504),
)
async def return_lines(
    order_id: OrderId, body: ReturnRequest, caller: CurrentCaller, bff: BffDep
) -> Return:
    """Ask to return some or all lines of a delivered order within the return window
    (409 outside it or before delivery; 422 for a product not of the order or more
    than is left to return).  The warehouse's receipt then restocks the goods and
    refunds them at the prices paid."""
    answer = await request_return(bff, caller, order_id, body)
    return parse_answer(Return, answer, "orders")


@router.get("/{order_id}/returns", responses=problem_responses(401, 404, 422, 502, 504))
async def list_returns(order_id: OrderId, caller: CurrentCaller, bff: BffDep) -> list[Return]:
    """The order's returns, oldest first, each with its status and what was refunded."""
    answer = await fetch_returns(bff, caller, order_id)
    return [parse_answer(Return, item, "orders") for item in answer]
