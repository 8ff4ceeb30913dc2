"""``oms saga export ID`` for a return saga: the order's scenario up to its delivery
(:func:`oms.scenario.export.export_saga` on the order's saga), then the return.

* the return's lines become a ``return`` of the order's products, the warehouse's
  receipt a ``receive`` of what it recorded;
* a return that expired on its timer needs the receipt timeout the system ran with
  (``setup.saga.return_receipt_timeout_seconds``) and waits for the expiry;
* refunds declined become a ``decline`` fault on ``payment.refund_return``, cleared
  before an ops retry that found the card repaired; ops actions the same action;
* the outcome becomes the return's expectation (status, refund, restocked
  quantities, saga state and commands), the stock with what was restocked, and a
  clean audit.

Only the return is reproduced: an order with other returns that took goods back or
paid money back is refused, as the replay could not end with the same stock and money.
"""

from __future__ import annotations

from typing import Any

from oms.scenario.client import SystemApi, timing_of
from oms.scenario.expectations.returns import ExpectReturn, ReturnExpectation
from oms.scenario.history import commands_of, states_of
from oms.scenario.kinds import Kind
from oms.scenario.spec import RETURN_TERMINAL_STATES
from oms.scenario.steps.faults import ClearFaults, ClearFaultsSpec
from oms.scenario.steps.operator import Abort, OperatorSpec, Retry
from oms.scenario.steps.returns import (
    Receive,
    ReceiveSpec,
    Return,
    ReturnSpec,
    WaitReturn,
    WaitReturnSpec,
)

RETURN = "return"
"""The name the exported file gives the return."""
REFUSED = "payment.return_refund_failed"


class ReturnExportError(LookupError):
    """The return saga (or its return, or its order) cannot be reproduced."""


def _written(part: Kind) -> dict[str, Any]:
    return part.model_dump(mode="json", exclude_unset=True, by_alias=True)


async def export_return(
    api: SystemApi, saga: dict[str, Any], order_scenario: dict[str, Any]
) -> dict[str, Any]:
    """The scenario reproducing return saga ``saga``, given ``order_scenario``: the
    export of its order's saga."""
    return_id = str(saga["id"])
    found = await api.order_return(return_id)
    if found is None:
        raise ReturnExportError(f"saga {return_id!r} has no return")
    order = await api.order(found["orderId"])
    if order is None:
        raise ReturnExportError(f"return {return_id!r} has no order")
    others = [
        r["id"]
        for r in await api.order_returns(found["orderId"])
        if r["id"] != return_id
        and (r["refundedAmount"] or any(line.get("receivedQuantity") for line in r["items"]))
    ]
    if others:
        raise ReturnExportError(
            f"order {found['orderId']!r} has other returns that took goods or money back "
            f"({', '.join(others)}): export reproduces one return"
        )
    history: list[dict[str, Any]] = saga["history"]
    timing_now = timing_of(api.settings, await api.timing())
    name_of = {
        item["productId"]: f"product-{number}" for number, item in enumerate(order["items"], 1)
    }

    scenario = dict(order_scenario)
    setup = dict(scenario["setup"])
    timing = dict(setup.get("saga", {}))
    faults = list(setup.get("faults", []))
    steps: list[dict[str, Any]] = list(scenario["steps"])
    asked = {name_of[line["productId"]]: int(line["quantity"]) for line in found["items"]}
    steps.append(_written(Return(**{RETURN: ReturnSpec(order="order", items=asked, name=RETURN)})))

    received = {
        name_of[line["productId"]]: int(line["receivedQuantity"])
        for line in found["items"]
        if line.get("receivedQuantity") is not None
    }
    refusals = sum(
        1 for h in history if h["kind"] == "message_in" and h["detail"]["type"] == REFUSED
    )
    refunded = any(
        h["kind"] == "message_in" and h["detail"]["type"] == "payment.return_refunded"
        for h in history
    )
    if refusals:
        faults.append({"message": "payment.refund_return", "mode": "decline", "times": refusals})
        timing["compensation_retries"] = timing_now["compensation_retries"]
        timing["compensation_backoff_seconds"] = timing_now["compensation_backoff_seconds"]

    def wait(state: str) -> dict[str, Any]:
        return _written(WaitReturn(wait_return=WaitReturnSpec(**{RETURN: RETURN, "state": state})))

    state: str | None = None
    for entry in history:
        detail = entry["detail"]
        if entry["kind"] == "transition":
            if detail["to"] == "expiring" and state == "awaiting_receipt":
                # Unreceived: the receipt timer fired (an abort is written below).
                timing["return_receipt_timeout_seconds"] = timing_now[
                    "return_receipt_timeout_seconds"
                ]
                steps.append(wait("expired"))
            state = detail["to"]
        elif entry["kind"] == "message_in" and detail["type"] == "return.received":
            spec = ReceiveSpec(**{RETURN: RETURN, "items": received})
            steps.append(_written(Receive(receive=spec)))
        elif entry["kind"] == "operator":
            if state is not None:
                steps.append(wait(state))
            if detail["action"] == "retry" and refunded and state == "failed":
                steps.append(
                    _written(ClearFaults(clear_faults=ClearFaultsSpec(service="payments")))
                )
            action = OperatorSpec(**{RETURN: RETURN, "reason": detail["reason"] or "ops"})
            steps.append(
                _written(
                    Retry(retry=action) if detail["action"] == "retry" else Abort(abort=action)
                )
            )
            if detail["action"] == "abort" and state == "awaiting_receipt":
                state = "aborted"  # the expiry that follows is the abort's, not the timer's

    # --- the outcome: the order's, with what the return put back, and the return's --------
    restocked = {name: received.get(name, 0) for name in asked}
    sent = commands_of(saga)
    expect: list[dict[str, Any]] = []
    for part in scenario["expect"]:
        if "stock" in part:
            product = part["stock"]["product"]
            if "inventory.restock" in sent and product in restocked:
                part = {"stock": {**part["stock"]}}
                part["stock"]["available"] += restocked[product]
        if "audit" not in part:
            expect.append(part)
    counts = {command: sent.count(command) for command in sorted(set(sent))}
    expectation = ReturnExpectation(
        **{
            RETURN: RETURN,
            "status": found["status"],
            "refunded": int(found["refundedAmount"]),
            "restocked": restocked,
            "state": saga["state"],
            "states": states_of(saga),
            "counts": counts,
        }
    )
    expect.append(_written(ExpectReturn(**{RETURN: expectation})))
    if saga["state"] in RETURN_TERMINAL_STATES - {"failed"}:
        expect.append({"audit": "clean"})

    if timing:
        setup["saga"] = timing
    if faults:
        setup["faults"] = faults
    scenario.update(
        name=f"return-{return_id[:8]}",
        description=f"Exported from return saga {return_id} ({saga['state']}) of order "
        f"{found['orderId']}; {order_scenario['description']}",
        setup=setup,
        steps=steps,
        expect=expect,
    )
    return scenario
