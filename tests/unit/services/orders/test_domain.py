"""The order rules: the status machine the saga's commands drive, and totals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.orders.domain import (
    MAX_LINES,
    MAX_QUANTITY,
    AlreadyCancelled,
    Line,
    NewStatus,
    OrderStatus,
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
    ("command", "current", "expected"),
    [
        # confirm moves only a pending order, and never revives a cancelled one
        (confirm, PENDING, NewStatus(CONFIRMED, changed=True)),
        (confirm, CONFIRMED, NewStatus(CONFIRMED, changed=False)),
        (confirm, CANCELLED, NewStatus(CANCELLED, changed=False)),
        # cancel ends any order cancelled (a confirmed one after the saga undid it)
        (cancel, PENDING, NewStatus(CANCELLED, changed=True)),
        (cancel, CONFIRMED, NewStatus(CANCELLED, changed=True)),
        (cancel, CANCELLED, NewStatus(CANCELLED, changed=False)),
    ],
)
def test_the_sagas_commands_move_an_order_as_the_status_machine_says(
    command: Callable[[OrderStatus], NewStatus], current: OrderStatus, expected: NewStatus
) -> None:
    assert command(current) == expected


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_command_is_idempotent(status: OrderStatus) -> None:
    for command in (confirm, cancel):
        once = command(status).status
        assert command(once) == NewStatus(once, changed=False)


@pytest.mark.parametrize("status", [PENDING, CONFIRMED])
def test_a_customer_may_ask_to_cancel_an_order_not_yet_cancelled(status: OrderStatus) -> None:
    check_cancel_request(status)


def test_asking_to_cancel_a_cancelled_order_is_refused() -> None:
    with pytest.raises(AlreadyCancelled, match="already cancelled"):
        check_cancel_request(CANCELLED)
