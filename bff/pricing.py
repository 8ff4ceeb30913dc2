"""Pricing a checkout from the inventory: the client names products, never prices.

Every product is looked up at once (concurrently, one call each), so pricing a
basket costs one round trip whatever its size.  Unknown products are all named
in one 422 before any order exists.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bff.downstream import DownstreamClient, DownstreamRejected
from shared.web.app import API_PREFIX as API
from shared.web.problems import Unprocessable


@dataclass(frozen=True, slots=True)
class PricedLine:
    product_id: str
    quantity: int
    unit_price: int
    """Minor units, as the inventory sells it now."""


@dataclass(frozen=True, slots=True)
class PricedBasket:
    """A basket priced by the inventory: lines in the client's order, one currency."""

    lines: tuple[PricedLine, ...]
    currency: str

    @property
    def total(self) -> int:
        return sum(line.unit_price * line.quantity for line in self.lines)

    def order_items(self) -> list[dict[str, Any]]:
        """The ``items`` of an orders-service ``POST /orders`` body."""
        return [
            {"productId": line.product_id, "quantity": line.quantity, "unitPrice": line.unit_price}
            for line in self.lines
        ]


async def price_basket(
    inventory: DownstreamClient, items: Sequence[tuple[str, int]], *, field: str = "items"
) -> PricedBasket:
    """Price ``(product id, quantity)`` pairs; unknown products → 422 naming each one.

    ``field`` is the name of the items in the request body, for the problem's
    field paths (``items.1.productId``).  Any other inventory failure propagates
    as its :class:`~bff.downstream.DownstreamError`.
    """
    ids = list(dict.fromkeys(product_id for product_id, _ in items))
    found = await asyncio.gather(
        *(inventory.get_json(f"{API}/products/{quote(product_id, safe='')}") for product_id in ids),
        return_exceptions=True,
    )
    products: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    for product_id, outcome in zip(ids, found, strict=True):
        if isinstance(outcome, DownstreamRejected) and outcome.status in (404, 422):
            unknown.add(product_id)
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            products[product_id] = outcome
    if unknown:
        errors = [
            {
                "field": f"{field}.{index}.productId",
                "message": f"unknown product {product_id!r}",
                "type": "unknown_product",
            }
            for index, (product_id, _) in enumerate(items)
            if product_id in unknown
        ]
        names = ", ".join(repr(p) for p in ids if p in unknown)
        raise Unprocessable(
            f"{errors[0]['field']}: unknown product {names}"
            if len(errors) == 1
            else f"unknown products {names}",
            field=errors[0]["field"],
            errors=errors,
        )
    currencies = sorted({str(p["currency"]) for p in products.values()})
    if len(currencies) > 1:
        raise Unprocessable(
            f"{field}: the products are sold in different currencies ({', '.join(currencies)}); "
            "order them separately",
            field=field,
        )
    lines = tuple(
        PricedLine(product_id, quantity, int(products[product_id]["price"]))
        for product_id, quantity in items
    )
    return PricedBasket(lines=lines, currency=currencies[0])
