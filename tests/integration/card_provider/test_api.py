"""The card provider on SQLite and PostgreSQL: one charge or refund per idempotency key,
whatever is repeated or raced, the test cards' answers, voided keys, and a ledger that
outlives the process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from card_provider.cards import CARD_DECLINED, CARD_OK, CARD_REFUND_DECLINED
from shared.settings import Settings
from tests.support.infra import body_of
from tests.support.provider import CardProvider, running_provider
from tests.support.stack import TEST_JWT_SECRET

API = "/api/v1"
AMOUNT = 1999


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        card_provider_database_url=database_url, data_dir=tmp_path, jwt_secret=TEST_JWT_SECRET
    )


@pytest.fixture
async def provider(settings: Settings) -> AsyncIterator[CardProvider]:
    async with running_provider(settings) as running:
        yield running


def key() -> str:
    return f"charge:{uuid.uuid4()}"


async def charge(
    client: httpx.AsyncClient, idempotency_key: str, *, token: str = CARD_OK, amount: int = AMOUNT
) -> httpx.Response:
    return await client.post(
        f"{API}/charges",
        json={"token": token, "amount": amount, "currency": "EUR"},
        headers={"Idempotency-Key": idempotency_key},
    )


async def refund(
    client: httpx.AsyncClient, charge_id: str, idempotency_key: str, amount: int = AMOUNT
) -> httpx.Response:
    return await client.post(
        f"{API}/charges/{charge_id}/refunds",
        json={"amount": amount},
        headers={"Idempotency-Key": idempotency_key},
    )


async def balance(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = body_of(await client.get(f"{API}/balance"))
    return body


async def test_a_charge_repeated_with_its_key_answers_the_first_time_and_captures_once(
    provider: CardProvider,
) -> None:
    same = key()
    first = await charge(provider.client, same)
    again = await charge(provider.client, same)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["status"] == "captured"
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await balance(provider.client) == {"captured": AMOUNT, "refunded": 0, "net": AMOUNT}


async def test_charges_racing_with_one_key_capture_once(provider: CardProvider) -> None:
    same = key()
    answers = await asyncio.gather(*(charge(provider.client, same) for _ in range(8)))

    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(await provider.charges()) == 1
    assert await provider.net() == AMOUNT


async def test_a_key_used_again_for_another_charge_is_refused_naming_the_header(
    provider: CardProvider,
) -> None:
    same = key()
    await charge(provider.client, same)

    reused = await charge(provider.client, same, amount=AMOUNT + 1)

    assert reused.status_code == 422, reused.text
    assert reused.json()["field"] == "Idempotency-Key"
    assert await provider.net() == AMOUNT


async def test_a_charge_or_refund_without_a_key_is_refused(provider: CardProvider) -> None:
    captured = (await charge(provider.client, key())).json()
    no_key_charge = await provider.client.post(
        f"{API}/charges", json={"token": CARD_OK, "amount": AMOUNT, "currency": "EUR"}
    )
    no_key_refund = await provider.client.post(
        f"{API}/charges/{captured['id']}/refunds", json={"amount": AMOUNT}
    )

    for response in (no_key_charge, no_key_refund):
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await provider.net() == AMOUNT


@pytest.mark.parametrize(
    ("token", "amount", "status", "code"),
    [
        (CARD_OK, AMOUNT, "captured", None),
        (CARD_DECLINED, AMOUNT, "declined", "card_declined"),
        (CARD_REFUND_DECLINED, AMOUNT, "captured", None),
        ("pm_no_such_card", AMOUNT, "declined", "invalid_payment_method"),
        (CARD_OK, 0, "declined", "invalid_amount"),
    ],
)
async def test_each_test_card_charges_as_documented(
    provider: CardProvider, token: str, amount: int, status: str, code: str | None
) -> None:
    answer = await charge(provider.client, key(), token=token, amount=amount)

    assert answer.status_code == 201, answer.text
    assert (answer.json()["status"], answer.json()["code"]) == (status, code)
    assert await provider.net() == (amount if status == "captured" else 0)


async def test_a_refund_pays_back_once_per_key_and_never_more_than_was_captured(
    provider: CardProvider,
) -> None:
    captured = (await charge(provider.client, key())).json()
    first_key = f"refund:{uuid.uuid4()}"

    first = await refund(provider.client, captured["id"], first_key)
    again = await refund(provider.client, captured["id"], first_key)
    beyond = await refund(provider.client, captured["id"], f"refund:{uuid.uuid4()}", 1)

    assert first.status_code == again.status_code == beyond.status_code == 201
    assert first.json()["status"] == "succeeded"
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (beyond.json()["status"], beyond.json()["code"]) == ("declined", "invalid_amount")
    shown = await provider.client.get(f"{API}/charges/{captured['id']}")
    assert shown.json()["refunded"] == AMOUNT
    assert await balance(provider.client) == {"captured": AMOUNT, "refunded": AMOUNT, "net": 0}


async def test_the_refund_declining_card_declines_refunds_until_told_otherwise(
    provider: CardProvider,
) -> None:
    captured = (await charge(provider.client, key(), token=CARD_REFUND_DECLINED)).json()

    declined = await refund(provider.client, captured["id"], f"refund:{uuid.uuid4()}")
    provider.cards.behave(CARD_REFUND_DECLINED, refunds=True)
    retried = await refund(provider.client, captured["id"], f"refund:{uuid.uuid4()}")

    assert (declined.json()["status"], declined.json()["code"]) == ("declined", "refund_declined")
    assert retried.json()["status"] == "succeeded"
    assert await provider.net() == 0


async def test_a_refund_of_an_unknown_charge_is_not_found(provider: CardProvider) -> None:
    answer = await refund(provider.client, "ch_0123456789abcdef", f"refund:{uuid.uuid4()}")

    assert answer.status_code == 404, answer.text
    assert await provider.refunds() == []


async def test_a_voided_key_makes_a_late_charge_capture_nothing(provider: CardProvider) -> None:
    lost = key()

    voided = await provider.client.post(f"{API}/voids", json={"idempotencyKey": lost})
    late = await charge(provider.client, lost)

    assert voided.status_code == 200, voided.text
    assert (voided.json()["status"], voided.json()["code"]) == ("declined", "voided")
    assert late.status_code == 201, late.text
    assert late.json()["id"] == voided.json()["id"]
    assert (late.json()["status"], late.json()["code"]) == ("declined", "voided")
    assert await provider.charges() == []


async def test_a_void_finds_a_charge_that_was_captured(provider: CardProvider) -> None:
    made = key()
    captured = (await charge(provider.client, made)).json()

    found = await provider.client.post(f"{API}/voids", json={"idempotencyKey": made})

    assert found.status_code == 200, found.text
    assert (found.json()["id"], found.json()["status"]) == (captured["id"], "captured")
    assert await provider.net() == AMOUNT


async def test_charges_outlive_a_restart_of_the_provider(settings: Settings) -> None:
    made = key()
    async with running_provider(settings) as before:
        captured = (await charge(before.client, made)).json()

    async with running_provider(settings) as after:
        replayed = await charge(after.client, made)
        refunded = await refund(after.client, captured["id"], f"refund:{uuid.uuid4()}")

        assert replayed.json()["id"] == captured["id"]
        assert refunded.json()["status"] == "succeeded"
        assert await after.net() == 0


async def test_a_test_card_is_shown_by_its_token_and_others_are_not_found(
    provider: CardProvider,
) -> None:
    known = await provider.client.get(f"{API}/test-cards/{CARD_REFUND_DECLINED}")
    unknown = await provider.client.get(f"{API}/test-cards/pm_nothing")

    assert known.json() == {"token": CARD_REFUND_DECLINED, "brand": "mastercard", "last4": "0341"}
    assert unknown.status_code == 404
