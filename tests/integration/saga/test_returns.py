"""Returns end to end on both stacks: the return saga beside the order saga on one
runtime, driven through the services' HTTP APIs (the order placed through BFF-Web,
marked delivered in the orders' tables, the return asked for and received through
the orders service), checked by the return, the stock, the money and the saga's
ops API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from oms.scenario.client import SystemApi
from oms.scenario.export import ExportError, export_saga
from services.orders.models import OrderReturn
from shared.clock import utcnow
from tests.integration.saga.test_audit import audit
from tests.integration.saga.test_e2e import (
    Checkout,
    available,
    commands,
    money,
    place,
    replay,
    saga_of,
    saga_reaches,
)
from tests.integration.saga.test_metrics import samples, scrape, value
from tests.integration.saga.test_ops import oms_saga
from tests.support.delivery import mark_delivered
from tests.support.infra import eventually
from tests.support.scenarios import transports_of
from tests.support.stack import Stack, on_socket
from tests.support.system import System, problem_of, running_system

API = "/api/v1"
TIMING = {
    # A declined refund is retried once, soon, before the return saga is failed.
    "saga_compensation_retries": 1,
    "saga_compensation_backoff_seconds": 0.2,
}


@pytest.fixture
async def shop(stack: Stack) -> AsyncIterator[System]:
    async with running_system(stack, **TIMING) as running:
        yield running


async def delivered(system: System, **kwargs: Any) -> Checkout:
    """An order placed, paid, confirmed and then delivered."""
    order = await place(system, **kwargs)
    assert await system.settled(order.shopper, order.order_id) == "confirmed"
    await eventually(
        lambda: saga_of(system, order.order_id),
        until=lambda s: s.get("state") == "completed",
        what="the order saga to complete",
    )
    await mark_delivered(system, order.order_id)
    return order


async def ask_return(system: System, order: Checkout, quantity: int) -> Any:
    return await system.services["orders"].post(
        f"{API}/orders/{order.order_id}/returns",
        json={"items": [{"productId": order.product_id, "quantity": quantity}]},
        headers=order.shopper.auth,
    )


async def receive(system: System, return_id: str, product_id: str, quantity: int) -> Any:
    return await system.services["orders"].post(
        f"{API}/returns/{return_id}/receipt",
        json={"items": [{"productId": product_id, "quantity": quantity}]},
        headers=system.stack.auth("warehouse-1", "fulfilment"),
    )


async def return_of(system: System, order: Checkout, return_id: str) -> dict[str, Any]:
    response = await system.services["orders"].get(
        f"{API}/returns/{return_id}", headers=order.shopper.auth
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def return_saga_reaches(system: System, return_id: str, state: str) -> dict[str, Any]:
    """The return's saga once it is in ``state``, deadline or not (one awaiting the
    goods has the receipt's)."""
    return await saga_reaches(system, return_id, state, settled=False)


async def test_a_full_return_is_received_restocked_refunded_and_closed(shop: System) -> None:
    order = await delivered(shop, price=1250, stock=5, quantity=2)
    assert await available(shop, order.product_id) == 3
    # Asked through BFF-Web, followed through BFF-Mobile.
    asked = await shop.web.post(
        f"{API}/orders/{order.order_id}/returns",
        json={"items": [{"productId": order.product_id, "quantity": 2}]},
        headers=order.shopper.auth,
    )
    assert asked.status_code == 201, asked.text
    return_id = asked.json()["id"]
    assert asked.json()["status"] == "requested"
    waiting = await return_saga_reaches(shop, return_id, "awaiting_receipt")
    assert waiting["kind"] == "return"
    assert waiting["step"] == "return.receipt"
    in_flight = samples(await scrape(shop))
    assert value(in_flight, "oms_saga_in_flight", state="awaiting_receipt") == 1

    received = await receive(shop, return_id, order.product_id, 2)
    assert received.status_code == 200, received.text
    saga = await return_saga_reaches(shop, return_id, "completed")

    assert commands(saga) == ["inventory.restock", "payment.refund_return", "return.close"]
    closed = await return_of(shop, order, return_id)
    assert (closed["status"], closed["refundedAmount"]) == ("refunded", 2500)
    seen = await shop.mobile.get(
        f"{API}/orders/{order.order_id}/returns", headers=order.shopper.auth
    )
    assert seen.status_code == 200, seen.text
    assert [(r["id"], r["status"], r["refundedAmount"]) for r in seen.json()] == [
        (return_id, "refunded", 2500)
    ]
    assert await available(shop, order.product_id) == 5
    assert (await money(shop, order.order_id))["net"] == 0

    listed = await shop.services["saga"].get(
        f"{API}/sagas", params={"kind": "return"}, headers=shop.stack.ops()
    )
    assert [s["id"] for s in listed.json()["items"]] == [return_id]
    orders = await shop.services["saga"].get(
        f"{API}/sagas", params={"kind": "order"}, headers=shop.stack.ops()
    )
    assert [s["id"] for s in orders.json()["items"]] == [order.order_id]
    replayed = await replay(shop, return_id)
    assert replayed["ok"] is True, replayed
    async with on_socket(shop.apps["saga"]) as url:
        code, listing = await oms_saga(url, "list", "--kind", "return")
        assert code == 0, listing
        assert return_id in listing
        assert order.order_id not in listing
    async with SystemApi(shop.stack.settings, transports=transports_of(shop)) as api:
        exported = await export_saga(api, return_id)
        assert [next(iter(step)) for step in exported["steps"]][-2:] == ["return", "receive"]
        with pytest.raises(ExportError, match="no saga"):
            await export_saga(api, "no-such-saga")
    found = samples(await scrape(shop))
    assert value(found, "oms_saga_started_total", kind="return") == 1
    assert value(found, "oms_saga_finished_total", kind="return", outcome="completed") == 1
    assert value(found, "oms_saga_finished_total", kind="order", outcome="completed") == 1


async def test_partial_returns_refund_only_their_lines_and_never_more_than_was_delivered(
    shop: System,
) -> None:
    order = await delivered(shop, price=1000, stock=5, quantity=3)
    first = await ask_return(shop, order, 1)
    assert first.status_code == 201, first.text
    too_many = await ask_return(shop, order, 3)
    problem = problem_of(too_many, 422)
    assert "2 left to return" in problem["detail"]
    # Through a BFF the orders service's refusal comes back as it was.
    through_mobile = await shop.mobile.post(
        f"{API}/orders/{order.order_id}/returns",
        json={"items": [{"productId": order.product_id, "quantity": 3}]},
        headers=order.shopper.auth,
    )
    assert "2 left to return" in problem_of(through_mobile, 422)["detail"]

    await receive(shop, first.json()["id"], order.product_id, 1)
    await return_saga_reaches(shop, first.json()["id"], "completed")
    second = await ask_return(shop, order, 2)
    assert second.status_code == 201, second.text
    await receive(shop, second.json()["id"], order.product_id, 1)  # one of two arrived
    await return_saga_reaches(shop, second.json()["id"], "completed")

    assert (await return_of(shop, order, second.json()["id"]))["refundedAmount"] == 1000
    summary = await money(shop, order.order_id)
    assert (summary["captured"], summary["refunded"]) == (3000, 2000)
    assert await available(shop, order.product_id) == 4
    # One unit is left with the customer: a third return may take it, no more.
    problem_of(await ask_return(shop, order, 2), 422)
    assert (await ask_return(shop, order, 1)).status_code == 201
    # The audit finds the order netting its total less both refunds, each return
    # restocked as received and refunded at the price paid.
    await return_saga_reaches(shop, second.json()["id"], "completed")
    assert [f for f in await audit(shop) if "awaiting_receipt" not in f] == []


async def test_a_return_unreceived_in_time_expires(stack: Stack) -> None:
    async with running_system(stack, return_receipt_days=1.5 / 86_400) as shop:
        order = await delivered(shop, quantity=1)
        asked = await ask_return(shop, order, 1)
        return_id = asked.json()["id"]
        saga = await return_saga_reaches(shop, return_id, "expired")
        assert commands(saga) == ["return.expire"]
        assert (await return_of(shop, order, return_id))["status"] == "expired"
        late = await receive(shop, return_id, order.product_id, 1)
        assert "expired" in problem_of(late, 409)["detail"]
        assert (await money(shop, order.order_id))["refunded"] == 0
        # What an expired return held is free again.
        assert (await ask_return(shop, order, 1)).status_code == 201


async def test_a_refund_that_keeps_being_declined_leaves_the_return_failed_for_ops(
    shop: System,
) -> None:
    order = await delivered(shop, quantity=1, payment_method_id="pm_card_refund_declined")
    asked = await ask_return(shop, order, 1)
    return_id = asked.json()["id"]
    await receive(shop, return_id, order.product_id, 1)
    saga = await return_saga_reaches(shop, return_id, "failed")
    assert saga["failureReason"].startswith("refund declined 2 times")
    assert saga["step"] == "payment.refund_return"
    assert (await return_of(shop, order, return_id))["status"] == "received"
    assert (await money(shop, order.order_id))["refunded"] == 0

    retried = await shop.services["saga"].post(
        f"{API}/sagas/{return_id}/retry", json={"reason": "card fixed?"}, headers=shop.stack.ops()
    )
    assert retried.status_code == 200, retried.text
    await eventually(
        lambda: saga_of(shop, return_id),
        until=lambda s: (
            s.get("state") == "failed"
            and sum(h["kind"] == "operator" for h in s["history"]) == 1
            and s["step"] == "payment.refund_return"
            and sum(
                h["kind"] == "command_out" and h["detail"]["type"] == "payment.refund_return"
                for h in s["history"]
            )
            == 4
        ),
        what="the retried refund to be declined again",
    )
    # A retry's dry run reads the return's reason as the order's: a refusal, retried once.
    plan = await shop.services["saga"].post(
        f"{API}/sagas/retry/dry-run", json={"ids": [return_id]}, headers=shop.stack.ops()
    )
    assert plan.status_code == 200, plan.text
    [doubt] = plan.json()["doubts"]
    assert doubt["id"] == return_id
    assert doubt["why"].startswith("failed on a refusal, not a timeout: refund declined 2 times")
    assert doubt["why"].endswith("; retried once already, and failed again")


async def test_a_return_is_refused_outside_its_window_or_before_delivery(shop: System) -> None:
    order = await place(shop, quantity=1)
    assert await shop.settled(order.shopper, order.order_id) == "confirmed"
    assert "only a delivered order" in problem_of(await ask_return(shop, order, 1), 409)["detail"]
    await mark_delivered(shop, order.order_id, at=utcnow() - timedelta(days=31))
    assert "window" in problem_of(await ask_return(shop, order, 1), 409)["detail"]
    other = await shop.shopper("grace")
    stranger = await shop.services["orders"].post(
        f"{API}/orders/{order.order_id}/returns",
        json={"items": [{"productId": order.product_id, "quantity": 1}]},
        headers=other.auth,
    )
    problem_of(stranger, 404)


async def test_only_the_warehouse_records_a_receipt(shop: System) -> None:
    order = await delivered(shop, quantity=1)
    return_id = (await ask_return(shop, order, 1)).json()["id"]
    by_customer = await shop.services["orders"].post(
        f"{API}/returns/{return_id}/receipt",
        json={"items": [{"productId": order.product_id, "quantity": 1}]},
        headers=order.shopper.auth,
    )
    problem_of(by_customer, 403)
    assert "items[0].quantity" in str(
        problem_of(await receive(shop, return_id, order.product_id, 2), 422)
    )
    assert (await receive(shop, return_id, order.product_id, 1)).status_code == 200
    problem_of(await receive(shop, return_id, order.product_id, 1), 409)


async def test_the_audit_finds_a_return_refunded_other_than_its_goods_are_worth(
    shop: System,
) -> None:
    order = await delivered(shop, price=700, quantity=2)
    return_id = (await ask_return(shop, order, 2)).json()["id"]
    await receive(shop, return_id, order.product_id, 2)
    await return_saga_reaches(shop, return_id, "completed")
    assert await audit(shop) == []

    database = shop.apps["orders"].state.service.db
    async with database.sessions() as session:
        row = await session.get(OrderReturn, return_id)
        assert row is not None
        row.refunded_amount = 1500
        session.add(row)
        await session.commit()
    assert sorted(await audit(shop)) == sorted(
        [
            f"{return_id}: refunded 1500, the received goods are worth 1400",
            f"{order.order_id}: captured 1400 and net 0 differ from total 1400 "
            "less 1500 refunded for returns",
        ]
    )
