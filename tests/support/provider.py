"""The card provider in a test: its app running in-process, its ledger, its test cards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from card_provider.app import build_app
from card_provider.cards import Cards
from card_provider.ledger import CAPTURED, SUCCEEDED, Ledger
from card_provider.tables import CHARGES, REFUNDS
from shared.settings import Settings
from tests.support.stack import serve


class SeparateContextTransport(httpx.ASGITransport):
    """An app reached in-process as if it ran in a process of its own: each request
    runs in a task (a copy of the caller's context), so what the app binds for its
    request (correlation and message ids) never leaks back into the caller's."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await asyncio.create_task(super().handle_async_request(request))


@dataclass
class CardProvider:
    """A running card provider: reach it through :meth:`transport` or :attr:`client`."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def cards(self) -> Cards:
        cards: Cards = self.app.state.cards
        return cards

    @property
    def ledger(self) -> Ledger:
        ledger: Ledger = self.app.state.ledger
        return ledger

    def transport(self) -> httpx.AsyncBaseTransport:
        """The provider in-process, as payments' ``provider_transport``."""
        return SeparateContextTransport(app=self.app)

    async def _rows(self, table: Any, status: str) -> list[dict[str, Any]]:
        async with self.ledger.db.engine.connect() as conn:
            found = await conn.execute(select(table).where(table.c.status == status))
            return [dict(row) for row in found.mappings()]

    async def charges(self) -> list[dict[str, Any]]:
        """The charges the provider captured."""
        return await self._rows(CHARGES, CAPTURED)

    async def refunds(self) -> list[dict[str, Any]]:
        """The refunds the provider paid."""
        return await self._rows(REFUNDS, SUCCEEDED)

    async def net(self) -> int:
        """Money captured and not paid back, over every charge."""
        captured, refunded = await self.ledger.balance()
        return captured - refunded


@asynccontextmanager
async def running_provider(settings: Settings) -> AsyncIterator[CardProvider]:
    """The card provider on ``settings``' database, its lifespan running."""
    app = build_app(settings)
    async with serve(app) as client:
        yield CardProvider(app, client)
