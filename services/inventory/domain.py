"""Stock and reservation rules, free of I/O.

A product has stock *on hand* and a part of it *reserved* for orders; what can be
sold is ``available = on_hand - reserved``.  An order's items are reserved all
together or not at all, and a reservation stays taken once the order is confirmed
(the goods are sold); only a release gives the units back.

A reservation is keyed by the order id and moves through::

    (none) ──reserve──▶ reserved ──release──▶ released
       │                                        ▲
       ├──reserve, short──▶ insufficient ───────┤ release
       └──release (nothing held: a tombstone) ──┘

Once ``released``, a reservation is never taken again: a reserve that arrives
late (after the saga gave up on it) is refused, so it cannot leak stock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from services.inventory.errors import StockBelowReserved


class ReservationStatus(StrEnum):
    RESERVED = "reserved"
    """Stock is held for the order (and stays taken when the order is confirmed)."""
    INSUFFICIENT = "insufficient"
    """Refused for lack of stock: nothing is held."""
    RELEASED = "released"
    """Given back, or a tombstone for a release that found nothing: never reserved again."""


@dataclass(frozen=True)
class Line:
    """A quantity of one product in a reservation."""

    product_id: str
    quantity: int


@dataclass(frozen=True)
class Shortfall:
    """A product that cannot cover its requested quantity (an unknown one has none)."""

    product_id: str
    requested: int
    available: int


def available(on_hand: int, reserved: int) -> int:
    return on_hand - reserved


def combine(lines: Iterable[Line]) -> list[Line]:
    """One line per product, quantities summed, in order of first appearance."""
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.product_id] = totals.get(line.product_id, 0) + line.quantity
    return [Line(product_id, quantity) for product_id, quantity in totals.items()]


def shortfalls(wanted: Iterable[Line], stock: Mapping[str, int]) -> list[Shortfall]:
    """The lines ``stock`` (available units by product id) cannot cover; a product
    missing from ``stock`` is unknown and counts as having none."""
    return [
        Shortfall(line.product_id, line.quantity, max(stock.get(line.product_id, 0), 0))
        for line in wanted
        if stock.get(line.product_id, 0) < line.quantity
    ]


def declined(wanted: Iterable[Line]) -> list[Shortfall]:
    """The answer to a stock check QA declined on purpose: as if nothing were left."""
    return [Shortfall(line.product_id, line.quantity, 0) for line in wanted]


def check_stock_level(on_hand: int, reserved: int) -> None:
    """Refuse an on-hand level that would leave reservations uncovered."""
    if on_hand < reserved:
        raise StockBelowReserved(on_hand, reserved)
