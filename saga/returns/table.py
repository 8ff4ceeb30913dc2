"""The return saga's transition table, written out as the order saga's is
(``saga/definition/table.py``): one row a line, for each status, each input it
handles, the guard under which the row applies, the action it runs and the
statuses it may lead to.  Rows for one status and input are tried in order; an
input with no row for the saga's status is ignored, and the history says why.
"""

from __future__ import annotations

from collections.abc import Callable

from saga.definition import (
    DEADLINE_FIRED,
    OPERATOR_ABORT,
    OPERATOR_RETRY,
    DeadlineFired,
    Input,
    Timer,
)
from saga.definition.dispatch import Edge, TableRow, edges
from saga.returns.config import ReturnConfig
from saga.returns.reaction import AWAITS, ReturnReaction
from saga.returns.state import ReturnState
from saga.returns.statuses import ReturnStatus
from shared.messages import (
    InventoryRestocked,
    ReturnClosed,
    ReturnExpired,
    ReturnReceived,
    ReturnRefunded,
    ReturnRefundFailed,
    ReturnRequested,
    model_for,
)

Guard = Callable[[ReturnState, Input, ReturnConfig], bool]
Action = Callable[[ReturnReaction, Input], None]


class ReturnRule(TableRow[ReturnStatus, ReturnState, ReturnConfig, ReturnReaction]):
    pass


class ReturnTransition(Edge[ReturnStatus]):
    pass


# --- guards ------------------------------------------------------------------


def always(state: ReturnState, input: Input, config: ReturnConfig) -> bool:
    return True


otherwise = always


def retries_left(state: ReturnState, input: Input, config: ReturnConfig) -> bool:
    return state.timeouts < config.step_retries


def backing_off(state: ReturnState, input: Input, config: ReturnConfig) -> bool:
    return state.backing_off


def refund_retries_left(state: ReturnState, input: Input, config: ReturnConfig) -> bool:
    return state.refusals < config.refund_retries


def failed_on(status: ReturnStatus) -> Guard:
    def guard(state: ReturnState, input: Input, config: ReturnConfig) -> bool:
        return state.resume is status

    guard.__name__ = f"failed_on_{status.value}"
    return guard


# --- actions -----------------------------------------------------------------


def restock(r: ReturnReaction, input: Input) -> None:
    """The goods arrived: restock what was received (never more than requested)."""
    assert isinstance(input, ReturnReceived)
    asked = {line.product_id: line.quantity for line in r.state.requested}
    received = tuple(
        (item.product_id, min(item.quantity, asked[item.product_id]))
        for item in input.items
        if item.product_id in asked
    )
    r.update(received=received)
    r.move(ReturnStatus.restocking)


def refund(r: ReturnReaction, input: Input) -> None:
    """Restocked: refund the received lines at the prices paid (nothing to refund: close)."""
    r.move(ReturnStatus.refunding if r.state.refund_amount > 0 else ReturnStatus.closing)


def close(r: ReturnReaction, input: Input) -> None:
    assert isinstance(input, ReturnRefunded)
    r.update(refunded=input.amount)
    r.move(ReturnStatus.closing)


def complete(r: ReturnReaction, input: Input) -> None:
    r.update(reason=None, resume=None)
    r.move(ReturnStatus.completed)


def expire(r: ReturnReaction, input: Input) -> None:
    """The window passed unreceived (or ops ended the wait): the return is expired."""
    why = "not received in time" if isinstance(input, DeadlineFired) else "aborted by ops"
    r.update(reason=why)
    r.move(ReturnStatus.expiring)


def finish_expired(r: ReturnReaction, input: Input) -> None:
    r.update(resume=None)
    r.move(ReturnStatus.expired)


def resend(r: ReturnReaction, input: Input) -> None:
    """The awaited command's deadline passed: send it again."""
    r.update(timeouts=r.state.timeouts + 1)
    r.send()


def resend_now(r: ReturnReaction, input: Input) -> None:
    """Ops asks for the awaited command again, with a fresh budget."""
    r.update(timeouts=0, refusals=0)
    r.send()


def back_off_refund(r: ReturnReaction, input: Input) -> None:
    """A refused refund is retried after a wait that doubles per refusal."""
    assert isinstance(input, ReturnRefundFailed)
    refusals = r.state.refusals + 1
    r.update(refusals=refusals, backing_off=True, reason=f"refund declined: {input.reason}")
    attempt = r.state.sent.get(AWAITS[r.state.status], 0)
    r.arm(Timer(AWAITS[r.state.status], attempt, r.config.backoff(refusals)))


def ignore_while_backing_off(r: ReturnReaction, input: Input) -> None:
    r.ignore("a refusal already counted: waiting to retry the refund")


def retry_after_backoff(r: ReturnReaction, input: Input) -> None:
    r.send()


def fail(r: ReturnReaction, why: str) -> None:
    r.update(resume=r.state.status, reason=why, backing_off=False)
    r.update(status=ReturnStatus.failed)
    r.arm(None)


def fail_after_timeouts(r: ReturnReaction, input: Input) -> None:
    command = AWAITS[r.state.status]
    fail(r, f"{command} not answered after {r.state.sent.get(command, 0)} attempts")


def fail_after_refusals(r: ReturnReaction, input: Input) -> None:
    assert isinstance(input, ReturnRefundFailed)
    fail(r, f"refund declined {r.state.refusals + 1} times: {input.reason}")


def resume(r: ReturnReaction, input: Input) -> None:
    """Ops retries a failed return: the command that failed, with a fresh budget."""
    status = r.state.resume or ReturnStatus.refunding
    r.update(refusals=0)
    r.move(status)


AWAITING, EXPIRING, RESTOCKING = (
    ReturnStatus.awaiting_receipt,
    ReturnStatus.expiring,
    ReturnStatus.restocking,
)
REFUNDING, CLOSING = ReturnStatus.refunding, ReturnStatus.closing
COMPLETED, EXPIRED, FAILED = ReturnStatus.completed, ReturnStatus.expired, ReturnStatus.failed
RECEIVED, RESTOCKED = ReturnReceived.type_name, InventoryRestocked.type_name
REFUNDED, REFUSED = ReturnRefunded.type_name, ReturnRefundFailed.type_name
CLOSED, GONE = ReturnClosed.type_name, ReturnExpired.type_name

# fmt: off
RULES: tuple[ReturnRule, ...] = (
    #          During      When            If                   Then                  TransitionTo
    ReturnRule(AWAITING,   RECEIVED,       always,              restock,              (RESTOCKING,)),
    ReturnRule(AWAITING,   DEADLINE_FIRED, always,              expire,               (EXPIRING,)),
    ReturnRule(AWAITING,   OPERATOR_ABORT, always,              expire,               (EXPIRING,)),

    ReturnRule(EXPIRING,   GONE,           always,              finish_expired,       (EXPIRED,)),
    ReturnRule(EXPIRING,   RECEIVED,       always,              restock,              (RESTOCKING,)),
    ReturnRule(EXPIRING,   DEADLINE_FIRED, retries_left,        resend,               (EXPIRING,)),
    ReturnRule(EXPIRING,   DEADLINE_FIRED, otherwise,           fail_after_timeouts,  (FAILED,)),
    ReturnRule(EXPIRING,   OPERATOR_RETRY, always,              resend_now,           (EXPIRING,)),

    ReturnRule(RESTOCKING, RESTOCKED,      always,              refund,               (REFUNDING, CLOSING)),
    ReturnRule(RESTOCKING, DEADLINE_FIRED, retries_left,        resend,               (RESTOCKING,)),
    ReturnRule(RESTOCKING, DEADLINE_FIRED, otherwise,           fail_after_timeouts,  (FAILED,)),
    ReturnRule(RESTOCKING, OPERATOR_RETRY, always,              resend_now,           (RESTOCKING,)),

    ReturnRule(REFUNDING,  REFUNDED,       always,              close,                (CLOSING,)),
    ReturnRule(REFUNDING,  REFUSED,        backing_off,         ignore_while_backing_off, (REFUNDING,)),
    ReturnRule(REFUNDING,  REFUSED,        refund_retries_left, back_off_refund,      (REFUNDING,)),
    ReturnRule(REFUNDING,  REFUSED,        otherwise,           fail_after_refusals,  (FAILED,)),
    ReturnRule(REFUNDING,  DEADLINE_FIRED, backing_off,         retry_after_backoff,  (REFUNDING,)),
    ReturnRule(REFUNDING,  DEADLINE_FIRED, retries_left,        resend,               (REFUNDING,)),
    ReturnRule(REFUNDING,  DEADLINE_FIRED, otherwise,           fail_after_timeouts,  (FAILED,)),
    ReturnRule(REFUNDING,  OPERATOR_RETRY, always,              resend_now,           (REFUNDING,)),

    ReturnRule(CLOSING,    CLOSED,         always,              complete,             (COMPLETED,)),
    ReturnRule(CLOSING,    DEADLINE_FIRED, retries_left,        resend,               (CLOSING,)),
    ReturnRule(CLOSING,    DEADLINE_FIRED, otherwise,           fail_after_timeouts,  (FAILED,)),
    ReturnRule(CLOSING,    OPERATOR_RETRY, always,              resend_now,           (CLOSING,)),

    ReturnRule(FAILED,     OPERATOR_RETRY, always,              resume,               (EXPIRING, RESTOCKING, REFUNDING, CLOSING)),
    ReturnRule(FAILED,     GONE,           failed_on(EXPIRING), finish_expired,       (EXPIRED,)),
    ReturnRule(FAILED,     RECEIVED,       failed_on(EXPIRING), restock,              (RESTOCKING,)),
    ReturnRule(FAILED,     RESTOCKED,      failed_on(RESTOCKING), refund,             (REFUNDING, CLOSING)),
    ReturnRule(FAILED,     REFUNDED,       failed_on(REFUNDING), close,               (CLOSING,)),
    ReturnRule(FAILED,     CLOSED,         failed_on(CLOSING),  complete,             (COMPLETED,)),
)
# fmt: on
"""What :meth:`ReturnSaga.react` dispatches on; anything else is ignored, with why."""

START = ReturnTransition(None, ReturnRequested.type_name, AWAITING)
INPUTS: tuple[str, ...] = (
    ReturnRequested.type_name,
    RECEIVED,
    GONE,
    RESTOCKED,
    REFUNDED,
    REFUSED,
    CLOSED,
    DEADLINE_FIRED,
    OPERATOR_RETRY,
    OPERATOR_ABORT,
)
"""Every input the return saga takes."""

for _rule in RULES:
    if _rule.input not in INPUTS:
        model_for(_rule.input)
        raise AssertionError(f"{_rule.input} is not a return saga input")

TRANSITIONS: tuple[ReturnTransition, ...] = edges(START, RULES, ReturnTransition)
