"""The saga's three steps: the command, replies and compensation of each, and the undo plan.

Each step says when an acknowledged compensation is known to have undone it
(:attr:`Step.undone`), so the plan of what is left to undo is derived from what
every step may have done (:func:`undo_plan`), newest first and the order last,
as Temporal's samples run their compensations in reverse of what was done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from saga.definition.statuses import MAY_HAVE_HAPPENED, SagaStatus, StepName, StepState
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
    ReservedItem,
    ReserveInventory,
)

if TYPE_CHECKING:
    from saga.definition.inputs import Input
    from saga.definition.state import SagaState


def a_release_followed_the_last_reservation(saga: SagaState) -> bool:
    """The proof of a release: counting (see ``StepRecord``), as its answer carries no total."""
    return saga.steps.inventory.undone


def a_cancel_followed_the_last_confirmation(saga: SagaState) -> bool:
    """The proof of a cancel: counting (see ``StepRecord``), as its answer carries no total."""
    return saga.steps.order.undone


def refunds_cover_the_capture(saga: SagaState) -> bool:
    """The proof of a refund: money is settled by amounts.

    An order has at most one capture, and payments answers a refund with the
    total refunded so far, so once a refund was acknowledged and that total
    reaches what was captured, the money is back, whichever refund the answer
    belongs to.
    """
    record = saga.steps.payment
    return record.compensations_acknowledged > 0 and saga.refunded >= saga.captured


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
    undone: Callable[[SagaState], bool]
    """Whether acknowledged compensations are known to have undone every effect of the step."""
    always_undone: bool = False
    """The order must end cancelled even if it was never confirmed."""

    def needs_undo(self, saga: SagaState) -> bool:
        """Whether the step may have had an effect that no compensation is known to have undone."""
        may_have_happened = self.always_undone or saga.steps.get(self.name).state in (
            MAY_HAVE_HAPPENED
        )
        return may_have_happened and not self.undone(saga)


INVENTORY = Step(
    name=StepName.inventory,
    running=SagaStatus.reserving_inventory,
    undoing=SagaStatus.releasing_inventory,
    command=ReserveInventory,
    success=InventoryReserved,
    refusal=InventoryInsufficient,
    compensation=ReleaseInventory,
    compensated=InventoryReleased,
    undone=a_release_followed_the_last_reservation,
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
    undone=refunds_cover_the_capture,
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
    undone=a_cancel_followed_the_last_confirmation,
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


def undo_plan(saga: SagaState) -> tuple[Step, ...]:
    """The steps still to undo, in the order their compensations are sent.

    Newest first (refund before release), and the order last whatever happened
    to it: it only shows ``cancelled`` once the stock and the money are back.
    """
    newest_first = tuple(
        step for step in reversed(STEPS) if not step.always_undone and step.needs_undo(saga)
    )
    return newest_first + tuple(
        step for step in STEPS if step.always_undone and step.needs_undo(saga)
    )


def statuses_ahead(saga: SagaState) -> tuple[SagaStatus, ...]:
    """The statuses the saga will pass through from here if every step answers as hoped:
    the forward steps left and ``completed``, or, while undoing (or failed, to be
    resumed), the compensations left and ``cancelled``.  Nothing once at rest."""
    if saga.status in (SagaStatus.completed, SagaStatus.cancelled):
        return ()
    if saga.status in RUNNING:
        later = STEPS[RUNNING.index(saga.status) + 1 :]
        return (*(step.running for step in later), SagaStatus.completed)
    undo = tuple(step.undoing for step in undo_plan(saga) if step.undoing is not saga.status)
    return (*undo, SagaStatus.cancelled)


def acknowledged(saga: SagaState, reply: Input) -> SagaState:
    """``saga`` once it counted ``reply``, an acknowledgement of its running compensation."""
    step = STEP_BY_REPLY[_type_name(reply)]
    record = saga.steps.get(step.name)
    record = replace(record, compensations_acknowledged=record.compensations_acknowledged + 1)
    return noted(replace(saga, steps=saga.steps.with_record(step.name, record)), reply)


def noted(saga: SagaState, reply: Input) -> SagaState:
    """``saga`` with the amounts ``reply`` reports captured or refunded."""
    if isinstance(reply, PaymentCompleted):
        return replace(saga, captured=max(saga.captured, reply.amount))
    if isinstance(reply, PaymentRefunded):
        return replace(saga, refunded=max(saga.refunded, reply.amount))
    return saga


def succeeded(saga: SagaState, reply: Input) -> SagaState:
    """``saga`` once ``reply`` reported its step done, after every compensation sent so far."""
    step = STEP_BY_REPLY[_type_name(reply)]
    record = saga.steps.get(step.name)
    record = replace(
        record, state=StepState.done, compensations_at_success=record.compensations_sent
    )
    return noted(replace(saga, steps=saga.steps.with_record(step.name, record)), reply)


def _type_name(reply: Input) -> str:
    return str(getattr(reply, "type_name", ""))


def build_command(saga: SagaState, command: type[Command]) -> Command:
    """The message for ``command``, built from what ``order.created`` told the saga."""
    order = saga.order
    if command is ReserveInventory:
        items = [ReservedItem(product_id=i.product_id, quantity=i.quantity) for i in order.items]
        return ReserveInventory(order_id=saga.saga_id, items=items)
    if command is ReleaseInventory:
        return ReleaseInventory(order_id=saga.saga_id)
    if command is ChargePayment or command is RefundPayment:
        # A refund asks for what the saga charged; payments refunds what it actually
        # captured (nothing, if the charge never happened), so this is always safe.
        return command(
            order_id=saga.saga_id,
            user_id=order.user_id,
            amount=order.total_amount,
            currency=order.currency,
            payment_method_id=order.payment_method_id,
        )
    if command is ConfirmOrder:
        return ConfirmOrder(order_id=saga.saga_id)
    if command is CancelOrder:
        return CancelOrder(order_id=saga.saga_id, reason=saga.failure_reason)
    raise ValueError(f"the order saga does not send {command.type_name!r}")
