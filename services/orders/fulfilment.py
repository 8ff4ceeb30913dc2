"""The order after payment: a warehouse ships it, then marks it delivered.

Both use cases lock the order, so a customer's cancel and a warehouse's shipment
of one order take turns, and the first wins: a shipment is refused once a cancel
was accepted (the saga is undoing the order), and a cancel once the order shipped
(:func:`services.orders.domain.check_cancel_request`).  Each is idempotent: the
same shipment again, or a delivery again, answers the order as it is and
publishes nothing.  ``order.shipped`` and ``order.delivered`` leave through the
outbox in the transaction that moves the order.
"""

from __future__ import annotations

from services.orders import domain
from services.orders.domain import OrderStatus
from services.orders.errors import CannotDeliver
from services.orders.models import Shipment, StatusChange
from services.orders.repository import Orders
from services.orders.schemas import OrderOut, ShipmentIn
from services.orders.usecases import owned, view
from shared.auth import Principal
from shared.clock import utcnow
from shared.messages import OrderDelivered, OrderShipped
from shared.service import Service


async def ship(
    service: Service, order_id: str, body: ShipmentIn, principal: Principal
) -> tuple[OrderOut, bool]:
    """The order shipped with ``body``, and whether it was shipped so already."""
    async with service.uow() as uow:
        orders = Orders(uow.session)
        order = await owned(orders, order_id, principal, lock=True)
        sent = await orders.shipment(order.id)
        outcome = domain.ship(
            OrderStatus(order.status),
            cancel_requested=order.cancel_requested_at is not None,
            sent=None if sent is None else domain.Shipment(sent.carrier, sent.tracking_number),
            asked=domain.Shipment(body.carrier, body.tracking_number),
        )
        if outcome.changed:
            now = utcnow()
            order.status = outcome.status
            order.updated_at = now
            uow.session.add(
                Shipment(
                    order_id=order.id,
                    carrier=body.carrier,
                    tracking_number=body.tracking_number,
                    shipped_at=now,
                    shipped_by=principal.sub,
                )
            )
            uow.session.add(StatusChange(order_id=order.id, status=outcome.status, at=now))
            uow.send(
                OrderShipped(
                    order_id=order.id,
                    carrier=body.carrier,
                    tracking_number=body.tracking_number,
                    shipped_at=now,
                ),
                correlation_id=order.id,
            )
        answer = await view(orders, order)
    return answer, not outcome.changed


async def deliver(service: Service, order_id: str, principal: Principal) -> tuple[OrderOut, bool]:
    """The order delivered, and whether it was delivered already."""
    async with service.uow() as uow:
        orders = Orders(uow.session)
        order = await owned(orders, order_id, principal, lock=True)
        outcome = domain.deliver(OrderStatus(order.status))
        if outcome.changed:
            sent = await orders.shipment(order.id)
            if sent is None:  # a shipped order always has its shipment
                raise CannotDeliver("it has no shipment")
            now = utcnow()
            order.status = outcome.status
            order.updated_at = now
            sent.delivered_at = now
            sent.delivered_by = principal.sub
            uow.session.add(StatusChange(order_id=order.id, status=outcome.status, at=now))
            uow.send(OrderDelivered(order_id=order.id, delivered_at=now), correlation_id=order.id)
        answer = await view(orders, order)
    return answer, not outcome.changed
