"""The saga's three steps: the command, replies and compensation of each, and its statuses.

A catalogue and nothing more: it knows no saga state.  What follows from what
the steps have done (when one is undone, the plan of what is left to undo, the
statuses ahead, the command to send) is in ``progress.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from saga.definition.statuses import SagaStatus, StepName
from shared.messages import (
    CancelOrder,
    ChargePayment,
    Command,
    ConfirmOrder,
    Event,
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    OrderCancelled,
    OrderConfirmed,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    RefundPayment,
    ReleaseInventory,
    ReserveInventory,
)


@dataclass(frozen=True)
class Step:
    """One forward step, its compensation, and the statuses the saga has while each runs."""

    name: StepName
    running: SagaStatus
    """The saga's status while the step's command runs."""
    undoing: SagaStatus
    """The saga's status while the step's compensation runs."""
    command: type[Command]
    success: type[Event]
    refusal: type[Event] | None
    compensation: type[Command]
    compensated: type[Event]
    always_undone: bool = False
    """The order must end cancelled even if it was never confirmed."""


INVENTORY = Step(
    name=StepName.inventory,
    running=SagaStatus.reserving_inventory,
    undoing=SagaStatus.releasing_inventory,
    command=ReserveInventory,
    success=InventoryReserved,
    refusal=InventoryInsufficient,
    compensation=ReleaseInventory,
    compensated=InventoryReleased,
)
PAYMENT = Step(
    name=StepName.payment,
    running=SagaStatus.charging_payment,
    undoing=SagaStatus.refunding_payment,
    command=ChargePayment,
    success=PaymentCompleted,
    refusal=PaymentFailed,
    compensation=RefundPayment,
    compensated=PaymentRefunded,
)
ORDER = Step(
    name=StepName.order,
    running=SagaStatus.confirming_order,
    undoing=SagaStatus.cancelling_order,
    command=ConfirmOrder,
    success=OrderConfirmed,
    refusal=None,
    compensation=CancelOrder,
    compensated=OrderCancelled,
    always_undone=True,
)

STEPS: tuple[Step, ...] = (INVENTORY, PAYMENT, ORDER)
"""The forward steps in order."""

STEP_BY_NAME: dict[StepName, Step] = {step.name: step for step in STEPS}
STEP_BY_STATUS: dict[SagaStatus, Step] = {
    status: step for step in STEPS for status in (step.running, step.undoing)
}
STEP_BY_COMMAND: dict[str, Step] = {
    command.type_name: step for step in STEPS for command in (step.command, step.compensation)
}
STEP_BY_REPLY: dict[str, Step] = {
    reply.type_name: step
    for step in STEPS
    for reply in (step.success, step.refusal, step.compensated)
    if reply is not None
}
RUNNING: tuple[SagaStatus, ...] = tuple(step.running for step in STEPS)


def next_step(step: Step) -> Step | None:
    index = STEPS.index(step)
    return STEPS[index + 1] if index + 1 < len(STEPS) else None
