"""The whole system on either stack: the card provider, the four services, the saga
and both BFFs.

Used by every end-to-end test (BFF, saga); the ``system`` fixture lives in the
top-level conftest.

The services run in-process with their lifespans (migrations, relays, consumers)
and the BFFs reach them, as payments reaches the card provider, through
``httpx.ASGITransport``: every call crosses the real HTTP stack of both sides,
only without sockets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from bff_mobile.app import build_app as build_mobile
from bff_web.app import build_app as build_web
from saga.app import build_app as build_saga
from services.inventory.app import build_app as build_inventory
from services.orders.app import build_app as build_orders
from services.payments.app import build_app as build_payments
from services.users.app import build_app as build_users
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Transport
from shared.settings import Settings
from tests.support.infra import eventually
from tests.support.provider import CardProvider, running_provider
from tests.support.stack import Stack, serve

CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
"""Valid argon2id parameters that hash in microseconds, for tests only."""
PASSWORD = "correct horse battery"
ADDRESS = {
    "line1": "1 Analytical Row",
    "city": "London",
    "postalCode": "N1 9GU",
    "country": "GB",
}

SERVICE_FACTORIES: dict[str, Callable[[Settings, Transport], FastAPI]] = {
    "orders": build_orders,
    "inventory": build_inventory,
    "users": lambda settings, transport: build_users(settings, transport, hasher=CHEAP_HASHER),
    "payments": build_payments,
    "saga": build_saga,
}


@dataclass
class Shopper:
    user_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class System:
    stack: Stack
    web: httpx.AsyncClient
    mobile: httpx.AsyncClient
    services: dict[str, httpx.AsyncClient]
    apps: dict[str, FastAPI] = field(default_factory=dict)
    """Every component's app by name (``card-provider``, ``orders`` … ``saga``,
    ``bff-web``, ``bff-mobile``), e.g. to serve one on a real socket too."""
    provider: CardProvider | None = None
    """The card provider payments charges through."""

    async def add_product(
        self, *, price: int = 1999, stock: int = 10, currency: str = "EUR"
    ) -> dict[str, Any]:
        response = await self.services["inventory"].post(
            "/api/v1/products",
            json={
                "sku": f"SKU-{uuid.uuid4().hex[:12]}",
                "name": "Tea pot",
                "price": price,
                "currency": currency,
                "stock": stock,
            },
            headers=self.stack.ops(),
        )
        assert response.status_code == 201, response.text
        product: dict[str, Any] = response.json()
        return product

    async def shopper(self, name: str = "ada", last_name: str = "Lovelace") -> Shopper:
        """A new account, signed up through BFF-Web as ``name`` ``last_name``."""
        email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
        response = await self.web.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "firstName": name, "lastName": last_name},
        )
        assert response.status_code == 201, response.text
        session = response.json()
        assert session["email"] == email
        return Shopper(session["userId"], email, session["token"])

    async def owner_and_intruder(self) -> tuple[Shopper, Shopper]:
        """Two new accounts: one whose data it is, one trying to reach it."""
        return await self.shopper("owner"), await self.shopper("intruder")

    async def checkout(
        self,
        shopper: Shopper,
        items: list[tuple[str, int]],
        *,
        payment_method_id: str = "pm_card_ok",
        wait: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        return await self.web.post(
            "/api/v1/checkout",
            params={"wait": wait} if wait is not None else None,
            json={
                "items": [{"productId": p, "quantity": q} for p, q in items],
                "shippingAddress": ADDRESS,
                "paymentMethodId": payment_method_id,
            },
            headers={**shopper.auth, **(headers or {})},
        )

    def transports(self) -> dict[str, httpx.AsyncBaseTransport]:
        """The services and the saga reached in-process, e.g. for ``oms audit``."""
        return {name: httpx.ASGITransport(app=app) for name, app in self.apps.items()}

    async def order_status(self, shopper: Shopper, order_id: str) -> str:
        response = await self.services["orders"].get(
            f"/api/v1/orders/{order_id}", headers=shopper.auth
        )
        assert response.status_code == 200, response.text
        return str(response.json()["status"])

    async def settled(self, shopper: Shopper, order_id: str) -> str:
        """The order's status once the saga has decided it."""
        return await eventually(
            lambda: self.order_status(shopper, order_id),
            until=lambda s: s != "pending",
            what=f"order {order_id} to leave pending",
        )


@asynccontextmanager
async def running_system(stack: Stack, **overrides: Any) -> AsyncIterator[System]:
    """Every component on ``stack`` with ``overrides`` applied to the settings."""
    settings = stack.settings.model_copy(update=overrides)
    async with AsyncExitStack() as running:
        provider = await running.enter_async_context(running_provider(settings))
        apps: dict[str, FastAPI] = {"card-provider": provider.app}
        clients: dict[str, httpx.AsyncClient] = {}
        factories = {
            **SERVICE_FACTORIES,
            "payments": partial(build_payments, provider_transport=provider.transport()),
        }
        for name, build in factories.items():
            apps[name] = build(settings, stack.for_component(name))
            clients[name] = await running.enter_async_context(serve(apps[name]))
        # A service's unexpected error must reach the BFF as the 500 its
        # clients would see, not as an exception raised through the transport.
        wiring = {
            name: httpx.ASGITransport(app=app, raise_app_exceptions=False)
            for name, app in apps.items()
            if name in SERVICE_FACTORIES  # the BFFs never call the card provider
        }
        apps["bff-web"] = build_web(settings, stack.transport, http_transports=wiring)
        apps["bff-mobile"] = build_mobile(settings, stack.transport, http_transports=wiring)
        web = await running.enter_async_context(serve(apps["bff-web"]))
        mobile = await running.enter_async_context(serve(apps["bff-mobile"]))
        yield System(stack, web, mobile, clients, apps, provider)


PROBLEM_JSON = "application/problem+json"


def problem_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The RFC 9457 problem ``response`` carries, after checking its status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = response.json()
    return problem


def named_fields(problem: dict[str, Any]) -> set[str]:
    """Every field a problem names, in ``field`` or its ``errors``."""
    named = {e["field"] for e in problem.get("errors") or []}
    return named | ({problem["field"]} if "field" in problem else set())


def hand_made(
    exchange: str, type_: str, body: bytes, *, correlation_id: str | None = None
) -> Envelope:
    """A message as someone would publish it by hand: routed by its type, ``body``
    as given (well-formed or not)."""
    return Envelope(
        message_id=str(uuid.uuid4()),
        type=type_,
        correlation_id=correlation_id or str(uuid.uuid4()),
        app_id="qa",
        body=body,
        exchange=exchange,
        routing_key=type_,
    )
