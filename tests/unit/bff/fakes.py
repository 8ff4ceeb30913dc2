"""The downstream services of a BFF, played by respx.

Each service answers at ``http://NAME.test`` with a small, consistent world:
user ``u1`` owns order ``o1`` (two of product ``p1``), paid and confirmed.
Tests re-mock single routes to make a service slow, failing or unreachable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import httpx
import respx
from fastapi import FastAPI

from bff import SERVICES
from shared.auth import mint_token
from tests.support.stack import TEST_JWT_SECRET

AT = "2030-01-02T03:04:05Z"
ORDER = {
    "id": "o1",
    "userId": "u1",
    "status": "confirmed",
    "items": [{"productId": "p1", "quantity": 2, "unitPrice": 1250}],
    "totalAmount": 2500,
    "currency": "EUR",
    "paymentMethodId": "pm_card_ok",
    "shippingAddress": {"line1": "1 Main St", "city": "Bern", "postalCode": "3000"},
    "createdAt": AT,
    "updatedAt": AT,
    "history": [{"status": "pending", "at": AT}, {"status": "confirmed", "at": AT}],
}
USER = {"id": "u1", "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"}
PRODUCT = {
    "id": "p1",
    "sku": "SKU-1",
    "name": "Tea pot",
    "price": 1250,
    "currency": "EUR",
    "available": 3,
}
PAYMENTS = [
    {
        "id": "pay1",
        "orderId": "o1",
        "status": "captured",
        "amount": 2500,
        "currency": "EUR",
        "paymentMethodId": "pm_card_ok",
        "createdAt": AT,
    }
]
SAGA = {
    "id": "o1",
    "state": "completed",
    "step": None,
    "updatedAt": AT,
    "history": [
        {"at": AT, "kind": "transition", "detail": {"from": None, "to": "reserving_inventory"}},
        {"at": AT, "kind": "message_in", "detail": {"type": "inventory.reserved"}},
        {"at": AT, "kind": "transition", "detail": {"from": "confirming_order", "to": "completed"}},
    ],
}
ADDRESS = {
    "id": "a1",
    "line1": "1 Main St",
    "line2": None,
    "city": "Bern",
    "postalCode": "3000",
    "country": "CH",
}
PAYMENT_METHOD = {"id": "pm_card_ok", "brand": "visa", "last4": "4242"}


class FakeServices:
    """The routes the BFFs call, by a short name, all answering the happy world."""

    def __init__(self) -> None:
        self.router = respx.MockRouter(assert_all_called=False)
        api = {name: f"http://{name}.test/api/v1" for name in SERVICES}
        get = self.router.get
        self.order = get(f"{api['orders']}/orders/o1").respond(json=ORDER)
        self.orders_page = get(f"{api['orders']}/orders").respond(
            json={"items": [ORDER], "nextCursor": None}
        )
        self.create_order = self.router.post(f"{api['orders']}/orders").respond(
            201, json={**ORDER, "status": "pending"}
        )
        self.cancel = self.router.post(f"{api['orders']}/orders/o1/cancel").respond(202, json=ORDER)
        self.user = get(f"{api['users']}/users/u1").respond(json=USER)
        self.address = get(f"{api['users']}/users/u1/addresses/a1").respond(json=ADDRESS)
        self.login = self.router.post(f"{api['users']}/users/login").respond(
            json={"userId": "u1", "token": "t"}
        )
        self.product = get(f"{api['inventory']}/products/p1").respond(json=PRODUCT)
        self.products = get(f"{api['inventory']}/products").respond(
            json={"items": [PRODUCT], "total": 1, "limit": 24, "offset": 0}
        )
        self.payments = get(f"{api['payments']}/payments").respond(json=PAYMENTS)
        self.payment_method = get(f"{api['payments']}/payment-methods/pm_card_ok").respond(
            json=PAYMENT_METHOD
        )
        self.saga = get(f"{api['saga']}/sagas/o1").respond(json=SAGA)

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {name: httpx.MockTransport(self.router.async_handler) for name in SERVICES}


def auth(user_id: str = "u1") -> Mapping[str, str]:
    """The bearer header of a customer."""
    return {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, sub=user_id)}"}


AppBuilder = Callable[..., FastAPI]


class StartBff(Protocol):
    """The ``start_bff`` fixture: ``await start_bff(build_web, **settings_overrides)``."""

    def __call__(self, build: AppBuilder, **settings: Any) -> Awaitable[httpx.AsyncClient]: ...
