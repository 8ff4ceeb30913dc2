"""Composition root of the card provider.

The provider stands for the card processor OMS's payments service charges
through.  It runs as a component of its own (``oms run card-provider``; ``oms up``
starts it before payments) with its own database, spoken to only over HTTP, so a
restart of payments, or of the provider, loses no charge: a refund of an order
paid before either restart finds its charge here.  It consumes no messages: the
transport it is handed is left alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from card_provider.api import router
from card_provider.cards import Cards
from card_provider.ledger import Ledger
from shared.messaging.transport import Transport
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.settings import CARD_PROVIDER, Settings
from shared.startup import StartupFailed
from shared.web.app import create_app

MIGRATIONS = Path(__file__).parent / "migrations"
DESCRIPTION = """A card provider in test mode: charges and refunds of tokenised test cards
(`pm_card_ok` charges, `pm_card_declined` declines, `pm_card_refund_declined` charges but
refuses refunds), each call under an `Idempotency-Key`, kept in its own database."""


def build_app(settings: Settings, transport: Transport | None = None) -> FastAPI:
    """The card provider's app; ``transport`` is ignored (the provider speaks HTTP only)."""
    db = Database.for_component(settings, CARD_PROVIDER)
    cards = Cards()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await upgrade(db, MIGRATIONS)
        except Exception as error:
            raise StartupFailed(CARD_PROVIDER, "migrate its database", db.where, error) from error
        try:
            yield
        finally:
            await db.dispose()

    app = create_app(
        CARD_PROVIDER,
        description=DESCRIPTION,
        lifespan=lifespan,
        ready_checks={"database": db.ping},
        routers=[router],
    )
    app.state.cards = cards
    app.state.ledger = Ledger(db, cards)
    app.state.settings = settings
    return app
