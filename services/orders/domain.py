"""Order rules, free of I/O.

An order is ``pending`` until the saga confirms or cancels it.  A ``confirmed``
order is paid for and its stock held: it is being processed, waiting for a
warehouse, which marks it ``shipped`` (carrier and tracking number) and later
``delivered``.  The saga's commands are idempotent and a cancelled order is final::

    pending ──confirm──▶ confirmed ──ship──▶ shipped ──deliver──▶ delivered
       │                    │                   ┆                    ┆
       └──cancel──▶ cancelled ◀──cancel─────────┴┈┈┈┈┈┈┈┈┈┈┈┈┈┈┈┈┈┈┈┘

``confirm`` on a cancelled order changes nothing and answers ``order.cancelled``,
so the saga learns what really happened.  A customer may ask to cancel an order
until it is shipped; a shipped one is returned, not cancelled.  A warehouse may
ship a confirmed order unless a cancel was accepted for it: of a cancel and a
shipment, the first to reach the order wins, and the other is refused with why.
The dotted edges are the saga's own cancel reaching an order shipped after the
saga had begun to undo it (an operator's abort, a confirmation never answered):
the saga decided first, so the order ends cancelled, and its reason says it had
left the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.orders.errors import (
    AlreadyCancelled,
    CannotDeliver,
    CannotShip,
    KeyReused,
    ShippedAlready,
)

MAX_QUANTITY = 1_000_000
MAX_LINES = 100
"""With the two limits above, a total stays far inside a 64-bit integer."""


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


SENT = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})
"""Statuses of an order that has left the warehouse."""


@dataclass(frozen=True)
class Line:
    product_id: str
    quantity: int
    unit_price: int
    """Minor units, as priced by the caller (a BFF pricing from the inventory)."""

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price


def order_total(lines: Iterable[Line]) -> int:
    return sum(line.amount for line in lines)


@dataclass(frozen=True)
class NewStatus:
    """Where a command leaves an order, and whether it moved it."""

    status: OrderStatus
    changed: bool


def confirm(current: OrderStatus) -> NewStatus:
    """Only a pending order is confirmed; a confirmed one stays, a cancelled one too."""
    if current == OrderStatus.PENDING:
        return NewStatus(OrderStatus.CONFIRMED, changed=True)
    return NewStatus(current, changed=False)


def cancel(current: OrderStatus) -> NewStatus:
    """Any order not cancelled yet is cancelled (a shipped one only when the saga
    began undoing it before the shipment reached it); a cancelled one stays."""
    if current == OrderStatus.CANCELLED:
        return NewStatus(current, changed=False)
    return NewStatus(OrderStatus.CANCELLED, changed=True)


@dataclass(frozen=True)
class Shipment:
    """How an order left the warehouse."""

    carrier: str
    tracking_number: str


def cancel_reason(reason: str | None, current: OrderStatus, shipment: Shipment | None) -> str:
    """What a cancel of an order in ``current`` records: the saga's ``reason``, and
    for an order that had left the warehouse, that it had, so the parcel is recovered."""
    said = reason or "cancelled"
    if current not in SENT or shipment is None:
        return said
    return (
        f"{said}; it had been {current.value} ({shipment.carrier} {shipment.tracking_number}) "
        "before the cancel reached it: recover the parcel"
    )


def check_cancel_request(current: OrderStatus) -> None:
    """A customer may ask to cancel an order until it is shipped (the saga decides
    what that takes: a confirmed one is refunded and released); a shipped one is
    returned instead."""
    if current == OrderStatus.CANCELLED:
        raise AlreadyCancelled
    if current in SENT:
        raise ShippedAlready(current.value)


def ship(
    current: OrderStatus, cancel_requested: bool, sent: Shipment | None, asked: Shipment
) -> NewStatus:
    """A confirmed order with no cancel accepted is shipped; asking again with the
    same shipment changes nothing; anything else is refused with why."""
    if current == OrderStatus.CONFIRMED:
        if cancel_requested:
            raise CannotShip("a cancel was accepted for it: it is being cancelled, do not ship it")
        return NewStatus(OrderStatus.SHIPPED, changed=True)
    if current in SENT:
        if sent == asked:
            return NewStatus(current, changed=False)
        already = f" with {sent.carrier} {sent.tracking_number}" if sent is not None else ""
        raise CannotShip(f"it was shipped already{already}")
    if current == OrderStatus.PENDING:
        raise CannotShip("it is pending: an order is shipped once the saga confirmed it")
    raise CannotShip("it is cancelled")


def deliver(current: OrderStatus) -> NewStatus:
    """A shipped order is delivered; a delivered one stays; anything else is refused."""
    if current == OrderStatus.SHIPPED:
        return NewStatus(OrderStatus.DELIVERED, changed=True)
    if current == OrderStatus.DELIVERED:
        return NewStatus(current, changed=False)
    raise CannotDeliver(f"it is {current.value}: only a shipped order is delivered")


def check_replay(placed_with: str, fingerprint: str) -> None:
    """An idempotency key sent again must come with the order it was first sent with
    (``fingerprint``, the digest of the request, equal to ``placed_with``)."""
    if placed_with != fingerprint:
        raise KeyReused
