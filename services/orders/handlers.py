"""The orders' command handlers: ``order.confirm`` and ``order.cancel``.

Both are idempotent: a repeated command changes nothing and is answered again
with the event that describes the order now.  ``order.confirm`` never confirms a
cancelled order: it answers ``order.cancelled`` (with the original reason) so the
saga learns the truth.  A command for an order that does not exist can never
succeed and is dead-lettered with that reason.
"""

from __future__ import annotations

from collections.abc import Callable

from services.orders import domain
from services.orders.domain import NewStatus, OrderStatus
from services.orders.models import Order, StatusChange
from services.orders.repository import Orders
from shared.clock import utcnow
from shared.messages import (
    CancelOrder,
    ConfirmOrder,
    Message,
    OrderCancelled,
    OrderConfirmed,
)
from shared.messaging.endpoint import Endpoint
from shared.messaging.envelope import Envelope
from shared.messaging.transport import PoisonMessage
from shared.persistence.outbox import UnitOfWork


def _event(order: Order) -> Message:
    """The event that tells the saga where the order stands."""
    if order.status == OrderStatus.CANCELLED:
        return OrderCancelled(order_id=order.id, reason=order.cancel_reason)
    return OrderConfirmed(order_id=order.id)


async def _apply(
    uow: UnitOfWork,
    order_id: str,
    envelope: Envelope,
    decide: Callable[[OrderStatus], NewStatus],
    reason: str | None = None,
) -> None:
    orders = Orders(uow.session)
    order = await orders.get(order_id, lock=True)
    if order is None:
        raise PoisonMessage(f"order {order_id!r} does not exist")
    outcome = decide(OrderStatus(order.status))
    if outcome.changed:
        now = utcnow()
        order.status = outcome.status
        order.updated_at = now
        if outcome.status == OrderStatus.CANCELLED:
            order.cancel_reason = reason
        orders.add(StatusChange(order_id=order.id, status=outcome.status, reason=reason, at=now))
    uow.send(_event(order), correlation_id=envelope.correlation_id)


async def confirm(uow: UnitOfWork, message: ConfirmOrder, envelope: Envelope) -> None:
    await _apply(uow, message.order_id, envelope, domain.confirm)


async def cancel(uow: UnitOfWork, message: CancelOrder, envelope: Envelope) -> None:
    await _apply(uow, message.order_id, envelope, domain.cancel, reason=message.reason)


def register(endpoint: Endpoint) -> None:
    """Route the orders' commands to their handlers."""
    endpoint.handles(ConfirmOrder)(confirm)
    endpoint.handles(CancelOrder)(cancel)
