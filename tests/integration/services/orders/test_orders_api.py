"""Orders over HTTP: placing, reading, listing and asking to cancel."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import mint_token
from shared.messages import OrderCancelRequested, OrderCreated, OrderItem
from tests.integration.services.orders.conftest import Orders, order_body

PROBLEM = "application/problem+json"


async def test_a_placed_order_is_pending_totalled_and_announced(orders: Orders) -> None:
    body = order_body("alice", shippingAddress={"line1": "1 Main St", "city": "Bern"})

    response = await orders.client.post(
        "/api/v1/orders", json=body, headers=orders.stack.auth("alice")
    )

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["userId"] == "alice"
    assert order["totalAmount"] == 2 * 1250 + 499
    assert order["items"] == body["items"]
    assert (order["currency"], order["paymentMethodId"]) == ("EUR", "pm_card_ok")
    assert order["shippingAddress"] == {"line1": "1 Main St", "city": "Bern"}
    assert [h["status"] for h in order["history"]] == ["pending"]
    assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert await orders.read(order["id"]) == order

    envelope, event = await orders.replies.one(order["id"])
    assert envelope.type == "order.created"
    assert event == OrderCreated(
        order_id=order["id"],
        user_id="alice",
        items=[OrderItem.model_validate(i) for i in body["items"]],
        total_amount=2999,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )


async def test_only_ops_may_place_an_order_for_someone_else(orders: Orders) -> None:
    refused = await orders.client.post(
        "/api/v1/orders", json=order_body("alice"), headers=orders.stack.auth("mallory")
    )
    by_ops = await orders.client.post(
        "/api/v1/orders", json=order_body("alice"), headers=orders.stack.ops()
    )
    assert (refused.status_code, by_ops.status_code) == (403, 201)
    listing = await orders.client.get("/api/v1/orders", headers=orders.stack.auth("alice"))
    assert [o["id"] for o in listing.json()["items"]] == [by_ops.json()["id"]]


async def test_another_users_order_looks_absent(orders: Orders) -> None:
    order = await orders.place("alice")
    await orders.replies.wait(order["id"])  # order.created is out: anything after is bob's doing
    bob = orders.stack.auth("bob")

    answers = [
        await orders.client.get(f"/api/v1/orders/{order['id']}", headers=bob),
        await orders.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=bob),
        await orders.client.get("/api/v1/orders", params={"userId": "alice"}, headers=bob),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404]
    assert all(a.headers["content-type"] == PROBLEM for a in answers)
    assert [e.type for e in orders.replies.about(order["id"])] == ["order.created"]
    own = await orders.client.get("/api/v1/orders", headers=bob)
    assert own.json() == {"items": [], "nextCursor": None}


async def test_orders_are_listed_newest_first_page_by_page(orders: Orders) -> None:
    placed = [(await orders.place("alice"))["id"] for _ in range(5)]
    other = (await orders.place("bob"))["id"]

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, str | int] = {"userId": "alice", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await orders.client.get(
            "/api/v1/orders", params=params, headers=orders.stack.auth("alice")
        )
        assert page.status_code == 200, page.text
        seen += [o["id"] for o in page.json()["items"]]
        cursor = page.json()["nextCursor"]
    assert seen == placed[::-1]
    assert cursor is None

    everybody = await orders.client.get("/api/v1/orders", headers=orders.stack.ops())
    assert [o["id"] for o in everybody.json()["items"]] == [other, *placed[::-1]]
    pending = await orders.client.get(
        "/api/v1/orders", params={"status": "confirmed"}, headers=orders.stack.ops()
    )
    assert pending.json()["items"] == []


async def test_asking_to_cancel_announces_the_request_and_leaves_the_decision_to_the_saga(
    orders: Orders,
) -> None:
    order = await orders.place("alice")

    response = await orders.client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=orders.stack.auth("alice")
    )

    assert response.status_code == 202
    assert response.json()["status"] == "pending"
    _, requested = await orders.replies.wait(order["id"], count=2)
    assert requested.decode() == OrderCancelRequested(order_id=order["id"], requested_by="alice")
    assert (await orders.row(order["id"])).status == "pending"


async def test_asking_to_cancel_a_cancelled_order_is_a_conflict(orders: Orders) -> None:
    order = await orders.place("alice")
    await orders.cancel(order["id"], reason="payment declined")
    await orders.replies.wait(order["id"], count=2)

    response = await orders.client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=orders.stack.auth("alice")
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    await orders.drain()
    assert [e.type for e in orders.replies.about(order["id"])] == [
        "order.created",
        "order.cancelled",
    ]


async def test_an_unknown_order_is_not_found(orders: Orders, subtests: pytest.Subtests) -> None:
    # An id no database could hold (``%00``) is bad input instead: tests/integration/test_hostile_input.py.
    for order_id in [str(uuid.uuid4()), "not-a-uuid"]:
        with subtests.test(order_id=order_id):
            read = await orders.client.get(f"/api/v1/orders/{order_id}", headers=orders.stack.ops())
            cancel = await orders.client.post(
                f"/api/v1/orders/{order_id}/cancel", headers=orders.stack.ops()
            )
            assert (read.status_code, cancel.status_code) == (404, 404)
            assert read.headers["content-type"] == PROBLEM


async def test_every_path_needs_a_valid_token(orders: Orders, subtests: pytest.Subtests) -> None:
    order = await orders.place("alice")
    secret = orders.stack.settings.jwt_key
    expired = mint_token(secret, sub="alice", now=datetime.now(UTC) - timedelta(hours=2))
    forged = mint_token("a-different-secret-of-enough-length-000", sub="alice", roles=["ops"])
    callers = {
        "nobody": {},
        "forged": {"Authorization": f"Bearer {forged}"},
        "expired": {"Authorization": f"Bearer {expired}"},
        "not-bearer": {"Authorization": f"Basic {secret}"},
    }
    for who, headers in callers.items():
        with subtests.test(who=who):
            answers = [
                await orders.client.post(
                    "/api/v1/orders", json=order_body("alice"), headers=headers
                ),
                await orders.client.get(f"/api/v1/orders/{order['id']}", headers=headers),
                await orders.client.get("/api/v1/orders", headers=headers),
                await orders.client.post(f"/api/v1/orders/{order['id']}/cancel", headers=headers),
            ]
            assert [a.status_code for a in answers] == [401] * 4
            assert all(a.headers["content-type"] == PROBLEM for a in answers)
    everybody = await orders.client.get("/api/v1/orders", headers=orders.stack.ops())
    assert [o["id"] for o in everybody.json()["items"]] == [order["id"]]


def _item(**overrides: Any) -> list[dict[str, Any]]:
    return [{"productId": "p-1", "quantity": 1, "unitPrice": 100, **overrides}]


BAD_ORDERS: dict[str, tuple[dict[str, Any], str]] = {
    "zero-quantity": (order_body("alice", items=_item(quantity=0)), "items.0.quantity"),
    "negative-quantity": (order_body("alice", items=_item(quantity=-2)), "items.0.quantity"),
    "string-quantity": (order_body("alice", items=_item(quantity="2")), "items.0.quantity"),
    "float-price": (order_body("alice", items=_item(unitPrice=9.99)), "items.0.unitPrice"),
    "negative-price": (order_body("alice", items=_item(unitPrice=-1)), "items.0.unitPrice"),
    "no-items": (order_body("alice", items=[]), "items"),
    "items-not-a-list": (order_body("alice", items={"productId": "p"}), "items"),
    "blank-product": (order_body("alice", items=_item(productId=" ")), "items.0.productId"),
    "lowercase-currency": (order_body("alice", currency="eur"), "currency"),
    "numeric-user": (order_body("alice", userId=42), "userId"),
    "address-not-an-object": (order_body("alice", shippingAddress="Bern"), "shippingAddress"),
    "unknown-field": (order_body("alice", coupon="FREE"), "coupon"),
    "missing-payment-method": (
        {k: v for k, v in order_body("alice").items() if k != "paymentMethodId"},
        "paymentMethodId",
    ),
}


async def test_bad_order_input_is_422_naming_the_field_and_writes_nothing(
    orders: Orders, subtests: pytest.Subtests
) -> None:
    for case, (body, field) in BAD_ORDERS.items():
        with subtests.test(case=case):
            response = await orders.client.post(
                "/api/v1/orders", json=body, headers=orders.stack.auth("alice")
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM
            assert field in response.json()["detail"]
    for content in [b"{not json", b"[]", b""]:
        with subtests.test(content=content):
            response = await orders.client.post(
                "/api/v1/orders",
                content=content,
                headers={**orders.stack.auth("alice"), "Content-Type": "application/json"},
            )
            assert 400 <= response.status_code < 500
            assert response.headers["content-type"] == PROBLEM
    listing = await orders.client.get("/api/v1/orders", headers=orders.stack.ops())
    assert listing.json()["items"] == []


async def test_bad_listing_parameters_are_422_naming_them(
    orders: Orders, subtests: pytest.Subtests
) -> None:
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"status": "lost"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WzEsMl0"}, "cursor"),  # base64 of [1,2]
    ]
    for params, field in cases:
        with subtests.test(params=params):
            response = await orders.client.get(
                "/api/v1/orders", params=params, headers=orders.stack.ops()
            )
            assert response.status_code == 422, response.text
            assert field in response.json()["detail"]
