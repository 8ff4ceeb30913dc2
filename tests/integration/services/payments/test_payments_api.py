"""The payments HTTP API on both stacks: saved methods, payment listings, and who may
see what."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from card_provider.cards import CARD_DECLINED, CARD_OK, CARD_REFUND_DECLINED
from shared.auth import mint_token
from tests.integration.services.payments.conftest import AMOUNT, API, CUSTOMER, Payments


async def test_saved_methods_are_listed_and_read_back_by_their_owner(payments: Payments) -> None:
    headers = payments.stack.auth(CUSTOMER)
    path = f"{API}/users/{CUSTOMER}/payment-methods"

    test_card = await payments.client.post(path, json={"token": CARD_OK}, headers=headers)
    own_card = await payments.client.post(
        path, json={"token": "tok_real_card", "brand": "amex", "last4": "0005"}, headers=headers
    )

    assert test_card.status_code == own_card.status_code == 201
    saved = [test_card.json(), own_card.json()]
    assert saved[0] == {"id": saved[0]["id"], "brand": "visa", "last4": "4242"}
    assert saved[1] == {"id": saved[1]["id"], "brand": "amex", "last4": "0005"}
    listed = await payments.client.get(path, headers=headers)
    assert listed.json() == saved
    one = await payments.client.get(f"{API}/payment-methods/{saved[1]['id']}", headers=headers)
    assert one.json() == saved[1]


async def test_saving_a_card_twice_is_409(payments: Payments) -> None:
    headers = payments.stack.auth(CUSTOMER)
    path = f"{API}/users/{CUSTOMER}/payment-methods"
    assert (
        await payments.client.post(path, json={"token": CARD_OK}, headers=headers)
    ).status_code == 201

    again = await payments.client.post(path, json={"token": CARD_OK}, headers=headers)

    assert again.status_code == 409
    assert len((await payments.client.get(path, headers=headers)).json()) == 1


async def test_test_cards_answer_for_everyone(payments: Payments) -> None:
    for card in (CARD_OK, CARD_DECLINED, CARD_REFUND_DECLINED):
        response = await payments.client.get(
            f"{API}/payment-methods/{card}", headers=payments.stack.auth(str(uuid.uuid4()))
        )
        assert response.status_code == 200
        assert response.json()["id"] == card
        assert len(response.json()["last4"]) == 4


async def test_another_users_methods_and_payments_look_absent(payments: Payments) -> None:
    saved = await payments.client.post(
        f"{API}/users/{CUSTOMER}/payment-methods",
        json={"token": CARD_OK},
        headers=payments.stack.auth(CUSTOMER),
    )
    order_id = str(uuid.uuid4())
    await payments.charge(order_id)
    await payments.reply(order_id)
    intruder = payments.stack.auth("intruder")

    listed = await payments.client.get(f"{API}/users/{CUSTOMER}/payment-methods", headers=intruder)
    added = await payments.client.post(
        f"{API}/users/{CUSTOMER}/payment-methods", json={"token": CARD_OK}, headers=intruder
    )
    method = await payments.client.get(
        f"{API}/payment-methods/{saved.json()['id']}", headers=intruder
    )
    unknown = await payments.client.get(f"{API}/payment-methods/{uuid.uuid4()}", headers=intruder)
    assert [r.status_code for r in (listed, added, method, unknown)] == [404, 404, 404, 404]

    theirs = await payments.client.get(
        f"{API}/payments", params={"orderId": order_id}, headers=intruder
    )
    summary = await payments.client.get(
        f"{API}/payments/summary", params={"orderId": order_id}, headers=intruder
    )
    assert theirs.json() == []
    assert (summary.json()["captured"], summary.json()["net"]) == (0, 0)

    own = await payments.client.get(
        f"{API}/payments", params={"orderId": order_id}, headers=payments.stack.auth(CUSTOMER)
    )
    assert [p["amount"] for p in own.json()] == [AMOUNT]


async def test_listing_every_payment_is_for_ops_only(payments: Payments) -> None:
    order_id = str(uuid.uuid4())
    await payments.charge(order_id)
    await payments.reply(order_id)

    as_customer = await payments.client.get(
        f"{API}/payments", headers=payments.stack.auth(CUSTOMER)
    )
    as_ops = await payments.client.get(f"{API}/payments", headers=payments.stack.ops())

    assert as_customer.status_code == 403
    assert as_customer.headers["content-type"] == "application/problem+json"
    assert [p["orderId"] for p in as_ops.json()] == [order_id]


async def test_missing_forged_or_expired_token_is_401(payments: Payments) -> None:
    key = payments.stack.settings.jwt_key
    forged = mint_token("another-secret-with-enough-bytes-for-hs256", sub=CUSTOMER)
    expired = mint_token(key, sub=CUSTOMER, now=datetime.now(UTC) - timedelta(hours=2))

    for headers in (
        {},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
    ):
        for path in (f"/users/{CUSTOMER}/payment-methods", f"/payment-methods/{CARD_OK}"):
            response = await payments.client.get(API + path, headers=headers)
            assert response.status_code == 401, (path, headers)


async def test_bad_input_is_422_naming_the_field(payments: Payments) -> None:
    headers = payments.stack.auth(CUSTOMER)
    path = f"{API}/users/{CUSTOMER}/payment-methods"
    cases = [
        ({"token": ""}, "token"),
        ({"token": "tok with spaces"}, "token"),
        ({"brand": "visa"}, "token"),
        ({"token": CARD_OK, "last4": "42"}, "last4"),
    ]
    for body, field in cases:
        response = await payments.client.post(path, json=body, headers=headers)
        assert response.status_code == 422, body
        assert [e["field"] for e in response.json()["errors"]] == [field], body

    no_order = await payments.client.get(f"{API}/payments/summary", headers=payments.stack.ops())
    assert no_order.status_code == 422
    assert "orderId" in no_order.json()["detail"]
