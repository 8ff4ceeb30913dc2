"""The inventory service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.inventory import handlers
from services.inventory.api import router
from shared.messaging.transport import Transport
from shared.service import Service
from shared.settings import Settings

DESCRIPTION = """\
The product catalogue, stock levels and per-order reservations.

Commands on `inventory.commands`: `inventory.reserve` (all items or none) and
`inventory.release`; answers (`inventory.*`) and catalogue changes
(`product.created`, `product.updated`) on the `products` exchange.  `GET /products`
pages with `limit`/`offset`.
"""


def build_app(settings: Settings, transport: Transport) -> FastAPI:
    service = Service(
        "inventory",
        settings,
        transport,
        migrations=Path(__file__).parent / "migrations",
        queue="inventory.commands",
    )
    assert service.endpoint is not None
    handlers.register(service.endpoint)
    return service.app(routers=[router], description=DESCRIPTION)
