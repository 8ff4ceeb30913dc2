"""The order rules: the status machine the saga's commands drive, and totals."""

from __future__ import annotations

import pytest

from services.orders.domain import (
    MAX_LINES,
    MAX_QUANTITY,
    AlreadyCancelled,
    Line,
    OrderStatus,
    Outcome,
    cancel,
    check_cancel_request,
    confirm,
    order_total,
)

PENDING, CONFIRMED, CANCELLED = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED


def test_a_total_is_the_sum_of_quantity_times_unit_price_in_minor_units() -> None:
    lines = [Line("tea", 2, 1250), Line("pot", 1, 499), Line("free", 3, 0)]
    assert order_total(lines) == 2 * 1250 + 499
    assert order_total([]) == 0


def test_the_largest_order_allowed_still_fits_a_64_bit_total() -> None:
    biggest = [Line(f"p{n}", MAX_QUANTITY, 2**31 - 1) for n in range(MAX_LINES)]
    assert order_total(biggest) < 2**63 - 1


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (PENDING, Outcome(CONFIRMED, changed=True)),
        (CONFIRMED, Outcome(CONFIRMED, changed=False)),
        (CANCELLED, Outcome(CANCELLED, changed=False)),
    ],
)
def test_confirm_moves_only_a_pending_order_and_never_revives_a_cancelled_one(
    current: OrderStatus, expected: Outcome
) -> None:
    assert confirm(current) == expected


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (PENDING, Outcome(CANCELLED, changed=True)),
        (CONFIRMED, Outcome(CANCELLED, changed=True)),
        (CANCELLED, Outcome(CANCELLED, changed=False)),
    ],
)
def test_cancel_ends_any_order_cancelled_and_a_repeat_changes_nothing(
    current: OrderStatus, expected: Outcome
) -> None:
    assert cancel(current) == expected


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_command_is_idempotent(status: OrderStatus) -> None:
    for command in (confirm, cancel):
        once = command(status).status
        assert command(once) == Outcome(once, changed=False)


@pytest.mark.parametrize("status", [PENDING, CONFIRMED])
def test_a_customer_may_ask_to_cancel_an_order_not_yet_cancelled(status: OrderStatus) -> None:
    check_cancel_request(status)


def test_asking_to_cancel_a_cancelled_order_is_refused() -> None:
    with pytest.raises(AlreadyCancelled, match="already cancelled"):
        check_cancel_request(CANCELLED)
