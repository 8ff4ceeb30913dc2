"""BFF-Mobile end to end: every route through the real services, the saga and the broker."""

from __future__ import annotations

import gzip
import uuid
from typing import Any

import httpx

from tests.support.infra import eventually
from tests.support.system import ADDRESS, PASSWORD, Shopper, System, named_fields, problem_of

API = "/api/v1"


async def _save_address_and_card(
    system: System, shopper: Shopper, card: str = "pm_card_ok"
) -> tuple[str, str]:
    """Save an address and a card through BFF-Mobile, as the app does."""
    address = await system.mobile.post(f"{API}/me/addresses", json=ADDRESS, headers=shopper.auth)
    assert address.status_code == 201, address.text
    method = await system.mobile.post(
        f"{API}/me/payment-methods", json={"token": card}, headers=shopper.auth
    )
    assert method.status_code == 201, method.text
    return address.json()["id"], method.json()["id"]


async def _shopper_with_address_and_card(system: System) -> tuple[Shopper, str, str]:
    """A new shopper with an address and a card saved."""
    shopper = await system.shopper()
    address_id, card_id = await _save_address_and_card(system, shopper)
    return shopper, address_id, card_id


async def _checkout(
    system: System,
    shopper: Shopper,
    items: list[tuple[str, int]],
    address_id: str,
    payment_method_id: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await system.mobile.post(
        f"{API}/checkout",
        json={
            "items": [{"productId": p, "quantity": q} for p, q in items],
            "addressId": address_id,
            "paymentMethodId": payment_method_id,
        },
        headers={**shopper.auth, **(headers or {})},
    )


async def test_mobile_shopper_checks_out_from_saved_data_and_polls_compact_orders(
    system: System,
) -> None:
    product = await system.add_product(price=1250, stock=20)
    registered = await system.shopper()

    login = await system.mobile.post(
        f"{API}/auth/login", json={"email": registered.email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    shopper = Shopper(login.json()["userId"], registered.email, login.json()["token"])
    assert shopper.user_id == registered.user_id
    address_id, card_id = await _save_address_and_card(system, shopper)

    addresses = await system.mobile.get(f"{API}/me/addresses", headers=shopper.auth)
    assert addresses.status_code == 200, addresses.text
    assert addresses.json() == [{"id": address_id, "line2": None, **ADDRESS}]
    cards = await system.mobile.get(f"{API}/me/payment-methods", headers=shopper.auth)
    assert cards.status_code == 200, cards.text
    assert [c["id"] for c in cards.json()] == [card_id]
    assert cards.json()[0]["last4"]

    # Checkout from the saved address and card: a minimal answer.
    placed = await _checkout(system, shopper, [(product["id"], 2)], address_id, card_id)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]
    assert placed.json() == {"orderId": order_id, "status": "pending", "totalAmount": 2500}
    assert await system.settled(shopper, order_id) == "confirmed"
    stored = await system.services["orders"].get(f"{API}/orders/{order_id}", headers=shopper.auth)
    assert stored.json()["paymentMethodId"] == card_id
    assert stored.json()["shippingAddress"]["postalCode"] == ADDRESS["postalCode"]

    # A compact order with an ETag: polling with it costs a bodiless 304.
    first = await system.mobile.get(f"{API}/orders/{order_id}", headers=shopper.auth)
    assert first.status_code == 200, first.text
    assert len(first.content) < 400
    assert first.json()["status"] == "confirmed"
    assert (first.json()["totalAmount"], first.json()["itemCount"]) == (2500, 2)
    etag = first.headers["ETag"]
    unchanged = await system.mobile.get(
        f"{API}/orders/{order_id}", headers={**shopper.auth, "If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag

    # The start screen: recent orders and featured products in one round trip.
    home = await system.mobile.get(f"{API}/home", headers=shopper.auth)
    assert home.status_code == 200, home.text
    assert home.json()["degraded"] == []
    assert [o["id"] for o in home.json()["recentOrders"]] == [order_id]
    assert home.json()["featured"]

    # Cancelling changes the order, so the old ETag no longer matches.
    cancel = await system.web.post(f"{API}/orders/{order_id}/cancel", headers=shopper.auth)
    assert cancel.status_code == 202, cancel.text
    changed = await _poll_until_changed(system, shopper, order_id, etag)
    assert changed.status_code == 200
    assert changed.json()["status"] == "cancelled"
    assert changed.headers["ETag"] != etag


async def _poll_until_changed(
    system: System, shopper: Shopper, order_id: str, etag: str
) -> httpx.Response:
    async def poll() -> httpx.Response:
        return await system.mobile.get(
            f"{API}/orders/{order_id}", headers={**shopper.auth, "If-None-Match": etag}
        )

    return await eventually(
        poll,
        until=lambda r: r.status_code != 304 and r.json()["status"] == "cancelled",
        what="the order to be cancelled",
    )


async def test_mobile_order_list_is_cursor_paginated_compact_and_gzipped_when_large(
    system: System,
) -> None:
    product = await system.add_product(price=300, stock=50)
    shopper, address_id, card_id = await _shopper_with_address_and_card(system)
    placed = []
    for quantity in range(1, 6):
        response = await _checkout(
            system, shopper, [(product["id"], quantity)], address_id, card_id
        )
        assert response.status_code == 202, response.text
        placed.append(response.json()["orderId"])
    for order_id in placed:  # settled first, so every page below reads the same list
        assert await system.settled(shopper, order_id) == "confirmed"

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await system.mobile.get(f"{API}/orders", params=params, headers=shopper.auth)
        assert page.status_code == 200, page.text
        pages += 1
        assert len(page.json()["items"]) <= 2
        seen += [o["id"] for o in page.json()["items"]]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(placed))  # newest first, each once

    # Every row is compact; the whole list is large enough to travel gzipped.
    everything = await system.mobile.get(
        f"{API}/orders", params={"limit": 20}, headers={**shopper.auth, "Accept-Encoding": "gzip"}
    )
    assert everything.headers["Content-Encoding"] == "gzip"
    assert all(len(httpx.Response(200, json=o).content) < 400 for o in everything.json()["items"])
    raw = await _raw_body(system.mobile, f"{API}/orders?limit=20", shopper)
    assert len(raw) < len(everything.content)
    assert gzip.decompress(raw) == everything.content
    # A small answer is not worth compressing.
    small = await system.mobile.get(
        f"{API}/orders/{placed[0]}", headers={**shopper.auth, "Accept-Encoding": "gzip"}
    )
    assert "Content-Encoding" not in small.headers


async def _raw_body(client: httpx.AsyncClient, path: str, shopper: Shopper) -> bytes:
    """The body as it travelled, before httpx decompresses it."""
    async with client.stream(
        "GET", path, headers={**shopper.auth, "Accept-Encoding": "gzip"}
    ) as response:
        return b"".join([chunk async for chunk in response.aiter_raw()])


async def test_mobile_hides_other_users_data_and_refuses_bad_input_naming_the_field(
    system: System,
) -> None:
    product = await system.add_product(price=100, stock=10)
    owner, intruder = await system.owner_and_intruder()
    address_id, card_id = await _save_address_and_card(system, owner)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    placed = await _checkout(system, owner, [(product["id"], 1)], address_id, card_id, key)
    replayed = await _checkout(system, owner, [(product["id"], 1)], address_id, card_id, key)
    changed = await _checkout(system, owner, [(product["id"], 3)], address_id, card_id, key)
    assert placed.status_code == replayed.status_code == 202, replayed.text
    assert replayed.json() == placed.json()
    assert "Idempotency-Key" in named_fields(problem_of(changed, 422))
    order_id = placed.json()["orderId"]

    # Another user's order, address and card do not exist for them.
    problem_of(await system.mobile.get(f"{API}/orders/{order_id}", headers=intruder.auth), 404)
    theirs = await system.mobile.get(f"{API}/orders", headers=intruder.auth)
    assert theirs.json() == {"items": [], "nextCursor": None}
    assert (await system.mobile.get(f"{API}/me/addresses", headers=intruder.auth)).json() == []
    stolen_address = await _checkout(
        system, intruder, [(product["id"], 1)], address_id, "pm_card_ok"
    )
    assert "addressId" in named_fields(problem_of(stolen_address, 422))
    intruder_address, _ = await _save_address_and_card(system, intruder)
    stolen_card = await _checkout(system, intruder, [(product["id"], 1)], intruder_address, card_id)
    assert "paymentMethodId" in named_fields(problem_of(stolen_card, 422))
    problem_of(await system.mobile.get(f"{API}/home"), 401)

    bad: list[tuple[list[tuple[str, Any]], str]] = [
        ([(product["id"], 0)], "items.0.quantity"),
        ([(product["id"], "2")], "items.0.quantity"),
        ([("no-such-product", 1)], "items.0.productId"),
        ([(product["id"], 1), (product["id"], 2)], "items"),
    ]
    for items, field in bad:
        response = await _checkout(system, intruder, items, intruder_address, "pm_card_ok")
        assert field in named_fields(problem_of(response, 422)), (field, response.text)
    bad_cursor = await system.mobile.get(
        f"{API}/orders", params={"cursor": "not-a-cursor"}, headers=intruder.auth
    )
    assert "cursor" in named_fields(problem_of(bad_cursor, 422))
    problem_of(await system.mobile.post(f"{API}/auth/login", json={"email": owner.email}), 422)

    # Nothing was placed for the intruder; the owner has exactly one order.
    assert (await system.mobile.get(f"{API}/orders", headers=intruder.auth)).json()["items"] == []
    mine = await system.mobile.get(f"{API}/orders", headers=owner.auth)
    assert [o["id"] for o in mine.json()["items"]] == [order_id]
    assert await system.settled(owner, order_id) == "confirmed"


async def test_a_phone_app_needs_only_bff_mobile_from_sign_up_to_cancel(system: System) -> None:
    product = await system.add_product(price=700, stock=5)
    email = f"app-{uuid.uuid4().hex[:8]}@example.com"

    # Sign up, then sign in, through BFF-Mobile.
    signed_up = await system.mobile.post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "L"},
    )
    assert signed_up.status_code == 201, signed_up.text
    login = await system.mobile.post(
        f"{API}/auth/login", json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    shopper = Shopper(login.json()["userId"], email, login.json()["token"])
    assert shopper.user_id == signed_up.json()["userId"]

    # Addresses and payment methods: added, listed, removed.
    address_id, card_id = await _save_address_and_card(system, shopper)
    spare, spare_card = await _save_address_and_card(system, shopper, "pm_card_declined")
    for path, gone in (("addresses", spare), ("payment-methods", spare_card)):
        removed = await system.mobile.delete(f"{API}/me/{path}/{gone}", headers=shopper.auth)
        assert removed.status_code == 204, removed.text
        again = await system.mobile.delete(f"{API}/me/{path}/{gone}", headers=shopper.auth)
        assert again.status_code == 404, again.text
        listed = await system.mobile.get(f"{API}/me/{path}", headers=shopper.auth)
        assert [item["id"] for item in listed.json()] == [
            address_id if path == "addresses" else card_id
        ]

    # Checkout honours ?wait: 200 with the final status.
    placed = await system.mobile.post(
        f"{API}/checkout",
        params={"wait": 10},
        json={
            "items": [{"productId": product["id"], "quantity": 1}],
            "addressId": address_id,
            "paymentMethodId": card_id,
        },
        headers=shopper.auth,
    )
    assert placed.status_code == 200, placed.text
    order_id = placed.json()["orderId"]
    assert placed.json() == {"orderId": order_id, "status": "confirmed", "totalAmount": 700}

    listed = await system.mobile.get(f"{API}/orders", headers=shopper.auth)
    assert [o["id"] for o in listed.json()["items"]] == [order_id]
    assert "ETag" not in listed.headers  # the docs promise an ETag on one order only

    # Cancel says what happens next and, with ?wait, how it ended.
    cancelled = await system.mobile.post(
        f"{API}/orders/{order_id}/cancel", params={"wait": 10}, headers=shopper.auth
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["cancelRequested"]) == ("cancelled", True)
    assert body["poll"] == cancelled.headers["Location"] == f"{API}/orders/{order_id}"
    assert body["reason"] == f"cancel requested by the customer ({shopper.user_id})"
    polled = await system.mobile.get(body["poll"], headers=shopper.auth)
    assert polled.json()["status"] == "cancelled"


async def test_a_mobile_cancel_without_wait_says_it_was_requested_and_where_to_poll(
    system: System,
) -> None:
    product = await system.add_product(price=700, stock=5)
    shopper, address_id, card_id = await _shopper_with_address_and_card(system)
    placed = await _checkout(system, shopper, [(product["id"], 1)], address_id, card_id)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["orderId"]
    assert await system.settled(shopper, order_id) == "confirmed"

    cancel = await system.mobile.post(f"{API}/orders/{order_id}/cancel", headers=shopper.auth)
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["cancelRequested"] is True
    assert cancel.json()["status"] in ("confirmed", "cancelled")
    assert cancel.headers["Location"] == cancel.json()["poll"] == f"{API}/orders/{order_id}"
    await eventually(
        lambda: system.order_status(shopper, order_id),
        until=lambda status: status == "cancelled",
        what="the cancel to end",
    )
