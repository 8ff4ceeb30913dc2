"""The inventory service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.inventory import api, handlers
from shared.messaging.transport import Transport
from shared.service import domain_service_app
from shared.settings import Settings

DESCRIPTION = """\
The product catalogue, stock levels and per-order reservations.

Commands on `inventory.commands`: `inventory.reserve` (all items or none) and
`inventory.release`; answers (`inventory.*`) and catalogue changes
(`product.created`, `product.updated`) on the `products` exchange.  `GET /products`
pages with `limit`/`offset`.
"""


def build_app(settings: Settings, transport: Transport) -> FastAPI:
    return domain_service_app("inventory", settings, transport, api, DESCRIPTION, handlers.register)
