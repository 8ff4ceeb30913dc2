"""The named actions of the transition table: what the saga does when a row applies.

Each is a plain function ``action(reaction, input)``: it updates the state and
sends commands through the :class:`Reaction`.  The table (``table.py``) says in
which status, on which input and under which guard each runs, and where it may
lead; ``react`` checks that it went there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from saga.definition.guards import price_mismatch
from saga.definition.inputs import Input, OperatorAbort, input_name
from saga.definition.progress import acknowledged, succeeded, undo_plan, undone
from saga.definition.reaction import Reaction
from saga.definition.state import SagaState, Timer
from saga.definition.statuses import SagaStatus, StepState
from saga.definition.steps import INVENTORY, ORDER, PAYMENT, STEP_BY_REPLY, Step, next_step
from shared.messages import (
    InventoryInsufficient,
    InventoryReserved,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderShipped,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
)

Action: TypeAlias = Callable[[Reaction, Input], None]

# --- building blocks ----------------------------------------------------------------


def start(r: Reaction, step: Step) -> None:
    """Run ``step`` forward: its status, its command, its timeout."""
    r.update(failures=0)
    r.move(step.running)
    r.send()


def begin_undo(r: Reaction, reason: str) -> None:
    """Give up going forward: undo every step that happened or may have happened."""
    running = r.state.step
    if running is not None and r.step(running.name).state is StepState.pending:
        r.set_step(running.name, state=StepState.unknown)
    r.update(failure_reason=reason)
    undo_next(r)


def undo_next(r: Reaction) -> None:
    """Send the next compensation the plan derived from the steps asks for, or end cancelled."""
    r.update(failures=0, backing_off=False, failed_step=None, compensation_failure=None)
    plan = undo_plan(r.state)
    if not plan:
        r.clear_deadline()
        r.move(SagaStatus.cancelled)
        return
    r.move(plan[0].undoing)
    r.send()


def note_success(r: Reaction, input: Input) -> Step:
    """Record a success reply: its step is done, after every compensation sent so far."""
    r.state = succeeded(r.state, input)
    return STEP_BY_REPLY[input_name(input)]


def fail(r: Reaction) -> None:
    # failed_step keeps the compensation that failed, so an operator retry resumes it.
    step = r.state.step
    r.update(backing_off=False, failed_step=None if step is None else step.name)
    r.clear_deadline()
    r.move(SagaStatus.failed)


def refusal_reason(input: Input) -> str:
    if isinstance(input, InventoryInsufficient):
        short = ", ".join(
            f"{_product(s.product_id, s.name)} (requested {s.requested}, available {s.available})"
            for s in input.shortages
        )
        return f"insufficient stock: {short}" if short else "insufficient stock"
    if isinstance(input, PaymentFailed):
        return f"payment declined: {input.reason} ({input.code})"
    return f"{input_name(input)} refused"


def _product(product_id: str, name: str | None) -> str:
    return f"{name} ({product_id})" if name else product_id


def cancelled_by(saga_user: str, requested_by: str) -> str:
    """Who asked for a cancel, in words: the customer, or ops by name (beside the id)."""
    if requested_by == saga_user:
        return f"cancel requested by the customer ({requested_by})"
    return f"cancel requested by ops {requested_by}"


# --- forward ------------------------------------------------------------------------


def charge_payment(r: Reaction, input: Input) -> None:
    note_success(r, input)
    start(r, PAYMENT)


def confirm_order(r: Reaction, input: Input) -> None:
    note_success(r, input)
    start(r, ORDER)


def complete(r: Reaction, input: Input) -> None:
    note_success(r, input)
    assert next_step(ORDER) is None
    r.update(failures=0)
    r.clear_deadline()
    r.move(SagaStatus.completed)


def release_stock_reserved_at_other_prices(r: Reaction, input: Input) -> None:
    assert isinstance(input, InventoryReserved)
    note_success(r, input)
    begin_undo(r, price_mismatch(r.state.order, input) or "price mismatch")


def undo_refused_step(r: Reaction, input: Input) -> None:
    """Stock insufficient or payment declined: nothing to undo for that step."""
    r.set_step(STEP_BY_REPLY[input_name(input)].name, state=StepState.refused)
    begin_undo(r, refusal_reason(input))


def resend_after_timeout(r: Reaction, input: Input) -> None:
    r.update(failures=r.state.failures + 1)
    r.send()


def undo_after_timeouts(r: Reaction, input: Input) -> None:
    # The outcome is unknown: the command may have been carried out with its reply
    # lost, so the step is compensated as if it happened (refund, release).
    begin_undo(r, f"{r.state.current} not answered after {r.state.attempt} attempts")


def resend_now(r: Reaction, input: Input) -> None:
    """Operator retry: resend the awaited command now with a fresh retry budget."""
    r.update(failures=0)
    r.send()


def undo_on_customer_cancel(r: Reaction, input: Input) -> None:
    assert isinstance(input, OrderCancelRequested)
    begin_undo(r, cancelled_by(r.state.order.user_id, input.requested_by))


def undo_order_cancelled_elsewhere(r: Reaction, input: Input) -> None:
    # Not a reply (no order.cancel was sent): the order was cancelled outside the
    # saga, so undo everything; order.cancel is still sent, and is a no-op.
    assert isinstance(input, OrderCancelled)
    detail = f": {input.reason}" if input.reason else ""
    begin_undo(r, f"order cancelled outside the saga{detail}")


def undo_on_operator_abort(r: Reaction, input: Input) -> None:
    assert isinstance(input, OperatorAbort)
    detail = f": {input.reason}" if input.reason else ""
    begin_undo(r, f"aborted by {input.actor}{detail}")


# --- compensating --------------------------------------------------------------------


def undo_next_step(r: Reaction, input: Input) -> None:
    """The running compensation is acknowledged and proved its step undone: on to the next."""
    r.state = acknowledged(r.state, input)
    step = STEP_BY_REPLY[input_name(input)]
    if r.step(step.name).state in (StepState.done, StepState.being_undone, StepState.not_started):
        r.set_step(step.name, state=StepState.compensated)
    undo_next(r)


def repeat_compensation(r: Reaction, input: Input) -> None:
    """The acknowledgement may answer a compensation carried out before the step's
    effect: send one that surely comes after it."""
    r.state = acknowledged(r.state, input)
    r.update(failures=0)
    r.send()


def ignore_while_backing_off(r: Reaction, input: Input) -> None:
    r.ignore("a retry is already scheduled")


REFUND_SHORT = "refund short"
"""How the reason starts when payments answered a refund sent after the capture with
less than the capture (:func:`refund_short`)."""


def back_off_compensation(r: Reaction, why: str) -> None:
    """The compensation was answered without undoing its step: count the failure,
    say why, and send it again after the backoff."""
    failures = r.state.failures + 1
    r.update(failures=failures, compensation_failure=why, backing_off=True)
    # Same (command, attempt) as the timeout it replaces: see Timer.
    r.arm(Timer(r.state.current or "", r.state.attempt, r.config.backoff(failures)))


def fail_compensation(r: Reaction, why: str) -> None:
    """The compensation's retries are spent: failed for ops, saying why."""
    r.update(failures=r.state.failures + 1, compensation_failure=why)
    fail(r)


def back_off_refund(r: Reaction, input: Input) -> None:
    assert isinstance(input, PaymentRefundFailed)
    back_off_compensation(r, refund_declined(input))


def refund_declined(input: PaymentRefundFailed) -> str:
    return f"refund declined: {input.reason} ({input.code})"


def refund_short(saga: SagaState, input: PaymentRefunded) -> str:
    return (
        f"{REFUND_SHORT}: payments reports {input.amount} refunded of {saga.captured} "
        "captured, answering a refund sent after the capture"
    )


def back_off_short_refund(r: Reaction, input: Input) -> None:
    """A refund sent after the capture was answered with less than it: payments and
    the saga disagree on the money, and sending the next at once would go on for
    ever. Retried after a backoff like a refusal, then failed for ops."""
    assert isinstance(input, PaymentRefunded)
    r.state = acknowledged(r.state, input)
    back_off_compensation(r, refund_short(r.state, input))


def fail_after_short_refunds(r: Reaction, input: Input) -> None:
    assert isinstance(input, PaymentRefunded)
    r.state = acknowledged(r.state, input)
    fail_compensation(r, refund_short(r.state, input))


def fail_after_refusals(r: Reaction, input: Input) -> None:
    assert isinstance(input, PaymentRefundFailed)
    fail_compensation(r, refund_declined(input))


def retry_after_backoff(r: Reaction, input: Input) -> None:
    r.send()


def resend_compensation(r: Reaction, input: Input) -> None:
    r.update(failures=r.state.failures + 1)
    r.send()


def fail_after_timeouts(r: Reaction, input: Input) -> None:
    reason = f"{r.state.current} not answered after {r.state.attempt} attempts"
    r.update(failures=r.state.failures + 1, compensation_failure=reason)
    fail(r)


def resume_failed_compensation(r: Reaction, input: Input) -> None:
    step = r.state.step
    assert step is not None
    r.update(failures=0, failed_step=None)
    r.move(step.undoing)
    r.send()


# --- late replies -----------------------------------------------------------------------


def note_late_success(r: Reaction, input: Input) -> None:
    """A success reply once compensation has begun: the step is done again.

    Even a step already known done is not treated as a duplicate here: a
    participant without tombstones may carry out a delayed command *after* the
    compensation (reserve, release, then a resent reserve), so every success
    reply needs a compensation sent after it.  The undo plan includes the step
    again, and if its compensation is in flight, the acknowledgement no longer
    proves it undone, so it is sent once more.  Compensations are idempotent, so
    a true duplicate costs one no-op command.  A capture that refunds already
    paid back needs nothing.
    """
    step = note_success(r, input)
    if r.state.status is not step.undoing and undone(step, r.state):
        r.set_step(step.name, state=StepState.compensated)


def note_late_refusal(r: Reaction, input: Input) -> None:
    step = STEP_BY_REPLY[input_name(input)]
    state = r.step(step.name).state
    if state not in (StepState.pending, StepState.unknown):
        r.ignore(f"stale: {step.name.value} step is {state.value}")
        return
    r.set_step(step.name, state=StepState.refused)


def note_payment_already_refunded(r: Reaction, input: Input) -> None:
    note_success(r, input)
    r.set_step(PAYMENT.name, state=StepState.compensated)


def reopen_to_undo(r: Reaction, step: Step) -> None:
    r.update(failures=0)
    r.move(step.undoing)
    r.send()


def release_inventory_after_late_reservation(r: Reaction, input: Input) -> None:
    note_success(r, input)
    reopen_to_undo(r, INVENTORY)


def refund_late_payment(r: Reaction, input: Input) -> None:
    note_success(r, input)
    reopen_to_undo(r, PAYMENT)


def cancel_order_after_late_confirmation(r: Reaction, input: Input) -> None:
    note_success(r, input)
    reopen_to_undo(r, ORDER)


# --- the order shipped -----------------------------------------------------------------
#
# Orders ships only a confirmed order with no cancel accepted, and refuses a customer's
# cancel once it shipped, so of a cancel and a shipment the first to reach the order
# wins there.  The saga's own undo (an operator's abort, a step never answered) is
# decided here, not at the order: of that undo and ``order.shipped``, the first to
# reach the saga wins.  A cancel that loses is ignored saying why
# (``react.why_not_expected``); a shipment that loses is noted, and the order's
# cancel tells the warehouse (its reason says the parcel left).


def shipment_of(input: Input) -> str:
    assert isinstance(input, OrderShipped)
    return f"{input.carrier} {input.tracking_number}"


def note_shipment(r: Reaction, input: Input) -> None:
    """The order left the warehouse: from now on a cancel is a return."""
    r.update(shipment=shipment_of(input))


def complete_on_shipment(r: Reaction, input: Input) -> None:
    """Shipped before ``order.confirmed`` arrived: only a confirmed order ships, so the
    order step is done and the saga completes (the confirmation, when it comes, is a
    duplicate)."""
    note_shipment(r, input)
    complete(r, OrderConfirmed(order_id=r.state.saga_id))


def note_shipment_after_undo_began(r: Reaction, input: Input) -> None:
    """The undo reached the saga first and goes on: the order ends cancelled, and its
    reason tells the warehouse the parcel left (``order.cancel`` on a shipped order)."""
    note_shipment(r, input)
