"""``Idempotency-Key`` on ``POST /orders``: a repeat answers the first order and places none."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

import services.orders.app
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.web.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER
from tests.integration.services.orders.conftest import Orders, order_body, running_orders
from tests.support.stack import Stack

PROBLEM = "application/problem+json"
KEY = "checkout-3f9c2a71"
MIGRATIONS = Path(services.orders.app.__file__).parent / "migrations"


async def test_a_repeat_with_the_same_key_answers_the_first_order_and_places_no_second(
    orders: Orders,
) -> None:
    body = order_body("alice", shippingAddress={"line1": "1 Main St", "city": "Bern"})

    first = await orders.post(body, key=KEY)
    # The same body with its fields in another order: the same request.
    again = await orders.post(dict(reversed(body.items())), key=KEY)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers[REPLAYED_HEADER] == "true"
    assert REPLAYED_HEADER not in first.headers
    assert await orders.listed("alice") == [first.json()["id"]]
    [created] = await orders.announced("alice")
    assert created.order_id == first.json()["id"]


async def test_the_same_key_with_a_different_body_is_refused_naming_the_header(
    orders: Orders,
) -> None:
    body = order_body("alice")
    first = await orders.post(body, key=KEY)
    changed = {**body, "items": [{**body["items"][0], "quantity": 3}]}

    refused = await orders.post(changed, key=KEY)

    assert first.status_code == 201
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["field"] == IDEMPOTENCY_HEADER
    assert "different order" in refused.json()["detail"]
    assert await orders.listed("alice") == [first.json()["id"]]


async def test_keys_are_per_user_so_another_user_gets_an_order_of_their_own(
    orders: Orders,
) -> None:
    alice_body = order_body("alice")

    alices = await orders.post(alice_body, key=KEY)
    bobs = await orders.post(order_body("bob"), key=KEY)
    # The key belongs to the order's user, not to whoever sends it: ops placing
    # Alice's order under her key is her request again.
    by_ops = await orders.post(alice_body, key=KEY, auth=orders.stack.ops())

    assert (alices.status_code, bobs.status_code, by_ops.status_code) == (201, 201, 201)
    assert REPLAYED_HEADER not in bobs.headers
    assert bobs.json()["id"] != alices.json()["id"]
    assert (by_ops.json()["id"], by_ops.headers[REPLAYED_HEADER]) == (alices.json()["id"], "true")
    assert await orders.listed("alice") == [alices.json()["id"]]
    assert await orders.listed("bob") == [bobs.json()["id"]]


async def test_concurrent_first_requests_with_one_key_place_one_order(orders: Orders) -> None:
    body = order_body("alice")

    answers = await asyncio.gather(*(orders.post(body, key=KEY) for _ in range(20)))

    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    assert sum(a.headers.get(REPLAYED_HEADER) == "true" for a in answers) == 19
    assert await orders.listed("alice") == list(ids)
    assert [e.order_id for e in await orders.announced("alice")] == list(ids)


async def test_without_a_key_every_post_places_a_new_order(orders: Orders) -> None:
    body = order_body("alice")

    answers = [await orders.post(body) for _ in range(2)]

    assert [a.status_code for a in answers] == [201, 201]
    assert all(REPLAYED_HEADER not in a.headers for a in answers)
    first, second = (a.json()["id"] for a in answers)
    assert first != second
    assert await orders.listed("alice") == [second, first]
    assert len(await orders.announced("alice")) == 2


async def test_a_malformed_key_is_422_naming_the_header_and_places_nothing(
    orders: Orders, subtests: pytest.Subtests
) -> None:
    for case, key in {
        "empty": "",
        "too-long": "k" * 201,
        "space": "two words",
        "control": "tab\there",
    }.items():
        with subtests.test(case=case):
            response = await orders.post(order_body("alice"), key=key)
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM
            assert IDEMPOTENCY_HEADER in response.json()["detail"]
    assert (await orders.post(order_body("alice"), key="k" * 200)).status_code == 201
    assert len(await orders.listed("alice")) == 1


@pytest.mark.empty_databases
async def test_a_database_made_by_revision_0001_upgrades_to_head(stack: Stack) -> None:
    db = Database(stack.settings.database_url_for("orders"), schema="orders")
    try:
        await upgrade(db, MIGRATIONS, "0001")
        async with db.sessions() as session:
            tables = await (await session.connection()).run_sync(
                lambda conn: inspect(conn).get_table_names()
            )
            assert "order_idempotency_keys" not in tables
            # Written as revision 0001 knew the table: later revisions added columns.
            old_id = "6a0c1d8e-2f4b-4c3a-9e5d-7b8a9c0d1e2f"
            now = datetime.now(UTC)
            await session.exec(
                text(
                    "INSERT INTO orders (id, user_id, status, currency, total_amount,"
                    " payment_method_id, created_at, updated_at) VALUES (:id, 'alice',"
                    " 'pending', 'EUR', 100, 'pm_card_ok', :now, :now)"
                ).bindparams(id=old_id, now=now)
            )
            await session.commit()
    finally:
        await db.dispose()

    body = order_body("alice")
    async with running_orders(stack) as orders:  # starting migrates to head
        placed = await orders.post(body, key=KEY)
        again = await orders.post(body, key=KEY)

        assert placed.status_code == 201, placed.text
        assert again.json()["id"] == placed.json()["id"]
        assert again.headers[REPLAYED_HEADER] == "true"
        assert await orders.listed("alice") == [placed.json()["id"], old_id]
