"""Both BFFs' rate limits end to end: over the limit is a 429 with ``Retry-After``."""

from __future__ import annotations

import httpx

from tests.support.stack import Stack
from tests.support.system import ADDRESS, PASSWORD, running_system

API = "/api/v1"


def _too_many(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 1


async def test_sign_ins_and_checkouts_over_the_limit_get_429_with_retry_after(
    stack: Stack,
) -> None:
    async with running_system(
        stack, bff_auth_rate_limit=3, bff_checkout_rate_limit=2, bff_rate_window_seconds=600
    ) as system:
        product = await system.add_product(price=100, stock=10)
        shopper = await system.shopper()  # the first of three sign-ups and sign-ins on web
        credentials = {"email": shopper.email, "password": PASSWORD}

        # Per client address, per BFF: web has two left, mobile three.
        for _ in range(2):
            assert (await system.web.post(f"{API}/auth/login", json=credentials)).is_success
        _too_many(await system.web.post(f"{API}/auth/login", json=credentials))
        for _ in range(3):
            assert (await system.mobile.post(f"{API}/auth/login", json=credentials)).is_success
        _too_many(await system.mobile.post(f"{API}/auth/login", json=credentials))

        # Checkouts per user: the third within the window is refused and places nothing.
        for _ in range(2):
            placed = await system.checkout(shopper, [(product["id"], 1)])
            assert placed.status_code == 202, placed.text
        _too_many(await system.checkout(shopper, [(product["id"], 1)]))
        address = await system.services["users"].post(
            f"{API}/users/{shopper.user_id}/addresses", json=ADDRESS, headers=shopper.auth
        )
        mobile_body = {
            "items": [{"productId": product["id"], "quantity": 1}],
            "addressId": address.json()["id"],
            "paymentMethodId": "pm_card_ok",
        }
        for _ in range(2):
            placed = await system.mobile.post(
                f"{API}/checkout", json=mobile_body, headers=shopper.auth
            )
            assert placed.status_code == 202, placed.text
        _too_many(
            await system.mobile.post(f"{API}/checkout", json=mobile_body, headers=shopper.auth)
        )

        orders = await system.web.get(f"{API}/orders", headers=shopper.auth)
        assert len(orders.json()["items"]) == 4
        for order in orders.json()["items"]:
            assert await system.settled(shopper, order["id"]) == "confirmed"
