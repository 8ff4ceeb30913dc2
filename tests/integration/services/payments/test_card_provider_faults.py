"""Payments and the card provider as separate processes see each other, on both stacks:
an answer that comes after payments' timeout, a provider that is down and comes back,
an answer lost after the provider captured, and both restarted between a charge and
its refund.  Money moves once, and only on an answer the provider gave.

The provider listens on a real socket (payments' timeouts are real), behind
:class:`Network`, which can hold an answer back or lose it on the way.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from oms.serving import serving
from services.payments.app import build_app
from shared.messages import PaymentCompleted, PaymentRefunded
from shared.messaging.envelope import HEADER_DEAD_LETTER_REASON, Envelope
from tests.integration.services.payments.conftest import AMOUNT, Payments, running_payments
from tests.support.harness import running
from tests.support.infra import eventually
from tests.support.provider import CardProvider, running_provider
from tests.support.stack import Stack

TIMEOUT = 0.5
"""Payments' deadline for one answer of the provider, in these tests."""
FAST_RETRIES = {
    "card_provider_timeout_seconds": TIMEOUT,
    "card_provider_attempts": 3,
    "card_provider_backoff_seconds": 0.05,
}


@dataclass
class Network:
    """The way between payments and the provider: every request is recorded; the
    answers of the first ``hold`` charges come ``delay`` seconds late (after the
    provider committed them), and with ``lose_charges`` every charge's answer is
    lost (the caller hears a 502 from a proxy instead)."""

    app: FastAPI
    hold: int = 0
    delay: float = 0.0
    lose_charges: bool = False
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def charges(self) -> list[str | None]:
        """The idempotency keys of every charge request that reached the provider."""
        return [
            key
            for method, path, key in self.requests
            if (method, path) == ("POST", "/api/v1/charges")
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        key = headers.get(b"idempotency-key")
        self.requests.append((scope["method"], scope["path"], key.decode() if key else None))
        is_charge = (scope["method"], scope["path"]) == ("POST", "/api/v1/charges")
        held: list[Message] = []

        async def keep(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, keep)
        if is_charge and self.lose_charges:
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": b"upstream answer lost"})
            return
        if is_charge and len(self.charges()) <= self.hold:
            await asyncio.sleep(self.delay)
        for message in held:
            await send(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def on_port(network: Network, port: int) -> AsyncIterator[str]:
    config = uvicorn.Config(
        network, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    async with serving(config) as url:
        yield url


def payments_at(stack: Stack, provider: CardProvider, url: str, **settings: Any) -> Any:
    """Payments reaching the provider over the network at ``url``."""
    return running(
        Payments,
        stack,
        build_app,
        "payments",
        extra={"provider": provider},
        card_provider_url=url,
        **{**FAST_RETRIES, **settings},
    )


async def dead_letters(stack: Stack) -> list[Envelope]:
    dead: list[Envelope] = []

    async def collect(envelope: Envelope) -> None:
        dead.append(envelope)

    await stack.transport.consume_envelopes("payments.commands.dlq", collect)
    return dead


def about(dead: list[Envelope], order_id: str) -> Callable[[], Any]:
    return lambda: asyncio.sleep(0, [d for d in dead if d.correlation_id == order_id])


async def test_a_charge_answered_after_payments_timeout_is_captured_once(
    stack: Stack, provider: CardProvider
) -> None:
    network = Network(provider.app, hold=1, delay=3 * TIMEOUT)
    order_id = str(uuid.uuid4())
    async with on_port(network, free_port()) as url, payments_at(stack, provider, url) as payments:
        await payments.charge(order_id)
        reply = await payments.reply(order_id)

        assert isinstance(reply, PaymentCompleted)
        # The first answer came too late; the retry, with the same key, was answered
        # with the charge the first request made.
        keys = network.charges()
        assert len(keys) >= 2
        assert set(keys) == {f"charge:{order_id}"}
        [charge] = await provider.charges()
        assert charge["amount"] == AMOUNT
        [row] = await payments.payments(order_id)
        assert (row["id"], row["status"]) == (reply.payment_id, "captured")
        assert await provider.net() == AMOUNT


async def test_a_charge_while_the_provider_is_down_is_dead_lettered_and_charged_once_it_is_back(
    stack: Stack, provider: CardProvider
) -> None:
    dead = await dead_letters(stack)
    port = free_port()
    order_id = str(uuid.uuid4())
    async with payments_at(stack, provider, f"http://127.0.0.1:{port}") as payments:
        await payments.charge(order_id)

        [letter] = await eventually(
            about(dead, order_id), timeout=30, what="the charge to be dead-lettered"
        )
        reason = letter.headers[HEADER_DEAD_LETTER_REASON]
        assert "ProviderUnavailable" in reason
        assert f"127.0.0.1:{port}" in reason
        assert payments.replies.about(order_id) == []
        assert await payments.payments(order_id) == []  # nothing guessed, nothing recorded

        async with on_port(Network(provider.app), port):
            await payments.charge(order_id)  # the saga's resend after its deadline
            reply = await payments.reply(order_id)

        assert isinstance(reply, PaymentCompleted)
        assert len(await provider.charges()) == 1
        assert (await payments.summary(order_id))["net"] == AMOUNT


async def test_a_charge_captured_whose_answer_was_lost_is_found_and_paid_back_by_the_refund(
    stack: Stack, provider: CardProvider
) -> None:
    dead = await dead_letters(stack)
    network = Network(provider.app, lose_charges=True)
    order_id = str(uuid.uuid4())
    async with on_port(network, free_port()) as url, payments_at(stack, provider, url) as payments:
        await payments.charge(order_id)
        await eventually(about(dead, order_id), timeout=30, what="the charge to be dead-lettered")
        # Every attempt of every delivery reached the provider with one key: one capture.
        assert len(network.charges()) > 1
        assert len(await provider.charges()) == 1
        assert await payments.payments(order_id) == []

        await payments.refund(order_id)  # the saga compensating the unanswered charge
        refunded = await payments.reply(order_id)

        assert isinstance(refunded, PaymentRefunded)
        assert refunded.amount == AMOUNT
        [row] = await payments.payments(order_id)
        assert (row["status"], row["amount"], row["refundedAmount"]) == ("refunded", AMOUNT, AMOUNT)
        assert (await payments.summary(order_id))["net"] == 0
        assert await provider.net() == 0


async def test_an_order_charged_before_payments_and_the_provider_restart_is_refunded(
    stack: Stack,
) -> None:
    order_id = str(uuid.uuid4())
    async with (
        running_provider(stack.settings) as provider,
        running_payments(stack, provider) as payments,
    ):
        await payments.charge(order_id)
        charged = await payments.reply(order_id)
        assert isinstance(charged, PaymentCompleted)
        before = payments

    # Both processes gone and back: nothing of the charge lived only in memory.
    async with (
        running_provider(stack.settings) as provider,
        running_payments(stack, provider) as payments,
    ):
        await payments.refund(order_id)
        refunded = await eventually(
            lambda: asyncio.sleep(
                0,
                [
                    e.decode()
                    for e in [*before.replies.about(order_id), *payments.replies.about(order_id)]
                    if e.type == "payment.refunded"
                ],
            ),
            what="the refund's answer",
        )

        assert refunded == [
            PaymentRefunded(order_id=order_id, payment_id=charged.payment_id, amount=AMOUNT)
        ]
        assert await provider.net() == 0
        assert (await payments.summary(order_id))["net"] == 0
