"""The saga runtime on both stacks, with participants played by the test: every
command the saga sends is observed on the broker and answered by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from saga.app import build_app
from saga.models import ParkedMessageRow, SagaRow
from shared.messages import (
    ChargePayment,
    ConfirmOrder,
    InventoryReserved,
    Message,
    OrderConfirmed,
    OrderCreated,
    OrderItem,
    PaymentCompleted,
    PricedItem,
    ReserveInventory,
    model_for,
)
from shared.messaging.envelope import Envelope
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.persistence.database import Database
from tests.support.infra import eventually
from tests.support.stack import Stack, serve

COMMANDS = QueueSpec("test.commands", (Binding("commands", "#"),))


class Participants:
    """Collects the saga's commands; answers them when told to."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.commands: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.commands.append(envelope)

    def sent(self, order_id: str) -> list[str]:
        return [c.type for c in self.commands if c.correlation_id == order_id]

    async def wait_for(self, order_id: str, *types: str) -> None:
        await eventually(
            lambda: asyncio.sleep(0, self.sent(order_id)),
            until=lambda sent: sent[: len(types)] == list(types),
            what=f"commands {types}",
        )

    async def reply(self, message: Message, order_id: str) -> Envelope:
        envelope = Envelope.wrap(message, app_id="participant", correlation_id=order_id)
        await self.stack.transport.publish(envelope)
        return envelope


@contextlib.asynccontextmanager
async def running_saga(
    stack: Stack, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Participants]]:
    """The saga component on ``stack`` with ``settings`` overriding the stack's."""
    await stack.transport.declare(standard_topology().with_queues(COMMANDS))
    participants = Participants(stack)
    await stack.transport.consume_envelopes(COMMANDS.name, participants)
    app = build_app(stack.settings.model_copy(update=settings), stack.transport)
    async with serve(app) as client:
        yield client, participants


@pytest.fixture
async def saga(stack: Stack) -> AsyncIterator[tuple[httpx.AsyncClient, Participants]]:
    async with running_saga(stack) as running:
        yield running


async def parked_ids(db: Database, order_id: str) -> list[str]:
    """Ids of the messages parked for ``order_id``'s saga, which does not exist yet."""
    async with db.sessions() as session:
        rows = await session.exec(
            select(ParkedMessageRow.message_id).where(ParkedMessageRow.saga_id == order_id)
        )
        return list(rows.all())


def created(order_id: str, total: int = 2000) -> OrderCreated:
    return OrderCreated(
        order_id=order_id,
        user_id="user-1",
        items=[OrderItem(product_id="p1", quantity=2, unit_price=total // 2)],
        total_amount=total,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )


async def saga_state(client: httpx.AsyncClient, stack: Stack, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/sagas/{order_id}", headers=stack.ops())
    if response.status_code == 404:
        return {}
    body: dict[str, Any] = response.json()
    return body


async def test_happy_path_reaches_completed_with_full_history(
    stack: Stack, saga: tuple[httpx.AsyncClient, Participants]
) -> None:
    client, participants = saga
    order_id = str(uuid.uuid4())
    await participants.reply(created(order_id), order_id)
    await participants.wait_for(order_id, ReserveInventory.type_name)
    items = [PricedItem(product_id="p1", quantity=2, unit_price=1000, currency="EUR")]
    await participants.reply(InventoryReserved(order_id=order_id, items=items), order_id)
    await participants.wait_for(order_id, "inventory.reserve", ChargePayment.type_name)
    await participants.reply(
        PaymentCompleted(order_id=order_id, payment_id="pay-1", amount=2000), order_id
    )
    await participants.wait_for(
        order_id, "inventory.reserve", "payment.charge", ConfirmOrder.type_name
    )
    await participants.reply(OrderConfirmed(order_id=order_id), order_id)

    body = await eventually(
        lambda: saga_state(client, stack, order_id),
        until=lambda s: s.get("state") == "completed",
        what="completed saga",
    )
    kinds = [h["kind"] for h in body["history"]]
    assert kinds.count("message_in") == 4
    assert kinds.count("command_out") == 3
    assert body["deadlines"] == []
    replayed = (await client.get(f"/api/v1/sagas/{order_id}/replay", headers=stack.ops())).json()
    assert replayed["ok"] is True
    assert replayed["inputs"] == 4


async def test_event_before_its_saga_exists_is_parked_then_applied(
    stack: Stack, saga: tuple[httpx.AsyncClient, Participants]
) -> None:
    client, participants = saga
    order_id = str(uuid.uuid4())
    items = [PricedItem(product_id="p1", quantity=2, unit_price=1000, currency="EUR")]
    early = await participants.reply(InventoryReserved(order_id=order_id, items=items), order_id)
    db = Database(stack.settings.database_url_for("saga"), schema="saga")
    try:
        parked = await eventually(lambda: parked_ids(db, order_id), what="the early event parked")
    finally:
        await db.dispose()
    assert parked == [early.message_id]
    assert await saga_state(client, stack, order_id) == {}
    await participants.reply(created(order_id), order_id)
    # The parked reply is applied right after creation: the saga charges at once.
    await participants.wait_for(order_id, "inventory.reserve", "payment.charge")
    body = await saga_state(client, stack, order_id)
    assert body["state"] == "charging_payment"
    assert early.message_id in {h["messageId"] for h in body["history"]}


async def test_silent_participant_times_out_resends_then_compensates(stack: Stack) -> None:
    order_id = str(uuid.uuid4())
    short = {"saga_step_timeout_seconds": 0.3, "saga_step_retries": 1}
    async with running_saga(stack, **short) as (client, participants):
        await participants.reply(created(order_id), order_id)
        # Nobody answers the reserve: one resend (step_retries=1), then compensation.
        await participants.wait_for(
            order_id, "inventory.reserve", "inventory.reserve", "inventory.release"
        )
        body = await saga_state(client, stack, order_id)
    assert body["state"] == "releasing_inventory"
    # The release may time out as well by now: only the first two are the reserve's.
    timeouts = [h["detail"] for h in body["history"] if h["kind"] == "timeout"]
    assert [(t["command"], t["attempt"]) for t in timeouts[:2]] == [
        ("inventory.reserve", 1),
        ("inventory.reserve", 2),
    ]


async def test_ops_abort_compensates_and_is_recorded_with_who_and_why(
    stack: Stack, saga: tuple[httpx.AsyncClient, Participants]
) -> None:
    client, participants = saga
    order_id = str(uuid.uuid4())
    await participants.reply(created(order_id), order_id)
    await participants.wait_for(order_id, "inventory.reserve")
    response = await client.post(
        f"/api/v1/sagas/{order_id}/abort", json={"reason": "customer phoned"}, headers=stack.ops()
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "releasing_inventory"
    body = await saga_state(client, stack, order_id)
    operator = [h["detail"] for h in body["history"] if h["kind"] == "operator"]
    assert operator == [{"action": "abort", "actor": "ops-user", "reason": "customer phoned"}]
    customer = await client.post(
        f"/api/v1/sagas/{order_id}/abort", json={"reason": "x"}, headers=stack.auth("user-1")
    )
    assert customer.status_code == 403
    missing = await client.post(
        f"/api/v1/sagas/{uuid.uuid4()}/retry", json={"reason": "x"}, headers=stack.ops()
    )
    assert missing.status_code == 404


async def test_list_filters_by_state_and_pages_with_a_cursor(
    stack: Stack, saga: tuple[httpx.AsyncClient, Participants]
) -> None:
    client, participants = saga
    orders = [str(uuid.uuid4()) for _ in range(3)]
    for order_id in orders:
        await participants.reply(created(order_id), order_id)
    await eventually(
        lambda: client.get("/api/v1/sagas?state=reserving_inventory", headers=stack.ops()),
        until=lambda r: len(r.json()["items"]) == 3,
    )
    first = (await client.get("/api/v1/sagas?limit=2", headers=stack.ops())).json()
    assert len(first["items"]) == 2
    rest = (
        await client.get(f"/api/v1/sagas?limit=2&cursor={first['nextCursor']}", headers=stack.ops())
    ).json()
    assert {s["id"] for s in first["items"] + rest["items"]} == set(orders)
    assert rest["nextCursor"] is None
    assert (await client.get("/api/v1/sagas", headers=stack.auth("user-1"))).status_code == 403


V3_SAGAS = json.loads(
    (Path(__file__).parents[2] / "data" / "v3_sagas.json").read_text(encoding="utf-8")
)
"""Sagas stored by definition version 3 mid-compensation (see tests/unit/saga/definition/test_versions.py)."""
MID_COMPENSATION = {
    "refunding_payment": "refunding_payment",
    "releasing_inventory": "releasing_inventory",
    "cancelling_order": "cancelling_order",
}


async def store_v3_saga(db: Database, name: str, saga_id: str) -> None:
    """Store fixture ``name`` as definition 3 left it: status ``compensating``, v3 state."""
    state = json.loads(json.dumps(V3_SAGAS[name]["state"]).replace('"ord-1"', f'"{saga_id}"'))
    state["deadline"] = None  # no deadline row either: the test's replies drive it
    async with db.sessions() as session, session.begin():
        session.add(
            SagaRow(
                id=saga_id,
                status="compensating",
                state=state,
                definition_version=3,
                user_id="user-1",
            )
        )


async def test_sagas_stored_by_version_3_mid_compensation_finish_under_version_4(
    stack: Stack, saga: tuple[httpx.AsyncClient, Participants]
) -> None:
    client, participants = saga
    ids = {name: str(uuid.uuid4()) for name in MID_COMPENSATION}
    db = Database(stack.settings.database_url_for("saga"), schema="saga")
    try:
        for name, saga_id in ids.items():
            await store_v3_saga(db, name, saga_id)
    finally:
        await db.dispose()

    listed = await client.get("/api/v1/sagas?state=compensating", headers=stack.ops())
    assert listed.status_code == 200, listed.text
    assert {s["id"]: s["state"] for s in listed.json()["items"]} == {
        saga_id: MID_COMPENSATION[name] for name, saga_id in ids.items()
    }

    for name, saga_id in ids.items():
        replies = [e for e in V3_SAGAS[name]["then"] if e["input"]["kind"] == "message"]
        for handled, entry in enumerate(replies, start=1):
            body = {**entry["input"]["body"], "orderId": saga_id}
            reply = model_for(entry["input"]["type"]).model_validate(body)
            await participants.reply(reply, saga_id)
            await eventually(
                lambda saga_id=saga_id: saga_state(client, stack, saga_id),
                until=lambda s, n=handled: (
                    [h["kind"] for h in s["history"]].count("message_in") >= n
                ),
                what=f"{name} to take {reply.type_name}",
            )
        final = await saga_state(client, stack, saga_id)
        assert final["state"] == "cancelled", final
        assert {h["definitionVersion"] for h in final["history"]} == {4}
        # The commands version 3 would have sent, seen on the broker.
        expected = [c for e in replies for c in e["decision"]["commands"]]
        await eventually(
            lambda saga_id=saga_id: asyncio.sleep(0, participants.sent(saga_id)),
            until=lambda sent, expected=expected: sent == expected,
            what=f"{name}'s commands {expected}",
        )
