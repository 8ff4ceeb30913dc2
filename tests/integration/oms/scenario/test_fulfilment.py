"""The order after payment, end to end on both stacks: the library's shipping scenarios
(a shipment and a delivery, a cancel racing a shipment, each side of it winning, an
undo the saga began before the shipment reached it), run without the rest of the
library."""

from __future__ import annotations

import pytest

from tests.support.scenarios import explain, run_in_process
from tests.support.stack import Stack

SHIPPING = (
    "ship-and-deliver",
    "cancel-racing-a-shipment",
    "shipment-after-an-accepted-cancel",
    "shipped-while-the-saga-undoes",
)


@pytest.mark.timeout(300)
async def test_the_shipping_scenarios_pass(stack: Stack) -> None:
    results = await run_in_process(stack, SHIPPING)

    assert [r.outcome for r in results] == ["passed"] * len(SHIPPING), explain(results)
