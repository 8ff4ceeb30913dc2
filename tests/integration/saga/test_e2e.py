"""The order saga end to end, on both stacks: every component running, driven only
through the services' own HTTP APIs (checkout through BFF-Web, cancels, fault
injection on the participants, the saga's ops API).

Each case checks what a QA scenario checks: the order's final status, the saga's
state, the steps it went through (from its stored history), the stock and the
money afterwards, and that the stored history replays through the definition
without divergence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from saga.app import build_app as build_saga
from saga.definition import OrderSaga, SagaStatus
from shared.messages import PaymentCompleted
from tests.support.infra import eventually
from tests.support.stack import Stack, serve
from tests.support.system import Shopper, System, running_system

API = "/api/v1"
RESERVE, RELEASE = "inventory.reserve", "inventory.release"
CHARGE, REFUND = "payment.charge", "payment.refund"
CONFIRM, CANCEL = "order.confirm", "order.cancel"
RESERVING, CHARGING, CONFIRMING = "reserving_inventory", "charging_payment", "confirming_order"
REFUNDING, RELEASING, CANCELLING = "refunding_payment", "releasing_inventory", "cancelling_order"
COMPLETED, CANCELLED, FAILED = "completed", "cancelled", "failed"
HAPPY_PATH = [RESERVING, CHARGING, CONFIRMING, COMPLETED]
"""The states of a saga that completes, in order."""
UNDONE_AFTER_COMPLETION = [REFUNDING, RELEASING, CANCELLING, CANCELLED]
"""The states of a completed saga cancelled afterwards, from its completion on."""

FAULTS = {
    "faults_enabled": True,
    # A declined refund is retried once, soon, before the saga gives up as failed.
    "saga_compensation_retries": 1,
    "saga_compensation_backoff_seconds": 0.2,
}
STEP_TIMEOUT, STEP_RETRIES = 1.0, 1
"""For the silent participant: short deadlines, one resend."""


@pytest.fixture
async def shop(stack: Stack) -> AsyncIterator[System]:
    """Every component, with fault injection on; deadlines are the default (30 s),
    so no step times out unless a case makes it."""
    async with running_system(stack, **FAULTS) as running:
        yield running


@dataclass(frozen=True)
class Checkout:
    shopper: Shopper
    order_id: str
    total: int
    product_id: str


async def place(
    system: System,
    *,
    price: int = 1250,
    stock: int = 5,
    quantity: int = 2,
    payment_method_id: str = "pm_card_ok",
) -> Checkout:
    """A shopper checks out ``quantity`` of a new product through BFF-Web."""
    product = await system.add_product(price=price, stock=stock)
    shopper = await system.shopper()
    response = await system.checkout(
        shopper, [(product["id"], quantity)], payment_method_id=payment_method_id
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    return Checkout(shopper, accepted["orderId"], accepted["totalAmount"], product["id"])


async def inject(system: System, service: str, message: str, mode: str, **rule: Any) -> None:
    response = await system.services[service].post(
        f"{API}/_faults",
        json={"message": message, "mode": mode, **rule},
        headers=system.stack.ops(),
    )
    assert response.status_code == 201, response.text


async def saga_of(system: System, order_id: str) -> dict[str, Any]:
    response = await system.services["saga"].get(
        f"{API}/sagas/{order_id}", headers=system.stack.ops()
    )
    if response.status_code == 404:
        return {}
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def saga_reaches(
    system: System, saga_id: str, state: str, *, settled: bool = True
) -> dict[str, Any]:
    """The saga (an order's, or a return's) once it is in ``state``, with no deadline
    left if ``settled``."""
    return await eventually(
        lambda: saga_of(system, saga_id),
        until=lambda s: s.get("state") == state and not (settled and s["deadlines"]),
        what=f"saga {saga_id} to be {state}",
    )


async def saga_passes(system: System, order_id: str, state: str) -> None:
    """Wait until the saga is in ``state``, deadline or not."""
    await eventually(
        lambda: saga_of(system, order_id),
        until=lambda s: s.get("state") == state,
        what=f"saga {order_id} to be {state}",
    )


async def cancel(system: System, placed: Checkout) -> None:
    """The shopper cancels through BFF-Web."""
    response = await system.web.post(
        f"{API}/orders/{placed.order_id}/cancel", headers=placed.shopper.auth
    )
    assert response.status_code == 202, response.text


def commands(saga: dict[str, Any]) -> list[str]:
    """Every command the saga sent, in order."""
    return [h["detail"]["type"] for h in saga["history"] if h["kind"] == "command_out"]


def states(saga: dict[str, Any]) -> list[str]:
    """Every state the saga entered, in order."""
    return [h["detail"]["to"] for h in saga["history"] if h["kind"] == "transition"]


def received(saga: dict[str, Any]) -> list[str]:
    return [h["detail"]["type"] for h in saga["history"] if h["kind"] == "message_in"]


async def available(system: System, product_id: str) -> int:
    response = await system.services["inventory"].get(f"{API}/products/{product_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["available"])


async def money(system: System, order_id: str) -> dict[str, Any]:
    response = await system.services["payments"].get(
        f"{API}/payments/summary", params={"orderId": order_id}, headers=system.stack.ops()
    )
    assert response.status_code == 200, response.text
    summary: dict[str, Any] = response.json()
    return summary


async def replay(system: System, order_id: str) -> dict[str, Any]:
    response = await system.services["saga"].get(
        f"{API}/sagas/{order_id}/replay", headers=system.stack.ops()
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


async def assert_outcome(
    system: System,
    placed: Checkout,
    saga: dict[str, Any],
    *,
    order: str,
    stock: int,
    captured: int,
    refunded: int,
) -> None:
    """The order's status, the stock left, the money, and a clean replay."""
    assert await system.order_status(placed.shopper, placed.order_id) == order
    assert await available(system, placed.product_id) == stock
    summary = await money(system, placed.order_id)
    assert (summary["captured"], summary["refunded"]) == (captured, refunded)
    assert summary["net"] == captured - refunded
    report = await replay(system, placed.order_id)
    assert (report["ok"], report["divergences"]) == (True, [])
    assert report["inputs"] >= len(received(saga))


# --- the happy path and the refusals ---------------------------------------------------


async def test_checkout_reserves_charges_and_confirms(shop: System) -> None:
    placed = await place(shop, price=1250, stock=5, quantity=2)

    saga = await saga_reaches(shop, placed.order_id, COMPLETED)

    assert states(saga) == HAPPY_PATH
    assert commands(saga) == [RESERVE, CHARGE, CONFIRM]
    assert placed.total == 2500
    await assert_outcome(shop, placed, saga, order="confirmed", stock=3, captured=2500, refunded=0)


async def test_insufficient_stock_cancels_the_order_without_charging(shop: System) -> None:
    placed = await place(shop, stock=1, quantity=2)

    saga = await saga_reaches(shop, placed.order_id, CANCELLED)

    assert states(saga) == [RESERVING, CANCELLING, CANCELLED]
    assert commands(saga) == [RESERVE, CANCEL]
    # The product by name beside its id.
    assert saga["failureReason"] == (
        f"insufficient stock: Tea pot ({placed.product_id}) (requested 2, available 1)"
    )
    await assert_outcome(shop, placed, saga, order="cancelled", stock=1, captured=0, refunded=0)


async def test_declined_payment_releases_the_stock_and_cancels(shop: System) -> None:
    placed = await place(shop, stock=5, quantity=2, payment_method_id="pm_card_declined")

    saga = await saga_reaches(shop, placed.order_id, CANCELLED)

    assert states(saga) == [RESERVING, CHARGING, RELEASING, CANCELLING, CANCELLED]
    assert commands(saga) == [RESERVE, CHARGE, RELEASE, CANCEL]
    assert "payment declined" in saga["failureReason"]
    await assert_outcome(shop, placed, saga, order="cancelled", stock=5, captured=0, refunded=0)


# --- timeouts ----------------------------------------------------------------------------


@pytest.mark.slow
async def test_silent_payments_get_bounded_resends_then_the_charge_is_refunded(
    stack: Stack,
) -> None:
    async with running_system(
        stack,
        **FAULTS,
        saga_step_timeout_seconds=STEP_TIMEOUT,
        saga_step_retries=STEP_RETRIES,
    ) as shop:
        # Payments swallows every charge: the saga never hears back.
        await inject(shop, "payments", CHARGE, "drop", times=STEP_RETRIES + 1)
        placed = await place(shop, stock=5, quantity=2)

        saga = await saga_reaches(shop, placed.order_id, CANCELLED)

        assert states(saga) == [RESERVING, CHARGING, REFUNDING, RELEASING, CANCELLING, CANCELLED]
        sent = commands(saga)
        # The charge is sent once and resent STEP_RETRIES times, each send timing out.
        assert sent.count(CHARGE) == STEP_RETRIES + 1
        timeouts = [h["detail"] for h in saga["history"] if h["kind"] == "timeout"]
        assert [t["command"] for t in timeouts][: STEP_RETRIES + 1] == [CHARGE] * (STEP_RETRIES + 1)
        # Its outcome unknown, the charge is compensated by a refund, then the rest.
        # (A compensation answered late is resent; the order of steps stays the same.)
        assert _distinct_in_order(sent) == [RESERVE, CHARGE, REFUND, RELEASE, CANCEL]
        assert "payment.charge not answered" in saga["failureReason"]
        await assert_outcome(shop, placed, saga, order="cancelled", stock=5, captured=0, refunded=0)


def _distinct_in_order(sent: list[str]) -> list[str]:
    """``sent`` with repeats of the same command in a row collapsed."""
    return [c for i, c in enumerate(sent) if i == 0 or sent[i - 1] != c]


# --- the customer cancels ----------------------------------------------------------------


@pytest.mark.slow
async def test_customer_cancel_while_the_charge_is_in_flight_undoes_everything(
    shop: System,
) -> None:
    # Payments sits on the charge for 5 s: the cancel lands while the charge is pending.
    await inject(shop, "payments", CHARGE, "delay", delayMs=5000)
    placed = await place(shop, stock=5, quantity=2)
    await saga_passes(shop, placed.order_id, CHARGING)

    await cancel(shop, placed)
    saga = await saga_reaches(shop, placed.order_id, CANCELLED)
    # Whether the slow charge lands before the refund (then refunded) or after it
    # (then refused), the saga hears of it; only then is the money final.
    saga = await eventually(
        lambda: saga_of(shop, placed.order_id),
        until=lambda s: bool({"payment.completed", "payment.failed"} & set(received(s))),
        what="the delayed charge to be answered",
    )

    assert saga["state"] == CANCELLED
    assert states(saga) == [RESERVING, CHARGING, REFUNDING, RELEASING, CANCELLING, CANCELLED]
    # The charge's outcome is unknown at the cancel: refund it, release, cancel.
    assert commands(saga) == [RESERVE, CHARGE, REFUND, RELEASE, CANCEL]
    assert saga["failureReason"] == f"cancel requested by the customer ({placed.shopper.user_id})"
    summary = await money(shop, placed.order_id)
    assert summary["captured"] in (0, placed.total)
    await assert_outcome(
        shop,
        placed,
        saga,
        order="cancelled",
        stock=5,
        captured=summary["captured"],
        refunded=summary["captured"],
    )


async def test_customer_cancel_after_completion_refunds_releases_and_cancels(
    shop: System,
) -> None:
    placed = await place(shop, price=1250, stock=5, quantity=2)
    await saga_reaches(shop, placed.order_id, COMPLETED)

    await cancel(shop, placed)
    saga = await saga_reaches(shop, placed.order_id, CANCELLED)

    assert states(saga) == [*HAPPY_PATH, *UNDONE_AFTER_COMPLETION]
    assert commands(saga) == [RESERVE, CHARGE, CONFIRM, REFUND, RELEASE, CANCEL]
    await assert_outcome(
        shop, placed, saga, order="cancelled", stock=5, captured=2500, refunded=2500
    )


async def cancel_with_refunds_declined(
    shop: System, declines: int, ends: str
) -> tuple[Checkout, dict[str, Any]]:
    """A completed order (two items at 12.50) cancelled while the gateway declines its refund
    ``declines`` times; the order and its saga once it ``ends``."""
    placed = await place(shop, price=1250, stock=5, quantity=2)
    await saga_reaches(shop, placed.order_id, COMPLETED)
    await inject(shop, "payments", REFUND, "decline", times=declines)

    await cancel(shop, placed)
    return placed, await saga_reaches(shop, placed.order_id, ends)


async def test_a_refund_declined_once_then_made_keeps_the_cancels_reason(shop: System) -> None:
    # The gateway declines the first refund; the retry after the back-off is made.
    placed, saga = await cancel_with_refunds_declined(shop, 1, CANCELLED)

    assert commands(saga) == [RESERVE, CHARGE, CONFIRM, REFUND, REFUND, RELEASE, CANCEL]
    # The refund's trouble is in the timeline; the order ends with the cancel's reason.
    assert "payment.refund_failed" in received(saga)
    reason = f"cancel requested by the customer ({placed.shopper.user_id})"
    assert saga["failureReason"] == reason
    order = await shop.services["orders"].get(
        f"{API}/orders/{placed.order_id}", headers=placed.shopper.auth
    )
    assert order.json()["cancelReason"] == reason
    await assert_outcome(
        shop, placed, saga, order="cancelled", stock=5, captured=2500, refunded=2500
    )


# --- a compensation fails ----------------------------------------------------------------


async def test_declined_refund_fails_the_saga_until_ops_retry_it(shop: System) -> None:
    # The gateway declines the refund and its one retry.
    placed, saga = await cancel_with_refunds_declined(shop, 2, FAILED)

    # Failed with the money still taken and the order still confirmed: shown to ops.
    assert commands(saga) == [RESERVE, CHARGE, CONFIRM, REFUND, REFUND]
    assert saga["step"] == REFUND
    assert "refund declined" in saga["failureReason"]
    assert (await money(shop, placed.order_id))["net"] == 2500
    assert await shop.order_status(placed.shopper, placed.order_id) == "confirmed"
    failed = await shop.services["saga"].get(
        f"{API}/sagas", params={"state": FAILED}, headers=shop.stack.ops()
    )
    assert [s["id"] for s in failed.json()["items"]] == [placed.order_id]

    # Ops repair the gateway and retry: the compensation resumes where it failed.
    cleared = await shop.services["payments"].delete(f"{API}/_faults", headers=shop.stack.ops())
    assert cleared.status_code == 204, cleared.text
    retried = await shop.services["saga"].post(
        f"{API}/sagas/{placed.order_id}/retry",
        json={"reason": "gateway repaired"},
        headers=shop.stack.ops(),
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == REFUNDING
    saga = await saga_reaches(shop, placed.order_id, CANCELLED)

    assert states(saga) == [*HAPPY_PATH, REFUNDING, FAILED, *UNDONE_AFTER_COMPLETION]
    assert commands(saga) == [RESERVE, CHARGE, CONFIRM, REFUND, REFUND, REFUND, RELEASE, CANCEL]
    operator = [h["detail"] for h in saga["history"] if h["kind"] == "operator"]
    assert operator == [{"action": "retry", "actor": "ops-user", "reason": "gateway repaired"}]
    assert saga["failureReason"] == f"cancel requested by the customer ({placed.shopper.user_id})"
    await assert_outcome(
        shop, placed, saga, order="cancelled", stock=5, captured=2500, refunded=2500
    )


# --- replay through a changed definition ------------------------------------------------


class ForgetsToConfirm(OrderSaga):
    """A changed definition: a captured payment no longer leads to confirming the order."""

    rules = tuple(
        rule
        for rule in OrderSaga.rules
        if (rule.source, rule.input) != (SagaStatus.charging_payment, PaymentCompleted.type_name)
    )


async def test_replay_through_a_changed_definition_reports_each_divergence(
    shop: System,
) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, COMPLETED)
    assert (await replay(shop, placed.order_id))["ok"] is True

    # A second saga process over the same database, running the changed definition.
    changed = build_saga(
        shop.stack.settings, shop.stack.for_component("saga"), definition=ForgetsToConfirm()
    )
    async with serve(changed) as saga_service:
        response = await saga_service.get(
            f"{API}/sagas/{placed.order_id}/replay", headers=shop.stack.ops()
        )

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False
    assert report["inputs"] == 4  # order.created, inventory.reserved, payment.completed, …
    # From the captured payment on, the changed definition stays charging.
    first, second = report["divergences"]
    assert (first["index"], first["input"]["type"]) == (2, "payment.completed")
    assert first["expected"] == {"status": CONFIRMING, "commands": [CONFIRM]}
    assert first["actual"] == {"status": CHARGING, "commands": []}
    assert (second["index"], second["input"]["type"]) == (3, "order.confirmed")
    assert second["expected"] == {"status": COMPLETED, "commands": []}
    assert second["actual"] == {"status": CHARGING, "commands": []}
