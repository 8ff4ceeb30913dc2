"""``oms audit`` sees what breaks the promise: money at prices other than the
catalogue's, an accepted cancel that did not happen, inputs and sagas that wait
too long; and says which service it could not ask.

The broken states are written straight into a service's tables, as a bug would
leave them: the audit must find them through the services' APIs alone.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from oms.audit import run_audit
from oms.audit_api import AuditError
from saga.retention import prune
from services.inventory.models import Reservation
from services.orders.models import Order
from services.payments.models import Payment
from shared.clock import utcnow
from shared.messages import ChargePayment, OrderCancelRequested, ReservedItem, ReserveInventory
from shared.messaging.envelope import Envelope
from shared.persistence.database import Database
from tests.integration.saga.test_e2e import API, place, saga_of, saga_reaches, shop
from tests.support.infra import eventually
from tests.support.system import System

__all__ = ["shop"]
ROOT = Path(__file__).resolve().parents[3]
REFUND = "payment.refund"


def db_of(system: System, service: str) -> Database:
    database: Database = system.apps[service].state.service.db
    return database


async def audit(system: System, **options: float) -> list[str]:
    report = await run_audit(system.stack.settings, transports=system.transports(), **options)
    return [f"{f.order_id}: {f.problem}" for f in report.violations]


async def test_a_refund_payments_answers_short_of_the_capture_fails_the_saga_for_ops(
    shop: System,
) -> None:
    """Payments holds less for the order than the saga saw captured (its row lowered
    by hand, as if written wrongly): its refund answers 1000 of 2500. The saga backs
    off, asks once more (its one compensation retry), and is failed for ops with the
    amounts; before, it sent the next refund at once, for ever."""
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    async with db_of(shop, "payments").sessions() as session, session.begin():
        await session.exec(
            update(Payment).where(Payment.order_id == placed.order_id).values(amount=1000)
        )

    cancelled = await shop.web.post(
        f"{API}/orders/{placed.order_id}/cancel", headers=placed.shopper.auth
    )
    assert cancelled.status_code == 202, cancelled.text
    saga = await saga_reaches(shop, placed.order_id, "failed")

    refunds = [
        h for h in saga["history"] if h["kind"] == "command_out" and h["detail"]["type"] == REFUND
    ]
    assert len(refunds) == 2
    assert saga["failureReason"] == (
        "refund short: payments reports 1000 refunded of 2500 captured, "
        "answering a refund sent after the capture"
    )
    assert saga["step"] == REFUND
    # A retry would ask payments again and meet the same answer: the dry run says so.
    plan = await shop.services["saga"].post(
        f"{API}/sagas/retry/dry-run", json={"ids": [placed.order_id]}, headers=shop.stack.ops()
    )
    assert plan.status_code == 200, plan.text
    [doubt] = plan.json()["doubts"]
    assert doubt["id"] == placed.order_id
    assert doubt["why"] == f"failed on a refusal, not a timeout: {saga['failureReason']}"


async def test_a_clean_run_has_no_findings(shop: System) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    assert await audit(shop) == []


async def test_a_capture_at_other_than_the_reserved_catalogue_prices_is_reported(
    shop: System,
) -> None:
    placed = await place(shop, price=1250, quantity=2)
    await saga_reaches(shop, placed.order_id, "completed")
    # The catalogue said 12.50 at reservation; say it had said 9.99 instead.
    cheaper = [{"productId": placed.product_id, "quantity": 2, "unitPrice": 999, "currency": "EUR"}]
    async with db_of(shop, "inventory").sessions() as session, session.begin():
        await session.exec(
            update(Reservation).where(Reservation.order_id == placed.order_id).values(items=cheaper)
        )

    assert await audit(shop) == [
        f"{placed.order_id}: captured 2500 differs from 1998, "
        "the catalogue prices it was reserved at"
    ]


async def test_a_confirmed_order_whose_cancel_was_accepted_before_is_reported(
    shop: System,
) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    async with db_of(shop, "orders").sessions() as session, session.begin():
        order = await session.get(Order, placed.order_id)
        assert order is not None
        accepted = order.created_at
        await session.exec(
            update(Order)
            .where(Order.id == placed.order_id)
            .values(cancel_requested_at=accepted, cancel_requested_by=placed.shopper.user_id)
        )

    (finding,) = await audit(shop)
    assert finding.startswith(
        f"{placed.order_id}: cancel accepted at {accepted.isoformat()} before the order was "
        "confirmed at "
    )
    assert finding.endswith(", yet the order is confirmed")


async def test_an_accepted_cancel_is_recorded_and_a_clean_cancel_passes(shop: System) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    cancelled = await shop.web.post(
        f"{API}/orders/{placed.order_id}/cancel", headers=placed.shopper.auth
    )
    assert cancelled.status_code == 202, cancelled.text
    await saga_reaches(shop, placed.order_id, "cancelled")
    order = await shop.services["orders"].get(
        f"{API}/orders/{placed.order_id}", headers=placed.shopper.auth
    )
    assert order.json()["cancelRequestedAt"] is not None
    assert await audit(shop) == []


async def test_an_input_parked_too_long_and_a_saga_not_at_rest_are_reported(
    shop: System,
) -> None:
    orphan = str(uuid.uuid4())
    cancel = OrderCancelRequested(order_id=orphan, requested_by="user-1")
    await shop.stack.for_component("orders").publish(
        Envelope.wrap(cancel, app_id="orders", correlation_id=orphan)
    )

    async def parked() -> list[str]:
        response = await shop.services["saga"].get(f"{API}/parked-inputs", headers=shop.stack.ops())
        assert response.status_code == 200, response.text
        return [p["sagaId"] for p in response.json()]

    await eventually(parked, until=lambda ids: orphan in ids, what="the cancel to be parked")
    assert await audit(shop) == []  # not parked for long yet

    findings = await audit(shop, stale_after=0)
    assert any(f.startswith(f"{orphan}: order.cancel_requested parked since") for f in findings), (
        findings
    )

    await shop.services["payments"].post(
        f"{API}/_faults",
        json={"message": "payment.charge", "mode": "drop", "times": 1},
        headers=shop.stack.ops(),
    )
    placed = await place(shop)
    await eventually(
        lambda: audit(shop, stale_after=0),
        until=lambda found: any(
            f.startswith(f"{placed.order_id}: saga not at rest: charging_payment since")
            for f in found
        ),
        what="the waiting saga to be reported",
    )


async def test_a_service_answering_an_error_stops_the_audit_naming_it(shop: System) -> None:
    failing = httpx.MockTransport(lambda request: httpx.Response(500, json={"status": 500}))
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    with pytest.raises(AuditError, match=r"^payments answered 500 to GET /api/v1/payments/summary"):
        await run_audit(shop.stack.settings, transports={**shop.transports(), "payments": failing})


class Unavailable(httpx.AsyncBaseTransport):
    """A replica behind a balancer that answers 503 ``times`` times, then is back."""

    def __init__(self, inner: httpx.AsyncBaseTransport, times: int) -> None:
        self.inner = inner
        self.times = times

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.times > 0:
            self.times -= 1
            return httpx.Response(503, json={"status": 503})
        return await self.inner.handle_async_request(request)


async def test_a_service_unavailable_for_a_moment_is_asked_again(shop: System) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    transports = shop.transports()
    flaky = Unavailable(transports["payments"], times=2)
    report = await run_audit(shop.stack.settings, transports={**transports, "payments": flaky})
    assert flaky.times == 0
    assert report.clean(strict=True), report.violations
    assert report.sagas == 1


def test_oms_audit_says_in_one_line_which_service_is_unreachable(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OMS_DATA_DIR": str(tmp_path),
        "OMS_SAGA_URL": "http://127.0.0.1:9",  # the discard port: nothing answers there
    }
    result = subprocess.run(
        [sys.executable, "-m", "oms.cli", "audit"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("oms audit: saga at http://127.0.0.1:9/api/v1/ could not be reached")


def test_stale_after_is_longer_than_any_wait_the_saga_makes_by_default() -> None:
    from oms.audit import STALE_AFTER_SECONDS
    from saga.definition import SagaConfig

    config = SagaConfig()
    longest = max(
        config.step_timeout_seconds * (config.step_retries + 1),
        config.compensation_backoff_max_seconds,
    )
    assert timedelta(seconds=STALE_AFTER_SECONDS) > timedelta(seconds=longest)


async def test_a_capture_and_a_reservation_without_a_saga_are_reported(shop: System) -> None:
    """Made by commands the saga never sent (here, sent with the saga's own broker
    user, the one allowed to send them): the audit walks the participants' records."""
    product = await shop.add_product(price=300, stock=20)
    orphan = str(uuid.uuid4())
    saga_user = shop.stack.for_component("saga")
    charge = ChargePayment(
        order_id=orphan,
        user_id="u-1",
        amount=99_999,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )
    reserve = ReserveInventory(
        order_id=orphan, items=[ReservedItem(product_id=product["id"], quantity=10)]
    )
    for command in (charge, reserve):
        await saga_user.publish(Envelope.wrap(command, app_id="saga", correlation_id=orphan))

    async def findings() -> list[str]:
        return [f for f in await audit(shop) if f.startswith(orphan)]

    found = await eventually(findings, until=lambda f: len(f) == 2, what="both orphans")
    assert f"{orphan}: reservation reserved (10 units) for an order without a saga" in found
    [payment] = [f for f in found if ": payment " in f]
    assert payment.endswith("captured 99999 EUR for an order without a saga")


async def test_an_order_whose_saga_retention_removed_is_no_violation(shop: System) -> None:
    placed = await place(shop)
    await saga_reaches(shop, placed.order_id, "completed")
    # Everything finished before tomorrow goes: this saga among them.
    assert await prune(db_of(shop, "saga"), utcnow() + timedelta(days=1), pause=0) >= 1
    assert await saga_of(shop, placed.order_id) == {}
    assert [f for f in await audit(shop) if f.startswith(placed.order_id)] == []
