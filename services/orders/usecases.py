"""The orders' service layer: what its HTTP routes and its command handlers do.

Placing, reading, listing and asking to cancel orders (the routes) and confirming
and cancelling them (the saga's commands) are use cases here, both doors alike:
each takes the service (or, for a command, the unit of work the message runs
in) and parsed input, applies the rules of :mod:`services.orders.domain` to rows
read through :mod:`services.orders.repository`, and raises the domain errors of
:mod:`services.orders.errors`; the edges turn those into problem answers
(:data:`services.orders.api.PROBLEMS`) or dead letters (:mod:`services.orders.handlers`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError

from services.orders import domain
from services.orders.domain import (
    SENT,
    Line,
    NewStatus,
    OrderStatus,
    Shipment,
    check_cancel_request,
    check_replay,
    order_total,
)
from services.orders.errors import OrderNotFound, OrdersNotFound, PlacedForAnotherUser
from services.orders.models import Order
from services.orders.repository import Orders, place
from services.orders.schemas import ItemOut, NewOrder, OrderOut, OrderPage, StatusChangeOut
from shared.auth import Principal
from shared.clock import utcnow
from shared.messages import (
    Message,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderCreated,
)
from shared.messages import OrderItem as OrderItemMessage
from shared.persistence.outbox import UnitOfWork
from shared.service import Service
from shared.web.cursor import Position, decode_cursor
from shared.web.idempotency import fingerprint


async def view(orders: Orders, order: Order) -> OrderOut:
    """The order as the API answers it: with its items, history and shipment."""
    items = await orders.items([order.id])
    history = await orders.history([order.id])
    return OrderOut.of(order, items[order.id], history[order.id], await orders.shipment(order.id))


def may_see(principal: Principal, user_id: str) -> bool:
    """Whether the caller reaches ``user_id``'s orders: their own, or anyone's for ops
    and for a warehouse (which ships them)."""
    return principal.may_see(user_id) or principal.may_fulfil


async def owned(
    orders: Orders, order_id: str, principal: Principal, *, lock: bool = False
) -> Order:
    """The order (locked with ``lock``), if the caller may see it; another user's looks absent."""
    order = await orders.get(order_id, lock=lock)
    if order is None or not may_see(principal, order.user_id):
        raise OrderNotFound(order_id)
    return order


async def place_order(
    service: Service, body: NewOrder, principal: Principal, key: str | None
) -> tuple[OrderOut, bool]:
    """The order placed, and whether it was placed by an earlier request with ``key``
    (the rules of placing under a key: :func:`services.orders.api.create_order`)."""
    if body.user_id != principal.sub and not principal.is_ops:
        raise PlacedForAnotherUser
    if key is None:
        return await _place(service, body, None), False
    digest = fingerprint(body.model_dump(mode="json"))
    earlier = await _placed_earlier(service, body.user_id, key, digest)
    if earlier is not None:
        return earlier, True
    try:
        return await _place(service, body, (key, digest)), False
    except IntegrityError:
        # Another request with this key committed first (its key row is unique):
        # this transaction is rolled back, and its order is the answer.
        earlier = await _placed_earlier(service, body.user_id, key, digest)
        if earlier is None:
            raise
        return earlier, True


async def _placed_earlier(service: Service, user_id: str, key: str, digest: str) -> OrderOut | None:
    """The first answer given under ``(user_id, key)``, if the key was used already."""
    async with service.db.reads() as session:
        earlier = await Orders(session).placed_under(user_id, key)
    if earlier is None:
        return None
    check_replay(earlier.fingerprint, digest)
    return OrderOut.model_validate(earlier.answer)


async def _place(service: Service, body: NewOrder, under: tuple[str, str] | None) -> OrderOut:
    """Write the order, its items, its first status, ``order.created`` and the key
    it is placed ``under`` with the request's digest (if any) in one transaction;
    raises ``IntegrityError`` if the key was taken meanwhile, having rolled all of
    it back."""
    lines = [Line(i.product_id, i.quantity, i.unit_price) for i in body.items]
    now = utcnow()
    order: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "user_id": body.user_id,
        "status": OrderStatus.PENDING,
        "currency": body.currency,
        "total_amount": order_total(lines),
        "payment_method_id": body.payment_method_id,
        "shipping_address": body.shipping_address,
        "created_at": now,
        "updated_at": now,
    }
    view = OrderOut(
        id=order["id"],
        user_id=body.user_id,
        status=OrderStatus.PENDING,
        items=[
            ItemOut(product_id=x.product_id, quantity=x.quantity, unit_price=x.unit_price)
            for x in lines
        ],
        total_amount=order["total_amount"],
        currency=body.currency,
        payment_method_id=body.payment_method_id,
        shipping_address=body.shipping_address,
        created_at=now,
        updated_at=now,
        history=[StatusChangeOut(status=OrderStatus.PENDING, at=now)],
    )
    items = [
        {
            "order_id": order["id"],
            "line_no": n,
            "product_id": line.product_id,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
        }
        for n, line in enumerate(lines, start=1)
    ]
    placed_under = None
    if under is not None:
        key, digest = under
        placed_under = {
            "user_id": body.user_id,
            "idempotency_key": key,
            "order_id": order["id"],
            "fingerprint": digest,
            "answer": view.model_dump(mode="json", by_alias=True),
            "created_at": now,
        }
    async with service.inserts() as uow:
        place(uow, order, items, placed_under)
        uow.send(
            OrderCreated(
                order_id=order["id"],
                user_id=body.user_id,
                items=[
                    OrderItemMessage(
                        product_id=x.product_id, quantity=x.quantity, unit_price=x.unit_price
                    )
                    for x in lines
                ],
                total_amount=order["total_amount"],
                currency=body.currency,
                payment_method_id=body.payment_method_id,
            ),
            correlation_id=order["id"],
        )
    return view


async def confirm(uow: UnitOfWork, order_id: str) -> Message:
    """``order.confirm``: a pending order is confirmed; the answer says where the order
    stands (``order.cancelled`` with its reason for one cancelled meanwhile)."""
    return await _settle(uow, order_id, domain.confirm)


async def cancel(uow: UnitOfWork, order_id: str, reason: str | None) -> Message:
    """``order.cancel``: the order is cancelled with ``reason`` (once: a repeat answers
    ``order.cancelled`` with the first reason)."""
    return await _settle(uow, order_id, domain.cancel, reason)


async def _settle(
    uow: UnitOfWork,
    order_id: str,
    decide: Callable[[OrderStatus], NewStatus],
    reason: str | None = None,
) -> Message:
    """Apply the saga's command ``decide`` to the locked order; the event that tells
    the saga where the order now stands."""
    orders = Orders(uow.session)
    standing = await orders.lock_standing(order_id)
    if standing is None:
        raise OrderNotFound(order_id)
    outcome = decide(standing.status)
    cancel_reason = standing.cancel_reason
    if outcome.changed:
        if outcome.status == OrderStatus.CANCELLED and standing.status in SENT:
            # The saga began undoing the order before its shipment reached it.
            sent = await orders.shipment(standing.order_id)
            shipment = None if sent is None else Shipment(sent.carrier, sent.tracking_number)
            reason = domain.cancel_reason(reason, standing.status, shipment)
        await orders.move(uow, standing.order_id, outcome.status, reason, utcnow())
        if outcome.status == OrderStatus.CANCELLED:
            cancel_reason = reason
    if outcome.status == OrderStatus.CANCELLED:
        return OrderCancelled(order_id=standing.order_id, reason=cancel_reason)
    return OrderConfirmed(order_id=standing.order_id)


async def get_order(service: Service, order_id: str, principal: Principal) -> OrderOut:
    """One order with its items and status history; another user's is a 404."""
    async with service.db.reads() as session:
        orders = Orders(session)
        return await view(orders, await owned(orders, order_id, principal))


async def list_orders(
    service: Service,
    principal: Principal,
    *,
    user_id: str | None,
    status: OrderStatus | None,
    limit: int,
    cursor: str | None,
) -> OrderPage:
    """Orders newest first: one user's (the caller's by default), or everybody's for ops."""
    if user_id is None and not principal.may_fulfil:  # ops, or a warehouse
        user_id = principal.sub
    if user_id is not None and not may_see(principal, user_id):
        raise OrdersNotFound
    after = decode_cursor(cursor)
    async with service.db.reads() as session:
        orders = Orders(session)
        rows = await orders.newest_first(
            limit=limit + 1, user_id=user_id, status=status, after=after
        )
        page, more = rows[:limit], len(rows) > limit
        ids = [o.id for o in page]
        items, history = await orders.items(ids), await orders.history(ids)
        shipments = await orders.shipments(ids)
    return OrderPage(
        items=[OrderOut.of(o, items[o.id], history[o.id], shipments.get(o.id)) for o in page],
        next_cursor=Position(page[-1].created_at, page[-1].id).encode() if more else None,
    )


async def request_cancel(service: Service, order_id: str, principal: Principal) -> OrderOut:
    """Announce ``order.cancel_requested`` for an order neither cancelled nor shipped;
    the saga decides, so the order answered is as it is now.  The order is locked:
    of this and a warehouse shipping it, the first to reach it wins."""
    async with service.uow() as uow:
        orders = Orders(uow.session)
        order = await owned(orders, order_id, principal, lock=True)
        check_cancel_request(OrderStatus(order.status))
        if order.cancel_requested_at is None:
            order.cancel_requested_at = utcnow()
            order.cancel_requested_by = principal.sub
        uow.send(
            OrderCancelRequested(order_id=order.id, requested_by=principal.sub),
            correlation_id=order.id,
        )
        answer = await view(orders, order)
    return answer
