"""The orders' HTTP API (mounted under ``/api/v1``).

Every path needs a bearer token.  A customer sees and acts on their own orders
only (another user's order answers 404); the ``ops`` role sees all of them.
``GET /orders`` is newest first, paged with ``limit`` and an opaque ``cursor``
(the previous page's ``nextCursor``).  ``POST /orders`` honours an
``Idempotency-Key`` (see :mod:`services.orders.idempotency`).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.exc import IntegrityError

from services.orders.domain import (
    AlreadyCancelled,
    Line,
    OrderStatus,
    check_cancel_request,
    order_total,
)
from services.orders.models import Order, OrderItem, PlacedUnderKey, StatusChange, utcnow
from services.orders.paging import Cursor, InvalidCursor
from services.orders.repository import Orders
from services.orders.schemas import Id, NewOrder, OrderOut, OrderPage
from shared.auth import Principal
from shared.messages import OrderCancelRequested, OrderCreated
from shared.messages import OrderItem as OrderItemMessage
from shared.service import Service, ServiceDep
from shared.web.auth import CurrentPrincipal, ensure_owner
from shared.web.idempotency import (
    IDEMPOTENCY_HEADER,
    REPLAYED_HEADER,
    IdempotencyKey,
    fingerprint,
)
from shared.web.problems import Conflict, Forbidden, NotFound, Unprocessable, problem_responses

router = APIRouter(tags=["orders"])


async def _view(orders: Orders, order: Order) -> OrderOut:
    items = await orders.items([order.id])
    history = await orders.history([order.id])
    return OrderOut.of(order, items[order.id], history[order.id])


async def _owned(orders: Orders, order_id: str, principal: Principal) -> Order:
    """The order, if the caller may see it; another user's looks absent."""
    order = await orders.get(order_id)
    if order is None:
        raise NotFound(f"order {order_id!r} not found")
    ensure_owner(principal, order.user_id, f"order {order_id!r}")
    return order


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
    if body.user_id != principal.sub and not principal.is_ops:
        raise Forbidden("an order can only be placed for yourself", field="userId")
    digest = fingerprint(body.model_dump(mode="json"))
    if idempotency_key is not None:
        earlier = await _placed_earlier(service, body.user_id, idempotency_key, digest)
        if earlier is not None:
            return _answer(response, earlier, replayed=True)
    try:
        placed = await _place(service, body, idempotency_key, digest)
    except IntegrityError:
        # Another request with this key committed first (its key row is unique):
        # this transaction is rolled back, and its order is the answer.
        if idempotency_key is None:
            raise
        earlier = await _placed_earlier(service, body.user_id, idempotency_key, digest)
        if earlier is None:
            raise
        return _answer(response, earlier, replayed=True)
    return _answer(response, placed, replayed=False)


def _answer(response: Response, order: OrderOut, *, replayed: bool) -> OrderOut:
    response.headers["Location"] = f"/api/v1/orders/{order.id}"
    if replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return order


async def _placed_earlier(service: Service, user_id: str, key: str, digest: str) -> OrderOut | None:
    """The first answer given under ``(user_id, key)``, if the key was used already."""
    async with service.db.sessions() as session:
        earlier = await Orders(session).placed_under(user_id, key)
    if earlier is None:
        return None
    if earlier.fingerprint != digest:
        raise Unprocessable(
            f"{IDEMPOTENCY_HEADER}: this key was used for a different order",
            field=IDEMPOTENCY_HEADER,
        )
    return OrderOut.model_validate(earlier.answer)


async def _place(service: Service, body: NewOrder, key: str | None, digest: str) -> OrderOut:
    """Write the order, its items, its first status, ``order.created`` and the key
    (if any) in one transaction; raises ``IntegrityError`` if the key was taken
    meanwhile, having rolled all of it back."""
    lines = [Line(i.product_id, i.quantity, i.unit_price) for i in body.items]
    order = Order(
        id=str(uuid.uuid4()),
        user_id=body.user_id,
        status=OrderStatus.PENDING,
        currency=body.currency,
        total_amount=order_total(lines),
        payment_method_id=body.payment_method_id,
        shipping_address=body.shipping_address,
    )
    items = [
        OrderItem(
            order_id=order.id,
            line_no=n,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for n, line in enumerate(lines, start=1)
    ]
    history = [StatusChange(order_id=order.id, status=OrderStatus.PENDING, at=order.created_at)]
    view = OrderOut.of(order, items, history)
    async with service.uow() as uow:
        repository = Orders(uow.session)
        repository.add(order)
        for item in items:
            repository.add(item)
        for change in history:
            repository.add(change)
        if key is not None:
            repository.add(
                PlacedUnderKey(
                    user_id=order.user_id,
                    idempotency_key=key,
                    order_id=order.id,
                    fingerprint=digest,
                    answer=view.model_dump(mode="json", by_alias=True),
                )
            )
        uow.send(
            OrderCreated(
                order_id=order.id,
                user_id=order.user_id,
                items=[
                    OrderItemMessage(
                        product_id=x.product_id, quantity=x.quantity, unit_price=x.unit_price
                    )
                    for x in lines
                ],
                total_amount=order.total_amount,
                currency=order.currency,
                payment_method_id=order.payment_method_id,
            ),
            correlation_id=order.id,
        )
        # Flushed here, so a key taken meanwhile fails inside the block and the
        # unit of work rolls everything back.
        await uow.session.flush()
    return view


@router.get("/orders/{order_id}", responses=problem_responses(401, 404, 422))
async def get_order(order_id: str, service: ServiceDep, principal: CurrentPrincipal) -> OrderOut:
    """One order with its items and status history."""
    async with service.db.reads() as session:
        orders = Orders(session)
        return await _view(orders, await _owned(orders, order_id, principal))


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
    cursor: Annotated[
        str | None, Query(max_length=500, description="the previous page's nextCursor")
    ] = None,
) -> OrderPage:
    """Orders newest first: one user's, or everybody's for ops (without ``userId``)."""
    if user_id is None and not principal.is_ops:
        user_id = principal.sub
    if user_id is not None:
        ensure_owner(principal, user_id, "orders")
    try:
        after = Cursor.decode(cursor) if cursor else None
    except InvalidCursor as exc:
        raise Unprocessable(str(exc), field="cursor") from None
    async with service.db.reads() as session:
        orders = Orders(session)
        rows = await orders.newest_first(
            limit=limit + 1, user_id=user_id, status=order_status, after=after
        )
        page, more = rows[:limit], len(rows) > limit
        ids = [o.id for o in page]
        items, history = await orders.items(ids), await orders.history(ids)
    return OrderPage(
        items=[OrderOut.of(o, items[o.id], history[o.id]) for o in page],
        next_cursor=Cursor(page[-1].created_at, page[-1].id).encode() if more else None,
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
    async with service.uow() as uow:
        orders = Orders(uow.session)
        order = await _owned(orders, order_id, principal)
        try:
            check_cancel_request(OrderStatus(order.status))
        except AlreadyCancelled as exc:
            raise Conflict(str(exc)) from None
        if order.cancel_requested_at is None:
            order.cancel_requested_at = utcnow()
            order.cancel_requested_by = principal.sub
        uow.send(
            OrderCancelRequested(order_id=order.id, requested_by=principal.sub),
            correlation_id=order.id,
        )
        view = await _view(orders, order)
    return view
