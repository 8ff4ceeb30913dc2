"""The orders service's composition root."""

from __future__ import annotations

from fastapi import FastAPI

from services.orders import api, handlers
from shared.messaging.transport import Transport
from shared.service import domain_service_app
from shared.settings import Settings

DESCRIPTION = """\
Orders, their items, their status history and their shipments (`pending` →
`confirmed`, paid for and waiting for the warehouse → `shipped` → `delivered`, or
`cancelled`).

Placing an order publishes `order.created`; asking to cancel publishes
`order.cancel_requested` (refused once the order shipped: it is returned
instead).  A warehouse (the `fulfilment` role) or ops marks a confirmed order
shipped (`order.shipped`, refused once a cancel was accepted) and then delivered
(`order.delivered`).  Placing honours an `Idempotency-Key` per user: a
repeat with the same key and body answers the first order again
(`Idempotent-Replayed: true`) and places none.  Commands on `orders.commands`: `order.confirm` and
`order.cancel`; answers on the `orders` exchange.
"""


def build_app(settings: Settings, transport: Transport) -> FastAPI:
    return domain_service_app("orders", settings, transport, api, DESCRIPTION, handlers.register)
