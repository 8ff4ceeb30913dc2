"""The card provider client: what it retries, with which key, and what it says when it
gives up, shown through an ``httpx.MockTransport`` standing in for the provider."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from services.payments.errors import ProviderUnavailable
from services.payments.gateway import GatewayResult
from services.payments.provider_client import CardProviderClient

URL = "http://provider.test"
CHARGED = {"id": "ch_1", "amount": 1999, "currency": "EUR", "status": "captured"}


def client(
    answer: Callable[[httpx.Request], httpx.Response], attempts: int = 3
) -> CardProviderClient:
    return CardProviderClient(
        URL, timeout=1.0, attempts=attempts, backoff=0.0, transport=httpx.MockTransport(answer)
    )


async def test_a_busy_provider_is_asked_again_with_the_same_key_until_it_answers() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ReadTimeout("no answer in time", request=request)
        if len(seen) == 2:
            return httpx.Response(503, json={"detail": "busy"})
        return httpx.Response(201, json=CHARGED)

    result = await client(answer).charge("pm_card_ok", 1999, "EUR", "charge:o-1")

    assert result == GatewayResult.approved("ch_1", 1999)
    assert [r.headers["Idempotency-Key"] for r in seen] == ["charge:o-1"] * 3
    assert {r.url.path for r in seen} == {"/api/v1/charges"}


async def test_a_provider_never_heard_raises_unavailable_naming_it_and_the_attempts() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["Idempotency-Key"])
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ProviderUnavailable, match=r"provider\.test unavailable after 2 attempts"):
        await client(answer, attempts=2).refund("ch_1", 1999, "refund:p-1:1")
    assert calls == ["refund:p-1:1", "refund:p-1:1"]


async def test_declines_and_refusals_are_answers_not_retried() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/refunds"):
            return httpx.Response(404, json={"detail": "no such charge"})
        return httpx.Response(
            201, json={**CHARGED, "status": "declined", "code": "card_declined", "reason": "no"}
        )

    gateway = client(answer)
    declined = await gateway.charge("pm_card_declined", 1999, "EUR", "charge:o-2")
    unknown = await gateway.refund("ch_9", 1999, "refund:p-2:1")

    assert declined == GatewayResult.refused("card_declined", "no")
    assert (unknown.ok, unknown.code) == (False, "unknown_charge")
    assert len(calls) == 2


async def test_a_test_card_is_asked_for_once_and_an_unknown_token_is_none() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.raw_path.decode())
        if request.url.path == "/api/v1/test-cards/pm_card_ok":
            return httpx.Response(
                200, json={"token": "pm_card_ok", "brand": "visa", "last4": "4242"}
            )
        return httpx.Response(404, json={"detail": "no such test card"})

    gateway = client(answer)
    first = await gateway.test_card("pm_card_ok")
    again = await gateway.test_card("pm_card_ok")
    odd = await gateway.test_card("a/b?c")

    assert first == again
    assert first is not None
    assert (first.brand, first.last4) == ("visa", "4242")
    assert odd is None
    assert calls == ["/api/v1/test-cards/pm_card_ok", "/api/v1/test-cards/a%2Fb%3Fc"]
