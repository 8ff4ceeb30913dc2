"""Orders keep their money right when payments or the card provider restart, crash or
go away, with every component its own process on RabbitMQ and PostgreSQL.

The card provider, payments and the saga each run alone (``oms run NAME``), the
other services together; the tests drive them over HTTP, restart or SIGKILL one,
and end with ``oms audit --strict`` and the provider's own balance.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from tests.integration.saga.test_recovery import OPS, TERMINAL, Shop, assert_audit_clean
from tests.support.infra import eventually
from tests.support.processes import Process, ProcessStack, processes_fixture

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq, pytest.mark.postgres]

API = "/api/v1"
PRICE = 1230
PROVIDER = "card-provider"
OTHER_SERVICES = ("orders", "inventory", "users")
REFUNDS = 20
"""Orders refunded at once when payments is killed: enough for several refunds to be
in payments' hands at the kill (each is held back 400 ms)."""


processes = processes_fixture(ProcessStack)


def start(processes: ProcessStack) -> tuple[Process, Process]:
    """The provider, the other services, payments and one saga: (provider, payments)."""
    provider = processes.start_component(PROVIDER)
    processes.start_services(OTHER_SERVICES)
    payments = processes.start_component("payments")
    processes.start_saga()
    return provider, payments


async def paid_orders(shop: Shop, count: int) -> list[str]:
    """``count`` orders of one product, each charged and confirmed."""
    product = await shop.product(price=PRICE, stock=count)
    gate = asyncio.Semaphore(16)

    async def one() -> str:
        async with gate:
            return await shop.order(product, quantity=1, price=PRICE, card="pm_card_ok")

    orders = list(await asyncio.gather(*(one() for _ in range(count))))
    await end_as(shop, orders, "completed", within=120)
    return orders


async def end_as(shop: Shop, orders: list[str], state: str, *, within: float) -> None:
    final = await eventually(
        lambda: shop.states(orders),
        until=lambda states: sum(states[t] for t in TERMINAL) == len(orders),
        timeout=within,
        interval=0.2,
        what=f"every saga to end {state}",
    )
    assert final == Counter({state: len(orders)}), final


async def cancel(shop: Shop, orders: list[str]) -> None:
    """Cancel confirmed orders (as ops), all at once: the saga refunds each."""

    async def one(order_id: str) -> None:
        response = await shop.http.post(
            f"{shop.stack.url('orders')}{API}/orders/{order_id}/cancel", headers=OPS
        )
        assert response.status_code == 202, response.text

    await asyncio.gather(*(one(order_id) for order_id in orders))


async def all_refunded(shop: Shop, orders: list[str], *, within: float) -> None:
    """Every order cancelled, and the provider paid back all it captured for them."""
    # A cancel is taken when its saga leaves ``completed`` (a terminal state too):
    # until then the sagas would look ended already.
    await eventually(
        lambda: shop.states(orders),
        until=lambda states: states["completed"] == 0,
        timeout=within,
        interval=0.2,
        what="the saga to take every cancel",
    )
    await end_as(shop, orders, "cancelled", within=within)
    total = len(orders) * PRICE
    assert await provider_balance(shop) == {"captured": total, "refunded": total, "net": 0}


async def provider_balance(shop: Shop) -> dict[str, Any]:
    response = await shop.http.get(f"{shop.stack.url(PROVIDER)}{API}/balance")
    assert response.status_code == 200, response.text
    balance: dict[str, Any] = response.json()
    return balance


@pytest.mark.timeout(400)
async def test_orders_paid_before_payments_and_the_provider_restart_are_refunded(
    processes: ProcessStack,
) -> None:
    provider, payments = start(processes)
    shop = Shop(processes)
    try:
        orders = await paid_orders(shop, 5)

        for process, name in ((payments, "payments"), (provider, PROVIDER)):
            process.stop()  # SIGTERM: a graceful restart, memory gone
            processes.restart(process, processes.url(name))
        await cancel(shop, orders)

        await all_refunded(shop, orders, within=120)
    finally:
        await shop.aclose()
    assert_audit_clean(processes, 5)


@pytest.mark.timeout(500)
async def test_twenty_refunds_in_flight_when_payments_is_killed_all_end_refunded(
    processes: ProcessStack,
) -> None:
    _, payments = start(processes)
    shop = Shop(processes)
    try:
        orders = await paid_orders(shop, REFUNDS)
        # Refunds held back a moment each, so that many are in payments' hands at once.
        response = await shop.http.post(
            f"{processes.url('payments')}{API}/_faults",
            json={"message": "payment.refund", "mode": "delay", "times": 1000, "delayMs": 400},
            headers=OPS,
        )
        assert response.status_code == 201, response.text
        await cancel(shop, orders)
        in_flight = await eventually(
            lambda: shop.states(orders),
            until=lambda states: states["refunding_payment"] >= REFUNDS // 3,
            timeout=60,
            interval=0.1,
            what="refunds in flight",
        )

        payments.kill()  # SIGKILL mid-refund: no draining, the fault rules gone with it
        processes.restart(payments, processes.url("payments"))

        assert in_flight["cancelled"] < len(orders), in_flight
        await all_refunded(shop, orders, within=240)
    finally:
        await shop.aclose()
    assert_audit_clean(processes, REFUNDS)


@pytest.mark.timeout(400)
async def test_an_order_placed_while_the_provider_is_down_is_charged_once_when_it_is_back(
    processes: ProcessStack,
) -> None:
    # The saga resends the charge every 5 s for 100 s: longer than the provider takes
    # to come back on a busy machine, so the order is charged, not compensated.
    processes.base_env["OMS_SAGA_STEP_TIMEOUT_SECONDS"] = "5"
    processes.base_env["OMS_SAGA_STEP_RETRIES"] = "20"
    provider, _ = start(processes)
    shop = Shop(processes)
    try:
        product = await shop.product(price=PRICE, stock=1)
        provider.stop()
        order_id = await shop.order(product, quantity=1, price=PRICE, card="pm_card_ok")
        # The charge got no answer: the saga resends it past its deadline.
        await eventually(
            lambda: shop.http.get(
                f"{processes.url('saga')}{API}/sagas",
                params={"stuck": "true", "orderId": order_id},
                headers=OPS,
            ),
            until=lambda response: len(response.json()["items"]) == 1,
            timeout=60,
            interval=0.2,
            what="the saga to resend the charge",
        )

        processes.restart(provider, processes.url(PROVIDER))

        await end_as(shop, [order_id], "completed", within=120)
        assert await provider_balance(shop) == {"captured": PRICE, "refunded": 0, "net": PRICE}
    finally:
        await shop.aclose()
    assert_audit_clean(processes, 1)
