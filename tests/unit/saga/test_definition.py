"""The order saga definition, input by input: every (status, input) pair it handles.

Each case starts from a saga driven to some point by real inputs (so the states
are ones the saga can actually reach), feeds one more input and checks the
status it ends in, the commands it sends and the history it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pytest

from saga.definition import (
    DEADLINE_FIRED,
    START,
    TRANSITIONS,
    DeadlineFired,
    Decision,
    Input,
    InvalidInput,
    InvalidSagaState,
    OperatorAbort,
    OperatorRetry,
    OrderSaga,
    SagaConfig,
    SagaNotStarted,
    SagaState,
    SagaStatus,
    StepName,
    StepState,
    Transition,
    UndeclaredTransition,
    input_from_json,
    input_name,
    input_to_json,
)
from shared.messages import (
    CancelOrder,
    ChargePayment,
    InventoryInsufficient,
    InventoryReleased,
    InventoryReserved,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderCreated,
    OrderItem,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
    PricedItem,
    RefundPayment,
    ReservedItem,
    ReserveInventory,
    Shortage,
)

ORDER = "ord-1"
CONFIG = SagaConfig(
    step_timeout_seconds=30,
    step_retries=2,
    compensation_retries=2,
    compensation_backoff_seconds=2,
)
SAGA = OrderSaga(CONFIG)

CREATED = OrderCreated(
    order_id=ORDER,
    user_id="user-1",
    items=[
        OrderItem(product_id="p-1", quantity=2, unit_price=500),
        OrderItem(product_id="p-2", quantity=1, unit_price=999),
    ],
    total_amount=1999,
    currency="EUR",
    payment_method_id="pm_card_ok",
)
RESERVED = InventoryReserved(
    order_id=ORDER,
    items=[
        PricedItem(product_id="p-1", quantity=2, unit_price=500, currency="EUR"),
        PricedItem(product_id="p-2", quantity=1, unit_price=999, currency="EUR"),
    ],
)
RESERVED_AT_CATALOGUE_PRICE = RESERVED.model_copy(
    update={"items": [RESERVED.items[0], RESERVED.items[1].model_copy(update={"unit_price": 1299})]}
)
"""p-2 costs 12.99 in the catalogue; the order was placed at 9.99."""
INSUFFICIENT = InventoryInsufficient(
    order_id=ORDER, shortages=[Shortage(product_id="p-1", requested=2, available=1)]
)
RELEASED = InventoryReleased(order_id=ORDER)
PAID = PaymentCompleted(order_id=ORDER, payment_id="pay-1", amount=1999)
DECLINED = PaymentFailed(order_id=ORDER, amount=1999, reason="card declined", code="card_declined")
REFUNDED = PaymentRefunded(order_id=ORDER, payment_id="pay-1", amount=1999)
REFUNDED_NOTHING = PaymentRefunded(order_id=ORDER, amount=0)  # nothing was captured (yet)
REFUND_FAILED = PaymentRefundFailed(
    order_id=ORDER, amount=1999, reason="gateway refused", code="refund_declined"
)
CONFIRMED = OrderConfirmed(order_id=ORDER)
ORDER_CANCELLED = OrderCancelled(order_id=ORDER, reason="cancelled")
CANCEL_REQUESTED = OrderCancelRequested(order_id=ORDER, requested_by="user-1")
RETRY = OperatorRetry(actor="alice", reason="participant is back")
ABORT = OperatorAbort(actor="alice", reason="stuck")
OTHER_ORDER = InventoryReserved(order_id="ord-2", items=[])


class _Fire:
    """Stands for "the saga's current deadline fires" in a sequence of inputs."""

    def __repr__(self) -> str:
        return "FIRE"


FIRE = _Fire()
Step = Input | _Fire


def resolve(state: SagaState | None, step: Step) -> Input:
    if isinstance(step, _Fire):
        assert state is not None
        assert state.deadline is not None, "no deadline to fire"
        return DeadlineFired(state.deadline.command, state.deadline.attempt)
    return step


def run(steps: Sequence[Step]) -> SagaState | None:
    state: SagaState | None = None
    for step in steps:
        state = SAGA.react(state, resolve(state, step)).state
    return state


# Sagas driven to every interesting point, named after what they wait for.
GIVEN: dict[str, tuple[Step, ...]] = {}
GIVEN["new"] = ()
GIVEN["reserving"] = (CREATED,)
GIVEN["reserving_last_try"] = (*GIVEN["reserving"], FIRE, FIRE)
GIVEN["charging"] = (*GIVEN["reserving"], RESERVED)
GIVEN["charging_last_try"] = (*GIVEN["charging"], FIRE, FIRE)
GIVEN["confirming"] = (*GIVEN["charging"], PAID)
GIVEN["confirming_last_try"] = (*GIVEN["confirming"], FIRE, FIRE)
GIVEN["completed"] = (*GIVEN["confirming"], CONFIRMED)
# compensating everything after a cancel of a completed order
GIVEN["refunding"] = (*GIVEN["completed"], CANCEL_REQUESTED)
GIVEN["refunding_last_timeout"] = (*GIVEN["refunding"], FIRE, FIRE)
GIVEN["refund_backing_off"] = (*GIVEN["refunding"], REFUND_FAILED)
GIVEN["refund_last_try"] = (*GIVEN["refund_backing_off"], FIRE, REFUND_FAILED, FIRE)
GIVEN["releasing"] = (*GIVEN["refunding"], REFUNDED)
GIVEN["cancelling"] = (*GIVEN["releasing"], RELEASED)
GIVEN["cancelled"] = (*GIVEN["cancelling"], ORDER_CANCELLED)
GIVEN["failed"] = (*GIVEN["refund_last_try"], REFUND_FAILED)
# failure paths
GIVEN["cancelling_after_shortage"] = (*GIVEN["reserving"], INSUFFICIENT)
GIVEN["cancelling_after_shortage_late_reserve"] = (
    *GIVEN["cancelling_after_shortage"],
    RESERVED,
)
GIVEN["releasing_after_decline"] = (*GIVEN["charging"], DECLINED)
GIVEN["releasing_after_reserve_timeout"] = (*GIVEN["reserving_last_try"], FIRE)
GIVEN["releasing_after_reserve_timeout_late_reserve"] = (
    *GIVEN["releasing_after_reserve_timeout"],
    RESERVED,
)
GIVEN["refunding_after_charge_timeout"] = (*GIVEN["charging_last_try"], FIRE)
GIVEN["refunding_after_charge_timeout_late_charge"] = (
    *GIVEN["refunding_after_charge_timeout"],
    PAID,
)
GIVEN["cancelled_after_reserve_timeout"] = (
    *GIVEN["releasing_after_reserve_timeout"],
    RELEASED,
    ORDER_CANCELLED,
)
GIVEN["cancelled_after_charge_timeout"] = (
    *GIVEN["refunding_after_charge_timeout"],
    REFUNDED_NOTHING,
    RELEASED,
    ORDER_CANCELLED,
)
GIVEN["cancelled_after_charge_timeout_refunded"] = (
    *GIVEN["refunding_after_charge_timeout"],
    REFUNDED,
    RELEASED,
    ORDER_CANCELLED,
)
GIVEN["cancelled_after_confirm_timeout"] = (
    *GIVEN["confirming_last_try"],
    FIRE,
    REFUNDED,
    RELEASED,
    ORDER_CANCELLED,
)
GIVEN["reopened_for_late_reserve"] = (*GIVEN["cancelled_after_reserve_timeout"], RESERVED)
# Two releases went out before the late reserve, only one was answered: the other
# answer may still come, and proves nothing about the stock the reserve took.
GIVEN["reopened_after_two_releases"] = (
    *GIVEN["releasing_after_reserve_timeout"],
    FIRE,
    RELEASED,
    ORDER_CANCELLED,
    RESERVED,
)
GIVEN["reopened_after_two_releases_stale_answer"] = (
    *GIVEN["reopened_after_two_releases"],
    RELEASED,
)
GIVEN["reopened_for_late_charge"] = (*GIVEN["cancelled_after_charge_timeout"], PAID)
GIVEN["refunding_after_confirm_timeout"] = (*GIVEN["confirming_last_try"], FIRE)
GIVEN["failed_after_confirm_timeout"] = (
    *GIVEN["refunding_after_confirm_timeout"],
    REFUND_FAILED,
    FIRE,
    REFUND_FAILED,
    FIRE,
    REFUND_FAILED,
)
GIVEN["failed_after_charge_timeout"] = (
    *GIVEN["refunding_after_charge_timeout"],
    REFUND_FAILED,
    FIRE,
    REFUND_FAILED,
    FIRE,
    REFUND_FAILED,
)
GIVEN["failed_cancelling"] = (
    *GIVEN["releasing_after_reserve_timeout"],
    RELEASED,
    FIRE,
    FIRE,
    FIRE,
)
GIVEN["failed_cancelling_late_reserve"] = (*GIVEN["failed_cancelling"], RESERVED)
GIVEN["releasing_last_timeout"] = (*GIVEN["releasing"], FIRE, FIRE)
GIVEN["failed_releasing"] = (*GIVEN["releasing_last_timeout"], FIRE)
GIVEN["cancelling_last_timeout"] = (*GIVEN["cancelling"], FIRE, FIRE)
GIVEN["cancelling_late_confirm"] = (*GIVEN["cancelling"], CONFIRMED)
GIVEN["releasing_after_confirm_timeout"] = (*GIVEN["refunding_after_confirm_timeout"], REFUNDED)
# A charge that timed out, refunded with nothing captured yet, then the capture arrives
# while the inventory (or the order) is being undone: it is refunded before the cancel.
GIVEN["releasing_after_charge_timeout"] = (
    *GIVEN["refunding_after_charge_timeout"],
    REFUNDED_NOTHING,
)
GIVEN["releasing_after_charge_timeout_late_charge"] = (
    *GIVEN["releasing_after_charge_timeout"],
    PAID,
)
GIVEN["refunding_late_charge_after_release"] = (
    *GIVEN["releasing_after_charge_timeout_late_charge"],
    RELEASED,
)
GIVEN["cancelling_after_charge_timeout"] = (*GIVEN["releasing_after_charge_timeout"], RELEASED)
GIVEN["cancelling_after_charge_timeout_late_charge"] = (
    *GIVEN["cancelling_after_charge_timeout"],
    PAID,
)
GIVEN["cancelling_after_reserve_timeout"] = (*GIVEN["releasing_after_reserve_timeout"], RELEASED)


@dataclass(frozen=True)
class Case:
    given: str
    input: Step
    status: SagaStatus
    commands: tuple[str, ...]
    history: tuple[str, ...]
    label: str = ""

    @property
    def id(self) -> str:
        name = self.label or (
            input_name(self.input) if not isinstance(self.input, _Fire) else "deadline"
        )
        return f"{self.given}--{name}"


s = SagaStatus
RESERVE, RELEASE = ReserveInventory.type_name, "inventory.release"
CHARGE, REFUND = ChargePayment.type_name, RefundPayment.type_name
CONFIRM, CANCEL = "order.confirm", CancelOrder.type_name
IN, OUT, MOVE, TIMEOUT, OP, IGN = (
    "message_in",
    "command_out",
    "transition",
    "timeout",
    "operator",
    "ignored",
)

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
    Case(
        "refunding",
        REFUNDED_NOTHING,
        s.refunding_payment,
        (REFUND,),
        (IN, OUT),
        "refund-answer-short-of-the-capture-resends",
    ),
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
            name = DEADLINE_FIRED if isinstance(case.input, _Fire) else input_name(case.input)
            taken.add(Transition(source, name, decision.state.status))

    assert set(TRANSITIONS) - taken == set()


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


# --- the happy path and the failure paths, end to end ---------------------------------


def drive(steps: Sequence[Step]) -> tuple[SagaState, list[str]]:
    """Run ``steps`` and return the final state and every command sent, in order."""
    state: SagaState | None = None
    sent: list[str] = []
    for step in steps:
        decision = SAGA.react(state, resolve(state, step))
        state = decision.state
        sent.extend(c.type_name for c in decision.commands)
    assert state is not None
    return state, sent


def test_happy_path_reserves_charges_and_confirms() -> None:
    state, sent = drive((CREATED, RESERVED, PAID, CONFIRMED))

    assert state.status is s.completed
    assert sent == [RESERVE, CHARGE, CONFIRM]
    assert state.deadline is None
    assert [state.steps.get(n).state for n in StepName] == [StepState.done] * 3


def test_insufficient_stock_cancels_the_order_without_compensating() -> None:
    state, sent = drive((CREATED, INSUFFICIENT, ORDER_CANCELLED))

    assert state.status is s.cancelled
    assert sent == [RESERVE, CANCEL]
    assert state.failure_reason == "insufficient stock: p-1 (requested 2, available 1)"


def test_declined_payment_releases_then_cancels() -> None:
    state, sent = drive((CREATED, RESERVED, DECLINED, RELEASED, ORDER_CANCELLED))

    assert state.status is s.cancelled
    assert sent == [RESERVE, CHARGE, RELEASE, CANCEL]
    assert state.steps.payment.state is StepState.refused
    assert state.steps.inventory.state is StepState.compensated


def test_timed_out_charge_is_resent_then_refunded_released_and_cancelled() -> None:
    state, sent = drive((CREATED, RESERVED, FIRE, FIRE, FIRE, REFUNDED, RELEASED, ORDER_CANCELLED))

    assert state.status is s.cancelled
    assert sent == [RESERVE, CHARGE, CHARGE, CHARGE, REFUND, RELEASE, CANCEL]
    assert state.steps.payment.state is StepState.unknown
    assert state.failure_reason == "payment.charge not answered after 3 attempts"


def test_customer_cancel_after_completion_compensates_everything() -> None:
    state, sent = drive(
        (*GIVEN["completed"], CANCEL_REQUESTED, REFUNDED, RELEASED, ORDER_CANCELLED)
    )

    assert state.status is s.cancelled
    assert sent == [RESERVE, CHARGE, CONFIRM, REFUND, RELEASE, CANCEL]
    assert [state.steps.get(n).state for n in StepName] == [StepState.compensated] * 3


def test_refund_declined_past_its_retries_fails_and_an_operator_retry_finishes_it() -> None:
    failed, sent = drive(GIVEN["failed"])
    assert failed.status is s.failed
    assert sent.count(REFUND) == CONFIG.compensation_retries + 1
    assert failed.failure_reason == "refund declined: gateway refused (refund_declined)"
    assert failed.deadline is None

    state, sent = drive((*GIVEN["failed"], RETRY, REFUNDED, RELEASED, ORDER_CANCELLED))
    assert state.status is s.cancelled
    assert sent[-3:] == [REFUND, RELEASE, CANCEL]


def test_late_reserve_after_cancel_is_released_and_the_saga_ends_cancelled_again() -> None:
    state, sent = drive((*GIVEN["cancelled_after_reserve_timeout"], RESERVED, RELEASED))

    assert state.status is s.cancelled
    assert sent.count(RELEASE) == 2
    assert state.steps.inventory.state is StepState.compensated


# --- commands, deadlines and history details ---------------------------------------------


def test_commands_carry_the_order_data() -> None:
    decision = SAGA.react(run(GIVEN["charging"]), fire_now(GIVEN["charging"]))
    (charge,) = decision.commands
    assert charge == ChargePayment(
        order_id=ORDER,
        user_id="user-1",
        amount=1999,
        currency="EUR",
        payment_method_id="pm_card_ok",
    )
    (reserve,) = SAGA.react(None, CREATED).commands
    assert reserve == ReserveInventory(
        order_id=ORDER,
        items=[
            ReservedItem(product_id="p-1", quantity=2),
            ReservedItem(product_id="p-2", quantity=1),
        ],
    )


def fire_now(steps: Sequence[Step]) -> Input:
    """The deadline of the saga driven by ``steps``, firing."""
    return resolve(run(steps), FIRE)


def test_refund_asks_for_the_order_total_and_cancel_says_why() -> None:
    _, refund_decision = react(Case("completed", CANCEL_REQUESTED, s.refunding_payment, (), ()))
    (refund,) = refund_decision.commands
    assert isinstance(refund, RefundPayment)
    assert refund.amount == 1999

    cancel_decision = SAGA.react(
        run(GIVEN["cancelling_after_shortage"]), fire_now(GIVEN["cancelling_after_shortage"])
    )
    (cancel,) = cancel_decision.commands
    assert cancel == CancelOrder(
        order_id=ORDER, reason="insufficient stock: p-1 (requested 2, available 1)"
    )


def test_each_send_arms_a_new_deadline_for_its_attempt() -> None:
    first = SAGA.react(None, CREATED)
    second = SAGA.react(first.state, fire_now(GIVEN["reserving"]))

    assert first.armed == first.state.deadline
    assert first.state.deadline is not None
    assert (first.state.deadline.command, first.state.deadline.attempt) == (RESERVE, 1)
    assert second.state.deadline is not None
    assert (second.state.deadline.command, second.state.deadline.attempt) == (RESERVE, 2)
    assert second.state.deadline.after_seconds == CONFIG.step_timeout_seconds


def test_an_ignored_input_keeps_the_deadline_without_rearming_it() -> None:
    state = run(GIVEN["charging"])
    decision = SAGA.react(state, RESERVED)

    assert decision.armed is None
    assert state is not None
    assert decision.state.deadline == state.deadline


def test_refund_retries_back_off_exponentially() -> None:
    waits = []
    state = run(GIVEN["refunding"])
    for _ in range(CONFIG.compensation_retries):
        decision = SAGA.react(state, REFUND_FAILED)
        assert decision.armed is not None
        waits.append(decision.armed.after_seconds)
        state = SAGA.react(decision.state, resolve(decision.state, FIRE)).state

    assert waits == [2.0, 4.0]


def test_backoff_is_capped() -> None:
    config = SagaConfig(compensation_backoff_seconds=10, compensation_backoff_max_seconds=25)
    assert [config.backoff(n) for n in (1, 2, 3, 4)] == [10.0, 20.0, 25.0, 25.0]


def test_ignored_inputs_say_why() -> None:
    _, decision = react(Case("charging", RESERVED, s.charging_payment, (), ()))
    assert decision.history[-1].detail == {"why": "duplicate: inventory.reserved already received"}

    _, stale = react(Case("charging", DeadlineFired(RESERVE, 1), s.charging_payment, (), ()))
    assert stale.history[-1].detail == {"why": "stale deadline inventory.reserve attempt 1"}


def test_history_records_the_message_the_command_and_the_transition() -> None:
    decision = SAGA.react(run(GIVEN["reserving"]), RESERVED)

    message_in, command_out, transition = decision.history
    assert message_in.detail == {"type": "inventory.reserved", "body": RESERVED.dump()}
    assert command_out.detail["type"] == CHARGE
    assert command_out.detail["attempt"] == 1
    assert command_out.detail["body"]["amount"] == 1999
    assert transition.detail == {"from": "reserving_inventory", "to": "charging_payment"}


def test_operator_retry_gives_the_step_a_fresh_retry_budget() -> None:
    state, sent = drive((*GIVEN["reserving_last_try"], RETRY, FIRE, FIRE))

    assert state.status is s.reserving_inventory
    assert sent == [RESERVE] * 6


# --- starting, errors, serialisation -------------------------------------------------------


@pytest.mark.parametrize("input", [RESERVED, CANCEL_REQUESTED, RETRY, DeadlineFired(RESERVE, 1)])
def test_anything_but_order_created_before_the_saga_exists_is_refused(input: Input) -> None:
    with pytest.raises(SagaNotStarted):
        SAGA.react(None, input)


@pytest.mark.parametrize("name", sorted(GIVEN.keys() - {"new"}))
def test_state_round_trips_through_json(name: str) -> None:
    state = run(GIVEN[name])
    assert state is not None

    assert SagaState.from_json(state.to_json()) == state


def test_a_broken_stored_state_raises_a_typed_error() -> None:
    state = run(GIVEN["charging"])
    assert state is not None
    data = state.to_json()
    data["status"] = "dancing"

    with pytest.raises(InvalidSagaState):
        SagaState.from_json(data)


@pytest.mark.parametrize(
    "input",
    [CREATED, INSUFFICIENT, REFUND_FAILED, DeadlineFired(RESERVE, 2), RETRY, ABORT],
    ids=lambda i: input_name(i),
)
def test_inputs_round_trip_through_json(input: Input) -> None:
    data = input_to_json(input)

    assert input_from_json(data) == input


def test_stored_message_inputs_are_camel_case_bodies() -> None:
    assert input_to_json(PAID) == {
        "kind": "message",
        "type": "payment.completed",
        "body": {"orderId": ORDER, "paymentId": "pay-1", "amount": 1999},
    }


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "message", "type": "no.such", "body": {}},
        {"kind": "message", "type": "payment.completed", "body": {"orderId": 1}},
        {"kind": "deadline"},
        {"kind": "telepathy"},
    ],
)
def test_undecodable_inputs_raise_a_typed_error(data: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        input_from_json(data)


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

EVERY_INPUT: dict[str, Step] = {
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
    for name, step in EVERY_INPUT.items()
    if not (isinstance(step, _Fire) and run(GIVEN[given]).deadline is None)  # type: ignore[union-attr]
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


# --- catalogue prices -------------------------------------------------------------------


def reserved_with(**changes: object) -> InventoryReserved:
    """RESERVED with the second item changed."""
    second = RESERVED.items[1].model_copy(update=changes)
    return RESERVED.model_copy(update={"items": [RESERVED.items[0], second]})


@pytest.mark.parametrize(
    ("reserved", "reason"),
    [
        (
            reserved_with(unit_price=1299),
            "price mismatch: p-2 costs 1299 EUR in the catalogue, the order says 999",
        ),
        (
            reserved_with(unit_price=1),
            "price mismatch: p-2 costs 1 EUR in the catalogue, the order says 999",
        ),
        (reserved_with(currency="USD"), "price mismatch: p-2 is priced in USD, the order in EUR"),
        (
            reserved_with(unit_price=None, currency=None),
            "price mismatch: p-2 was reserved without a catalogue price",
        ),
    ],
    ids=["dearer", "cheaper", "currency", "unpriced"],
)
def test_a_reservation_at_other_prices_releases_and_cancels_with_the_reason(
    reserved: InventoryReserved, reason: str
) -> None:
    decision = SAGA.react(run(GIVEN["reserving"]), reserved)
    assert decision.state.status is s.releasing_inventory
    assert decision.state.failure_reason == reason
    assert [c.type_name for c in decision.commands] == [RELEASE]
    released = SAGA.react(decision.state, RELEASED)
    assert released.commands == (CancelOrder(order_id=ORDER, reason=reason),)
    state, sent = drive((CREATED, reserved, RELEASED, ORDER_CANCELLED))
    assert (state.status, sent) == (s.cancelled, [RESERVE, RELEASE, CANCEL])


def test_a_total_that_is_not_the_sum_of_the_catalogue_prices_is_refused() -> None:
    inflated = CREATED.model_copy(update={"total_amount": 1})
    state = SAGA.react(None, inflated).state
    decision = SAGA.react(state, RESERVED)
    assert decision.state.failure_reason == (
        "price mismatch: the total 1 is not the catalogue's 1999"
    )
    assert [c.type_name for c in decision.commands] == [RELEASE]
