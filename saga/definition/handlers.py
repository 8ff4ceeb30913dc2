"""What the saga does on each input its table names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from saga.definition.errors import UndeclaredTransition
from saga.definition.inputs import Input, OperatorAbort, input_name
from saga.definition.reaction import Reaction
from saga.definition.state import Deadline, OrderData
from saga.definition.statuses import POSSIBLY_DONE, SagaStatus, StepName, StepState
from saga.definition.steps import SPEC_BY_COMMAND, STEPS, StepSpec, next_spec
from shared.messages import (
    InventoryInsufficient,
    InventoryReserved,
    OrderCancelled,
    OrderCancelRequested,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
    RefundPayment,
)

#
# A handler gets the reaction and the input its rule matched.  Handlers for the
# forward steps and for compensations are built per step from STEPS, so the three
# steps cannot drift apart.

Handler: TypeAlias = Callable[[Reaction, Input], None]


def start_step(r: Reaction, spec: StepSpec) -> None:
    r.update(current=spec.action.type_name, failures=0)
    r.move(spec.status)
    r.send(spec.action.type_name)


def _begin_compensation(r: Reaction, reason: str) -> None:
    """Undo every step that happened or may have happened, newest first, then cancel."""
    if r.state.current is not None:
        running = SPEC_BY_COMMAND[r.state.current]
        if r.step(running.name).state is StepState.pending:
            r.set_step(running.name, state=StepState.unknown)
    # Newest first (refund before release), and the order last whatever happened to
    # it: it only shows `cancelled` once the stock and the money are back.
    undo = tuple(
        spec.compensation.type_name
        for spec in reversed(STEPS)
        if not spec.always_compensate and r.step(spec.name).state in POSSIBLY_DONE
    )
    plan = undo + tuple(spec.compensation.type_name for spec in STEPS if spec.always_compensate)
    r.update(
        failure_reason=reason,
        current=plan[0],
        pending_compensations=plan[1:],
        failures=0,
    )
    r.move(SagaStatus.compensating)
    r.send(plan[0])


def _next_compensation(r: Reaction) -> None:
    queue = r.state.pending_compensations
    if queue:
        r.update(current=queue[0], pending_compensations=queue[1:], failures=0)
        r.send(queue[0])
        return
    r.update(current=None, failures=0, backing_off=False)
    r.clear_deadline()
    r.move(SagaStatus.cancelled)


def _succeeded(r: Reaction, spec: StepSpec, input: Input) -> None:
    """Record a success reply: the step is done, after every compensation sent so far."""
    sent = r.step(spec.name).compensations_sent
    r.set_step(spec.name, state=StepState.done, compensations_at_success=sent)
    _note_money(r, input)


def _price_mismatch(order: OrderData, reserved: InventoryReserved) -> str | None:
    """Why the prices the reservation reports do not back the order, or None.

    Every order line must carry its product's catalogue unit price and currency
    as the reservation reports them, and the total must be what they add up to:
    the saga charges the order's total, so a price set by the caller (a stale
    client, a script) is refused here whoever placed the order."""
    catalogue = {item.product_id: item for item in reserved.items}
    problems: dict[str, str] = {}
    for line in order.items:
        item = catalogue.get(line.product_id)
        if item is None or item.unit_price is None or item.currency is None:
            problems[line.product_id] = f"{line.product_id} was reserved without a catalogue price"
        elif item.currency != order.currency:
            problems[line.product_id] = (
                f"{line.product_id} is priced in {item.currency}, the order in {order.currency}"
            )
        elif item.unit_price != line.unit_price:
            problems[line.product_id] = (
                f"{line.product_id} costs {item.unit_price} {item.currency} in the catalogue, "
                f"the order says {line.unit_price}"
            )
    if not problems:
        priced = sum(
            line.quantity * (catalogue[line.product_id].unit_price or 0) for line in order.items
        )
        if priced != order.total_amount:
            problems["total"] = f"the total {order.total_amount} is not the catalogue's {priced}"
    return "price mismatch: " + "; ".join(problems.values()) if problems else None


def _forward_success(spec: StepSpec) -> Handler:
    def handle(r: Reaction, input: Input) -> None:
        _succeeded(r, spec, input)
        if isinstance(input, InventoryReserved):
            mismatch = _price_mismatch(r.state.order, input)
            if mismatch is not None:
                _begin_compensation(r, mismatch)
                return
        following = next_spec(spec)
        if following is not None:
            start_step(r, following)
            return
        r.update(current=None, failures=0)
        r.clear_deadline()
        r.move(SagaStatus.completed)

    return handle


def _refusal_reason(input: Input) -> str:
    if isinstance(input, InventoryInsufficient):
        short = ", ".join(
            f"{s.product_id} (requested {s.requested}, available {s.available})"
            for s in input.shortages
        )
        return f"insufficient stock: {short}" if short else "insufficient stock"
    if isinstance(input, PaymentFailed):
        return f"payment declined: {input.reason} ({input.code})"
    return f"{input_name(input)} refused"


def _forward_refusal(spec: StepSpec) -> Handler:
    def handle(r: Reaction, input: Input) -> None:
        r.set_step(spec.name, state=StepState.refused)
        _begin_compensation(r, _refusal_reason(input))

    return handle


def _forward_timeout(r: Reaction, input: Input) -> None:
    command = _current(r)
    if r.state.failures < r.config.step_retries:
        r.update(failures=r.state.failures + 1)
        r.send(command)
        return
    # The outcome is unknown: the command may have been carried out with its reply
    # lost, so the step is compensated as if it happened (refund, release).
    _begin_compensation(r, f"{command} not answered after {r.state.attempt} attempts")


def _retry_current(r: Reaction, input: Input) -> None:
    """Resend the awaited command now with a fresh retry budget."""
    r.update(failures=0)
    r.send(_current(r))


def _customer_cancel(r: Reaction, input: Input) -> None:
    assert isinstance(input, OrderCancelRequested)
    _begin_compensation(r, f"cancel requested by {input.requested_by}")


def _order_cancelled_elsewhere(r: Reaction, input: Input) -> None:
    # Not a reply (no order.cancel was sent): the order was cancelled outside the
    # saga, so undo everything; order.cancel is still sent, and is a no-op.
    assert isinstance(input, OrderCancelled)
    detail = f": {input.reason}" if input.reason else ""
    _begin_compensation(r, f"order cancelled outside the saga{detail}")


def _operator_abort(r: Reaction, input: Input) -> None:
    assert isinstance(input, OperatorAbort)
    detail = f": {input.reason}" if input.reason else ""
    _begin_compensation(r, f"aborted by {input.actor}{detail}")


def _note_money(r: Reaction, input: Input) -> None:
    if isinstance(input, PaymentCompleted):
        r.update(captured=max(r.state.captured, input.amount))
    elif isinstance(input, PaymentRefunded):
        r.update(refunded=max(r.state.refunded, input.amount))


def _undone(r: Reaction, spec: StepSpec) -> bool:
    """Whether an acknowledged compensation is known to have undone the step.

    Money is settled by the amounts: an order has at most one capture, and
    payments answers a refund with the total refunded so far, so the refund is
    complete once that total reaches what was captured, whichever refund
    command the answer belongs to.  For the other steps the answers carry no
    such total, so the saga counts them (see StepRecord): a step learned done
    after its compensation went out needs one more, sent after that.
    """
    if spec.name is StepName.payment:
        return r.state.refunded >= r.state.captured
    return r.step(spec.name).undone


def _compensation_acknowledged(spec: StepSpec) -> Handler:
    def handle(r: Reaction, input: Input) -> None:
        command = spec.compensation.type_name
        if r.state.current != command:
            r.ignore(f"not waiting for {command}")
            return
        _note_money(r, input)
        acknowledged = r.step(spec.name).compensations_acknowledged + 1
        r.set_step(spec.name, compensations_acknowledged=acknowledged)
        if not _undone(r, spec):
            # The answer may belong to a compensation processed before the step's
            # effect: send one that surely comes after it.
            r.update(failures=0)
            r.send(command)
            return
        if r.step(spec.name).state in (
            StepState.done,
            StepState.compensating,
            StepState.not_started,
        ):
            r.set_step(spec.name, state=StepState.compensated)
        _next_compensation(r)

    return handle


def _compensation_refused(r: Reaction, input: Input) -> None:
    assert isinstance(input, PaymentRefundFailed)
    if r.state.current != RefundPayment.type_name:
        r.ignore(f"not waiting for {RefundPayment.type_name}")
        return
    if r.state.backing_off:
        r.ignore("a retry is already scheduled")
        return
    failures = r.state.failures + 1
    reason = f"refund declined: {input.reason} ({input.code})"
    r.update(failures=failures, failure_reason=reason)
    if failures > r.config.compensation_retries:
        _fail(r)
        return
    # Same (step, attempt) as the timeout it replaces: see Deadline.
    r.update(backing_off=True)
    r.arm(Deadline(RefundPayment.type_name, r.state.attempt, r.config.backoff(failures)))


def _compensation_timeout(r: Reaction, input: Input) -> None:
    command = _current(r)
    if r.state.backing_off:
        r.send(command)
        return
    failures = r.state.failures + 1
    r.update(failures=failures)
    if failures > r.config.compensation_retries:
        r.update(failure_reason=f"{command} not answered after {r.state.attempt} attempts")
        _fail(r)
        return
    r.send(command)


def _fail(r: Reaction) -> None:
    # `current` keeps the compensation that failed, so an operator retry resumes it.
    r.update(backing_off=False)
    r.clear_deadline()
    r.move(SagaStatus.failed)


def _resume_failed(r: Reaction, input: Input) -> None:
    r.move(SagaStatus.compensating)
    _retry_current(r, input)


def _late_success(spec: StepSpec) -> Handler:
    """A success reply once compensation has begun: make sure a compensation follows it.

    Even a step already known done is not treated as a duplicate here: a
    participant without tombstones may carry out a delayed command *after* the
    compensation (reserve, release, then a resent reserve), so every success
    reply needs a compensation sent after it.  Compensations are idempotent, so
    a true duplicate costs one no-op command.
    """

    def handle(r: Reaction, input: Input) -> None:
        _succeeded(r, spec, input)
        command = spec.compensation.type_name
        if spec.name is StepName.payment and command != r.state.current and _undone(r, spec):
            # A refund already paid back what this reports captured.
            r.set_step(spec.name, state=StepState.compensated)
            return
        if command in r.state.pending_compensations:
            return  # still to be sent, so it will come after this reply
        if command == r.state.current:
            # In flight, maybe from before this reply: as the step is now `done`, its
            # acknowledgement sends it once more (see _compensation_acknowledged).
            return
        if r.state.status is SagaStatus.cancelled:
            r.update(current=command, pending_compensations=(), failures=0)
            r.move(SagaStatus.compensating)
            r.send(command)
            return
        # compensating or failed: undo it after the compensations already planned.
        r.update(pending_compensations=(*r.state.pending_compensations, command))

    return handle


def _late_refusal(spec: StepSpec) -> Handler:
    def handle(r: Reaction, input: Input) -> None:
        if r.step(spec.name).state not in (StepState.pending, StepState.unknown):
            r.ignore(f"stale: {spec.name.value} step is {r.step(spec.name).state.value}")
            return
        r.set_step(spec.name, state=StepState.refused)

    return handle


def _current(r: Reaction) -> str:
    command = r.state.current
    if command is None:  # every rule using this only exists for statuses that await a reply
        raise UndeclaredTransition(f"no command awaited in status {r.state.status}")
    return command
