"""What the orders' routes do: place, read, list and ask to cancel orders.

Each use case takes the service (its database and outbox) and parsed input,
applies the rules of :mod:`services.orders.domain` to rows read through
:mod:`services.orders.repository`, and raises a typed problem a caller can act on.
"""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError

from services.orders.domain import (
    AlreadyCancelled,
    Line,
    OrderStatus,
    check_cancel_request,
    order_total,
)
from services.orders.models import Order, OrderItem, PlacedUnderKey, StatusChange
from services.orders.repository import Orders
from services.orders.schemas import NewOrder, OrderOut, OrderPage
from shared.auth import Principal
from shared.clock import utcnow
from shared.messages import OrderCancelRequested, OrderCreated
from shared.messages import OrderItem as OrderItemMessage
from shared.service import Service
from shared.web.auth import ensure_owner
from shared.web.cursor import Position, decode_cursor
from shared.web.idempotency import IDEMPOTENCY_HEADER, fingerprint
from shared.web.problems import Conflict, Forbidden, NotFound, Unprocessable


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


async def place_order(
    service: Service, body: NewOrder, principal: Principal, key: str | None
) -> tuple[OrderOut, bool]:
    """The order placed, and whether it was placed by an earlier request with ``key``.

    Keys are scoped to the order's user; the key, a digest of the body and the
    answer are stored in the order's own transaction, and of two first requests
    racing with one key the unique key lets one commit while the other rolls back
    and answers the winner's order.  The same key with a different body is refused."""
    if body.user_id != principal.sub and not principal.is_ops:
        raise Forbidden("an order can only be placed for yourself", field="userId")
    digest = fingerprint(body.model_dump(mode="json"))
    if key is not None:
        earlier = await _placed_earlier(service, body.user_id, key, digest)
        if earlier is not None:
            return earlier, True
    try:
        return await _place(service, body, key, digest), False
    except IntegrityError:
        # Another request with this key committed first (its key row is unique):
        # this transaction is rolled back, and its order is the answer.
        if key is None:
            raise
        earlier = await _placed_earlier(service, body.user_id, key, digest)
        if earlier is None:
            raise
        return earlier, True


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


async def get_order(service: Service, order_id: str, principal: Principal) -> OrderOut:
    """One order with its items and status history; another user's is a 404."""
    async with service.db.reads() as session:
        orders = Orders(session)
        return await _view(orders, await _owned(orders, order_id, principal))


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
    if user_id is None and not principal.is_ops:
        user_id = principal.sub
    if user_id is not None:
        ensure_owner(principal, user_id, "orders")
    after = decode_cursor(cursor)
    async with service.db.reads() as session:
        orders = Orders(session)
        rows = await orders.newest_first(
            limit=limit + 1, user_id=user_id, status=status, after=after
        )
        page, more = rows[:limit], len(rows) > limit
        ids = [o.id for o in page]
        items, history = await orders.items(ids), await orders.history(ids)
    return OrderPage(
        items=[OrderOut.of(o, items[o.id], history[o.id]) for o in page],
        next_cursor=Position(page[-1].created_at, page[-1].id).encode() if more else None,
    )


async def request_cancel(service: Service, order_id: str, principal: Principal) -> OrderOut:
    """Announce ``order.cancel_requested`` for an order not cancelled yet; the saga
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
