"""The orders' HTTP API (mounted under ``/api/v1``).

Every path needs a bearer token.  A customer sees and acts on their own orders
only (another user's order answers 404); the ``ops`` role sees all of them.
``GET /orders`` is newest first, paged with ``limit`` and an opaque ``cursor``
(the previous page's ``nextCursor``).  ``POST /orders`` honours an
``Idempotency-Key``.  A warehouse (the ``fulfilment`` role) or ops reads every
order and marks one shipped, then delivered.  What each route does is in
:mod:`services.orders.usecases` and :mod:`services.orders.fulfilment`; what each
of its refusals answers is :data:`PROBLEMS`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.orders import fulfilment, usecases
from services.orders.domain import OrderStatus
from services.orders.errors import (
    AlreadyCancelled,
    CannotDeliver,
    CannotShip,
    KeyReused,
    OrderNotFound,
    OrdersNotFound,
    PlacedForAnotherUser,
    ShippedAlready,
)
from services.orders.returns_api import RETURN_PROBLEMS
from services.orders.returns_api import router as returns_router
from services.orders.schemas import Id, NewOrder, OrderOut, OrderPage, ShipmentIn
from shared.service import ServiceDep
from shared.web.app import API_PREFIX
from shared.web.auth import CurrentPrincipal, FulfilmentPrincipal
from shared.web.cursor import CursorQuery
from shared.web.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER, IdempotencyKey
from shared.web.limits import CHECKOUT
from shared.web.problems import (
    Conflict,
    DomainProblems,
    Forbidden,
    NotFound,
    Unprocessable,
    problem_responses,
)

router = APIRouter(tags=["orders"])

PROBLEMS: DomainProblems = {
    OrderNotFound: lambda e: NotFound(f"order {e.order_id!r} not found"),
    OrdersNotFound: lambda e: NotFound(str(e)),
    PlacedForAnotherUser: lambda e: Forbidden(str(e), field="userId"),
    KeyReused: lambda e: Unprocessable(f"{IDEMPOTENCY_HEADER}: {e}", field=IDEMPOTENCY_HEADER),
    AlreadyCancelled: lambda e: Conflict(str(e)),
    ShippedAlready: lambda e: Conflict(str(e)),
    CannotShip: lambda e: Conflict(str(e)),
    CannotDeliver: lambda e: Conflict(str(e)),
    **RETURN_PROBLEMS,
}


_CREATED_HEADERS = {
    "Location": {"description": "the order's URL", "schema": {"type": "string"}},
    REPLAYED_HEADER: {
        "description": f"`true` when the answer is that of an earlier request with the "
        f"same {IDEMPOTENCY_HEADER} (no order was placed this time)",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


@router.post(
    "/orders",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"description": "The order, placed now or earlier", "headers": _CREATED_HEADERS},
        **problem_responses(400, 401, 403, 422),
    },
    openapi_extra=CHECKOUT,
)
async def create_order(
    body: NewOrder,
    service: ServiceDep,
    principal: CurrentPrincipal,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderOut:
    """Place a ``pending`` order and announce ``order.created``; the saga takes it from there.

    Unit prices are taken as written and checked by the saga against the prices the
    reservation reports: an order at any other price is cancelled with the reason
    before it is charged (a BFF prices from the inventory, so its orders match).  With an
    ``Idempotency-Key`` a repeat of the request answers the first order again
    (``Idempotent-Replayed: true``) and places none; the same key with a different
    body is refused (422).  Keys are scoped to the order's user; the key, a digest
    of the body and the answer are stored in the order's own transaction, and of
    two first requests racing with one key the unique key lets one commit while the
    other rolls back and answers the winner's order."""
    order, replayed = await usecases.place_order(service, body, principal, idempotency_key)
    response.headers["Location"] = f"{API_PREFIX}/orders/{order.id}"
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return order


@router.get("/orders/{order_id}", responses=problem_responses(401, 404, 422))
async def get_order(order_id: str, service: ServiceDep, principal: CurrentPrincipal) -> OrderOut:
    """One order with its items and status history."""
    return await usecases.get_order(service, order_id, principal)


@router.get("/orders", responses=problem_responses(401, 404, 422))
async def list_orders(
    service: ServiceDep,
    principal: CurrentPrincipal,
    user_id: Annotated[
        Id | None,
        Query(alias="userId", description="whose orders; a customer's own by default"),
    ] = None,
    order_status: Annotated[
        OrderStatus | None, Query(alias="status", description="only orders in this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
    cursor: CursorQuery = None,
) -> OrderPage:
    """Orders newest first: one user's, or everybody's for ops (without ``userId``)."""
    return await usecases.list_orders(
        service, principal, user_id=user_id, status=order_status, limit=limit, cursor=cursor
    )


@router.post(
    "/orders/{order_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401, 404, 409, 422),
)
async def request_cancel(
    order_id: str, service: ServiceDep, principal: CurrentPrincipal
) -> OrderOut:
    """Ask for the order to be cancelled (``order.cancel_requested``); the saga
    decides, so the order answered is as it is now."""
    return await usecases.request_cancel(service, order_id, principal)


_REPEATED_HEADERS = {
    REPLAYED_HEADER: {
        "description": "`true` when the order was so already (nothing changed, nothing published)",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


@router.post(
    "/orders/{order_id}/shipment",
    responses={
        200: {"description": "The order, shipped", "headers": _REPEATED_HEADERS},
        **problem_responses(400, 401, 403, 404, 409, 422),
    },
)
async def ship_order(
    order_id: str,
    body: ShipmentIn,
    service: ServiceDep,
    principal: FulfilmentPrincipal,
    response: Response,
) -> OrderOut:
    """A warehouse marks a confirmed order shipped and ``order.shipped`` is published;
    from then on the order is returned, not cancelled.  The same shipment again answers
    the order as it is; a confirmed order whose cancel was accepted, a pending or a
    cancelled one, or one shipped otherwise is refused (409, saying why)."""
    order, repeated = await fulfilment.ship(service, order_id, body, principal)
    if repeated:
        response.headers[REPLAYED_HEADER] = "true"
    return order


@router.post(
    "/orders/{order_id}/delivery",
    responses={
        200: {"description": "The order, delivered", "headers": _REPEATED_HEADERS},
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def deliver_order(
    order_id: str, service: ServiceDep, principal: FulfilmentPrincipal, response: Response
) -> OrderOut:
    """A shipped order was handed over: it is delivered and ``order.delivered`` is
    published.  Again answers the order as it is; an order not shipped is refused (409)."""
    order, repeated = await fulfilment.deliver(service, order_id, principal)
    if repeated:
        response.headers[REPLAYED_HEADER] = "true"
    return order


router.include_router(returns_router)
