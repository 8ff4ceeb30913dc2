"""Return rules, free of I/O.

A customer may return lines of a *delivered* order within the return window
(``OMS_RETURN_WINDOW_DAYS`` from its delivery), never more of a product than was
delivered minus what other returns hold: a return holds what it asked for until
the warehouse receives it, then what was received; an expired one holds nothing.
Each line is refunded at the price paid for it::

    requested ──receipt──▶ received ──(restocked, refunded)──▶ refunded
        └──(unreceived in time)──▶ expired
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.orders.errors import NotAwaitingReceipt, NotReturnable, ReturnExceedsOrder

DELIVERED = "delivered"
"""The order status from which a return may be asked."""
FULFILMENT_ROLE = "fulfilment"


class ReturnStatus(StrEnum):
    REQUESTED = "requested"
    RECEIVED = "received"
    REFUNDED = "refunded"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Held:
    """A line of an earlier return of the order, as far as it counts against it."""

    product_id: str
    status: ReturnStatus
    quantity: int
    received_quantity: int | None

    @property
    def holds(self) -> int:
        if self.status is ReturnStatus.EXPIRED:
            return 0
        if self.received_quantity is not None:
            return self.received_quantity
        return self.quantity


@dataclass(frozen=True)
class Asked:
    product_id: str
    quantity: int
    unit_price: int


def check_window(status: str, delivered_at: datetime | None, now: datetime, days: float) -> None:
    if status != DELIVERED or delivered_at is None:
        raise NotReturnable(f"the order is {status}: only a delivered order can be returned")
    if now - delivered_at > timedelta(days=days):
        raise NotReturnable(
            f"the order was delivered on {delivered_at.date().isoformat()}: "
            f"the return window of {days:g} days has passed"
        )


def check_lines(
    asked: Sequence[tuple[str, int]],
    ordered: Iterable[tuple[str, int, int]],
    held: Iterable[Held],
) -> list[Asked]:
    """The lines asked (product, quantity), each at the price paid, if each is a
    product of the order (its ``(product, quantity, unit price)`` lines) and no more
    than is left to return; else :class:`ReturnExceedsOrder` naming the line."""
    left: dict[str, int] = {}
    price: dict[str, int] = {}
    for product, quantity, unit_price in ordered:
        left[product] = left.get(product, 0) + quantity
        # A product ordered on two lines at two prices is refunded at the lower one.
        price[product] = min(unit_price, price.get(product, unit_price))
    for line in held:
        left[line.product_id] = left.get(line.product_id, 0) - line.holds
    lines: list[Asked] = []
    seen: set[str] = set()
    for n, (product, quantity) in enumerate(asked):
        where = f"items[{n}]"
        if product in seen:
            raise ReturnExceedsOrder(f"{product!r} is named twice", f"{where}.productId")
        seen.add(product)
        if product not in price:
            raise ReturnExceedsOrder(f"the order has no {product!r}", f"{where}.productId")
        if quantity > left[product]:
            raise ReturnExceedsOrder(
                f"{product!r}: {quantity} asked, {max(left[product], 0)} left to return",
                f"{where}.quantity",
            )
        lines.append(Asked(product, quantity, price[product]))
    return lines


def check_receipt(
    status: str, received: Sequence[tuple[str, int]], asked: Mapping[str, int]
) -> dict[str, int]:
    """The quantities received per product of the return: each a product it asked
    back, no more than asked, at least one unit in all."""
    if status != ReturnStatus.REQUESTED:
        raise NotAwaitingReceipt(status)
    quantities: dict[str, int] = {}
    for n, (product, quantity) in enumerate(received):
        where = f"items[{n}]"
        if product not in asked or product in quantities:
            raise ReturnExceedsOrder(
                f"{product!r} is not a line of the return, or is named twice",
                f"{where}.productId",
            )
        if quantity > asked[product]:
            raise ReturnExceedsOrder(
                f"{product!r}: {quantity} received, {asked[product]} asked back",
                f"{where}.quantity",
            )
        quantities[product] = quantity
    if not any(quantities.values()):
        raise ReturnExceedsOrder(
            "nothing received: a return whose goods never come expires by itself", "items"
        )
    return quantities
