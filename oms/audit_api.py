"""How ``oms audit`` reads the services: their own HTTP APIs with an ops token."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    wait_exponential,
)

from shared.auth import mint_token
from shared.settings import Settings
from shared.web.app import API_PREFIX


class AuditError(Exception):
    """A service answered an error or could not be reached; the message names it."""


UNAVAILABLE = frozenset({502, 503, 504})
"""Answers a replica or its balancer gives while a node is lost: asked again."""
ATTEMPTS = 6


class AuditApi:
    """The services' APIs as the audit reads them: with an ops token, at most 16
    requests at a time, a passing unavailability asked again."""

    def __init__(
        self,
        settings: Settings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None,
    ) -> None:
        token = mint_token(settings.jwt_key, sub="oms-audit", roles=["ops"], ttl_seconds=900)
        headers = {"Authorization": f"Bearer {token}"}
        self.clients = {
            name: httpx.AsyncClient(
                base_url=f"{settings.url_for(name)}{API_PREFIX}",
                headers=headers,
                timeout=30,
                transport=(transports or {}).get(name),
            )
            for name in ("orders", "inventory", "payments", "saga")
        }
        self.gate = asyncio.Semaphore(16)

    async def _fetch(self, client: httpx.AsyncClient, path: str, params: Any) -> httpx.Response:
        async with self.gate:
            return await client.get(path, params=params)

    async def get(self, service: str, path: str, **params: Any) -> Any:
        client = self.clients[service]
        # A replica that lost its database, or was just killed, answers 503 or nothing
        # for a moment behind a balancer that has not noticed yet: asked again, a
        # few times, before the audit gives up; the last answer (or error) stands.
        fetch = AsyncRetrying(
            retry=retry_if_exception_type(httpx.TransportError)
            | retry_if_result(lambda r: r.status_code in UNAVAILABLE),
            wait=wait_exponential(multiplier=0.2, max=2),
            stop=stop_after_attempt(ATTEMPTS),
            retry_error_callback=last_outcome,
        )
        try:
            response: httpx.Response = await fetch(self._fetch, client, path, params or None)
        except httpx.HTTPError as exc:
            raise AuditError(
                f"{service} at {client.base_url} could not be reached: {exc!r}"
            ) from exc
        if response.status_code == 404:
            return None
        if response.is_error:
            raise AuditError(
                f"{service} answered {response.status_code} to GET {response.url.path}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise AuditError(f"{service} answered GET {response.url.path} with no JSON") from exc

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def last_outcome(state: RetryCallState) -> Any:
    """What the last attempt gave: its answer, or its error raised again."""
    assert state.outcome is not None
    return state.outcome.result()
