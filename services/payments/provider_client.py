"""The card provider over HTTP: timeouts, retries, and one idempotency key per call.

Every call has a deadline (``OMS_CARD_PROVIDER_TIMEOUT_SECONDS``) and is made up to
``OMS_CARD_PROVIDER_ATTEMPTS`` times, waiting ``OMS_CARD_PROVIDER_BACKOFF_SECONDS``
(doubled, with jitter) in between, while the provider cannot be reached, does not
answer in time, or answers 5xx or 429.  A retried charge or refund carries the
same ``Idempotency-Key``: a charge that timed out but happened is found by its
key and answered as the first time, never made twice.

When no attempt is heard, :class:`ProviderUnavailable` is raised and the payments
handler records nothing (see :mod:`services.payments.handlers` for what follows).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from services.payments.errors import ProviderUnavailable
from services.payments.gateway import Card, GatewayResult
from shared.logging import get_logger
from shared.web.idempotency import IDEMPOTENCY_HEADER

log = get_logger(__name__)

API = "/api/v1"
RETRIED_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _Busy(Exception):
    """The provider answered, but with a status worth asking again."""


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.warning("card_provider.retry", attempt=state.attempt_number, error=repr(error))


def _result(body: dict[str, Any], approved: str) -> GatewayResult:
    if body.get("status") == approved:
        return GatewayResult.approved(str(body["id"]), int(body["amount"]))
    return GatewayResult.refused(
        str(body.get("code") or "declined"), str(body.get("reason") or "declined")
    )


class CardProviderClient:
    """A :class:`~services.payments.gateway.CardGateway` speaking to the card provider."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        attempts: int,
        backoff: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._attempts = attempts
        self._backoff = backoff
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + API, timeout=timeout, transport=transport
        )
        self._cards: dict[str, Card] = {}
        """Test cards already asked for: a token's brand and digits never change, so
        a charge costs one call to the provider, not two."""

    async def _call(
        self, method: str, path: str, *, key: str | None = None, json: Any = None
    ) -> httpx.Response:
        """The provider's answer (any status but those worth retrying), asking up to
        ``attempts`` times with the same ``key``."""
        headers = {IDEMPOTENCY_HEADER: key} if key is not None else {}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential_jitter(multiplier=self._backoff, jitter=self._backoff),
            retry=retry_if_exception_type((httpx.TransportError, _Busy)),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._http.request(method, path, headers=headers, json=json)
                    if response.status_code in RETRIED_STATUSES:
                        raise _Busy(f"{method} {path} answered {response.status_code}")
                    return response
        except (httpx.TransportError, _Busy) as error:
            raise ProviderUnavailable(
                f"card provider at {self.base_url} unavailable after {self._attempts} "
                f"attempts: {type(error).__name__}: {error}"
            ) from error
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    @staticmethod
    def _json(response: httpx.Response, *expected: int) -> dict[str, Any]:
        if response.status_code not in expected:
            raise ProviderUnavailable(
                f"card provider answered {response.status_code}: {response.text[:200]}"
            )
        body: dict[str, Any] = response.json()
        return body

    async def charge(
        self, token: str, amount: int, currency: str, idempotency_key: str
    ) -> GatewayResult:
        response = await self._call(
            "POST",
            "/charges",
            key=idempotency_key,
            json={"token": token, "amount": amount, "currency": currency},
        )
        if response.status_code == 422:
            # Never charged: the provider refused the request itself (a token or a
            # currency it cannot take); asking again would get the same.
            return GatewayResult.refused("invalid_request", response.text[:400])
        return _result(self._json(response, 201), "captured")

    async def refund(self, charge_ref: str, amount: int, idempotency_key: str) -> GatewayResult:
        response = await self._call(
            "POST", f"/charges/{charge_ref}/refunds", key=idempotency_key, json={"amount": amount}
        )
        if response.status_code == 404:
            return GatewayResult.refused("unknown_charge", "the provider has no such charge")
        if response.status_code == 422:
            return GatewayResult.refused("invalid_request", response.text[:400])
        return _result(self._json(response, 201), "succeeded")

    async def void(self, charge_key: str) -> GatewayResult:
        response = await self._call("POST", "/voids", json={"idempotencyKey": charge_key})
        return _result(self._json(response, 200), "captured")

    async def test_card(self, token: str) -> Card | None:
        if token in self._cards:
            return self._cards[token]
        response = await self._call("GET", f"/test-cards/{quote(token, safe='')}")
        if response.status_code in (404, 422):
            return None
        body = self._json(response, 200)
        card = self._cards[token] = Card(brand=str(body["brand"]), last4=str(body["last4"]))
        return card

    async def aclose(self) -> None:
        await self._http.aclose()
