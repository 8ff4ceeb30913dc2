"""The order saga's transition table, input by input: every (status, input) pair.

Each case starts from a saga driven to some point by real inputs (``given.py``),
feeds one more input and checks the status it ends in, the commands it sends and
the history it writes; every declared transition is taken by a case, and every
input in every reachable state is answered by the table or ignored with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from saga.definition import (
    DEADLINE_FIRED,
    START,
    TRANSITIONS,
    DeadlineFired,
    Decision,
    OrderSaga,
    SagaState,
    SagaStatus,
    Transition,
    UndeclaredTransition,
    input_name,
)
from tests.unit.saga.definition.given import (
    ABORT,
    CANCEL,
    CANCEL_REQUESTED,
    CHARGE,
    CONFIG,
    CONFIRM,
    CONFIRMED,
    CREATED,
    DECLINED,
    FIRE,
    GIVEN,
    IGN,
    IN,
    INSUFFICIENT,
    MOVE,
    OP,
    ORDER_CANCELLED,
    OTHER_ORDER,
    OUT,
    PAID,
    REFUND,
    REFUND_FAILED,
    REFUNDED,
    REFUNDED_NOTHING,
    RELEASE,
    RELEASED,
    RESERVE,
    RESERVED,
    RESERVED_AT_CATALOGUE_PRICE,
    RETRY,
    SAGA,
    SHIPPED,
    TIMEOUT,
    Feed,
    Fire,
    resolve,
    run,
    s,
)


@dataclass(frozen=True)
class Case:
    given: str
    input: Feed
    status: SagaStatus
    commands: tuple[str, ...]
    history: tuple[str, ...]
    label: str = ""

    @property
    def id(self) -> str:
        name = self.label or (
            input_name(self.input) if not isinstance(self.input, Fire) else "deadline"
        )
        return f"{self.given}--{name}"


CASES = [
    # --- start
    Case("new", CREATED, s.reserving_inventory, (RESERVE,), (IN, OUT, MOVE)),
    # --- reserving_inventory
    Case("reserving", RESERVED, s.charging_payment, (CHARGE,), (IN, OUT, MOVE)),
    Case("reserving", INSUFFICIENT, s.cancelling_order, (CANCEL,), (IN, OUT, MOVE)),
    Case(
        "reserving",
        RESERVED_AT_CATALOGUE_PRICE,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
        "reserved-at-other-prices",
    ),
    Case("reserving", FIRE, s.reserving_inventory, (RESERVE,), (TIMEOUT, OUT), "timeout-resends"),
    Case(
        "reserving_last_try",
        FIRE,
        s.releasing_inventory,
        (RELEASE,),
        (TIMEOUT, OUT, MOVE),
        "timeout-releases",
    ),
    Case("reserving", CANCEL_REQUESTED, s.releasing_inventory, (RELEASE,), (IN, OUT, MOVE)),
    Case("reserving", ORDER_CANCELLED, s.releasing_inventory, (RELEASE,), (IN, OUT, MOVE)),
    Case("reserving", RETRY, s.reserving_inventory, (RESERVE,), (OP, OUT)),
    Case("reserving", ABORT, s.releasing_inventory, (RELEASE,), (OP, OUT, MOVE)),
    Case("reserving", CREATED, s.reserving_inventory, (), (IN, IGN), "duplicate-order.created"),
    Case(
        "reserving",
        DeadlineFired(RESERVE, 7),
        s.reserving_inventory,
        (),
        (IGN,),
        "stale-deadline",
    ),
    Case("reserving", PAID, s.reserving_inventory, (), (IN, IGN), "unexpected-payment.completed"),
    Case("reserving", OTHER_ORDER, s.reserving_inventory, (), (IN, IGN), "other-order"),
    # --- charging_payment
    Case("charging", PAID, s.confirming_order, (CONFIRM,), (IN, OUT, MOVE)),
    Case("charging", DECLINED, s.releasing_inventory, (RELEASE,), (IN, OUT, MOVE)),
    Case("charging", FIRE, s.charging_payment, (CHARGE,), (TIMEOUT, OUT), "timeout-resends"),
    Case(
        "charging_last_try",
        FIRE,
        s.refunding_payment,
        (REFUND,),
        (TIMEOUT, OUT, MOVE),
        "timeout-refunds",
    ),
    Case("charging", CANCEL_REQUESTED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("charging", ORDER_CANCELLED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("charging", RETRY, s.charging_payment, (CHARGE,), (OP, OUT)),
    Case("charging", ABORT, s.refunding_payment, (REFUND,), (OP, OUT, MOVE)),
    Case("charging", RESERVED, s.charging_payment, (), (IN, IGN), "duplicate-inventory.reserved"),
    Case("charging", INSUFFICIENT, s.charging_payment, (), (IN, IGN), "stale-insufficient"),
    Case(
        "charging",
        DeadlineFired(RESERVE, 1),
        s.charging_payment,
        (),
        (IGN,),
        "stale-reserve-deadline",
    ),
    # --- confirming_order
    Case("confirming", CONFIRMED, s.completed, (), (IN, MOVE)),
    Case("confirming", FIRE, s.confirming_order, (CONFIRM,), (TIMEOUT, OUT), "timeout-resends"),
    Case(
        "confirming_last_try",
        FIRE,
        s.refunding_payment,
        (REFUND,),
        (TIMEOUT, OUT, MOVE),
        "timeout-compensates",
    ),
    Case("confirming", CANCEL_REQUESTED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("confirming", ORDER_CANCELLED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("confirming", RETRY, s.confirming_order, (CONFIRM,), (OP, OUT)),
    Case("confirming", ABORT, s.refunding_payment, (REFUND,), (OP, OUT, MOVE)),
    Case("confirming", PAID, s.confirming_order, (), (IN, IGN), "duplicate-payment.completed"),
    # --- completed
    Case("completed", CANCEL_REQUESTED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("completed", ORDER_CANCELLED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("completed", CONFIRMED, s.completed, (), (IN, IGN), "duplicate-order.confirmed"),
    Case("completed", RETRY, s.completed, (), (OP, IGN), "nothing-to-retry"),
    Case("completed", ABORT, s.completed, (), (OP, IGN), "nothing-to-abort"),
    Case("completed", DeadlineFired(CONFIRM, 1), s.completed, (), (IGN,), "stale-deadline"),
    Case("completed", SHIPPED, s.completed, (), (IN,), "shipment-noted"),
    # --- shipped: a cancel after shipping is a return; an undo begun earlier goes on
    Case("confirming", SHIPPED, s.completed, (), (IN, MOVE), "shipped-before-confirmed"),
    Case("shipped", CANCEL_REQUESTED, s.completed, (), (IN, IGN), "cancel-lost-to-shipment"),
    Case("shipped", CONFIRMED, s.completed, (), (IN, IGN), "duplicate-order.confirmed"),
    Case("shipped", ORDER_CANCELLED, s.refunding_payment, (REFUND,), (IN, OUT, MOVE)),
    Case("reserving", SHIPPED, s.reserving_inventory, (), (IN, IGN), "unexpected-shipment"),
    Case("refunding_after_abort", SHIPPED, s.refunding_payment, (), (IN,), "shipment-lost-to-undo"),
    Case(
        "refunding_after_abort_shipped",
        REFUNDED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
    ),
    Case("releasing", SHIPPED, s.releasing_inventory, (), (IN,), "shipment-lost-to-undo"),
    Case("cancelling", SHIPPED, s.cancelling_order, (), (IN,), "shipment-lost-to-undo"),
    Case("cancelled", SHIPPED, s.cancelled, (), (IN, IGN), "shipped-before-the-cancel-reached-it"),
    Case("failed", SHIPPED, s.failed, (), (IN,), "shipment-lost-to-undo"),
    # --- compensating: refund
    Case("refunding", REFUNDED, s.releasing_inventory, (RELEASE,), (IN, OUT, MOVE)),
    Case("refunding", REFUND_FAILED, s.refunding_payment, (), (IN,), "refund-declined-backs-off"),
    Case("refunding", FIRE, s.refunding_payment, (REFUND,), (TIMEOUT, OUT), "timeout-resends"),
    Case(
        "refunding_last_timeout",
        FIRE,
        s.failed,
        (),
        (TIMEOUT, MOVE),
        "timeouts-exhausted",
    ),
    Case("refunding", RETRY, s.refunding_payment, (REFUND,), (OP, OUT)),
    Case("refunding", CANCEL_REQUESTED, s.refunding_payment, (), (IN, IGN), "already-compensating"),
    Case("refunding", ABORT, s.refunding_payment, (), (OP, IGN), "nothing-to-abort"),
    Case("refunding", RELEASED, s.refunding_payment, (), (IN, IGN), "release-not-sent-yet"),
    Case("refunding", PAID, s.refunding_payment, (), (IN,), "charge-reported-again"),
    # A refund sent after the capture, answered with less than it: payments and the
    # saga disagree on the money. Backed off like a refusal, not resent at once
    # (that went on for ever), and failed for ops when the retries are spent.
    Case(
        "refunding",
        REFUNDED_NOTHING,
        s.refunding_payment,
        (),
        (IN,),
        "refund-short-after-the-capture-backs-off",
    ),
    Case(
        "refund_backing_off",
        REFUNDED_NOTHING,
        s.refunding_payment,
        (),
        (IN, IGN),
        "stale-short-refund",
    ),
    Case("refund_last_try", REFUNDED_NOTHING, s.failed, (), (IN, MOVE), "short-refunds-exhausted"),
    Case(
        "refund_backing_off", FIRE, s.refunding_payment, (REFUND,), (TIMEOUT, OUT), "backoff-ends"
    ),
    Case(
        "refund_backing_off",
        REFUND_FAILED,
        s.refunding_payment,
        (),
        (IN, IGN),
        "duplicate-refund_failed",
    ),
    Case("refund_backing_off", REFUNDED, s.releasing_inventory, (RELEASE,), (IN, OUT, MOVE)),
    Case("refund_last_try", REFUND_FAILED, s.failed, (), (IN, MOVE), "retries-exhausted"),
    # --- compensating: release, cancel
    Case("releasing", RELEASED, s.cancelling_order, (CANCEL,), (IN, OUT, MOVE)),
    Case("releasing", FIRE, s.releasing_inventory, (RELEASE,), (TIMEOUT, OUT), "timeout-resends"),
    Case("releasing", REFUNDED, s.releasing_inventory, (), (IN, IGN), "duplicate-payment.refunded"),
    Case("releasing", REFUND_FAILED, s.releasing_inventory, (), (IN, IGN), "stale-refund_failed"),
    Case("cancelling", ORDER_CANCELLED, s.cancelled, (), (IN, MOVE)),
    Case("cancelling", FIRE, s.cancelling_order, (CANCEL,), (TIMEOUT, OUT), "timeout-resends"),
    Case(
        "cancelling",
        CONFIRMED,
        s.cancelling_order,
        (),
        (IN,),
        "confirm-reply-marks-cancel-for-resend",
    ),
    # --- failure paths while compensating
    Case("cancelling_after_shortage", ORDER_CANCELLED, s.cancelled, (), (IN, MOVE)),
    Case(
        "cancelling_after_shortage",
        RESERVED,
        s.cancelling_order,
        (),
        (IN,),
        "late-reserve-queues-release",
    ),
    Case(
        "cancelling_after_shortage_late_reserve",
        ORDER_CANCELLED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
    ),
    Case(
        "cancelling_after_shortage",
        INSUFFICIENT,
        s.cancelling_order,
        (),
        (IN, IGN),
        "duplicate-insufficient",
    ),
    Case("releasing_after_decline", RELEASED, s.cancelling_order, (CANCEL,), (IN, OUT, MOVE)),
    Case(
        "releasing_after_decline",
        DECLINED,
        s.releasing_inventory,
        (),
        (IN, IGN),
        "duplicate-payment.failed",
    ),
    Case(
        "releasing_after_reserve_timeout", RELEASED, s.cancelling_order, (CANCEL,), (IN, OUT, MOVE)
    ),
    Case(
        "releasing_after_reserve_timeout",
        RESERVED,
        s.releasing_inventory,
        (),
        (IN,),
        "late-reserve-awaits-release",
    ),
    Case(
        "releasing_after_reserve_timeout_late_reserve",
        RELEASED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT),
        "release-predating-reserve-is-resent",
    ),
    Case(
        "releasing_after_reserve_timeout",
        INSUFFICIENT,
        s.releasing_inventory,
        (),
        (IN,),
        "late-refusal",
    ),
    Case(
        "refunding_after_charge_timeout",
        PAID,
        s.refunding_payment,
        (),
        (IN,),
        "late-charge-awaits-refund",
    ),
    Case(
        "refunding_after_charge_timeout_late_charge",
        REFUNDED_NOTHING,
        s.refunding_payment,
        (REFUND,),
        (IN, OUT),
        "refund-predating-charge-is-resent",
    ),
    Case(
        "refunding_after_charge_timeout_late_charge",
        REFUNDED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
        "refund-covering-charge-moves-on",
    ),
    Case(
        "refunding_after_charge_timeout", DECLINED, s.refunding_payment, (), (IN,), "late-refusal"
    ),
    Case(
        "refunding_after_confirm_timeout",
        CONFIRMED,
        s.refunding_payment,
        (),
        (IN,),
        "late-confirm-awaits-cancel",
    ),
    # --- one compensation state after another
    Case("refunding", RESERVED, s.refunding_payment, (), (IN,), "reserve-reported-again"),
    Case("releasing", RETRY, s.releasing_inventory, (RELEASE,), (OP, OUT)),
    Case("releasing_last_timeout", FIRE, s.failed, (), (TIMEOUT, MOVE), "timeouts-exhausted"),
    Case("failed_releasing", RETRY, s.releasing_inventory, (RELEASE,), (OP, OUT, MOVE)),
    Case(
        "releasing_after_confirm_timeout",
        CONFIRMED,
        s.releasing_inventory,
        (),
        (IN,),
        "late-confirm",
    ),
    Case(
        "releasing_after_charge_timeout", DECLINED, s.releasing_inventory, (), (IN,), "late-refusal"
    ),
    Case(
        "releasing_after_charge_timeout",
        PAID,
        s.releasing_inventory,
        (),
        (IN,),
        "late-charge-awaits-release",
    ),
    Case(
        "releasing_after_charge_timeout_late_charge",
        RELEASED,
        s.refunding_payment,
        (REFUND,),
        (IN, OUT, MOVE),
        "late-charge-refunded-before-the-cancel",
    ),
    Case(
        "refunding_late_charge_after_release",
        REFUNDED,
        s.cancelling_order,
        (CANCEL,),
        (IN, OUT, MOVE),
    ),
    Case("cancelling", RETRY, s.cancelling_order, (CANCEL,), (OP, OUT)),
    Case("cancelling_last_timeout", FIRE, s.failed, (), (TIMEOUT, MOVE), "timeouts-exhausted"),
    Case(
        "cancelling_late_confirm",
        ORDER_CANCELLED,
        s.cancelling_order,
        (CANCEL,),
        (IN, OUT),
        "cancel-predating-confirm-is-resent",
    ),
    Case(
        "cancelling_after_reserve_timeout",
        INSUFFICIENT,
        s.cancelling_order,
        (),
        (IN,),
        "late-refusal",
    ),
    Case(
        "cancelling_after_charge_timeout", DECLINED, s.cancelling_order, (), (IN,), "late-refusal"
    ),
    Case(
        "cancelling_after_charge_timeout",
        PAID,
        s.cancelling_order,
        (),
        (IN,),
        "late-charge-awaits-cancel",
    ),
    Case(
        "cancelling_after_charge_timeout_late_charge",
        ORDER_CANCELLED,
        s.refunding_payment,
        (REFUND,),
        (IN, OUT, MOVE),
        "late-charge-refunded-after-the-cancel",
    ),
    # --- cancelled
    Case("cancelled", ORDER_CANCELLED, s.cancelled, (), (IN, IGN), "duplicate-order.cancelled"),
    Case("cancelled", CANCEL_REQUESTED, s.cancelled, (), (IN, IGN), "already-cancelled"),
    Case("cancelled", RETRY, s.cancelled, (), (OP, IGN), "nothing-to-retry"),
    Case(
        "cancelled",
        RESERVED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
        "repeated-reserve-is-released-again",
    ),
    Case("cancelled", PAID, s.cancelled, (), (IN,), "charge-already-refunded"),
    Case(
        "cancelled_after_reserve_timeout",
        RESERVED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT, MOVE),
        "late-reserve-reopens",
    ),
    Case(
        "cancelled_after_reserve_timeout",
        INSUFFICIENT,
        s.cancelled,
        (),
        (IN,),
        "late-refusal",
    ),
    Case(
        "cancelled_after_charge_timeout",
        PAID,
        s.refunding_payment,
        (REFUND,),
        (IN, OUT, MOVE),
        "late-charge-reopens",
    ),
    Case("cancelled_after_charge_timeout", DECLINED, s.cancelled, (), (IN,), "late-refusal"),
    Case(
        "cancelled_after_charge_timeout_refunded",
        PAID,
        s.cancelled,
        (),
        (IN,),
        "late-charge-already-refunded",
    ),
    Case(
        "cancelled_after_confirm_timeout",
        CONFIRMED,
        s.cancelling_order,
        (CANCEL,),
        (IN, OUT, MOVE),
        "late-confirm-reopens",
    ),
    Case("reopened_for_late_reserve", RELEASED, s.cancelled, (), (IN, MOVE)),
    Case(
        "reopened_after_two_releases",
        RELEASED,
        s.releasing_inventory,
        (RELEASE,),
        (IN, OUT),
        "answer-to-an-older-release-resends",
    ),
    Case("reopened_after_two_releases_stale_answer", RELEASED, s.cancelled, (), (IN, MOVE)),
    Case("reopened_for_late_charge", REFUNDED, s.cancelled, (), (IN, MOVE)),
    # --- failed
    Case("failed", RETRY, s.refunding_payment, (REFUND,), (OP, OUT, MOVE)),
    Case("failed", CANCEL_REQUESTED, s.failed, (), (IN, IGN), "already-failed"),
    Case("failed", ABORT, s.failed, (), (OP, IGN), "nothing-to-abort"),
    Case("failed", DeadlineFired(REFUND, 3), s.failed, (), (IGN,), "stale-deadline"),
    Case("failed", PAID, s.failed, (), (IN,), "charge-reply-awaits-retry"),
    Case(
        "failed_after_charge_timeout",
        PAID,
        s.failed,
        (),
        (IN,),
        "late-charge-awaits-retry",
    ),
    Case("failed_after_charge_timeout", DECLINED, s.failed, (), (IN,), "late-refusal"),
    Case(
        "failed_cancelling",
        RESERVED,
        s.failed,
        (),
        (IN,),
        "late-reserve-queues-release",
    ),
    Case("failed_cancelling_late_reserve", RETRY, s.cancelling_order, (CANCEL,), (OP, OUT, MOVE)),
    Case("failed_cancelling", INSUFFICIENT, s.failed, (), (IN,), "late-refusal"),
    Case(
        "failed_after_confirm_timeout",
        CONFIRMED,
        s.failed,
        (),
        (IN,),
        "late-confirm-awaits-retry",
    ),
]


def react(case: Case) -> tuple[SagaState | None, Decision]:
    state = run(GIVEN[case.given])
    return state, SAGA.react(state, resolve(state, case.input))


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_input_moves_the_saga_and_sends_the_expected_commands(case: Case) -> None:
    _, decision = react(case)

    assert decision.state.status == case.status
    assert tuple(c.type_name for c in decision.commands) == case.commands
    assert tuple(entry.kind for entry in decision.history) == case.history


def test_every_declared_transition_is_exercised_by_a_case() -> None:
    taken: set[Transition] = set()
    for case in CASES:
        before, decision = react(case)
        if not decision.ignored:
            source = None if before is None else before.status
            name = DEADLINE_FIRED if isinstance(case.input, Fire) else input_name(case.input)
            taken.add(Transition(source, name, decision.state.status))

    assert set(TRANSITIONS) - taken == set()


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


def test_a_handler_leaving_its_declared_targets_is_refused() -> None:
    lying = tuple(
        replace(rule, targets=(SagaStatus.failed,))
        if (rule.source, rule.input) == (s.reserving_inventory, "inventory.reserved")
        else rule
        for rule in OrderSaga.rules
    )

    class Lying(OrderSaga):
        rules = lying

    with pytest.raises(UndeclaredTransition):
        Lying(CONFIG).react(run(GIVEN["reserving"]), RESERVED)


def test_the_start_transition_is_part_of_the_table() -> None:
    assert TRANSITIONS[0] == START == Transition(None, "order.created", s.reserving_inventory)


# --- every (state, input) pair, not only the ones the table names ----------------------

EVERY_INPUT: dict[str, Feed] = {
    "reserved": RESERVED,
    "insufficient": INSUFFICIENT,
    "released": RELEASED,
    "paid": PAID,
    "declined": DECLINED,
    "refunded": REFUNDED,
    "refunded-nothing": REFUNDED_NOTHING,
    "refund-failed": REFUND_FAILED,
    "confirmed": CONFIRMED,
    "order-cancelled": ORDER_CANCELLED,
    "cancel-requested": CANCEL_REQUESTED,
    "shipped": SHIPPED,
    "created-again": CREATED,
    "other-order": OTHER_ORDER,
    "retry": RETRY,
    "abort": ABORT,
    "deadline": FIRE,
    "stale-deadline": DeadlineFired("inventory.reserve", 99),
}
PAIRS = [
    (given, name)
    for given in GIVEN
    if given != "new"
    for name, feed in EVERY_INPUT.items()
    if not (isinstance(feed, Fire) and run(GIVEN[given]).deadline is None)  # type: ignore[union-attr]
]


@pytest.mark.parametrize(("given", "input_name_"), PAIRS, ids=[f"{g}--{i}" for g, i in PAIRS])
def test_every_state_answers_every_input_by_its_table_or_ignores_it_saying_why(
    given: str, input_name_: str
) -> None:
    state = run(GIVEN[given])
    assert state is not None
    decision = SAGA.react(state, resolve(state, EVERY_INPUT[input_name_]))

    if decision.ignored:
        assert decision.state.status is state.status
        assert decision.commands == ()
        assert decision.armed is None
        [why] = [e for e in decision.history if e.kind == IGN]
        assert why.detail["why"]
    else:
        # `react` itself refuses an outcome its table does not declare.
        assert decision.history, "a reaction that changed something must say so"
    if decision.state.status in (s.completed, s.cancelled, s.failed):
        assert decision.commands == (), "a saga at rest sends nothing"
        assert decision.armed is None
