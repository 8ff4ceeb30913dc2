"""The saga timing a scenario is exported with and checked against is the running
system's (``GET /sagas/timing``), not the one of the shell ``oms`` is run from."""

from __future__ import annotations

from pathlib import Path

import pytest

from oms.scenario.client import SystemApi
from oms.scenario.export import export_saga
from oms.scenario.loader import dump_yaml
from oms.scenario.schedule import skip_reason
from shared.web.app import API_PREFIX
from tests.support.scenarios import SILENT_PAYMENTS, TIMING, all_pass, scenario_file, transports_of
from tests.support.stack import ON_POSTGRES_ONLY, Stack
from tests.support.system import running_system

SHELL = {
    "saga_step_timeout_seconds": 30.0,
    "saga_step_retries": 10,
    "saga_compensation_retries": 7,
    "saga_compensation_backoff_seconds": 5.0,
}
"""What the shell running ``oms`` says (``OMS_SAGA_*``): not what the system runs with."""
RUNNING = {
    "step_timeout_seconds": TIMING["saga_step_timeout_seconds"],
    "step_retries": TIMING["saga_step_retries"],
    "compensation_retries": TIMING["saga_compensation_retries"],
    "compensation_backoff_seconds": TIMING["saga_compensation_backoff_seconds"],
    "return_receipt_timeout_seconds": TIMING["return_receipt_days"] * 86_400,
}


async def test_the_saga_tells_the_timing_it_runs_with_to_ops_only(stack: Stack) -> None:
    async with running_system(stack, **TIMING) as system:
        saga = system.services["saga"]
        assert (await saga.get(f"{API_PREFIX}/sagas/timing")).status_code == 401
        customer = await saga.get(f"{API_PREFIX}/sagas/timing", headers=stack.auth("someone"))
        assert customer.status_code == 403
        told = await saga.get(f"{API_PREFIX}/sagas/timing", headers=stack.ops())
        assert told.status_code == 200, told.text
        assert told.json() == {
            "stepTimeoutSeconds": 3.0,
            "stepRetries": 1,
            "compensationRetries": 1,
            "compensationBackoffSeconds": 0.2,
            "compensationBackoffMaxSeconds": 300.0,
            "returnReceiptTimeoutSeconds": RUNNING["return_receipt_timeout_seconds"],
        }


@ON_POSTGRES_ONLY
@pytest.mark.timeout(180)
async def test_an_export_and_a_run_read_the_running_systems_timing_not_the_shells(
    stack: Stack, tmp_path: Path
) -> None:
    silent = scenario_file(tmp_path / "silent.yaml", SILENT_PAYMENTS)

    async with running_system(stack, **TIMING) as system:
        shell = system.stack.settings.model_copy(update=SHELL)
        transports = transports_of(system)
        # Written for the running system's timing: it runs, though the shell says otherwise.
        assert skip_reason(silent.scenario, shell, None) == (
            "written for OMS_SAGA_STEP_TIMEOUT_SECONDS=3.0; the system runs with 30.0"
        )
        [result] = await all_pass([silent], shell, transports=transports)

        async with SystemApi(shell, transports=transports) as api:
            assert await api.timing() == RUNNING
            exported = await export_saga(api, result.orders["o1"])

    # An order saga's export names the order saga's timing, not the return's.
    assert exported["setup"]["saga"] == {
        name: value for name, value in RUNNING.items() if name != "return_receipt_timeout_seconds"
    }
    again = scenario_file(tmp_path / "exported.yaml", dump_yaml(exported))
    assert again.scenario.setup.saga.step_retries == 1
