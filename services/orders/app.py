"""The orders service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.orders import handlers
from services.orders.api import router
from shared.messaging.transport import Transport
from shared.service import Service
from shared.settings import Settings

DESCRIPTION = """\
Orders, their items and their status history (`pending` → `confirmed` or
`cancelled`).

Placing an order publishes `order.created`; asking to cancel publishes
`order.cancel_requested`.  Placing honours an `Idempotency-Key` per user: a
repeat with the same key and body answers the first order again
(`Idempotent-Replayed: true`) and places none.  Commands on `orders.commands`: `order.confirm` and
`order.cancel`; answers on the `orders` exchange.
"""


def build_app(settings: Settings, transport: Transport) -> FastAPI:
    service = Service(
        "orders",
        settings,
        transport,
        migrations=Path(__file__).parent / "migrations",
        queue="orders.commands",
    )
    assert service.endpoint is not None
    handlers.register(service.endpoint)
    return service.app(routers=[router], description=DESCRIPTION)
