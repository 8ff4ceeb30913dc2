"""Sagas stored by definition version 3 continue under this one.

``tests/data/v3_sagas.json`` holds sagas recorded by version 3 (one ``compensating`` status,
the undo plan kept as ``pendingCompensations``), each stopped in the middle of a
compensation: its stored state, the tape of inputs and decisions that led there,
and how version 3 went on to finish it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from saga.definition import (
    COMPENSATING,
    Input,
    OrderSaga,
    RecordedDecision,
    SagaConfig,
    SagaState,
    SagaStatus,
    StepName,
    input_from_json,
    replay,
    undo_plan,
)
from tests.unit.saga.definition.given import CANCEL_REQUESTED, GIVEN, SHIPPED, run

STORED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[3] / "data" / "v3_sagas.json").read_text(encoding="utf-8")
)
# The configuration the sagas were recorded with (tests/unit/saga/definition/given.py).
SAGA = OrderSaga(SagaConfig(compensation_retries=2, compensation_backoff_seconds=2))
s = SagaStatus

RESUMES_IN = {
    "refunding_payment": (s.refunding_payment, None),
    "releasing_inventory": (s.releasing_inventory, None),
    "cancelling_order": (s.cancelling_order, None),
    "releasing_after_decline": (s.releasing_inventory, None),
    "refunding_late_charge": (s.refunding_payment, None),
    "cancelling_then_releasing_late_reserve": (s.cancelling_order, None),
    "refund_backing_off": (s.refunding_payment, None),
    "failed_refunding": (s.failed, StepName.payment),
    "failed_cancelling_late_reserve": (s.failed, StepName.order),
    "releasing_late_charge": (s.releasing_inventory, None),
}
UNCHANGED = sorted(RESUMES_IN.keys() - {"releasing_late_charge"})
"""Sagas version 4 finishes exactly as version 3 did."""


def tape(name: str, part: str) -> tuple[list[Input], list[RecordedDecision]]:
    entries = STORED[name][part]
    return (
        [input_from_json(e["input"]) for e in entries],
        [RecordedDecision.from_json(e["decision"]) for e in entries],
    )


def test_the_fixture_was_recorded_by_version_3_mid_compensation() -> None:
    assert RESUMES_IN.keys() == STORED.keys()
    for saga in STORED.values():
        assert saga["definitionVersion"] == 3
        assert saga["state"]["status"] in (COMPENSATING, "failed")
        assert "pendingCompensations" in saga["state"]
    assert OrderSaga.version == 6


@pytest.mark.parametrize("name", sorted(RESUMES_IN))
def test_a_v3_state_resumes_in_the_state_named_after_its_compensation(name: str) -> None:
    stored = STORED[name]["state"]
    state = SagaState.from_json(stored)

    assert (state.status, state.failed_step) == RESUMES_IN[name]
    assert state.current == stored["current"]
    # The plan is derived from the steps: the same compensations as the stored queue.
    planned = {step.compensation.type_name for step in undo_plan(state)}
    assert planned == {stored["current"], *stored["pendingCompensations"]}
    # Stored again, it is a version 4 state that reads back equal.
    assert "pendingCompensations" not in state.to_json()
    assert SagaState.from_json(state.to_json()) == state


@pytest.mark.parametrize("name", UNCHANGED)
def test_a_v3_saga_stopped_mid_compensation_is_finished_as_v3_would_have(name: str) -> None:
    state = SagaState.from_json(STORED[name]["state"])
    inputs, recorded = tape(name, "then")

    for input, v3 in zip(inputs, recorded, strict=True):
        decision = SAGA.react(state, input)
        assert v3.agrees_with(RecordedDecision.of(decision)), (input, v3, decision.state.status)
        state = decision.state

    assert state.status is s.cancelled
    assert state.deadline is None
    assert state.steps.inventory.undone or state.steps.inventory.state.value in (
        "refused",
        "compensated",
    )


def test_a_capture_learned_while_releasing_is_now_refunded_before_the_cancel() -> None:
    state = SagaState.from_json(STORED["releasing_late_charge"]["state"])
    _, v3 = tape("releasing_late_charge", "then")
    assert [d.commands for d in v3] == [("order.cancel",), ("payment.refund",), ()]
    released, cancelled, refunded = (
        input_from_json(e["input"]) for e in STORED["releasing_late_charge"]["then"]
    )

    sent = []
    for input in (released, refunded, cancelled):
        decision = SAGA.react(state, input)
        sent.append((decision.state.status, [c.type_name for c in decision.commands]))
        state = decision.state

    assert sent == [
        (s.refunding_payment, ["payment.refund"]),
        (s.cancelling_order, ["order.cancel"]),
        (s.cancelled, []),
    ]
    assert state.refunded == state.captured == 1999


@pytest.mark.parametrize("name", UNCHANGED)
def test_replaying_a_v3_history_reports_no_divergence(name: str) -> None:
    before, recorded_before = tape(name, "tape")
    after, recorded_after = tape(name, "then")

    report = replay(SAGA, before + after, recorded_before + recorded_after)

    assert report.ok, report.divergences
    assert report.final_state is not None
    assert report.final_state.status is s.cancelled


def test_replaying_a_v3_history_reports_exactly_where_v4_decides_otherwise() -> None:
    before, recorded_before = tape("releasing_late_charge", "tape")
    after, recorded_after = tape("releasing_late_charge", "then")

    report = replay(SAGA, before + after, recorded_before + recorded_after)

    first = report.divergences[0]
    assert first.index == len(before)
    assert first.expected == RecordedDecision(COMPENSATING, ("order.cancel",))
    assert first.actual == RecordedDecision("refunding_payment", ("payment.refund",))
    assert [d.index for d in report.divergences] == [len(before), len(before) + 1, len(before) + 2]


def test_a_recorded_compensating_agrees_only_with_an_undo_sending_the_same_commands() -> None:
    v3 = RecordedDecision(COMPENSATING, ("inventory.release",))

    assert v3.agrees_with(RecordedDecision("releasing_inventory", ("inventory.release",)))
    assert not v3.agrees_with(RecordedDecision("refunding_payment", ("inventory.release",)))
    assert RecordedDecision(COMPENSATING, ()).agrees_with(RecordedDecision("refunding_payment", ()))
    assert not v3.agrees_with(RecordedDecision("releasing_inventory", ()))
    assert not v3.agrees_with(RecordedDecision("cancelled", ("inventory.release",)))
    assert not RecordedDecision("refunding_payment", ()).agrees_with(
        RecordedDecision("releasing_inventory", ())
    )


def test_a_v5_state_has_no_shipment_and_takes_one_under_version_6() -> None:
    completed = run(GIVEN["completed"])
    assert completed is not None
    stored_by_v5 = {k: v for k, v in completed.to_json().items() if k != "shipment"}

    state = SagaState.from_json(stored_by_v5)
    assert state == completed
    assert state.shipment is None
    # A v5 saga never saw order.shipped: a customer's cancel still undoes it.
    assert SAGA.react(state, CANCEL_REQUESTED).state.status is s.refunding_payment
    shipped = SAGA.react(state, SHIPPED).state
    assert shipped.shipment == "DHL JD0142"
    assert SAGA.react(shipped, CANCEL_REQUESTED).ignored
