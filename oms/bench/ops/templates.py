"""Real sagas to copy: each kind run once through the saga component itself, on
the benchmark's database, before :mod:`oms.bench.ops.fill` copies its rows.

The saga is built as ``oms run saga`` builds it (its migrations, its runtime,
its outbox) on the in-process transport; the benchmark plays the participants,
answering each command the saga sends as a participant would:

* ``completed``: reserved, charged, confirmed;
* ``cancelled``: reserved, the charge declined, the stock released, the order
  cancelled;
* ``failed``: completed, then cancelled by its customer and the refund declined
  (no compensation retries): the saga waits for ops;
* ``waiting``: created, its stock reserve sent and not answered (copied as
  sagas within their deadline, and as stuck ones whose deadline passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI

from saga.app import build_app
from shared.messages import (
    InventoryReleased,
    InventoryReserved,
    Message,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderCreated,
    OrderItem,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefundFailed,
    PricedItem,
)
from shared.messaging.envelope import Envelope
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.settings import Settings

KINDS = ("completed", "cancelled", "failed", "waiting")
TEMPLATE_USER = "bench-template-user-0000"
"""The template sagas' customer, replaced by each copy's own (same length)."""
COMMANDS = QueueSpec("bench.commands", (Binding("commands", "#"),))
SETTLE_SECONDS = 120.0


def template_id(kind: str) -> str:
    """The template saga of ``kind``: an id as long as a copy's (a UUID's 36 characters)."""
    return f"tpl-{kind}".ljust(36, "0")


@dataclass
class Participants:
    """The commands the saga sent, by order id (the benchmark answers them)."""

    sent: dict[str, list[Envelope]] = field(default_factory=dict)

    async def __call__(self, envelope: Envelope) -> None:
        self.sent.setdefault(envelope.correlation_id, []).append(envelope)

    async def after(self, order_id: str, count: int) -> Envelope:
        """The ``count``-th command sent for ``order_id``, once it has been."""
        give_up = time.monotonic() + SETTLE_SECONDS
        while len(self.sent.get(order_id, [])) < count:
            if time.monotonic() > give_up:
                raise RuntimeError(f"the saga sent no command {count} for {order_id}")
            await asyncio.sleep(0.05)
        return self.sent[order_id][count - 1]


class Player:
    """Plays one template saga: each reply answers the saga's last command."""

    def __init__(self, transport: InProcessTransport, participants: Participants) -> None:
        self.transport = transport
        self.participants = participants

    async def send(self, message: Message, order_id: str, *, answering: int = 0) -> None:
        """Publish ``message``; with ``answering`` N, as the reply to the saga's N-th command."""
        causation = None
        if answering:
            causation = (await self.participants.after(order_id, answering)).message_id
        await self.transport.publish(
            Envelope.wrap(message, app_id="bench", correlation_id=order_id, causation_id=causation)
        )


def _created(order_id: str) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        user_id=TEMPLATE_USER,
        items=[
            OrderItem(product_id="prod-000101", quantity=2, unit_price=1250),
            OrderItem(product_id="prod-000207", quantity=1, unit_price=4990),
        ],
        total_amount=7490,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )


def _priced(order_id: str) -> InventoryReserved:
    return InventoryReserved(
        order_id=order_id,
        items=[
            PricedItem(product_id="prod-000101", quantity=2, unit_price=1250, currency="EUR"),
            PricedItem(product_id="prod-000207", quantity=1, unit_price=4990, currency="EUR"),
        ],
    )


async def _completed(play: Player, order_id: str) -> None:
    await play.send(_created(order_id), order_id)
    await play.send(_priced(order_id), order_id, answering=1)
    charged = PaymentCompleted(order_id=order_id, payment_id=f"pay-{order_id[:20]}", amount=7490)
    await play.send(charged, order_id, answering=2)
    await play.send(OrderConfirmed(order_id=order_id), order_id, answering=3)


async def _cancelled(play: Player, order_id: str) -> None:
    await play.send(_created(order_id), order_id)
    await play.send(_priced(order_id), order_id, answering=1)
    declined = PaymentFailed(
        order_id=order_id, amount=7490, reason="card declined", code="card_declined"
    )
    await play.send(declined, order_id, answering=2)
    await play.send(InventoryReleased(order_id=order_id), order_id, answering=3)
    await play.send(
        OrderCancelled(order_id=order_id, reason="payment declined"), order_id, answering=4
    )


async def _failed(play: Player, order_id: str) -> None:
    await _completed(play, order_id)
    await play.participants.after(order_id, 3)
    await play.send(OrderCancelRequested(order_id=order_id, requested_by=TEMPLATE_USER), order_id)
    refused = PaymentRefundFailed(
        order_id=order_id, amount=7490, reason="refund window closed", code="refund_refused"
    )
    await play.send(refused, order_id, answering=4)


async def _waiting(play: Player, order_id: str) -> None:
    await play.send(_created(order_id), order_id)
    await play.participants.after(order_id, 1)


PLAYS: dict[str, Callable[[Player, str], Awaitable[None]]] = {
    "completed": _completed,
    "cancelled": _cancelled,
    "failed": _failed,
    "waiting": _waiting,
}
RESTING = {"completed": "completed", "cancelled": "cancelled", "failed": "failed"}


@contextlib.asynccontextmanager
async def saga_component(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, Player, Settings]]:
    """The saga component on ``database_url`` and the in-process transport, its
    lifespan running (migrations applied); with a player for its participants and
    the settings it runs on (``overrides`` among them)."""
    settings = Settings(
        **overrides,
        database_url=database_url,
        jwt_secret="bench-secret-with-enough-bytes-for-hs256",
        saga_compensation_retries=0,
        saga_step_timeout_seconds=24 * 3600,
        # Housekeeping's first round only, at start: a day's backlog of compaction
        # would run beside the reads measured (it catches up in small rounds).
        saga_housekeeping_seconds=24 * 3600,
    )
    transport = InProcessTransport()
    await transport.connect()
    await transport.declare(standard_topology().with_queues(COMMANDS))
    participants = Participants()
    await transport.consume_envelopes(COMMANDS.name, participants)
    app = build_app(settings, transport)
    try:
        async with app.router.lifespan_context(app):
            yield app, Player(transport, participants), settings
    finally:
        await transport.close()


async def play_templates(app: FastAPI, player: Player, token: str) -> None:
    """Run one saga of each kind, and wait until each is stored where it rests."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench"
    ) as client:
        for kind in KINDS:
            order_id = template_id(kind)
            await PLAYS[kind](player, order_id)
            wanted = RESTING.get(kind, "reserving_inventory")
            give_up = time.monotonic() + SETTLE_SECONDS
            while True:
                answer = await client.get(
                    f"/api/v1/sagas/{order_id}", headers={"Authorization": f"Bearer {token}"}
                )
                if answer.status_code == 200 and answer.json()["state"] == wanted:
                    break
                if time.monotonic() > give_up:
                    raise RuntimeError(f"template {kind} never reached {wanted}: {answer.text}")
                await asyncio.sleep(0.05)
