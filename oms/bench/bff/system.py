"""The system ``oms bench bff`` measures: the four services, the saga and BFF-Web in
processes of their own on free ports, and what it seeds through the public APIs."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from oms.bench.processes import Fleet, fleet, free_port_offset
from oms.seed import expect_status, numbered_products
from shared.settings import CARD_PROVIDER, PORTS, SERVICES, Settings
from shared.web.app import API_PREFIX

BFF_COMPONENTS = (CARD_PROVIDER, *SERVICES, "bff-web")
STARTED_HERE = (*SERVICES, CARD_PROVIDER.replace("-", "_"))
"""Their ``OMS_<NAME>_URL`` names: overrides pointing elsewhere are dropped."""
"""What ``oms bench bff`` runs: the four services, the saga and BFF-Web."""
SEED_ORDERS = 3
SEED_PRODUCTS = 3


@dataclass(frozen=True)
class Seeded:
    user_id: str
    token: str
    order_ids: list[str]
    product_ids: list[str]


def bench_settings(settings: Settings, scratch: Path) -> Settings:
    """``settings`` for the components a run starts on free ports, with data in ``scratch``."""
    offset = free_port_offset(settings.host, (PORTS[c] for c in BFF_COMPONENTS))
    # The components this run starts, and nothing a URL override points elsewhere.
    return settings.model_copy(
        update={
            "port_offset": offset,
            "data_dir": scratch / "data",
            **{f"{name}_url": None for name in STARTED_HERE},
        }
    )


def mode_of(settings: Settings) -> str:
    return "embedded" if settings.embedded else "rabbitmq+postgresql"


@contextlib.asynccontextmanager
async def running(
    settings: Settings, logs: Path, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[Fleet]:
    """The components in processes of their own, ready to serve; stopped as Ctrl-C stops them.

    Embedded, they share one process (``oms up --only …``): the in-process
    broker reaches no further.  On RabbitMQ and PostgreSQL each runs alone
    (``oms run NAME``), as they are deployed.  Either way the load generator
    does not share an event loop with the servers it measures.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not (
            key.startswith("OMS_") and key.endswith("_URL") and key[4:-4].lower() in STARTED_HERE
        )
    }
    env.update(
        OMS_PORT_OFFSET=str(settings.port_offset),
        OMS_DATA_DIR=str(settings.data_dir),
        OMS_LOG_LEVEL="WARNING",
        OMS_LOG_FORMAT="json",
    )
    env.update(extra_env or {})
    if settings.embedded:
        commands = {"all": ["up", *(arg for name in BFF_COMPONENTS for arg in ("--only", name))]}
    else:
        commands = {name: ["run", name] for name in BFF_COMPONENTS}
    async with fleet(logs) as started:
        for name, command in commands.items():
            await started.start(name, ["-m", "oms.cli", *command], env)
        await started.until_ready({name: settings.url_for(name) for name in BFF_COMPONENTS})
        yield started


# --- seeding ------------------------------------------------------------------------


async def seed(settings: Settings) -> Seeded:
    """A shopper, products and confirmed orders, through the public APIs."""
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=60) as http:
        product_ids = await numbered_products(
            http,
            settings.url_for("inventory"),
            settings.jwt_key,
            label="bench",
            prices=[1000 + n for n in range(SEED_PRODUCTS)],
            stock=1_000,
        )
        web = settings.url_for("bff-web")
        session = await http.post(
            f"{web}{API_PREFIX}/auth/register",
            json={"email": f"bench-{run}@example.com", "password": f"bench-{run}-password"},
        )
        expect_status(session, 201)
        user_id, token = session.json()["userId"], session.json()["token"]
        order_ids = []
        for _ in range(SEED_ORDERS):
            placed = await http.post(
                f"{web}{API_PREFIX}/checkout",
                params={"wait": 30},
                json={
                    "items": [{"productId": p, "quantity": 1} for p in product_ids],
                    "shippingAddress": {
                        "line1": "1 Bench Street",
                        "city": "Berlin",
                        "postalCode": "10115",
                        "country": "DE",
                    },
                    "paymentMethodId": "pm_card_ok",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            expect_status(placed, 200)
            if placed.json()["status"] != "confirmed":
                raise RuntimeError(f"a seeded order did not confirm: {placed.json()}")
            order_ids.append(placed.json()["orderId"])
    return Seeded(user_id, token, order_ids, product_ids)
