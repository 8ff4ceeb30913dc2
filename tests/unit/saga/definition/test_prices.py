"""The catalogue's prices: a reservation at other prices releases the stock and cancels."""

from __future__ import annotations

import pytest

from shared.messages import (
    CancelOrder,
    InventoryReserved,
)
from tests.unit.saga.definition.given import (
    CANCEL,
    CREATED,
    GIVEN,
    ORDER,
    ORDER_CANCELLED,
    RELEASE,
    RELEASED,
    RESERVE,
    RESERVED,
    SAGA,
    drive,
    run,
    s,
)

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
