"""``oms up --seed demo``: a catalogue and a shopper to try the system with; and
the throwaway catalogues the benchmarks and the cluster's load create.

Seeding goes through the services' own HTTP APIs, as any client would.  The demo
is idempotent: a product or user that already exists (409) is left as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from rich.console import Console

from shared.auth import mint_token
from shared.settings import Settings
from shared.web.app import API_PREFIX

DEMO_EMAIL = "demo@oms.example.com"
DEMO_PASSWORD = "demo-password-123"
DEMO_PRODUCTS = (
    ("DEMO-KETTLE", "Stovetop kettle", "Stainless steel, 2 l, whistles when it boils.", 3499, 25),
    ("DEMO-TEAPOT", "Cast-iron teapot", "Enamelled inside, with a removable infuser.", 4999, 10),
    ("DEMO-MUG", "Enamel mug", "350 ml; survives campfires and dishwashers.", 1299, 100),
    ("DEMO-GRINDER", "Burr coffee grinder", "Conical burrs, 40 grind settings.", 8999, 5),
    ("DEMO-FILTER", "Pour-over filters (100)", "Unbleached paper, size 02.", 599, 0),
)


@dataclass(frozen=True)
class Seeded:
    products_created: int
    user_created: bool


async def seed_demo(settings: Settings, console: Console | None = None) -> Seeded:
    """Add the demo products (one sold out) and the demo user if they are missing."""
    ops = mint_token(settings.jwt_key, sub="oms-seed", roles=["ops"], ttl_seconds=300)
    async with httpx.AsyncClient(timeout=30) as http:
        # The shopper first: once the catalogue shows, the demo is ready to use.
        registered = await http.post(
            f"{settings.url_for('users')}{API_PREFIX}/users/register",
            json={
                "email": DEMO_EMAIL,
                "password": DEMO_PASSWORD,
                "firstName": "Demo",
                "lastName": "Shopper",
            },
        )
        if registered.status_code not in (201, 409):
            registered.raise_for_status()
        created = 0
        for sku, name, description, price, stock in DEMO_PRODUCTS:
            response = await http.post(
                f"{settings.url_for('inventory')}{API_PREFIX}/products",
                json={
                    "sku": sku,
                    "name": name,
                    "description": description,
                    "price": price,
                    "currency": "EUR",
                    "stock": stock,
                },
                headers={"Authorization": f"Bearer {ops}"},
            )
            if response.status_code not in (201, 409):
                response.raise_for_status()
            created += response.status_code == 201
    seeded = Seeded(products_created=created, user_created=registered.status_code == 201)
    if console is not None:
        console.print(
            f"demo data: {len(DEMO_PRODUCTS)} products ({created} new); "
            f"shopper {DEMO_EMAIL} / {DEMO_PASSWORD}"
        )
    return seeded


def expect_status(response: httpx.Response, status: int) -> None:
    """Raise, saying what was asked and answered, unless ``response`` has ``status``."""
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"expected {status}, got {response.status_code}: {response.text[:500]}"
        )


async def numbered_products(
    http: httpx.AsyncClient,
    inventory_url: str,
    secret: str,
    *,
    label: str,
    prices: Sequence[int],
    stock: int,
) -> list[str]:
    """Create one product a price, under SKUs no earlier run used (``LABEL-<run>-<n>``),
    as an ops user signed with ``secret``; their ids, in the order of ``prices``."""
    ops = {"Authorization": f"Bearer {mint_token(secret, sub=f'oms-{label}', roles=['ops'])}"}
    run = uuid.uuid4().hex[:8]
    ids = []
    for n, price in enumerate(prices):
        created = await http.post(
            f"{inventory_url}{API_PREFIX}/products",
            json={
                "sku": f"{label.upper()}-{run}-{n}",
                "name": f"{label.capitalize()} product {n}",
                "price": price,
                "currency": "EUR",
                "stock": stock,
            },
            headers=ops,
        )
        expect_status(created, 201)
        ids.append(created.json()["id"])
    return ids
