"""Input no database can hold is refused up front, by every component, on both stacks.

PostgreSQL text cannot hold NUL, no UTF-8 text holds a lone surrogate (JSON can
spell one: ``"\\ud800"``), and its integers stop at 2**63 - 1.  Each of these, in
a path, a query or a body, answers a 4xx problem naming the field, never a 500.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.support.system import System, named_fields, problem_of

API = "/api/v1"
HUGE = 2**64
"""Bigger than any integer column."""
LONE_SURROGATE = "\ud800"
EARLIEST_AHEAD_OF_UTC = ["0001-01-01T00:00:00+14:00", "a"]
"""A time before year 1 once in UTC: no date can hold it."""
LATEST_BEHIND_UTC = ["9999-12-31T23:59:59-14:00", "a"]
"""A time past year 9999 once in UTC."""
ADDRESS = {"line1": "1 Analytical Row", "city": "London", "postalCode": "N1 9GU", "country": "GB"}


def cursor_of(value: Any) -> str:
    """A cursor in the shape the listings hand out, holding ``value``."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Hostile:
    method: str
    path: str
    field: str
    """The field the answer must name."""
    body: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.params or ''} -> {self.field}"


ORDER_ID = "6b8ecd39-099a-4db4-b248-b8ba756eeda3"
"""An order id no order has: a shipment's body is refused before the order is looked up."""
ORDER = {
    "userId": "ops-user",
    "items": [{"productId": "p-1", "quantity": 1, "unitPrice": 100}],
    "currency": "EUR",
    "paymentMethodId": "pm_card_ok",
}

CASES: dict[str, list[Hostile]] = {
    "orders": [
        Hostile("GET", "/orders/%00", "order_id"),
        Hostile("POST", "/orders/a%00b/cancel", "order_id"),
        Hostile(
            "POST",
            "/orders/a%00b/shipment",
            "order_id",
            body={"carrier": "DHL", "trackingNumber": "JD1"},
        ),
        Hostile("POST", "/orders/a%00b/delivery", "order_id"),
        Hostile(
            "POST",
            f"/orders/{ORDER_ID}/shipment",
            "carrier",
            body={"carrier": "DHL\x00", "trackingNumber": "JD1"},
        ),
        Hostile(
            "POST",
            f"/orders/{ORDER_ID}/shipment",
            "carrier",
            body={"carrier": LONE_SURROGATE, "trackingNumber": "JD1"},
        ),
        Hostile("GET", "/orders", "userId", params={"userId": "\x00"}),
        Hostile("GET", "/orders", "limit", params={"limit": HUGE}),
        Hostile(
            "GET",
            "/orders",
            "cursor",
            params={"cursor": cursor_of(["2024-01-01T00:00:00+00:00", "a\x00"])},
        ),
        Hostile("GET", "/orders", "cursor", params={"cursor": cursor_of(EARLIEST_AHEAD_OF_UTC)}),
        Hostile(
            "POST",
            "/orders",
            "shippingAddress.line1",
            body={**ORDER, "shippingAddress": {**ADDRESS, "line1": LONE_SURROGATE}},
        ),
        Hostile(
            "POST",
            "/orders",
            "items.0.productId",
            body={**ORDER, "items": [{"productId": "p\x00", "quantity": 1, "unitPrice": 1}]},
        ),
        Hostile(
            "POST",
            "/orders",
            "items.0.unitPrice",
            body={**ORDER, "items": [{"productId": "p", "quantity": 1, "unitPrice": HUGE}]},
        ),
    ],
    "inventory": [
        Hostile("GET", "/products/%00", "product_id"),
        Hostile("GET", "/products", "id", params={"id": "\x00"}),
        Hostile("GET", "/products", "offset", params={"offset": HUGE}),
        Hostile("GET", "/reservations/a%00", "order_id"),
        Hostile("PUT", "/products/%00/stock", "product_id", body={"quantity": 1}),
        Hostile("PUT", "/products/p-1/stock", "quantity", body={"quantity": HUGE}),
        Hostile(
            "POST",
            "/products",
            "name",
            body={"sku": "S-1", "name": LONE_SURROGATE, "price": 1, "currency": "EUR", "stock": 1},
        ),
    ],
    "users": [
        Hostile("GET", "/users/%00", "user_id"),
        Hostile("GET", "/users", "email", params={"email": "a\x00@example.com"}),
        Hostile("GET", "/users", "limit", params={"limit": HUGE}),
        Hostile("POST", "/users/login", "email", body={"email": LONE_SURROGATE, "password": "x"}),
        Hostile(
            "POST", "/users/ops-user/addresses", "line1", body={**ADDRESS, "line1": LONE_SURROGATE}
        ),
    ],
    "payments": [
        Hostile("GET", "/payments", "orderId", params={"orderId": "\x00"}),
        Hostile("GET", "/payments", "limit", params={"limit": HUGE}),
        Hostile("GET", "/payment-methods/%00", "method_id"),
        Hostile(
            "POST",
            "/users/ops-user/payment-methods",
            "brand",
            body={"token": "pm_card_ok", "brand": LONE_SURROGATE},
        ),
    ],
    "saga": [
        Hostile("GET", "/sagas/%00", "saga_id"),
        Hostile("GET", "/sagas/a%00b/replay", "saga_id"),
        Hostile("POST", "/sagas/%00/retry", "saga_id", body={"reason": "ops"}),
        Hostile("POST", "/sagas/%00/abort", "saga_id", body={"reason": "ops"}),
        Hostile("POST", "/sagas/s-1/retry", "reason", body={"reason": LONE_SURROGATE}),
        Hostile("POST", "/sagas/s-1/abort", "reason", body={"reason": "a\x00"}),
        Hostile("GET", "/sagas", "state", params={"state": "\x00"}),
        Hostile("GET", "/sagas", "limit", params={"limit": HUGE}),
        Hostile("GET", "/sagas", "olderThan", params={"olderThan": "1e308"}),
        Hostile("GET", "/parked-inputs", "olderThan", params={"olderThan": "1.08e16"}),
        Hostile("GET", "/parked-inputs", "olderThan", params={"olderThan": "inf"}),
        Hostile("GET", "/sagas", "cursor", params={"cursor": cursor_of(EARLIEST_AHEAD_OF_UTC)}),
        Hostile(
            "GET",
            "/sagas",
            "cursor",
            params={"cursor": cursor_of(["2024-01-01T00:00:00+00:00", "a\x00"])},
        ),
        Hostile("GET", "/sagas", "cursor", params={"cursor": cursor_of(["2024-01-01", "a"])}),
        Hostile("GET", "/dead-letters", "queue", params={"queue": "\x00"}),
        Hostile("GET", "/dead-letters", "limit", params={"limit": HUGE}),
        Hostile("POST", f"/dead-letters/{HUGE}/requeue", "letter_id"),
        Hostile("POST", f"/dead-letters/{2**63}/requeue", "letter_id"),
        # Its id is an INTEGER column: 32 bits on PostgreSQL.
        Hostile("POST", f"/dead-letters/{2**31}/requeue", "letter_id"),
    ],
    "bff-web": [
        Hostile("GET", "/products/%00", "product_id"),
        Hostile("GET", "/products", "offset", params={"offset": HUGE}),
        Hostile("GET", "/orders/%00/details", "order_id"),
        Hostile("POST", "/orders/%00/cancel", "order_id"),
        Hostile("GET", "/orders", "cursor", params={"cursor": "\x00"}),
        Hostile("GET", "/orders", "cursor", params={"cursor": cursor_of(EARLIEST_AHEAD_OF_UTC)}),
        Hostile("POST", "/auth/login", "email", body={"email": LONE_SURROGATE, "password": "x"}),
        Hostile(
            "POST",
            "/checkout",
            "shippingAddress.line1",
            body={
                "items": [{"productId": "p-1", "quantity": 1}],
                "shippingAddress": {**ADDRESS, "line1": LONE_SURROGATE},
                "paymentMethodId": "pm_card_ok",
            },
        ),
    ],
    "bff-mobile": [
        Hostile("GET", "/orders/%00", "order_id"),
        Hostile("GET", "/orders", "cursor", params={"cursor": "a\x00"}),
        Hostile("GET", "/orders", "cursor", params={"cursor": cursor_of(LATEST_BEHIND_UTC)}),
        Hostile("GET", "/orders", "limit", params={"limit": HUGE}),
        Hostile("POST", "/auth/login", "password", body={"email": "a@b.c", "password": "\x00"}),
        Hostile(
            "POST",
            "/checkout",
            "addressId",
            body={
                "items": [{"productId": "p-1", "quantity": 1}],
                "addressId": LONE_SURROGATE,
                "paymentMethodId": "pm_card_ok",
            },
        ),
    ],
}


def client_of(system: System, component: str) -> Any:
    return {"bff-web": system.web, "bff-mobile": system.mobile}.get(component) or system.services[
        component
    ]


@pytest.mark.parametrize("component", list(CASES))
async def test_unstorable_input_is_a_problem_naming_the_field(
    system: System, component: str, subtests: pytest.Subtests
) -> None:
    client = client_of(system, component)
    # Ops for the services and the saga; a customer for the BFFs, whose callers are shoppers.
    auth = system.stack.ops() if component in system.services else system.stack.auth("mallory")
    for case in CASES[component]:
        with subtests.test(case=str(case)):
            content = (
                None if case.body is None else json.dumps(case.body, ensure_ascii=True).encode()
            )
            response = await client.request(
                case.method,
                f"{API}{case.path}",
                params=case.params,
                content=content,
                headers={**auth, "Content-Type": "application/json"},
            )
            assert 400 <= response.status_code < 500, (response.status_code, response.text)
            assert response.status_code != 404, response.text  # names no field
            assert response.headers["content-type"] == "application/problem+json"
            assert case.field in named_fields(response.json()), response.text


MARKUP_IDS = ["[/]", "[link=https://evil.example]RETRY-HERE[/link]", "a/b", "p 1"]
"""Product ids a terminal or a page could read as markup, or a URL as a path."""


async def test_ids_outside_the_safe_alphabet_are_refused_where_they_are_made(
    system: System, subtests: pytest.Subtests
) -> None:
    shopper = system.stack.auth("mallory")
    for product_id in MARKUP_IDS:
        with subtests.test(product_id=product_id):
            order = {**ORDER, "items": [{"productId": product_id, "quantity": 1, "unitPrice": 1}]}
            placed = await system.services["orders"].post(
                f"{API}/orders", json=order, headers=system.stack.ops()
            )
            assert "items.0.productId" in named_fields(problem_of(placed, 422))
            items = [{"productId": product_id, "quantity": 1}]
            web = await system.web.post(
                f"{API}/checkout",
                json={"items": items, "shippingAddress": ADDRESS, "paymentMethodId": "pm_card_ok"},
                headers=shopper,
            )
            assert "items.0.productId" in named_fields(problem_of(web, 422))
            mobile = await system.mobile.post(
                f"{API}/checkout",
                json={"items": items, "addressId": "a-1", "paymentMethodId": "pm_card_ok"},
                headers=shopper,
            )
            assert "items.0.productId" in named_fields(problem_of(mobile, 422))
    stock = await system.services["inventory"].put(
        f"{API}/products/%5Bx%5D/stock", json={"quantity": 1}, headers=system.stack.ops()
    )
    assert "product_id" in named_fields(problem_of(stock, 422))
