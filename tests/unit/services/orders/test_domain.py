"""The order rules: the status machine the saga's commands drive, and totals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.orders.domain import (
    MAX_LINES,
    MAX_QUANTITY,
    Line,
    NewStatus,
    OrderStatus,
    Shipment,
    cancel,
    cancel_reason,
    check_cancel_request,
    check_replay,
    confirm,
    deliver,
    order_total,
    ship,
)
from services.orders.errors import (
    AlreadyCancelled,
    CannotDeliver,
    CannotShip,
    KeyReused,
    ShippedAlready,
)

PENDING, CONFIRMED, CANCELLED = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.CANCELLED
SHIPPED, DELIVERED = OrderStatus.SHIPPED, OrderStatus.DELIVERED
DHL = Shipment("DHL", "JD0142")


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
        # a shipped order stays shipped when the saga confirms it again
        (confirm, SHIPPED, NewStatus(SHIPPED, changed=False)),
        (confirm, DELIVERED, NewStatus(DELIVERED, changed=False)),
        # the saga's cancel of an order shipped after its undo began still cancels it
        (cancel, SHIPPED, NewStatus(CANCELLED, changed=True)),
        (cancel, DELIVERED, NewStatus(CANCELLED, changed=True)),
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


@pytest.mark.parametrize("status", [SHIPPED, DELIVERED])
def test_asking_to_cancel_a_shipped_order_says_to_start_a_return(status: OrderStatus) -> None:
    with pytest.raises(ShippedAlready, match="start a return instead"):
        check_cancel_request(status)


def test_only_a_confirmed_order_with_no_cancel_accepted_is_shipped() -> None:
    assert ship(CONFIRMED, False, None, DHL) == NewStatus(SHIPPED, changed=True)
    refusals = {
        "a cancel was accepted": (CONFIRMED, True, None),
        "it is pending": (PENDING, False, None),
        "it is cancelled": (CANCELLED, False, None),
        "shipped already with UPS 1Z99": (SHIPPED, False, Shipment("UPS", "1Z99")),
    }
    for why, (status, cancel_requested, sent) in refusals.items():
        with pytest.raises(CannotShip, match=why):
            ship(status, cancel_requested, sent, DHL)


@pytest.mark.parametrize("status", [SHIPPED, DELIVERED])
def test_the_same_shipment_again_changes_nothing(status: OrderStatus) -> None:
    assert ship(status, False, DHL, DHL) == NewStatus(status, changed=False)


def test_only_a_shipped_order_is_delivered_and_once() -> None:
    assert deliver(SHIPPED) == NewStatus(DELIVERED, changed=True)
    assert deliver(DELIVERED) == NewStatus(DELIVERED, changed=False)
    for status in (PENDING, CONFIRMED, CANCELLED):
        with pytest.raises(CannotDeliver, match=f"it is {status.value}"):
            deliver(status)


def test_a_cancel_of_a_shipped_order_says_the_parcel_left() -> None:
    assert cancel_reason("aborted by alice", CONFIRMED, None) == "aborted by alice"
    assert cancel_reason("aborted by alice", SHIPPED, DHL) == (
        "aborted by alice; it had been shipped (DHL JD0142) before the cancel reached it: "
        "recover the parcel"
    )


def test_a_key_sent_again_replays_only_with_the_order_it_was_first_sent_with() -> None:
    check_replay("digest-a", "digest-a")
    with pytest.raises(KeyReused, match="different order"):
        check_replay("digest-a", "digest-b")
