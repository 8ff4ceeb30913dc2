"""Composition root of the payments service."""

from __future__ import annotations

from functools import partial

import httpx
from fastapi import FastAPI

from services.payments import api, handlers
from services.payments.gateway import CardGateway
from services.payments.provider_client import CardProviderClient
from shared.messaging.transport import Transport
from shared.service import domain_service_app
from shared.settings import CARD_PROVIDER, Settings

DESCRIPTION = """Saved payment methods, payments and refunds, charged through the card
provider (`oms run card-provider`; in test mode `pm_card_ok` charges, `pm_card_declined`
declines, `pm_card_refund_declined` charges but refuses refunds).  Handles
`payment.charge` and `payment.refund` from the `payments.commands` queue, idempotently
per order."""


def build_app(
    settings: Settings,
    transport: Transport,
    *,
    gateway: CardGateway | None = None,
    provider_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The payments app, charging through the card provider at
    ``OMS_CARD_PROVIDER_URL`` (reached through ``provider_transport`` when given,
    e.g. in-process), or through ``gateway``."""
    card_gateway = gateway or CardProviderClient(
        settings.url_for(CARD_PROVIDER),
        timeout=settings.card_provider_timeout_seconds,
        attempts=settings.card_provider_attempts,
        backoff=settings.card_provider_backoff_seconds,
        transport=provider_transport,
    )
    register = partial(handlers.register, gateway=card_gateway)
    app = domain_service_app("payments", settings, transport, api, DESCRIPTION, register)
    app.state.service.on_stop.append(card_gateway.aclose)
    app.state.gateway = card_gateway
    return app
