"""The library's HTTP-fault scenarios on both stacks: a slow users service, a
payments service that hangs, a flaky inventory.  Each proves the order page comes
within BFF-Web's deadline with the missing part named in ``degraded``, and the
flaky inventory a checkout refused cleanly (502, no order, no stock held)."""

from __future__ import annotations

import pytest

from tests.support.scenarios import explain, run_in_process
from tests.support.stack import Stack

HTTP_FAULTS = ("slow-users-service", "payments-service-hangs", "flaky-inventory")


@pytest.mark.timeout(300)
async def test_the_http_fault_scenarios_pass(stack: Stack) -> None:
    results = await run_in_process(stack, HTTP_FAULTS)

    assert [r.outcome for r in results] == ["passed"] * len(HTTP_FAULTS), explain(results)
