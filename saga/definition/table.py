"""The order saga's transition table, written out: what :meth:`OrderSaga.react` dispatches on.

Read it like a MassTransit state machine (``During / When / If / Then /
TransitionTo``): one row a line, for each status, each input it handles, the
guard under which the row applies, the named action it runs (``actions.py``)
and the statuses it may lead to.  Rows for the same status and input are tried
in order; the first whose guard holds applies.  An input with no row for the
saga's status (or none whose guard holds) is ignored, and the history says why:
a customer's cancel of a completed saga that ``order.shipped`` reached first
is one, since a shipped order is returned, not cancelled.

The diagram (``saga.diagram``, ``oms diagrams``) and the exhaustive table test
read this table; ``react`` refuses an action that ends anywhere its row does
not declare.
"""

from __future__ import annotations

from collections.abc import Sequence

from saga.definition.actions import (
    back_off_refund,
    back_off_short_refund,
    cancel_order_after_late_confirmation,
    charge_payment,
    complete,
    complete_on_shipment,
    confirm_order,
    fail_after_refusals,
    fail_after_short_refunds,
    fail_after_timeouts,
    ignore_while_backing_off,
    note_late_refusal,
    note_late_success,
    note_payment_already_refunded,
    note_shipment,
    note_shipment_after_undo_began,
    refund_late_payment,
    release_inventory_after_late_reservation,
    release_stock_reserved_at_other_prices,
    repeat_compensation,
    resend_after_timeout,
    resend_compensation,
    resend_now,
    resume_failed_compensation,
    retry_after_backoff,
    undo_after_timeouts,
    undo_next_step,
    undo_on_customer_cancel,
    undo_on_operator_abort,
    undo_order_cancelled_elsewhere,
    undo_refused_step,
)
from saga.definition.config import SagaConfig
from saga.definition.dispatch import Edge, TableRow, edges
from saga.definition.guards import (
    already_refunded,
    always,
    backing_off,
    may_predate_capture,
    not_shipped,
    otherwise,
    prices_match,
    proves_the_step_undone,
    step_retries_left,
    undo_retries_left,
)
from saga.definition.inputs import DEADLINE_FIRED, OPERATOR_ABORT, OPERATOR_RETRY
from saga.definition.reaction import Reaction
from saga.definition.state import SagaState
from saga.definition.statuses import SagaStatus
from shared.messages import OrderCreated, model_for


class Rule(TableRow[SagaStatus, SagaState, SagaConfig, Reaction]):
    """In ``source``, on ``input``, if ``guard`` holds, run ``action``, ending in one of ``targets``.

    Unless the action ignores the input (then the status does not change),
    ``react`` checks that the saga ends in one of the declared ``targets``.
    """


class Transition(Edge[SagaStatus]):
    """One edge of the state diagram; ``source`` None is the saga's start."""


RESERVING, CHARGING, CONFIRMING = (
    SagaStatus.reserving_inventory,
    SagaStatus.charging_payment,
    SagaStatus.confirming_order,
)
REFUNDING, RELEASING, CANCELLING = (
    SagaStatus.refunding_payment,
    SagaStatus.releasing_inventory,
    SagaStatus.cancelling_order,
)
COMPLETED, CANCELLED, FAILED = SagaStatus.completed, SagaStatus.cancelled, SagaStatus.failed

# fmt: off
RULES: tuple[Rule, ...] = (
    #    During      When                      If                      Then                                      TransitionTo
    Rule(RESERVING,  "inventory.reserved",     prices_match,           charge_payment,                           (CHARGING,)),
    Rule(RESERVING,  "inventory.reserved",     otherwise,              release_stock_reserved_at_other_prices,   (RELEASING,)),
    Rule(RESERVING,  "inventory.insufficient", always,                 undo_refused_step,                        (CANCELLING,)),
    Rule(RESERVING,  "deadline.fired",         step_retries_left,      resend_after_timeout,                     (RESERVING,)),
    Rule(RESERVING,  "deadline.fired",         otherwise,              undo_after_timeouts,                      (RELEASING,)),
    Rule(RESERVING,  "operator.retry",         always,                 resend_now,                               (RESERVING,)),
    Rule(RESERVING,  "operator.abort",         always,                 undo_on_operator_abort,                   (RELEASING,)),
    Rule(RESERVING,  "order.cancel_requested", always,                 undo_on_customer_cancel,                  (RELEASING,)),
    Rule(RESERVING,  "order.cancelled",        always,                 undo_order_cancelled_elsewhere,           (RELEASING,)),

    Rule(CHARGING,   "payment.completed",      always,                 confirm_order,                            (CONFIRMING,)),
    Rule(CHARGING,   "payment.failed",         always,                 undo_refused_step,                        (RELEASING,)),
    Rule(CHARGING,   "deadline.fired",         step_retries_left,      resend_after_timeout,                     (CHARGING,)),
    Rule(CHARGING,   "deadline.fired",         otherwise,              undo_after_timeouts,                      (REFUNDING,)),
    Rule(CHARGING,   "operator.retry",         always,                 resend_now,                               (CHARGING,)),
    Rule(CHARGING,   "operator.abort",         always,                 undo_on_operator_abort,                   (REFUNDING,)),
    Rule(CHARGING,   "order.cancel_requested", always,                 undo_on_customer_cancel,                  (REFUNDING,)),
    Rule(CHARGING,   "order.cancelled",        always,                 undo_order_cancelled_elsewhere,           (REFUNDING,)),

    Rule(CONFIRMING, "order.confirmed",        always,                 complete,                                 (COMPLETED,)),
    Rule(CONFIRMING, "deadline.fired",         step_retries_left,      resend_after_timeout,                     (CONFIRMING,)),
    Rule(CONFIRMING, "deadline.fired",         otherwise,              undo_after_timeouts,                      (REFUNDING,)),
    Rule(CONFIRMING, "operator.retry",         always,                 resend_now,                               (CONFIRMING,)),
    Rule(CONFIRMING, "operator.abort",         always,                 undo_on_operator_abort,                   (REFUNDING,)),
    Rule(CONFIRMING, "order.cancel_requested", always,                 undo_on_customer_cancel,                  (REFUNDING,)),
    Rule(CONFIRMING, "order.cancelled",        always,                 undo_order_cancelled_elsewhere,           (REFUNDING,)),
    Rule(CONFIRMING, "order.shipped",          always,                 complete_on_shipment,                     (COMPLETED,)),

    Rule(COMPLETED,  "order.cancel_requested", not_shipped,            undo_on_customer_cancel,                  (REFUNDING,)),
    Rule(COMPLETED,  "order.cancelled",        always,                 undo_order_cancelled_elsewhere,           (REFUNDING,)),
    Rule(COMPLETED,  "order.shipped",          always,                 note_shipment,                            (COMPLETED,)),

    Rule(REFUNDING,  "payment.refunded",       proves_the_step_undone, undo_next_step,                           (RELEASING, CANCELLING, CANCELLED)),
    Rule(REFUNDING,  "payment.refunded",       may_predate_capture,    repeat_compensation,                      (REFUNDING,)),
    Rule(REFUNDING,  "payment.refunded",       backing_off,            ignore_while_backing_off,                 (REFUNDING,)),
    Rule(REFUNDING,  "payment.refunded",       undo_retries_left,      back_off_short_refund,                    (REFUNDING,)),
    Rule(REFUNDING,  "payment.refunded",       otherwise,              fail_after_short_refunds,                 (FAILED,)),
    Rule(REFUNDING,  "payment.refund_failed",  backing_off,            ignore_while_backing_off,                 (REFUNDING,)),
    Rule(REFUNDING,  "payment.refund_failed",  undo_retries_left,      back_off_refund,                          (REFUNDING,)),
    Rule(REFUNDING,  "payment.refund_failed",  otherwise,              fail_after_refusals,                      (FAILED,)),
    Rule(REFUNDING,  "deadline.fired",         backing_off,            retry_after_backoff,                      (REFUNDING,)),
    Rule(REFUNDING,  "deadline.fired",         undo_retries_left,      resend_compensation,                      (REFUNDING,)),
    Rule(REFUNDING,  "deadline.fired",         otherwise,              fail_after_timeouts,                      (FAILED,)),
    Rule(REFUNDING,  "operator.retry",         always,                 resend_now,                               (REFUNDING,)),
    Rule(REFUNDING,  "inventory.reserved",     always,                 note_late_success,                        (REFUNDING,)),
    Rule(REFUNDING,  "payment.completed",      always,                 note_late_success,                        (REFUNDING,)),
    Rule(REFUNDING,  "order.confirmed",        always,                 note_late_success,                        (REFUNDING,)),
    Rule(REFUNDING,  "payment.failed",         always,                 note_late_refusal,                        (REFUNDING,)),
    Rule(REFUNDING,  "order.shipped",          always,                 note_shipment_after_undo_began,           (REFUNDING,)),

    Rule(RELEASING,  "inventory.released",     proves_the_step_undone, undo_next_step,                           (REFUNDING, CANCELLING, CANCELLED)),
    Rule(RELEASING,  "inventory.released",     otherwise,              repeat_compensation,                      (RELEASING,)),
    Rule(RELEASING,  "deadline.fired",         undo_retries_left,      resend_compensation,                      (RELEASING,)),
    Rule(RELEASING,  "deadline.fired",         otherwise,              fail_after_timeouts,                      (FAILED,)),
    Rule(RELEASING,  "operator.retry",         always,                 resend_now,                               (RELEASING,)),
    Rule(RELEASING,  "inventory.reserved",     always,                 note_late_success,                        (RELEASING,)),
    Rule(RELEASING,  "payment.completed",      always,                 note_late_success,                        (RELEASING,)),
    Rule(RELEASING,  "order.confirmed",        always,                 note_late_success,                        (RELEASING,)),
    Rule(RELEASING,  "inventory.insufficient", always,                 note_late_refusal,                        (RELEASING,)),
    Rule(RELEASING,  "payment.failed",         always,                 note_late_refusal,                        (RELEASING,)),
    Rule(RELEASING,  "order.shipped",          always,                 note_shipment_after_undo_began,           (RELEASING,)),

    Rule(CANCELLING, "order.cancelled",        proves_the_step_undone, undo_next_step,                           (REFUNDING, RELEASING, CANCELLED)),
    Rule(CANCELLING, "order.cancelled",        otherwise,              repeat_compensation,                      (CANCELLING,)),
    Rule(CANCELLING, "deadline.fired",         undo_retries_left,      resend_compensation,                      (CANCELLING,)),
    Rule(CANCELLING, "deadline.fired",         otherwise,              fail_after_timeouts,                      (FAILED,)),
    Rule(CANCELLING, "operator.retry",         always,                 resend_now,                               (CANCELLING,)),
    Rule(CANCELLING, "inventory.reserved",     always,                 note_late_success,                        (CANCELLING,)),
    Rule(CANCELLING, "payment.completed",      always,                 note_late_success,                        (CANCELLING,)),
    Rule(CANCELLING, "order.confirmed",        always,                 note_late_success,                        (CANCELLING,)),
    Rule(CANCELLING, "inventory.insufficient", always,                 note_late_refusal,                        (CANCELLING,)),
    Rule(CANCELLING, "payment.failed",         always,                 note_late_refusal,                        (CANCELLING,)),
    Rule(CANCELLING, "order.shipped",          always,                 note_shipment_after_undo_began,           (CANCELLING,)),

    Rule(CANCELLED,  "inventory.reserved",     always,                 release_inventory_after_late_reservation, (RELEASING,)),
    Rule(CANCELLED,  "payment.completed",      already_refunded,       note_payment_already_refunded,            (CANCELLED,)),
    Rule(CANCELLED,  "payment.completed",      otherwise,              refund_late_payment,                      (REFUNDING,)),
    Rule(CANCELLED,  "order.confirmed",        always,                 cancel_order_after_late_confirmation,     (CANCELLING,)),
    Rule(CANCELLED,  "inventory.insufficient", always,                 note_late_refusal,                        (CANCELLED,)),
    Rule(CANCELLED,  "payment.failed",         always,                 note_late_refusal,                        (CANCELLED,)),

    Rule(FAILED,     "operator.retry",         always,                 resume_failed_compensation,               (REFUNDING, RELEASING, CANCELLING)),
    Rule(FAILED,     "inventory.reserved",     always,                 note_late_success,                        (FAILED,)),
    Rule(FAILED,     "payment.completed",      always,                 note_late_success,                        (FAILED,)),
    Rule(FAILED,     "order.confirmed",        always,                 note_late_success,                        (FAILED,)),
    Rule(FAILED,     "inventory.insufficient", always,                 note_late_refusal,                        (FAILED,)),
    Rule(FAILED,     "payment.failed",         always,                 note_late_refusal,                        (FAILED,)),
    Rule(FAILED,     "order.shipped",          always,                 note_shipment_after_undo_began,           (FAILED,)),
)
# fmt: on
"""The table :meth:`OrderSaga.react` dispatches on; anything not in it is ignored."""

START = Transition(None, OrderCreated.type_name, SagaStatus.reserving_inventory)
"""The saga's birth: ``order.created`` creates it reserving inventory (not a row: no state yet)."""


def check_inputs(rules: Sequence[Rule]) -> None:
    """Refuse a table naming an input the saga cannot receive (a typo would never match)."""
    pseudo = {DEADLINE_FIRED, OPERATOR_RETRY, OPERATOR_ABORT}
    for rule in rules:
        if rule.input not in pseudo:
            model_for(rule.input)  # raises UnknownMessageType


check_inputs(RULES)


def transitions_of(rules: Sequence[Rule]) -> tuple[Transition, ...]:
    """The edges a rule table can take, the start edge first."""
    return edges(START, rules, Transition)


TRANSITIONS: tuple[Transition, ...] = transitions_of(RULES)
"""Every (from, input, to) the saga can take, derived from :data:`RULES`."""
