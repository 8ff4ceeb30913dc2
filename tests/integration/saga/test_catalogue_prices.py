"""Goods are confirmed only at the catalogue's prices, whoever places the order.

A customer's token sent straight to the orders service may name any unit price
and currency: the order is accepted as written, and the saga then compares it
with the prices the reservation reports, releasing the stock and cancelling the
order with the reason before any money moves.
"""

from __future__ import annotations

from typing import Any

import pytest

from oms.audit import run_audit
from tests.integration.saga.test_e2e import API, available, money, saga_reaches, shop
from tests.support.system import Shopper, System

__all__ = ["shop"]


async def place_directly(
    system: System, shopper: Shopper, product: dict[str, Any], *, unit_price: int, currency: str
) -> str:
    """The shopper's own token, straight to the orders service, three units."""
    response = await system.services["orders"].post(
        f"{API}/orders",
        json={
            "userId": shopper.user_id,
            "items": [{"productId": product["id"], "quantity": 3, "unitPrice": unit_price}],
            "currency": currency,
            "paymentMethodId": "pm_card_ok",
        },
        headers=shopper.auth,
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["id"]
    return order_id


@pytest.mark.parametrize(
    ("unit_price", "currency", "reason"),
    [
        (1, "EUR", "costs 1299 EUR in the catalogue, the order says 1"),
        (0, "EUR", "costs 1299 EUR in the catalogue, the order says 0"),
        (1299, "USD", "is priced in EUR, the order in USD"),
    ],
    ids=["one-cent", "free", "other-currency"],
)
async def test_an_order_at_a_price_of_its_own_is_cancelled_and_charges_nothing(
    shop: System, unit_price: int, currency: str, reason: str
) -> None:
    product = await shop.add_product(price=1299, stock=5)
    shopper = await shop.shopper()
    order_id = await place_directly(
        shop, shopper, product, unit_price=unit_price, currency=currency
    )

    saga = await saga_reaches(shop, order_id, "cancelled")
    assert saga["failureReason"] == f"price mismatch: {product['id']} {reason}"
    order = await shop.services["orders"].get(f"{API}/orders/{order_id}", headers=shopper.auth)
    assert order.json()["status"] == "cancelled"
    assert order.json()["cancelReason"] == saga["failureReason"]
    assert await available(shop, product["id"]) == 5
    assert (await money(shop, order_id))["captured"] == 0
    report = await run_audit(shop.stack.settings, transports=shop.transports())
    assert report.violations == []


async def test_an_order_at_the_catalogue_price_placed_directly_is_confirmed(shop: System) -> None:
    product = await shop.add_product(price=1299, stock=5)
    shopper = await shop.shopper()
    order_id = await place_directly(shop, shopper, product, unit_price=1299, currency="EUR")

    await saga_reaches(shop, order_id, "completed")
    assert (await money(shop, order_id))["captured"] == 3 * 1299
