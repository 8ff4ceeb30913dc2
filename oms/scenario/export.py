"""``oms saga export ID``: a stored saga written as a scenario that reproduces it.

The saga's history, its order, its products and its payments (read through the
services' APIs) give the set-up, the inputs and the outcome:

* the order's lines become products (the catalogue's price; as much stock as the
  order took, or as little as the shortage reported) and a checkout, or an
  order placed at its own prices when they differ from the catalogue's;
* a step that timed out becomes a ``drop`` fault on its command, once per
  timeout; a declined charge the declining card ``pm_card_declined``; refunds
  declined until ops retried a ``decline`` fault on ``payment.refund`` (cleared
  before the retry), or the card ``pm_card_refund_declined`` when they never
  succeeded; replies beyond the commands sent a ``duplicate`` fault;
* a customer's cancel becomes a cancel in the state it arrived in (held there
  by a ``delay`` on the step's command), an ops retry or abort the same action;
* the outcome becomes expectations: order status, saga state, the commands in
  the order they were sent, stock, money, and a clean audit.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

from oms.audit_cancels import PAID_FOR
from oms.scenario.client import SystemApi, timing_of
from oms.scenario.expectations.audit import ExpectAudit
from oms.scenario.expectations.goods import (
    ExpectMoney,
    ExpectStock,
    MoneyExpectation,
    StockExpectation,
)
from oms.scenario.expectations.orders import ExpectOrder, OrderExpectation
from oms.scenario.expectations.saga import ExpectSaga, SagaExpectation
from oms.scenario.export_return import ReturnExportError, export_return
from oms.scenario.history import commands_of
from oms.scenario.kinds import Kind, StepKind
from oms.scenario.spec import TERMINAL_STATES
from oms.scenario.steps.checkout import (
    Checkout,
    CheckoutSpec,
    PlaceOrder,
    PlaceOrderSpec,
    QuotedLine,
)
from oms.scenario.steps.faults import ClearFaults, ClearFaultsSpec
from oms.scenario.steps.fulfilment import Deliver, DeliverSpec, Ship, ShipSpec
from oms.scenario.steps.operator import Abort, OperatorSpec, Retry
from oms.scenario.steps.requests import Cancel, CancelSpec
from oms.scenario.steps.wait import Wait, WaitSpec

REPLY_OF = {
    "inventory.reserve": "inventory.reserved",
    "payment.charge": "payment.completed",
    "order.confirm": "order.confirmed",
    "inventory.release": "inventory.released",
    "payment.refund": "payment.refunded",
    "order.cancel": "order.cancelled",
}
ANSWERS_OF = {
    "inventory.reserve": {"inventory.reserved", "inventory.insufficient"},
    "payment.charge": {"payment.completed", "payment.failed"},
    "order.confirm": {"order.confirmed", "order.cancelled"},
    "inventory.release": {"inventory.released"},
    "payment.refund": {"payment.refunded", "payment.refund_failed"},
    "order.cancel": {"order.cancelled"},
}
STEP_COMMAND = {
    "reserving_inventory": "inventory.reserve",
    "charging_payment": "payment.charge",
    "confirming_order": "order.confirm",
}


class ExportError(LookupError):
    """The saga (or its order) cannot be read."""


def _received(history: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        h["detail"] for h in history if h["kind"] == "message_in" and h["detail"]["type"] == kind
    ]


def _unanswered(history: list[dict[str, Any]]) -> Counter[str]:
    """Per command, the timeouts of a send that got no answer at all (a wait out of
    backoff after a refusal also shows as a timeout, but was answered)."""
    answered: dict[str, bool] = {}
    silent: Counter[str] = Counter()
    for entry in history:
        detail = entry["detail"]
        if entry["kind"] == "command_out":
            answered[detail["type"]] = False
        elif entry["kind"] == "message_in":
            for command, answers in ANSWERS_OF.items():
                if detail["type"] in answers:
                    answered[command] = True
        elif entry["kind"] == "timeout":
            # Definition 4 names the command a timeout guarded `command`; 3 said `step`.
            command = detail.get("command", detail.get("step"))
            if not answered.get(command, True):
                silent[command] += 1
    return silent


async def export_saga(api: SystemApi, saga_id: str) -> dict[str, Any]:
    """The scenario (as plain data, ready for YAML) that reproduces saga ``saga_id``."""
    saga = await api.saga(saga_id)
    if saga is None:
        raise ExportError(f"no saga {saga_id!r}")
    if saga.get("kind", "order") == "return":
        found = await api.order_return(saga_id)
        if found is None:
            raise ExportError(f"return saga {saga_id!r} has no return")
        try:
            scenario = await export_return(api, saga, await export_saga(api, found["orderId"]))
        except ReturnExportError as exc:
            raise ExportError(str(exc)) from None
        # Time enough for the order's saga and then the return's.
        scenario["timeout_seconds"] = min(
            MAX_TIMEOUT_SECONDS, scenario["timeout_seconds"] + replay_timeout(saga)
        )
        return scenario
    if saga.get("kind", "order") != "order":
        raise ExportError(f"saga {saga_id!r} is a {saga['kind']} saga: export writes no such")
    order = await api.order(saga_id)
    if order is None:
        raise ExportError(f"saga {saga_id!r} has no order")
    history: list[dict[str, Any]] = saga["history"]
    summary = await api.money(saga_id)
    # The timing the system ran the saga with, not the one this process was given.
    timing_now = timing_of(api.settings, await api.timing())

    # --- products and the order's lines ---------------------------------------------
    shortages = {
        s["productId"]: int(s["available"])
        for event in _received(history, "inventory.insufficient")
        for s in event["body"].get("shortages", [])
    }
    products: dict[str, Any] = {}
    lines: dict[str, dict[str, int]] = {}
    quoted_differs = False
    for number, item in enumerate(order["items"], start=1):
        name = f"product-{number}"
        catalogue = await api.product(item["productId"])
        price = int(catalogue["price"]) if catalogue else int(item["unitPrice"])
        quoted_differs |= price != int(item["unitPrice"])
        stock = shortages.get(item["productId"], int(item["quantity"]))
        products[name] = {
            "price": price,
            "stock": stock,
            "currency": catalogue["currency"] if catalogue else order["currency"],
        }
        lines[name] = {"quantity": int(item["quantity"]), "unit_price": int(item["unitPrice"])}

    # --- faults and the card, from what the saga saw --------------------------------------
    sent = commands_of(saga)
    timeouts = _unanswered(history)
    faults: list[dict[str, Any]] = [
        {"message": command, "mode": "drop", "times": times} for command, times in timeouts.items()
    ]
    card = "pm_card_ok"
    if _received(history, "payment.failed"):
        card = "pm_card_declined"
    refusals = len(_received(history, "payment.refund_failed"))
    refund_fault = False
    if refusals:
        if _received(history, "payment.refunded"):
            faults.append({"message": "payment.refund", "mode": "decline", "times": refusals})
            refund_fault = True
        else:
            card = "pm_card_refund_declined"
    for command, reply in REPLY_OF.items():
        extra = len(_received(history, reply)) - sent.count(command)
        if extra > 0 and not timeouts[command]:
            faults.append({"message": command, "mode": "duplicate", "times": 1, "copies": extra})

    # --- the steps --------------------------------------------------------------------
    user = {"payment_methods": {"card": card}}
    placing: StepKind
    if quoted_differs:
        placing = PlaceOrder(
            place_order=PlaceOrderSpec(
                order="order",
                user="shopper",
                items={name: QuotedLine(**line) for name, line in lines.items()},
                payment_method="card",
            )
        )
    else:
        placing = Checkout(
            checkout=CheckoutSpec(
                order="order",
                user="shopper",
                items={name: line["quantity"] for name, line in lines.items()},
                payment_method="card",
            )
        )
    steps: list[Kind] = [placing]
    state: str | None = None
    refused = 0
    for entry in history:
        detail = entry["detail"]
        if entry["kind"] == "transition":
            state = detail["to"]
        elif entry["kind"] == "message_in" and detail["type"] == "payment.refund_failed":
            refused += 1
        elif entry["kind"] == "message_in" and detail["type"] == "order.cancel_requested":
            held = STEP_COMMAND.get(state or "")
            if held is not None:
                # Hold the saga in that state long enough for the cancel to land there.
                delay = int(min(1000, timing_now["step_timeout_seconds"] * 500))
                faults.append({"message": held, "mode": "delay", "delay_ms": delay})
            if state is not None and state != "reserving_inventory":
                steps.append(Wait(wait=WaitSpec(order="order", state=state)))
            steps.append(Cancel(cancel=CancelSpec(order="order")))
        elif entry["kind"] == "message_in" and detail["type"] == "order.shipped":
            if state is not None:
                steps.append(Wait(wait=WaitSpec(order="order", state=state)))
            body = detail["body"]
            shipment = ShipSpec(
                order="order", carrier=body["carrier"], tracking_number=body["trackingNumber"]
            )
            steps.append(Ship(ship=shipment))
        elif entry["kind"] == "operator":
            if state is not None:
                # After as many refusals as ops saw: a retry while a refund backs off
                # resends it at once, and each resend takes one of the declines.
                seen = {"seen": {"payment.refund_failed": refused}} if refused else {}
                steps.append(Wait(wait=WaitSpec(order="order", state=state, **seen)))
            if detail["action"] == "retry" and refund_fault and state == "failed":
                # Failed: every decline was taken; a retry then finds the card repaired.
                steps.append(ClearFaults(clear_faults=ClearFaultsSpec(service="payments")))
            action = OperatorSpec(order="order", reason=detail["reason"] or "ops")
            steps.append(
                Retry(retry=action) if detail["action"] == "retry" else Abort(abort=action)
            )

    if order["status"] == "delivered":  # the saga hears of a shipment, not of a delivery
        steps.append(Deliver(deliver=DeliverSpec(order="order")))

    # --- the outcome ------------------------------------------------------------------
    expect: list[Kind] = [
        ExpectOrder(order=OrderExpectation(order="order", status=order["status"])),
        ExpectSaga(saga=SagaExpectation(order="order", state=saga["state"], steps=sent)),
        ExpectMoney(
            money=MoneyExpectation(
                order="order",
                captured=int(summary["captured"]),
                refunded=int(summary["refunded"]),
                net=int(summary["net"]),
            )
        ),
    ]
    for name, line in lines.items():
        left = products[name]["stock"] - (line["quantity"] if order["status"] in PAID_FOR else 0)
        expect.append(ExpectStock(stock=StockExpectation(product=name, available=left)))
    if saga["state"] in TERMINAL_STATES - {"failed"}:
        expect.append(ExpectAudit(audit="clean"))

    wanted: list[str] = []
    if timeouts:
        wanted += ["step_timeout_seconds", "step_retries"]
    if refusals or timeouts:
        wanted += ["compensation_retries", "compensation_backoff_seconds"]
    timing: dict[str, Any] = {name: timing_now[name] for name in wanted}
    setup: dict[str, Any] = {}
    if timing:
        setup["saga"] = timing
    setup["products"] = products
    setup["users"] = {"shopper": user}
    if faults:
        setup["faults"] = faults
    reason = saga.get("failureReason")
    return {
        "name": f"saga-{saga_id[:8]}",
        "timeout_seconds": replay_timeout(saga),
        "description": (
            f"Exported from saga {saga_id} ({saga['state']}"
            + (f": {reason}" if reason else "")
            + ")."
        ),
        "setup": setup,
        "steps": [_written(step) for step in steps],
        "expect": [_written(expectation) for expectation in expect],
    }


MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS = 30, 600
"""A scenario's own bounds (``timeout_seconds``: the default, and the most allowed)."""


def replay_timeout(saga: dict[str, Any]) -> int:
    """Time enough to replay the saga: twice what it took from creation to its last
    change, and ten seconds more, within a scenario's bounds."""
    took = datetime.fromisoformat(saga["updatedAt"]) - datetime.fromisoformat(saga["createdAt"])
    wanted = math.ceil(took.total_seconds() * 2) + 10
    return max(MIN_TIMEOUT_SECONDS, min(MAX_TIMEOUT_SECONDS, wanted))


def _written(part: Kind) -> dict[str, Any]:
    """A step or an expectation as the file writes it: only what was given."""
    return part.model_dump(mode="json", exclude_unset=True)
