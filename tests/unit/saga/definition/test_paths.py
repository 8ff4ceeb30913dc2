"""The happy path and each failure path of the order saga, end to end."""

from __future__ import annotations

from saga.definition import (
    StepName,
    StepState,
)
from saga.definition.progress import build_command
from shared.messages import CancelOrder, InventoryInsufficient, OrderCancelRequested, Shortage
from tests.unit.saga.definition.given import (
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
    INSUFFICIENT,
    ORDER_CANCELLED,
    PAID,
    REFUND,
    REFUNDED,
    RELEASE,
    RELEASED,
    RESERVE,
    RESERVED,
    RETRY,
    SAGA,
    SHIPPED,
    drive,
    run,
    s,
)

# --- the happy path and the failure paths, end to end ---------------------------------


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
    assert failed.reason == "refund declined: gateway refused (refund_declined)"
    assert failed.deadline is None

    state, sent = drive((*GIVEN["failed"], RETRY, REFUNDED, RELEASED, ORDER_CANCELLED))
    assert state.status is s.cancelled
    assert sent[-3:] == [REFUND, RELEASE, CANCEL]
    # The order ends with the reason that ended it; the refund's troubles were passing.
    assert state.reason == "cancel requested by the customer (user-1)"


def test_a_refund_declined_then_made_keeps_the_cancel_reason() -> None:
    backing_off, _ = drive(GIVEN["refund_backing_off"])
    assert backing_off.reason == "refund declined: gateway refused (refund_declined)"

    once = (*GIVEN["refund_backing_off"], FIRE, REFUNDED, RELEASED)
    twice = (*GIVEN["refund_backing_off"], CANCEL_REQUESTED, FIRE, REFUNDED, RELEASED)
    for feeds in (once, twice):
        cancelling, _ = drive(feeds)
        cancel = build_command(cancelling, CancelOrder)
        assert isinstance(cancel, CancelOrder)
        assert cancelling.compensation_failure is None
        assert cancel.reason == "cancel requested by the customer (user-1)"

        state, _ = drive((*feeds, ORDER_CANCELLED))
        assert state.status is s.cancelled
        assert state.reason == state.failure_reason == "cancel requested by the customer (user-1)"


def test_late_reserve_after_cancel_is_released_and_the_saga_ends_cancelled_again() -> None:
    state, sent = drive((*GIVEN["cancelled_after_reserve_timeout"], RESERVED, RELEASED))

    assert state.status is s.cancelled
    assert sent.count(RELEASE) == 2
    assert state.steps.inventory.state is StepState.compensated


def test_reasons_name_the_product_and_who_cancelled_beside_the_ids() -> None:
    named = InventoryInsufficient(
        order_id=INSUFFICIENT.order_id,
        shortages=[Shortage(product_id="p-1", requested=2, available=1, name="Tea pot")],
    )
    state, _ = drive((CREATED, named))
    assert state.failure_reason == "insufficient stock: Tea pot (p-1) (requested 2, available 1)"

    by_ops = OrderCancelRequested(order_id=CANCEL_REQUESTED.order_id, requested_by="alice")
    state, _ = drive((*GIVEN["completed"], by_ops))
    assert state.failure_reason == "cancel requested by ops alice"


# --- a shipment racing a cancel: the first to reach the saga wins ----------------------


def test_a_shipment_first_makes_a_later_cancel_a_return_that_moves_nothing() -> None:
    state, sent = drive((*GIVEN["completed"], SHIPPED, CANCEL_REQUESTED))

    assert state.status is s.completed
    assert sent == [RESERVE, CHARGE, CONFIRM]
    assert state.shipment == "DHL JD0142"
    assert [state.steps.get(n).state for n in StepName] == [StepState.done] * 3


def test_a_cancel_first_undoes_everything_though_the_shipment_follows() -> None:
    state, sent = drive(
        (*GIVEN["completed"], CANCEL_REQUESTED, SHIPPED, REFUNDED, RELEASED, ORDER_CANCELLED)
    )

    assert state.status is s.cancelled
    assert sent == [RESERVE, CHARGE, CONFIRM, REFUND, RELEASE, CANCEL]
    assert state.shipment == "DHL JD0142"
    assert state.failure_reason == "cancel requested by the customer (user-1)"


def test_a_shipment_before_the_confirmation_completes_the_saga() -> None:
    state, sent = drive((*GIVEN["confirming"], SHIPPED, CONFIRMED))

    assert state.status is s.completed
    assert sent == [RESERVE, CHARGE, CONFIRM]
    assert state.deadline is None
    assert state.steps.order.state is StepState.done


def test_the_loser_of_the_race_is_told_why() -> None:
    shipped = run(GIVEN["shipped"])
    cancel = SAGA.react(shipped, CANCEL_REQUESTED)
    [why] = [e.detail["why"] for e in cancel.history if e.kind == "ignored"]
    assert why == ("the order was shipped (DHL JD0142): a shipped order is returned, not cancelled")

    cancelled = run(GIVEN["cancelled"])
    late = SAGA.react(cancelled, SHIPPED)
    [why] = [e.detail["why"] for e in late.history if e.kind == "ignored"]
    assert "before the saga's cancel reached the order" in why
