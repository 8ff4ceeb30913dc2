"""Sagas driven by real inputs to every interesting point, for the definition's tests.

Each entry of :data:`GIVEN` is a sequence of inputs (:data:`FIRE` for "the
current deadline fires") that brings a saga to the state it is named after, so
the states the tests start from are ones the saga can actually reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from saga.definition import (
    DeadlineFired,
    Input,
    OperatorAbort,
    OperatorRetry,
    OrderSaga,
    SagaConfig,
    SagaState,
    SagaStatus,
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
    OrderShipped,
    PaymentCompleted,
    PaymentFailed,
    PaymentRefunded,
    PaymentRefundFailed,
    PricedItem,
    RefundPayment,
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
SHIPPED = OrderShipped(
    order_id=ORDER,
    carrier="DHL",
    tracking_number="JD0142",
    shipped_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
)
RETRY = OperatorRetry(actor="alice", reason="participant is back")
ABORT = OperatorAbort(actor="alice", reason="stuck")
OTHER_ORDER = InventoryReserved(order_id="ord-2", items=[])


class Fire:
    """Stands for "the saga's current deadline fires" in a sequence of inputs."""

    def __repr__(self) -> str:
        return "FIRE"


FIRE = Fire()
Feed = Input | Fire
"""What a test feeds the saga: an input, or :data:`FIRE` for its current deadline."""


def resolve(state: SagaState | None, feed: Feed) -> Input:
    """The input ``feed`` stands for, given the saga's ``state``."""
    if isinstance(feed, Fire):
        assert state is not None
        assert state.deadline is not None, "no deadline to fire"
        return DeadlineFired(state.deadline.command, state.deadline.attempt)
    return feed


def run(feeds: Sequence[Feed]) -> SagaState | None:
    """The saga's state after ``feeds`` (None before ``order.created``)."""
    state: SagaState | None = None
    for feed in feeds:
        state = SAGA.react(state, resolve(state, feed)).state
    return state


# Sagas driven to every interesting point, named after what they wait for.
GIVEN: dict[str, tuple[Feed, ...]] = {}
GIVEN["new"] = ()
GIVEN["reserving"] = (CREATED,)
GIVEN["reserving_last_try"] = (*GIVEN["reserving"], FIRE, FIRE)
GIVEN["charging"] = (*GIVEN["reserving"], RESERVED)
GIVEN["charging_last_try"] = (*GIVEN["charging"], FIRE, FIRE)
GIVEN["confirming"] = (*GIVEN["charging"], PAID)
GIVEN["confirming_last_try"] = (*GIVEN["confirming"], FIRE, FIRE)
GIVEN["completed"] = (*GIVEN["confirming"], CONFIRMED)
GIVEN["shipped"] = (*GIVEN["completed"], SHIPPED)
# the warehouse shipped while the saga undid the order (an operator's abort came first)
GIVEN["refunding_after_abort"] = (*GIVEN["confirming"], OperatorAbort(actor="alice"))
GIVEN["refunding_after_abort_shipped"] = (*GIVEN["refunding_after_abort"], SHIPPED)
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


def drive(feeds: Sequence[Feed]) -> tuple[SagaState, list[str]]:
    """Run ``feeds`` and return the final state and every command sent, in order."""
    state: SagaState | None = None
    sent: list[str] = []
    for feed in feeds:
        decision = SAGA.react(state, resolve(state, feed))
        state = decision.state
        sent.extend(c.type_name for c in decision.commands)
    assert state is not None
    return state, sent


def fire_now(feeds: Sequence[Feed]) -> Input:
    """The deadline of the saga driven by ``feeds``, firing."""
    return resolve(run(feeds), FIRE)
