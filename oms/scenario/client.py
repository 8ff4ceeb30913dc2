"""The running system as a scenario sees it: the components' HTTP APIs, at the URLs
of the usual settings (or through given transports, in tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from oms.components import COMPONENTS
from shared.auth import mint_token
from shared.settings import Settings
from shared.web.app import API_PREFIX

TIMING_FIELDS = {
    "step_timeout_seconds": "stepTimeoutSeconds",
    "step_retries": "stepRetries",
    "compensation_retries": "compensationRetries",
    "compensation_backoff_seconds": "compensationBackoffSeconds",
    "return_receipt_timeout_seconds": "returnReceiptTimeoutSeconds",
}
"""A scenario's ``setup.saga`` fields, and the saga's ``GET /sagas/timing`` names for them."""


def _configured(settings: Settings, name: str) -> float:
    """What ``settings`` say of one timing field (``OMS_SAGA_*``, the receipt's in days)."""
    if name == "return_receipt_timeout_seconds":
        return settings.return_receipt_days * 86_400
    value: float = getattr(settings, f"saga_{name}")
    return value


def timing_of(settings: Settings, running: Mapping[str, float] | None) -> dict[str, float]:
    """The saga timing: the running system's (``running``, from :meth:`SystemApi.timing`)
    where it told, else what ``settings`` say (``OMS_SAGA_*``, ``OMS_RETURN_RECEIPT_DAYS``)."""
    told = running or {}
    return {name: told.get(name, _configured(settings, name)) for name in TIMING_FIELDS}


@dataclass(frozen=True)
class Request:
    """A request as a step sent it, kept to be sent again exactly (``repeat``)."""

    component: str
    method: str
    path: str
    body: Any
    params: dict[str, Any] | None
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: Any
    """The JSON, or the text when it is not JSON."""

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return cls(response.status_code, response.headers, body)


class SystemApi:
    """One HTTP client per component; ops calls carry a token minted for ``oms-scenario``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        timeout: float = 30,
    ) -> None:
        self.settings = settings
        self.transports = dict(transports or {})
        self._ops = mint_token(
            settings.jwt_key, sub="oms-scenario", roles=["ops"], ttl_seconds=3600
        )
        self._warehouse = mint_token(
            settings.jwt_key, sub="oms-scenario-warehouse", roles=["fulfilment"], ttl_seconds=3600
        )
        self.clients = {
            name: httpx.AsyncClient(
                base_url=settings.url_for(name),
                timeout=timeout,
                transport=self.transports.get(name),
            )
            for name in COMPONENTS
        }

    @property
    def ops(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._ops}"}

    @property
    def warehouse(self) -> dict[str, str]:
        """A warehouse's bearer header (the ``fulfilment`` role): it ships and delivers."""
        return {"Authorization": f"Bearer {self._warehouse}"}

    def customer(self, user_id: str) -> dict[str, str]:
        """A customer's bearer header, as the users service would issue it at login."""
        token = mint_token(self.settings.jwt_key, sub=user_id, roles=["customer"], ttl_seconds=3600)
        return {"Authorization": f"Bearer {token}"}

    def ops_link(self, saga_id: str) -> str:
        return f"{self.settings.url_for('saga')}/ops (oms saga show {saga_id})"

    async def request(
        self,
        component: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        return await self.clients[component].request(
            method, f"{API_PREFIX}{path}", json=json, params=params, headers=headers
        )

    async def send(self, request: Request) -> Answer:
        response = await self.request(
            request.component,
            request.method,
            request.path,
            json=request.body,
            params=request.params,
            headers=request.headers,
        )
        return Answer.of(response)

    async def _json(self, component: str, path: str, **params: Any) -> Any:
        """GET as ops; None on 404."""
        response = await self.request(
            component, "GET", path, params=params or None, headers=self.ops
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    async def saga(self, order_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._json("saga", f"/sagas/{quote(order_id)}")
        return found

    async def order(self, order_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._json("orders", f"/orders/{quote(order_id)}")
        return found

    async def order_return(self, return_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._json("orders", f"/returns/{quote(return_id)}")
        return found

    async def order_returns(self, order_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._json(
            "orders", f"/orders/{quote(order_id)}/returns"
        )
        return found or []

    async def product(self, product_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._json(
            "inventory", f"/products/{quote(product_id)}"
        )
        return found

    async def money(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._json("payments", "/payments/summary", orderId=order_id)
        return found

    async def payments(self, order_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._json("payments", "/payments", orderId=order_id)
        return found

    async def dead_letters(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self._json("saga", "/dead-letters", limit=500)
        return found

    async def inject(self, service: str, rule: Mapping[str, Any]) -> httpx.Response:
        return await self.request(service, "POST", "/_faults", json=dict(rule), headers=self.ops)

    async def clear_faults(self, service: str) -> httpx.Response:
        return await self.request(service, "DELETE", "/_faults", headers=self.ops)

    async def faults_enabled(self) -> bool | None:
        """Whether the running system takes fault rules (its services mount ``/_faults``
        only then), asked of the payments service; ``None`` when it cannot tell."""
        try:
            response = await self.request("payments", "GET", "/_faults", headers=self.ops)
        except httpx.TransportError:
            return None
        if response.status_code in (200, 404):
            return response.status_code == 200
        return None

    async def timing(self) -> dict[str, float] | None:
        """The timing the running saga process uses (``GET /sagas/timing``), keyed as a
        scenario's ``setup.saga`` (``step_retries`` …); ``None`` when it cannot tell."""
        try:
            found = await self._json("saga", "/sagas/timing")
        except (httpx.TransportError, httpx.HTTPStatusError):
            return None
        if not isinstance(found, dict):
            return None
        return {
            name: found[camel]
            for name, camel in TIMING_FIELDS.items()
            if found.get(camel) is not None
        }

    async def ready(self, component: str) -> bool:
        try:
            response = await self.clients[component].get("/health/ready", timeout=2)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def __aenter__(self) -> SystemApi:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
