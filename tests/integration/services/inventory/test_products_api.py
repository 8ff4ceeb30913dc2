"""The catalogue over HTTP: creating products, reading them, setting stock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.auth import mint_token
from shared.messages import InventoryReserved, ProductCreated, ProductUpdated
from shared.persistence.outbox import pending_count
from tests.integration.services.inventory.conftest import Inventory
from tests.support.infra import eventually

PROBLEM = "application/problem+json"


def new_product(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": f"SKU-{uuid.uuid4().hex[:12]}",
        "name": "Espresso cup",
        "price": 1250,
        "currency": "EUR",
        "stock": 7,
    }
    body.update(overrides)
    return body


async def test_ops_creates_a_product_that_anyone_can_read(inventory: Inventory) -> None:
    body = new_product()
    created = await inventory.client.post(
        "/api/v1/products", json=body, headers=inventory.stack.ops()
    )
    assert created.status_code == 201, created.text
    product = created.json()
    assert product == {
        "id": product["id"],
        "sku": body["sku"],
        "name": "Espresso cup",
        "description": None,
        "price": 1250,
        "currency": "EUR",
        "available": 7,
    }
    assert created.headers["Location"] == f"/api/v1/products/{product['id']}"

    read = await inventory.client.get(f"/api/v1/products/{product['id']}")
    assert read.status_code == 200
    assert read.json() == product

    envelope, event = await inventory.replies.one(product["id"])
    assert envelope.type == "product.created"
    assert event == ProductCreated(
        product_id=product["id"],
        sku=body["sku"],
        name="Espresso cup",
        price=1250,
        currency="EUR",
        available=7,
    )


async def test_a_description_is_kept_shown_and_announced(inventory: Inventory) -> None:
    text = "Porcelain, 80 ml.\nDishwasher safe."
    created = await inventory.client.post(
        "/api/v1/products", json=new_product(description=text), headers=inventory.stack.ops()
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    read = await inventory.client.get(f"/api/v1/products/{product_id}")
    listed = await inventory.client.get("/api/v1/products", params={"id": product_id})
    _, event = await inventory.replies.one(product_id)

    assert read.json()["description"] == text
    assert listed.json()["items"][0]["description"] == text
    assert isinstance(event, ProductCreated)
    assert event.description == text


async def test_changes_to_name_description_price_or_stock_announce_product_updated(
    inventory: Inventory,
) -> None:
    product_id = await inventory.add_product(stock=10)
    ops = inventory.stack.ops()
    path = f"/api/v1/products/{product_id}"

    changed = await inventory.client.patch(
        path, json={"name": "Tea cup", "description": "Bone china", "price": 999}, headers=ops
    )
    stocked = await inventory.client.put(f"{path}/stock", json={"quantity": 12}, headers=ops)
    cleared = await inventory.client.patch(path, json={"description": None}, headers=ops)
    # Nothing changes: nothing is announced.
    same_stock = await inventory.client.put(f"{path}/stock", json={"quantity": 12}, headers=ops)
    same_price = await inventory.client.patch(path, json={"price": 999}, headers=ops)
    # A reservation moves `available` without a product.updated of its own.
    order_id = str(uuid.uuid4())
    await inventory.reserve(order_id, (product_id, 2))
    await inventory.replies.wait(order_id)
    barrier = await inventory.add_product()
    await inventory.replies.wait(barrier)

    assert [r.status_code for r in (changed, stocked, cleared, same_stock, same_price)] == [200] * 5
    assert changed.json()["name"] == "Tea cup"
    assert cleared.json()["description"] is None
    events = [e.decode() for e in inventory.replies.about(product_id)]
    assert [type(e) for e in events] == [
        ProductCreated,
        ProductUpdated,
        ProductUpdated,
        ProductUpdated,
    ]
    base = {"product_id": product_id, "sku": events[0].sku, "currency": "EUR"}
    assert events[1:] == [
        ProductUpdated(**base, name="Tea cup", description="Bone china", price=999, available=10),
        ProductUpdated(**base, name="Tea cup", description="Bone china", price=999, available=12),
        ProductUpdated(**base, name="Tea cup", price=999, available=12),
    ]
    assert all(e.exchange == "products" for e in inventory.replies.about(product_id))
    assert (await inventory.client.get(path)).json()["available"] == 10


async def test_bad_product_changes_are_422_naming_the_field(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    product_id = await inventory.add_product()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": None}, "name"),
        ({"price": None}, "price"),
        ({"price": -1}, "price"),
        ({"price": "9"}, "price"),
        ({"description": ""}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"sku": "NEW-SKU"}, "sku"),
    ]
    for body, field in cases:
        with subtests.test(body=body):
            response = await inventory.client.patch(
                f"/api/v1/products/{product_id}", json=body, headers=inventory.stack.ops()
            )
            assert response.status_code == 422, response.text
            assert field in response.json()["detail"]
    customer = await inventory.client.patch(
        f"/api/v1/products/{product_id}", json={"price": 1}, headers=inventory.stack.auth("alice")
    )
    assert customer.status_code == 403
    assert (await inventory.product_row(product_id)).price == 1999


async def test_a_duplicate_sku_is_a_conflict_and_adds_nothing(inventory: Inventory) -> None:
    body = new_product()
    first = await inventory.client.post(
        "/api/v1/products", json=body, headers=inventory.stack.ops()
    )
    assert first.status_code == 201
    again = await inventory.client.post(
        "/api/v1/products", json={**body, "name": "Another"}, headers=inventory.stack.ops()
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert body["sku"] in again.json()["detail"]
    listing = (await inventory.client.get("/api/v1/products")).json()
    assert [p["name"] for p in listing["items"]] == ["Espresso cup"]


async def test_products_are_paged_by_sku_with_limit_and_offset(inventory: Inventory) -> None:
    for sku in ["C-3", "A-1", "B-2"]:
        response = await inventory.client.post(
            "/api/v1/products", json=new_product(sku=sku), headers=inventory.stack.ops()
        )
        assert response.status_code == 201

    first = (await inventory.client.get("/api/v1/products", params={"limit": 2})).json()
    second = (
        await inventory.client.get("/api/v1/products", params={"limit": 2, "offset": 2})
    ).json()

    assert [p["sku"] for p in first["items"]] == ["A-1", "B-2"]
    assert (first["total"], first["limit"], first["offset"]) == (3, 2, 0)
    assert [p["sku"] for p in second["items"]] == ["C-3"]
    wanted = [first["items"][0]["id"], second["items"][0]["id"]]
    chosen = (await inventory.client.get("/api/v1/products", params={"id": wanted})).json()
    assert [p["sku"] for p in chosen["items"]] == ["A-1", "C-3"]


async def test_setting_stock_counts_reserved_units_and_never_goes_below_them(
    inventory: Inventory,
) -> None:
    product_id = await inventory.add_product(stock=10)
    order_id = str(uuid.uuid4())
    await inventory.reserve(order_id, (product_id, 4))
    _, reply = await inventory.replies.one(order_id)
    assert isinstance(reply, InventoryReserved)

    raised = await inventory.client.put(
        f"/api/v1/products/{product_id}/stock", json={"quantity": 25}, headers=inventory.stack.ops()
    )
    assert raised.status_code == 200
    assert raised.json()["available"] == 21

    below = await inventory.client.put(
        f"/api/v1/products/{product_id}/stock", json={"quantity": 3}, headers=inventory.stack.ops()
    )
    assert below.status_code == 409
    assert below.json()["reserved"] == 4
    assert (await inventory.product_row(product_id)).on_hand == 25

    exact = await inventory.client.put(
        f"/api/v1/products/{product_id}/stock", json={"quantity": 4}, headers=inventory.stack.ops()
    )
    assert exact.status_code == 200
    assert exact.json()["available"] == 0


async def test_an_unknown_product_is_not_found(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    # An id no database could hold (``%00``) is bad input instead: tests/integration/test_hostile_input.py.
    for product_id in [str(uuid.uuid4()), "not-a-uuid"]:
        with subtests.test(product_id=product_id):
            read = await inventory.client.get(f"/api/v1/products/{product_id}")
            stock = await inventory.client.put(
                f"/api/v1/products/{product_id}/stock",
                json={"quantity": 1},
                headers=inventory.stack.ops(),
            )
            assert (read.status_code, stock.status_code) == (404, 404)
            assert read.headers["content-type"] == PROBLEM


def _expired(inventory: Inventory) -> dict[str, str]:
    token = mint_token(
        inventory.stack.settings.jwt_key,
        sub="ops-user",
        roles=["ops"],
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    return {"Authorization": f"Bearer {token}"}


def _forged(inventory: Inventory) -> dict[str, str]:
    token = mint_token("a-different-secret-of-enough-length-000", sub="ops-user", roles=["ops"])
    return {"Authorization": f"Bearer {token}"}


async def test_admin_paths_need_a_valid_ops_token(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    product_id = await inventory.add_product()
    callers = {
        "nobody": ({}, 401),
        "forged": (_forged(inventory), 401),
        "expired": (_expired(inventory), 401),
        "garbage": ({"Authorization": "Bearer not.a.jwt"}, 401),
        "customer": (inventory.stack.auth("alice"), 403),
    }
    for who, (headers, status) in callers.items():
        with subtests.test(who=who):
            answers = [
                await inventory.client.post(
                    "/api/v1/products", json=new_product(), headers=headers
                ),
                await inventory.client.put(
                    f"/api/v1/products/{product_id}/stock", json={"quantity": 1}, headers=headers
                ),
                await inventory.client.get(f"/api/v1/reservations/{uuid.uuid4()}", headers=headers),
            ]
            assert [a.status_code for a in answers] == [status] * 3
            assert all(a.headers["content-type"] == PROBLEM for a in answers)
    listing = (await inventory.client.get("/api/v1/products")).json()
    assert [(p["id"], p["available"]) for p in listing["items"]] == [(product_id, 10)]


BAD_PRODUCTS: dict[str, tuple[dict[str, Any], str]] = {
    "negative-stock": (new_product(stock=-1), "stock"),
    "negative-price": (new_product(price=-5), "price"),
    "float-price": (new_product(price=19.99), "price"),
    "string-price": (new_product(price="1999"), "price"),
    "bool-stock": (new_product(stock=True), "stock"),
    "lowercase-currency": (new_product(currency="eur"), "currency"),
    "blank-name": (new_product(name="   "), "name"),
    "nul-in-name": (new_product(name="bad\x00name"), "name"),
    "empty-sku": (new_product(sku=""), "sku"),
    "unknown-field": (new_product(colour="red"), "colour"),
    "missing-name": ({"sku": "X-1", "price": 100, "currency": "EUR", "stock": 1}, "name"),
}


async def test_bad_product_input_is_422_naming_the_field(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    for case, (body, field) in BAD_PRODUCTS.items():
        with subtests.test(case=case):
            response = await inventory.client.post(
                "/api/v1/products", json=body, headers=inventory.stack.ops()
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM
            assert field in response.json()["detail"]
    assert (await inventory.client.get("/api/v1/products")).json()["total"] == 0


async def test_bad_stock_input_is_422_naming_the_field(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    product_id = await inventory.add_product()
    for body in [{"quantity": -1}, {"quantity": "3"}, {"quantity": 2.5}, {}]:
        with subtests.test(body=body):
            response = await inventory.client.put(
                f"/api/v1/products/{product_id}/stock", json=body, headers=inventory.stack.ops()
            )
            assert response.status_code == 422
            assert "quantity" in response.json()["detail"]
    assert await inventory.available(product_id) == 10


async def test_a_body_that_is_not_a_json_object_is_a_4xx_problem(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    for content in [b"{not json", b"[]", b"", b'"text"']:
        with subtests.test(content=content):
            response = await inventory.client.post(
                "/api/v1/products",
                content=content,
                headers={**inventory.stack.ops(), "Content-Type": "application/json"},
            )
            assert 400 <= response.status_code < 500
            assert response.headers["content-type"] == PROBLEM


async def test_bad_paging_is_422_naming_the_parameter(
    inventory: Inventory, subtests: pytest.Subtests
) -> None:
    cases: list[tuple[dict[str, str | int], str]] = [
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "x"}, "limit"),
    ]
    for params, field in cases:
        with subtests.test(params=params):
            response = await inventory.client.get("/api/v1/products", params=params)
            assert response.status_code == 422
            assert field in response.json()["detail"]


async def test_product_created_is_published_once_on_the_products_exchange(
    inventory: Inventory,
) -> None:
    first = await inventory.add_product()
    second = await inventory.add_product()  # published after the first: a barrier

    await inventory.replies.wait(second)

    [envelope] = inventory.replies.about(first)
    assert (envelope.exchange, envelope.routing_key) == ("products", "product.created")
    assert (envelope.type, envelope.app_id) == ("product.created", "inventory")
    event = envelope.decode()
    assert isinstance(event, ProductCreated)
    assert event.product_id == first
    assert len(inventory.replies.about(second)) == 1
    # The relay deletes its rows once the broker confirms, which may come after
    # the consumer has the messages: the outbox empties soon after, not before.
    await eventually(
        lambda: pending_count(inventory.service.db),
        until=lambda pending: pending == 0,
        what="the outbox to empty",
    )
