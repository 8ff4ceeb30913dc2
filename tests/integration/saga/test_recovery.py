"""Sagas survive a killed saga process, and several saga processes share the work.

Everything runs as real processes on RabbitMQ and PostgreSQL: the four services
in one ``oms up --only …`` process and the saga in ``oms run saga`` processes.
The test drives them over HTTP only and ends with ``oms audit --strict``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from shared.auth import mint_token
from tests.support.infra import RabbitVhost, eventually
from tests.support.processes import ROOT, Process, ProcessStack, processes_fixture
from tests.support.stack import TEST_JWT_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq, pytest.mark.postgres]

API = "/api/v1"
OPS = {"Authorization": f"Bearer {mint_token(TEST_JWT_SECRET, sub='qa', roles=['ops'])}"}
PARTICIPANT_COMMANDS = {
    "inventory": ("inventory.reserve", "inventory.release"),
    "payments": ("payment.charge", "payment.refund"),
    "orders": ("order.confirm", "order.cancel"),
}
TERMINAL = {"completed", "cancelled", "failed"}
SHARED = 150
"""Sagas the three saga processes share: each command of each is duplicated, so
every process handles hundreds of deliveries (more gave no process more to prove)."""


processes = processes_fixture(ProcessStack)


class Shop:
    """Orders placed straight on the orders service, as a BFF would place them."""

    def __init__(self, stack: ProcessStack) -> None:
        self.stack = stack
        self.http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=16))

    async def product(self, *, price: int, stock: int) -> str:
        response = await self.http.post(
            f"{self.stack.url('inventory')}{API}/products",
            json={
                "sku": f"SKU-{uuid.uuid4().hex[:12]}",
                "name": "Kettle",
                "price": price,
                "currency": "EUR",
                "stock": stock,
            },
            headers=OPS,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def order(self, product_id: str, *, quantity: int, price: int, card: str) -> str:
        user = f"user-{uuid.uuid4().hex[:8]}"
        token = mint_token(TEST_JWT_SECRET, sub=user, roles=["customer"])
        response = await self.http.post(
            f"{self.stack.url('orders')}{API}/orders",
            json={
                "userId": user,
                "items": [{"productId": product_id, "quantity": quantity, "unitPrice": price}],
                "currency": "EUR",
                "paymentMethodId": card,
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def place(self, count: int, products: list[str], price: int) -> list[str]:
        """``count`` orders: mostly paid, every seventh declined, spread over ``products``."""
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> str:
            card = "pm_card_declined" if n % 7 == 0 else "pm_card_ok"
            async with gate:
                return await self.order(
                    products[n % len(products)], quantity=1, price=price, card=card
                )

        return list(await asyncio.gather(*(one(n) for n in range(count))))

    async def sagas(self) -> list[dict[str, Any]]:
        sagas: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            response = await self.http.get(
                f"{self.stack.url('saga')}{API}/sagas", params=params, headers=OPS
            )
            assert response.status_code == 200, response.text
            page = response.json()
            sagas.extend(page["items"])
            cursor = page["nextCursor"]
            if not cursor:
                return sagas

    async def states(self, order_ids: list[str]) -> Counter[str]:
        by_id = {s["id"]: s["state"] for s in await self.sagas()}
        return Counter(by_id.get(order_id, "missing") for order_id in order_ids)

    async def inject(self, service: str, message: str, mode: str, times: int) -> None:
        response = await self.http.post(
            f"{self.stack.url(service)}{API}/_faults",
            json={"message": message, "mode": mode, "times": times},
            headers=OPS,
        )
        assert response.status_code == 201, response.text

    async def aclose(self) -> None:
        await self.http.aclose()


def assert_audit_clean(stack: ProcessStack, sagas: int) -> None:
    """``oms audit --strict``, as an operator would run it, finds nothing wrong in
    ``sagas`` sagas."""
    result = subprocess.run(
        [sys.executable, "-m", "oms.cli", "audit", "--strict"],
        cwd=ROOT,
        env=stack.env(stack.offset),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "audit clean" in result.stdout
    assert f"{sagas} sagas" in result.stdout


def settled(states: Counter[str]) -> bool:
    return set(states) <= TERMINAL


async def all_end_completed_or_cancelled(shop: Shop, orders: list[str], *, within: float) -> None:
    """Every order's saga ends, none lost and none failed, some of each outcome."""
    final = await eventually(
        lambda: shop.states(orders),
        until=settled,
        timeout=within,
        interval=0.2,
        what="every saga to end",
    )
    assert final["missing"] == 0
    assert final["failed"] == 0, final
    assert final["completed"] > 0, final
    assert final["cancelled"] > 0, final


async def saga_event_acks(vhost: RabbitVhost) -> dict[str, int]:
    """Deliveries of ``saga.events`` acknowledged (after the handler's commit), per
    consuming connection, from the management API.  Only saga processes consume
    that queue, each with one consumer on its one connection."""

    def read() -> dict[str, int]:
        queue = vhost.api("GET", "/api/queues/{vhost}/saga.events")
        queue.raise_for_status()
        acks: dict[str, int] = {}
        for consumer in queue.json().get("consumer_details", []):
            channel = consumer["channel_details"]
            stats = vhost.api("GET", f"/api/channels/{quote(channel['name'], safe='')}")
            stats.raise_for_status()
            acks[channel["connection_name"]] = int(
                stats.json().get("message_stats", {}).get("ack", 0)
            )
        return acks

    return await asyncio.to_thread(read)


async def kill_mid_flight(shop: Shop, saga: Process, count: int) -> list[str]:
    """Place ``count`` orders and SIGKILL ``saga`` once the first sagas finish, while
    most are running; the orders."""
    # Enough stock for most orders but not all: some sagas cancel for stock.
    products = [await shop.product(price=1500, stock=count * 2 // 5) for _ in range(2)]
    orders = await shop.place(count, products, 1500)
    states = await eventually(
        lambda: shop.states(orders),
        until=lambda s: sum(s[t] for t in TERMINAL) >= 10,
        timeout=60,
        interval=0.1,
        what="the first sagas to finish",
    )
    saga.kill()
    assert not settled(states), f"nothing was in flight when the process died: {states}"
    return orders


@pytest.mark.timeout(300)
async def test_sagas_in_flight_finish_after_the_saga_process_is_killed(
    processes: ProcessStack,
) -> None:
    processes.start_services()
    saga = processes.start_saga()
    shop = Shop(processes)
    try:
        orders = await kill_mid_flight(shop, saga, 200)
        processes.start_saga()
        await all_end_completed_or_cancelled(shop, orders, within=120)
    finally:
        await shop.aclose()

    assert_audit_clean(processes, sagas=200)


@pytest.mark.timeout(300)
async def test_the_lower_priority_saga_process_finishes_what_the_killed_one_was_doing(
    processes: ProcessStack,
) -> None:
    processes.start_services()
    processes.start_saga(0, priority=1)  # the one the shop reads sagas from
    busy = processes.start_saga(1, priority=2)
    shop = Shop(processes)
    try:
        # Killed for good: the other, which took only the overflow, takes the rest,
        # the killed one's unacknowledged deliveries and deadlines included.
        orders = await kill_mid_flight(shop, busy, 100)
        await all_end_completed_or_cancelled(shop, orders, within=120)
    finally:
        await shop.aclose()

    assert_audit_clean(processes, sagas=100)


@pytest.mark.timeout(400)
async def test_three_saga_processes_share_150_sagas_with_every_command_duplicated(
    processes: ProcessStack, rabbit_vhost: RabbitVhost
) -> None:
    processes.start_services()
    # At one priority the broker hands saga.events to the three in turn, so each
    # saga's events land on different processes; at the priorities they draw, the
    # first would take them all until its prefetch window was full.
    for number in range(3):
        processes.start_saga(number, priority=0)
    shop = Shop(processes)
    try:
        for service, commands in PARTICIPANT_COMMANDS.items():
            for command in commands:
                await shop.inject(service, command, "duplicate", 1_000_000)
        # Enough stock for most orders but not all, as above.
        products = [await shop.product(price=900, stock=60) for _ in range(2)]
        orders = await shop.place(SHARED, products, 900)
        await all_end_completed_or_cancelled(shop, orders, within=240)
        stuck = await shop.http.get(
            f"{processes.url('saga')}{API}/sagas", params={"stuck": "true"}, headers=OPS
        )
        assert stuck.json()["items"] == []
        # Each of the three processes did its share (the statistics lag a few seconds).
        await eventually(
            lambda: saga_event_acks(rabbit_vhost),
            until=lambda acks: len(acks) == 3 and all(n > 0 for n in acks.values()),
            timeout=30,
            interval=0.5,
            what="each of the three saga processes to have handled saga events",
        )
    finally:
        await shop.aclose()

    assert_audit_clean(processes, sagas=SHARED)
