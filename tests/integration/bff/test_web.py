"""BFF-Web end to end: every route through the real services, the saga and the broker."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.infra import body_of, eventually
from tests.support.system import (
    ADDRESS,
    PASSWORD,
    Shopper,
    System,
    named_fields,
    problem_of,
)

API = "/api/v1"


async def _details(system: System, shopper: Shopper, order_id: str) -> dict[str, Any]:
    response = await system.web.get(f"{API}/orders/{order_id}/details", headers=shopper.auth)
    page: dict[str, Any] = body_of(response)
    return page


async def test_web_shopper_signs_in_browses_checks_out_reads_the_order_page_and_cancels(
    system: System,
) -> None:
    teapot = await system.add_product(price=1250, stock=5)
    cups = await system.add_product(price=499, stock=10)
    shopper = await system.shopper()

    # Sign in again with the same credentials; a wrong password is a 401.
    login = await system.web.post(
        f"{API}/auth/login", json={"email": shopper.email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert login.json()["userId"] == shopper.user_id
    wrong = await system.web.post(
        f"{API}/auth/login", json={"email": shopper.email, "password": "not it"}
    )
    problem_of(wrong, 401)

    # The catalogue, with stock, needs no token.
    listing = await system.web.get(f"{API}/products", params={"limit": 200})
    assert listing.status_code == 200, listing.text
    listed = {p["id"]: p for p in listing.json()["items"]}
    assert listed[teapot["id"]]["available"] == 5
    one = await system.web.get(f"{API}/products/{cups['id']}")
    assert one.json() == {
        "id": cups["id"],
        "sku": cups["sku"],
        "name": cups["name"],
        "description": None,
        "price": 499,
        "currency": "EUR",
        "available": 10,
    }
    problem_of(await system.web.get(f"{API}/products/no-such-product"), 404)

    # Checkout answers 202 at once, priced by the inventory; the saga confirms later.
    placed = await system.checkout(shopper, [(teapot["id"], 2), (cups["id"], 1)])
    assert placed.status_code == 202, placed.text
    accepted = placed.json()
    assert accepted["status"] == "pending"
    assert (accepted["totalAmount"], accepted["currency"]) == (2 * 1250 + 499, "EUR")
    assert placed.headers["Location"] == f"{API}/orders/{accepted['orderId']}/details"
    assert await system.settled(shopper, accepted["orderId"]) == "confirmed"

    # With ?wait= the answer carries the final status: confirmed, or cancelled on a decline.
    waited = await system.checkout(shopper, [(cups["id"], 3)], wait=10)
    assert waited.status_code == 200, waited.text
    assert waited.json()["status"] == "confirmed"
    declined = await system.checkout(
        shopper, [(cups["id"], 1)], payment_method_id="pm_card_declined", wait=10
    )
    assert declined.status_code == 200, declined.text
    assert declined.json()["status"] == "cancelled"

    orders = await system.web.get(f"{API}/orders", headers=shopper.auth)
    assert orders.status_code == 200, orders.text
    assert [o["id"] for o in orders.json()["items"]] == [
        declined.json()["orderId"],
        waited.json()["orderId"],
        accepted["orderId"],
    ]

    # The order page: every part present, nothing degraded; the caller's correlation id back.
    traced = await system.web.get(
        f"{API}/orders/{accepted['orderId']}/details",
        headers={**shopper.auth, "X-Correlation-ID": "trace-me-123"},
    )
    assert traced.headers["X-Correlation-ID"] == "trace-me-123"
    page = traced.json()
    assert page["degraded"] == []
    assert page["order"]["status"] == "confirmed"
    assert page["order"]["shippingAddress"]["city"] == ADDRESS["city"]
    assert page["user"] == {
        "id": shopper.user_id,
        "email": shopper.email,
        "firstName": "ada",
        "lastName": "Lovelace",
        "name": "ada Lovelace",
    }
    assert [p["id"] for p in page["products"]] == [teapot["id"], cups["id"]]
    assert [(p["status"], p["amount"]) for p in page["payments"]] == [("captured", 2999)]
    assert page["progress"]["state"] == "completed"
    assert page["progress"]["transitions"][-1]["to"] == "completed"
    assert page["progress"]["updatedAt"].endswith("Z")

    # Cancelling a confirmed order refunds it and puts the stock back.
    cancel = await system.web.post(
        f"{API}/orders/{accepted['orderId']}/cancel", headers=shopper.auth
    )
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancelRequested"] is True
    assert cancel.json()["poll"] == f"{API}/orders/{accepted['orderId']}/details"
    after = await eventually(
        lambda: _details(system, shopper, accepted["orderId"]),
        # The parts are read at once from services that catch up one by one.
        until=lambda p: (p["progress"]["state"], p["order"]["status"]) == ("cancelled",) * 2,
        what="the saga to finish compensating",
    )
    assert after["payments"][0]["refundedAmount"] == 2999
    stock = await system.services["inventory"].get(f"{API}/products/{teapot['id']}")
    assert stock.json()["available"] == 5
    again = await system.web.post(
        f"{API}/orders/{accepted['orderId']}/cancel", headers=shopper.auth
    )
    problem_of(again, 409)


async def test_web_checkout_with_the_same_idempotency_key_places_one_order(
    system: System,
) -> None:
    product = await system.add_product(price=700, stock=10)
    shopper = await system.shopper()
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = await system.checkout(shopper, [(product["id"], 1)], headers=key)
    second = await system.checkout(shopper, [(product["id"], 1)], headers=key)
    other_body = await system.checkout(shopper, [(product["id"], 2)], headers=key)

    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert "Idempotency-Key" in named_fields(problem_of(other_body, 422))
    orders = await system.web.get(f"{API}/orders", headers=shopper.auth)
    assert [o["id"] for o in orders.json()["items"]] == [first.json()["orderId"]]
    # Another user may pick the same key for their own checkout.
    other = await system.shopper("grace")
    theirs = await system.checkout(other, [(product["id"], 1)], headers=key)
    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["orderId"] != first.json()["orderId"]
    assert await system.settled(shopper, first.json()["orderId"]) == "confirmed"
    assert await system.settled(other, theirs.json()["orderId"]) == "confirmed"


async def test_web_hides_other_users_orders_and_refuses_bad_input_naming_the_field(
    system: System,
) -> None:
    product = await system.add_product(price=100, stock=3)
    owner, intruder = await system.owner_and_intruder()
    placed = await system.checkout(owner, [(product["id"], 1)], wait=10)
    order_id = placed.json()["orderId"]

    # Another user's order does not exist for them.
    problem_of(await system.web.get(f"{API}/orders/{order_id}/details", headers=intruder.auth), 404)
    problem_of(await system.web.post(f"{API}/orders/{order_id}/cancel", headers=intruder.auth), 404)
    theirs = await system.web.get(f"{API}/orders", headers=intruder.auth)
    assert theirs.json()["items"] == []
    # No token, or a forged one, is a 401 before any service is asked.
    problem_of(await system.web.get(f"{API}/orders"), 401)
    forged = {"Authorization": "Bearer not.a.token"}
    problem_of(await system.web.get(f"{API}/orders/{order_id}/details", headers=forged), 401)

    good: dict[str, Any] = {
        "items": [{"productId": product["id"], "quantity": 1}],
        "shippingAddress": ADDRESS,
        "paymentMethodId": "pm_card_ok",
    }
    bad_bodies: list[tuple[dict[str, Any], str]] = [
        ({**good, "items": [{"productId": product["id"], "quantity": 0}]}, "items.0.quantity"),
        ({**good, "items": [{"productId": product["id"], "quantity": "1"}]}, "items.0.quantity"),
        ({**good, "items": []}, "items"),
        ({**good, "items": [{"productId": "no-such-product", "quantity": 1}]}, "items.0.productId"),
        ({**good, "paymentMethodId": "pm_nobody_has_this"}, "paymentMethodId"),
        ({**good, "shippingAddress": {**ADDRESS, "country": "Narnia"}}, "shippingAddress.country"),
        ({k: v for k, v in good.items() if k != "shippingAddress"}, "shippingAddress"),
        ({**good, "unitPrice": 1}, "unitPrice"),
    ]
    for body, field in bad_bodies:
        response = await system.web.post(f"{API}/checkout", json=body, headers=intruder.auth)
        assert field in named_fields(problem_of(response, 422)), (field, response.text)
    not_json = await system.web.post(
        f"{API}/checkout",
        content=b"{not json",
        headers={**intruder.auth, "Content-Type": "application/json"},
    )
    problem_of(not_json, 422)
    bad_signup = await system.web.post(
        f"{API}/auth/register", json={"email": "not-an-email", "password": PASSWORD}
    )
    assert "email" in named_fields(problem_of(bad_signup, 422))
    taken = await system.web.post(
        f"{API}/auth/register", json={"email": owner.email, "password": PASSWORD}
    )
    problem_of(taken, 409)

    # None of it left an order behind.
    theirs = await system.web.get(f"{API}/orders", headers=intruder.auth)
    assert theirs.json()["items"] == []


async def test_a_web_shop_keeps_addresses_and_cards_through_the_bff_and_cancels_with_wait(
    system: System,
) -> None:
    product = await system.add_product(price=900, stock=3)
    shopper = await system.shopper()

    for path, body in (("addresses", ADDRESS), ("payment-methods", {"token": "pm_card_ok"})):
        empty = await system.web.get(f"{API}/me/{path}", headers=shopper.auth)
        assert (empty.status_code, empty.json()) == (200, [])
        kept = await system.web.post(f"{API}/me/{path}", json=body, headers=shopper.auth)
        assert kept.status_code == 201, kept.text
        spare = await system.web.post(
            f"{API}/me/{path}",
            json={**ADDRESS, "city": "Leeds"}
            if path == "addresses"
            else {"token": "pm_card_declined"},
            headers=shopper.auth,
        )
        assert spare.status_code == 201, spare.text
        removed = await system.web.delete(
            f"{API}/me/{path}/{spare.json()['id']}", headers=shopper.auth
        )
        assert removed.status_code == 204, removed.text
        listed = await system.web.get(f"{API}/me/{path}", headers=shopper.auth)
        assert [item["id"] for item in listed.json()] == [kept.json()["id"]]
    cards = await system.web.get(f"{API}/me/payment-methods", headers=shopper.auth)
    card = cards.json()[0]
    assert (card["brand"], card["last4"]) == ("visa", "4242")

    # Another user's address or card cannot be removed: it looks absent.
    stranger = await system.shopper("eve")
    theirs = await system.web.delete(
        f"{API}/me/payment-methods/{card['id']}", headers=stranger.auth
    )
    problem_of(theirs, 404)

    placed = await system.checkout(
        shopper, [(product["id"], 1)], payment_method_id=card["id"], wait=10
    )
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]
    cancelled = await system.web.post(
        f"{API}/orders/{order_id}/cancel", params={"wait": 10}, headers=shopper.auth
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["cancelRequested"]) == ("cancelled", True)
    assert body["reason"] == f"cancel requested by the customer ({shopper.user_id})"
    assert cancelled.headers["Location"] == body["poll"]
