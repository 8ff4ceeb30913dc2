"""The returns' use cases: asking to return lines of a delivered order, the
warehouse's receipt (the routes), and expiring and closing a return (the return
saga's commands).  Rules are :mod:`services.orders.return_rules`."""

from __future__ import annotations

import uuid

from services.orders.errors import FulfilmentOnly, OrderNotFound, ReturnNotFound
from services.orders.models import OrderReturn, OrderReturnLine
from services.orders.repository import Orders
from services.orders.return_repository import Returns
from services.orders.return_rules import (
    FULFILMENT_ROLE,
    ReturnStatus,
    check_lines,
    check_receipt,
    check_window,
)
from services.orders.return_schemas import NewReturn, Receipt, ReturnOut
from shared.auth import Principal
from shared.clock import utcnow
from shared.messages import (
    Message,
    ReservedItem,
    ReturnClosed,
    ReturnExpired,
    ReturnLine,
    ReturnReceived,
    ReturnRequested,
)
from shared.persistence.outbox import UnitOfWork
from shared.service import Service


async def request_return(
    service: Service, order_id: str, body: NewReturn, principal: Principal
) -> ReturnOut:
    """Record a return of lines of the caller's delivered order and announce
    ``return.requested`` (the return saga starts on it), in one transaction."""
    async with service.uow() as uow:
        returns = Returns(uow.session)
        order = await returns.lock_order(order_id)
        if order is None or not principal.may_see(order.user_id):
            raise OrderNotFound(order_id)
        now = utcnow()
        delivered_at = await returns.delivered_at(order.id)
        check_window(order.status, delivered_at, now, service.settings.return_window_days)
        ordered = (await Orders(uow.session).items([order.id]))[order.id]
        lines = check_lines(
            [(item.product_id, item.quantity) for item in body.items],
            [(item.product_id, item.quantity, item.unit_price) for item in ordered],
            await returns.held(order.id),
        )
        row = OrderReturn(
            id=str(uuid.uuid4()),
            order_id=order.id,
            user_id=order.user_id,
            status=ReturnStatus.REQUESTED,
            requested_by=principal.sub,
            created_at=now,
            updated_at=now,
        )
        rows = [
            OrderReturnLine(
                return_id=row.id,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in lines
        ]
        returns.add(row, rows)
        uow.send(
            ReturnRequested(
                return_id=row.id,
                order_id=order.id,
                user_id=order.user_id,
                items=[
                    ReturnLine(
                        product_id=x.product_id, quantity=x.quantity, unit_price=x.unit_price
                    )
                    for x in lines
                ],
                currency=order.currency,
                payment_method_id=order.payment_method_id,
            ),
            correlation_id=row.id,
        )
        return ReturnOut.of(row, rows)


async def get_return(service: Service, return_id: str, principal: Principal) -> ReturnOut:
    async with service.db.reads() as session:
        returns = Returns(session)
        row = await returns.get(return_id)
        if row is None or not (principal.may_see(row.user_id) or _warehouse(principal)):
            raise ReturnNotFound(return_id)
        return ReturnOut.of(row, (await returns.lines([row.id]))[row.id])


async def returns_of_order(
    service: Service, order_id: str, principal: Principal
) -> list[ReturnOut]:
    async with service.db.reads() as session:
        returns = Returns(session)
        order = await Orders(session).get(order_id)
        if order is None or not (principal.may_see(order.user_id) or _warehouse(principal)):
            raise OrderNotFound(order_id)
        rows = await returns.of_order(order.id)
        lines = await returns.lines([r.id for r in rows])
        return [ReturnOut.of(r, lines[r.id]) for r in rows]


async def record_receipt(
    service: Service, return_id: str, body: Receipt, principal: Principal
) -> ReturnOut:
    """The warehouse received the return's goods in these quantities: the return is
    ``received`` and ``return.received`` tells its saga, in one transaction."""
    if not _warehouse(principal):
        raise FulfilmentOnly
    async with service.uow() as uow:
        returns = Returns(uow.session)
        row = await returns.get(return_id, lock=True)
        if row is None:
            raise ReturnNotFound(return_id)
        lines = (await returns.lines([row.id]))[row.id]
        received = check_receipt(
            row.status,
            [(item.product_id, item.quantity) for item in body.items],
            {line.product_id: line.quantity for line in lines},
        )
        now = utcnow()
        for line in lines:
            line.received_quantity = received.get(line.product_id, 0)
        row.status, row.received_at, row.updated_at = ReturnStatus.RECEIVED, now, now
        uow.send(_received(row, lines), correlation_id=row.id)
        return ReturnOut.of(row, lines)


async def expire(uow: UnitOfWork, return_id: str) -> Message:
    """``return.expire``: a return still unreceived expires; one the warehouse
    received meanwhile is answered ``return.received`` (the receipt won)."""
    returns = Returns(uow.session)
    row = await returns.get(return_id, lock=True)
    if row is None:
        raise ReturnNotFound(return_id)
    if row.status == ReturnStatus.REQUESTED:
        row.status, row.updated_at = ReturnStatus.EXPIRED, utcnow()
    if row.status == ReturnStatus.EXPIRED:
        return ReturnExpired(return_id=row.id, order_id=row.order_id)
    return _received(row, (await returns.lines([row.id]))[row.id])


async def close(uow: UnitOfWork, return_id: str, refunded_amount: int) -> Message:
    """``return.close``: a received return is refunded (once: a repeat answers the
    first amount)."""
    returns = Returns(uow.session)
    row = await returns.get(return_id, lock=True)
    if row is None:
        raise ReturnNotFound(return_id)
    if row.status == ReturnStatus.RECEIVED:
        row.status, row.refunded_amount, row.updated_at = (
            ReturnStatus.REFUNDED,
            refunded_amount,
            utcnow(),
        )
    return ReturnClosed(
        return_id=row.id, order_id=row.order_id, refunded_amount=row.refunded_amount
    )


def _received(row: OrderReturn, lines: list[OrderReturnLine]) -> ReturnReceived:
    return ReturnReceived(
        return_id=row.id,
        order_id=row.order_id,
        items=[
            ReservedItem(product_id=line.product_id, quantity=line.received_quantity)
            for line in lines
            if line.received_quantity
        ],
    )


def _warehouse(principal: Principal) -> bool:
    return principal.is_ops or FULFILMENT_ROLE in principal.roles
