"""The payment rules: one charge per order, refunds of what was captured, totals."""

from __future__ import annotations

import uuid

import pytest

from services.payments.domain import (
    ChargeDecision,
    PaymentStatus,
    RefundAttempt,
    RefundPlan,
    RefundStatus,
    Totals,
    charge_key,
    decide_charge,
    is_reference,
    is_uuid,
    plan_refund,
    refund_key,
    totals,
)

OK, DECLINED = RefundStatus.SUCCEEDED, RefundStatus.DECLINED


@pytest.mark.parametrize("refund_requested", [False, True])
def test_an_order_with_a_payment_is_answered_again_and_never_charged_twice(
    refund_requested: bool,
) -> None:
    decision = decide_charge(has_payment=True, refund_requested=refund_requested)
    assert decision is ChargeDecision.REPLAY


def test_a_charge_after_the_orders_refund_is_refused() -> None:
    assert decide_charge(has_payment=False, refund_requested=True) is ChargeDecision.REFUSE_REFUNDED


def test_a_first_charge_is_charged() -> None:
    assert decide_charge(has_payment=False, refund_requested=False) is ChargeDecision.CHARGE


def test_a_refund_pays_back_the_whole_capture_at_first() -> None:
    assert plan_refund(PaymentStatus.CAPTURED, 1999, []) == RefundPlan(1999, already=0, attempt=1)


def test_a_refund_after_a_declined_attempt_tries_again_as_a_new_attempt() -> None:
    plan = plan_refund(PaymentStatus.CAPTURED, 1999, [RefundAttempt(1999, DECLINED)])
    assert plan == RefundPlan(1999, already=0, attempt=2)


def test_a_refund_after_a_successful_one_pays_nothing_more() -> None:
    plan = plan_refund(PaymentStatus.REFUNDED, 1999, [RefundAttempt(1999, OK)])
    assert plan == RefundPlan(0, already=1999, attempt=2)


@pytest.mark.parametrize("status", [PaymentStatus.DECLINED, None])
def test_nothing_is_refunded_where_nothing_was_captured(status: PaymentStatus | None) -> None:
    assert plan_refund(status, 1999, []).amount == 0


def test_a_refund_never_plans_a_negative_amount() -> None:
    plan = plan_refund(PaymentStatus.CAPTURED, 100, [RefundAttempt(150, OK)])
    assert (plan.amount, plan.already) == (0, 150)


def test_totals_count_captured_money_and_successful_refunds_only() -> None:
    result = totals(
        [
            (PaymentStatus.CAPTURED, 500),
            (PaymentStatus.REFUNDED, 300),
            (PaymentStatus.DECLINED, 99),
        ],
        [RefundAttempt(300, OK), RefundAttempt(300, DECLINED)],
    )
    assert result == Totals(captured=800, refunded=300)
    assert result.net == 500


def test_gateway_keys_allow_one_charge_per_order_and_one_call_per_refund_attempt() -> None:
    assert charge_key("o-1") == charge_key("o-1") != charge_key("o-2")
    assert refund_key("p-1", 1) != refund_key("p-1", 2)
    assert refund_key("p-1", 1) == refund_key("p-1", 1)


@pytest.mark.parametrize(
    "value", ["ada", "5d6a3c1e-8f2b-4a7d-9c0e-1b2f3a4d5e6f", "ops-user", "a.b:c@d_e-f", "x" * 64]
)
def test_order_and_user_ids_of_the_usual_shapes_are_references(value: str) -> None:
    assert is_reference(value)


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a/b", "a\x00"])
def test_blank_long_spaced_or_slashed_text_is_no_reference(value: str) -> None:
    assert not is_reference(value)


def test_only_uuids_can_be_saved_payment_method_ids() -> None:
    assert is_uuid(str(uuid.uuid4()))
    assert not is_uuid("pm_card_ok")
