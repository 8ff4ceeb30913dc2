"""Composition root of the payments service."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.payments import handlers
from services.payments.api import PROBLEMS, router
from services.payments.gateway import CardGateway, SimulatedGateway
from shared.messaging.transport import Transport
from shared.service import domain_service_app
from shared.settings import Settings

DESCRIPTION = """Saved payment methods, payments and refunds, charged through a card gateway
(simulated: `pm_card_ok` charges, `pm_card_declined` declines, `pm_card_refund_declined`
charges but refuses refunds).  Handles `payment.charge` and `payment.refund` from
the `payments.commands` queue, idempotently per order."""


def build_app(
    settings: Settings, transport: Transport, *, gateway: CardGateway | None = None
) -> FastAPI:
    """The payments app; ``gateway`` replaces the simulated card gateway."""
    card_gateway = gateway if gateway is not None else SimulatedGateway()
    app = domain_service_app(
        "payments",
        settings,
        transport,
        home=Path(__file__).parent,
        router=router,
        description=DESCRIPTION,
        problems=PROBLEMS,
        handlers=partial(handlers.register, gateway=card_gateway),
    )
    app.state.gateway = card_gateway
    return app
