"""What the inventory's use cases refuse, as domain errors (they know nothing of
HTTP; :data:`services.inventory.api.PROBLEMS` says what each answers)::

    InventoryError
    ├── ProductNotFound         no such product
    ├── DuplicateSku            a product with this sku exists already
    ├── StockBelowReserved      on-hand stock set below what orders hold
    ├── ReservationNotFound     no reservation for this order
    └── RestockNotFound         no goods of this return were restocked

A reservation command refuses nothing: an unknown product is short of stock, and
a reservation closed already is answered as such (:mod:`services.inventory.domain`).
"""

from __future__ import annotations

from shared.errors import DomainError


class InventoryError(DomainError):
    """A request about the catalogue or stock that cannot be carried out as asked."""


class ProductNotFound(InventoryError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"product {product_id!r} not found")


class DuplicateSku(InventoryError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"a product with sku {sku!r} already exists")


class StockBelowReserved(InventoryError):
    """On-hand stock set below what is already reserved for orders."""

    def __init__(self, requested: int, reserved: int) -> None:
        super().__init__(
            f"stock cannot be set to {requested}: {reserved} units are reserved for orders"
        )
        self.requested = requested
        self.reserved = reserved


class ReservationNotFound(InventoryError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no reservation for order {order_id!r}")


class RestockNotFound(InventoryError):
    def __init__(self, return_id: str) -> None:
        super().__init__(f"nothing restocked for return {return_id!r}")
