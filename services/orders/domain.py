"""Order rules, free of I/O.

An order is ``pending`` until the saga confirms or cancels it.  The saga's
commands are idempotent and a cancelled order is final::

    pending ──confirm──▶ confirmed
       │                    │
       └──cancel──▶ cancelled ◀──cancel (a customer cancelled after completion;
                                         the saga has refunded and released)

``confirm`` on a cancelled order changes nothing and answers ``order.cancelled``,
so the saga learns what really happened.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

MAX_QUANTITY = 1_000_000
MAX_LINES = 100
"""With the two limits above, a total stays far inside a 64-bit integer."""


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


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
    """A pending or confirmed order is cancelled; a cancelled one stays as it is."""
    if current == OrderStatus.CANCELLED:
        return NewStatus(current, changed=False)
    return NewStatus(OrderStatus.CANCELLED, changed=True)


class AlreadyCancelled(Exception):
    """A cancellation requested for an order that is cancelled already."""


def check_cancel_request(current: OrderStatus) -> None:
    """A customer may ask to cancel any order that is not cancelled yet (the saga
    decides what that takes: a confirmed one is refunded and released)."""
    if current == OrderStatus.CANCELLED:
        raise AlreadyCancelled("the order is already cancelled")
