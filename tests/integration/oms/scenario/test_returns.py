"""Returns end to end on both stacks: the library's return scenarios (a return in
full, one in part, one the warehouse never receives, one whose refund keeps being
declined until ops retry), run without the rest of the library."""

from __future__ import annotations

import pytest

from tests.support.scenarios import explain, run_in_process
from tests.support.stack import Stack

RETURNS = ("return-in-full", "return-in-part")


@pytest.mark.timeout(300)
async def test_the_return_scenarios_pass(stack: Stack) -> None:
    results = await run_in_process(stack, RETURNS)

    assert [r.outcome for r in results] == ["passed"] * len(RETURNS), explain(results)
    assert all(r.returns for r in results), explain(results)
