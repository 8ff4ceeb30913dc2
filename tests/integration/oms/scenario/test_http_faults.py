"""The library's HTTP-fault scenarios on both stacks: a slow users service, a
payments service that hangs, a flaky inventory.  Each proves the order page comes
within BFF-Web's deadline with the missing part named in ``degraded``, and the
flaky inventory a checkout refused cleanly (502, no order, no stock held)."""

from __future__ import annotations

import pytest

from oms.scenario.schedule import run_scenarios
from tests.support.scenarios import TIMING, explain, library, transports_of
from tests.support.stack import Stack
from tests.support.system import running_system

HTTP_FAULTS = ("slow-users-service", "payments-service-hangs", "flaky-inventory")


@pytest.mark.timeout(300)
async def test_the_http_fault_scenarios_pass(stack: Stack) -> None:
    files = library(HTTP_FAULTS)
    assert sorted(f.name for f in files) == sorted(HTTP_FAULTS)

    async with running_system(stack, **TIMING) as system:
        results = await run_scenarios(
            files,
            system.stack.settings.model_copy(update=TIMING),
            transports=transports_of(system),
        )

    assert [r.outcome for r in results] == ["passed"] * len(HTTP_FAULTS), explain(results)
