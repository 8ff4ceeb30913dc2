"""What follows from what a saga's steps have done: the proofs of undo, the plan, the way ahead.

Each step has a proof that acknowledged compensations undid every effect it may
have had (:data:`PROOF_OF_UNDO`), so the plan of what is left to undo is derived
from what every step may have done (:func:`undo_plan`), newest first and the
order last, as Temporal's samples run their compensations in reverse of what was
done.  The step catalogue itself is ``steps.py``; the state these functions read
is ``state.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from saga.definition.inputs import Input, input_name
from saga.definition.state import SagaState
from saga.definition.statuses import MAY_HAVE_HAPPENED, SagaStatus, StepName, StepState
from saga.definition.steps import RUNNING, STEP_BY_REPLY, STEPS, Step
from shared.messages import (
    CancelOrder,
    ChargePayment,
    Command,
    ConfirmOrder,
    PaymentCompleted,
    PaymentRefunded,
    RefundPayment,
    ReleaseInventory,
    ReservedItem,
    ReserveInventory,
)


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


PROOF_OF_UNDO: dict[StepName, Callable[[SagaState], bool]] = {
    StepName.inventory: a_release_followed_the_last_reservation,
    StepName.payment: refunds_cover_the_capture,
    StepName.order: a_cancel_followed_the_last_confirmation,
}
"""Per step: whether acknowledged compensations are known to have undone every effect of it."""
if set(PROOF_OF_UNDO) != set(StepName):
    raise AssertionError("every step needs its proof of undo")


def undone(step: Step, saga: SagaState) -> bool:
    """Whether acknowledged compensations are known to have undone every effect of ``step``."""
    return PROOF_OF_UNDO[step.name](saga)


def needs_undo(step: Step, saga: SagaState) -> bool:
    """Whether ``step`` may have had an effect that no compensation is known to have undone."""
    state = saga.steps.get(step.name).state
    may_have_happened = step.always_undone or state in MAY_HAVE_HAPPENED
    return may_have_happened and not undone(step, saga)


def undo_plan(saga: SagaState) -> tuple[Step, ...]:
    """The steps still to undo, in the order their compensations are sent.

    Newest first (refund before release), and the order last whatever happened
    to it: it only shows ``cancelled`` once the stock and the money are back.
    """
    newest_first = tuple(
        step for step in reversed(STEPS) if not step.always_undone and needs_undo(step, saga)
    )
    return newest_first + tuple(
        step for step in STEPS if step.always_undone and needs_undo(step, saga)
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
    step = STEP_BY_REPLY[input_name(reply)]
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
    step = STEP_BY_REPLY[input_name(reply)]
    record = saga.steps.get(step.name)
    record = replace(
        record, state=StepState.done, compensations_at_success=record.compensations_sent
    )
    return noted(replace(saga, steps=saga.steps.with_record(step.name, record)), reply)


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
