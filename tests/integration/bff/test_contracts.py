"""The contracts the product design fixes, end to end on both stacks: sign-up with
first and last name, products created through BFF-Web, the ``products`` exchange,
and why a checkout ended."""

from __future__ import annotations

import uuid

import httpx

from tests.support.replies import Replies
from tests.support.stack import on_socket
from tests.support.system import PASSWORD, System, named_fields, problem_of

API = "/api/v1"


async def test_sign_up_through_bff_web_with_first_and_last_name(system: System) -> None:
    users_events = await Replies.listen(system.stack.transport, "users")
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    signed_up = await system.web.post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"},
    )

    assert signed_up.status_code == 201, signed_up.text
    body = signed_up.json()
    assert set(body) == {"userId", "email", "token"}
    assert body["email"] == email
    user_id, auth = body["userId"], {"Authorization": f"Bearer {body['token']}"}
    # Signed in already: the token reaches the user's own data.
    orders = await system.web.get(f"{API}/orders", headers=auth)
    assert (orders.status_code, orders.json()["items"]) == (200, [])
    profile = await system.services["users"].get(f"{API}/users/{user_id}", headers=auth)
    assert profile.status_code == 200, profile.text
    assert {k: profile.json()[k] for k in ("firstName", "lastName", "name")} == {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "name": "Ada Lovelace",
    }
    [announced] = await users_events.wait(user_id)
    assert announced.decode().dump() == {
        "userId": user_id,
        "email": email,
        "firstName": "Ada",
        "lastName": "Lovelace",
    }

    # The older single name is still taken (split at its first space) ...
    older = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"old-{email}", "password": PASSWORD, "name": "Grace Brewster Hopper"},
    )
    assert older.status_code == 201, older.text
    older_id = older.json()["userId"]
    older_profile = await system.services["users"].get(
        f"{API}/users/{older_id}", headers={"Authorization": f"Bearer {older.json()['token']}"}
    )
    assert (older_profile.json()["firstName"], older_profile.json()["lastName"]) == (
        "Grace",
        "Brewster Hopper",
    )
    # ... but not beside firstName, and unknown fields are still refused.
    both = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"both-{email}", "password": PASSWORD, "name": "A B", "firstName": "A"},
    )
    assert "name" in named_fields(problem_of(both, 422))
    unknown = await system.web.post(
        f"{API}/auth/register",
        json={"email": f"x-{email}", "password": PASSWORD, "nickname": "ada"},
    )
    assert "nickname" in named_fields(problem_of(unknown, 422))


async def test_ops_add_products_through_bff_web_and_products_subscribers_hear_of_them(
    system: System,
) -> None:
    products = await Replies.listen(system.stack.transport, "products")
    sku = f"TEA-{uuid.uuid4().hex[:8]}"
    body = {
        "sku": sku,
        "name": "Tea pot",
        "description": "Cast iron, 1.2 l",
        "price": 3499,
        "currency": "EUR",
        "stock": 4,
    }
    customer = await system.shopper()

    refused = await system.web.post(f"{API}/products", json=body, headers=customer.auth)
    anonymous = await system.web.post(f"{API}/products", json=body)
    created = await system.web.post(f"{API}/products", json=body, headers=system.stack.ops())
    duplicate = await system.web.post(f"{API}/products", json=body, headers=system.stack.ops())
    bad = await system.web.post(
        f"{API}/products", json={**body, "price": 12.5}, headers=system.stack.ops()
    )

    problem_of(refused, 403)
    problem_of(anonymous, 401)
    assert created.status_code == 201, created.text
    product = created.json()
    # What was asked for, with the stock given as available now.
    described = {key: value for key, value in body.items() if key != "stock"} | {"available": 4}
    assert product == {"id": product["id"], **described}
    assert created.headers["Location"] == f"{API}/products/{product['id']}"
    assert "sku" in named_fields(problem_of(duplicate, 409))
    assert "price" in named_fields(problem_of(bad, 422))
    shown = await system.web.get(f"{API}/products/{product['id']}")
    assert shown.json() == product
    listing = await system.web.get(f"{API}/products", params={"limit": 200})
    assert [p for p in listing.json()["items"] if p["id"] == product["id"]] == [product]
    home = await system.mobile.get(f"{API}/home", headers=customer.auth)
    assert home.status_code == 200, home.text
    [featured] = [p for p in home.json()["featured"] if p["id"] == product["id"]]
    assert featured["description"] == "Cast iron, 1.2 l"

    restocked = await system.services["inventory"].put(
        f"{API}/products/{product['id']}/stock", json={"quantity": 9}, headers=system.stack.ops()
    )
    assert restocked.status_code == 200, restocked.text

    created_event, updated_event = await products.wait(product["id"], count=2)
    assert (created_event.exchange, created_event.type) == ("products", "product.created")
    assert (updated_event.exchange, updated_event.type) == ("products", "product.updated")
    assert created_event.decode().dump() == {"productId": product["id"], **described}
    assert updated_event.decode().dump()["available"] == 9


async def test_a_declined_checkout_with_wait_answers_cancelled_with_the_reason(
    system: System,
) -> None:
    product = await system.add_product(price=1500, stock=1)
    shopper = await system.shopper()

    declined = await system.checkout(
        shopper, [(product["id"], 1)], payment_method_id="pm_card_declined", wait=15
    )
    short = await system.checkout(shopper, [(product["id"], 2)], wait=15)
    confirmed = await system.checkout(shopper, [(product["id"], 1)], wait=15)

    assert declined.status_code == 200, declined.text
    answer = declined.json()
    assert answer["status"] == "cancelled"
    assert answer["reason"].startswith("payment declined")
    assert (answer["totalAmount"], answer["currency"]) == (1500, "EUR")
    assert short.json()["status"] == "cancelled"
    assert short.json()["reason"].startswith("insufficient stock")
    assert product["id"] in short.json()["reason"]
    assert (confirmed.json()["status"], confirmed.json()["reason"]) == ("confirmed", None)

    # The order page and the compact order say the same.
    order_id = answer["orderId"]
    details = await system.web.get(f"{API}/orders/{order_id}/details", headers=shopper.auth)
    assert details.json()["order"]["reason"] == answer["reason"]
    assert "cancelReason" not in details.json()["order"]
    compact = await system.mobile.get(f"{API}/orders/{order_id}", headers=shopper.auth)
    assert compact.status_code == 200, compact.text
    assert compact.json()["reason"] == answer["reason"]
    assert compact.json()["totalAmount"] == 1500
    assert "total" not in compact.json()
    listed = await system.mobile.get(f"{API}/orders", headers=shopper.auth)
    assert {o["id"]: o["reason"] for o in listed.json()["items"]} == {
        order_id: answer["reason"],
        short.json()["orderId"]: short.json()["reason"],
        confirmed.json()["orderId"]: None,
    }


async def test_openapi_lists_what_each_route_can_answer_and_a_422_reads_the_same_twice(
    system: System,
) -> None:
    for name in ("bff-web", "bff-mobile"):
        document = system.apps[name].openapi()
        paths = document["paths"]
        for route in ("/api/v1/auth/register", "/api/v1/auth/login"):
            # No bearer token is asked for, so none can be missing or lack a role.
            assert "403" not in paths[route]["post"]["responses"], (name, route)
        assert "401" not in paths["/api/v1/auth/register"]["post"]["responses"]
        login_401 = paths["/api/v1/auth/login"]["post"]["responses"]["401"]["description"]
        assert "bearer" not in login_401.lower()
        assert "password" in login_401
        ok = paths["/api/v1/checkout"]["post"]["responses"]["200"]["content"]
        assert ok["application/json"]["schema"] == {"$ref": "#/components/schemas/CheckoutAccepted"}

    # Over a real socket: the status line and the problem's title say the same.
    async with on_socket(system.apps["bff-web"]) as url, httpx.AsyncClient() as client:
        refused = await client.post(f"{url}{API}/auth/login", json={"email": ""})
    assert refused.status_code == 422
    assert refused.json()["title"] == refused.reason_phrase
