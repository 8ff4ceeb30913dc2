"""Running many scenarios against a running system: which can run here, and when.

Scenarios run side by side (``parallel``), except those that change the system
for everyone (faults, crashes, broker cuts): fault rules apply to whichever
message comes next, so those run one at a time, after the others, and their
faults are cleared when they end.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence

import httpx

from oms.scenario.client import SystemApi, timing_of
from oms.scenario.control import Control
from oms.scenario.loader import ScenarioFile
from oms.scenario.model import Scenario
from oms.scenario.results import ScenarioResult
from oms.scenario.run import ScenarioRun
from oms.scenario.steps.faults import ClearFaults, Fault
from shared.settings import Settings


def needs(scenario: Scenario) -> set[str]:
    """The control capabilities the scenario's steps use."""
    return set().union(*(step.needs() for step in scenario.every_step()))


def uses_faults(scenario: Scenario) -> bool:
    """Whether the scenario injects (or clears) faults, which the system must allow."""
    return bool(scenario.setup.faults) or any(
        isinstance(step, (Fault, ClearFaults)) for step in scenario.every_step()
    )


FAULTS_OFF = "needs fault injection, which the running system has off (OMS_FAULTS_ENABLED)"


def exclusive(scenario: Scenario) -> bool:
    """Whether the scenario changes the system for everyone while it runs."""
    return bool(scenario.setup.faults) or any(step.changes_system for step in scenario.every_step())


_TIMING = {
    "step_timeout_seconds": "OMS_SAGA_STEP_TIMEOUT_SECONDS",
    "step_retries": "OMS_SAGA_STEP_RETRIES",
    "compensation_retries": "OMS_SAGA_COMPENSATION_RETRIES",
    "compensation_backoff_seconds": "OMS_SAGA_COMPENSATION_BACKOFF_SECONDS",
    "return_receipt_timeout_seconds": "OMS_RETURN_RECEIPT_DAYS (in seconds)",
}
_HOW = {
    "publish": "the runner reaches the broker only in real mode (OMS_BROKER_URL)",
    "cut_broker": "real mode and --rabbitmq-management",
    "crash": "--crash-command, or a harness that controls the processes",
    "restart": "--restart-command, or a harness that controls the processes",
}


def skip_reason(
    scenario: Scenario,
    settings: Settings,
    control: Control | None,
    *,
    faults: bool | None = None,
    timing: Mapping[str, float] | None = None,
) -> str | None:
    """Why the scenario cannot run here, or None.  ``faults``: whether the running
    system takes fault rules (``None``: not known, so not a reason to skip);
    ``timing``: the running saga's (:meth:`~oms.scenario.client.SystemApi.timing`),
    else the one ``settings`` say is compared."""
    if scenario.pending:
        return f"pending: {scenario.pending}"
    if faults is False and uses_faults(scenario):
        return FAULTS_OFF
    running = timing_of(settings, timing)
    for name, variable in _TIMING.items():
        wanted = getattr(scenario.setup.saga, name)
        actual = running[name]
        if wanted is not None and not math.isclose(float(wanted), float(actual)):
            return f"written for {variable}={wanted}; the system runs with {actual}"
    missing = needs(scenario) - set(control.capabilities if control else ())
    if missing:
        return "; ".join(f"needs {m}: {_HOW[m]}" for m in sorted(missing))
    return None


async def run_scenarios(
    files: Sequence[ScenarioFile],
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    control: Control | None = None,
    parallel: int = 4,
    on_start: Callable[[ScenarioFile], None] | None = None,
    on_done: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run every scenario; results in the order of ``files``."""
    api = SystemApi(settings, transports=transports)
    results: dict[str, ScenarioResult] = {}
    gate = asyncio.Semaphore(max(1, parallel))

    def finish(result: ScenarioResult) -> None:
        results[result.path] = result
        if on_done is not None:
            on_done(result)

    async def one(file: ScenarioFile) -> None:
        async with gate:
            if on_start is not None:
                on_start(file)
            finish(await ScenarioRun(file, api, control, settings).run())

    try:
        runnable: list[ScenarioFile] = []
        faults = await api.faults_enabled()
        timing = await api.timing()
        for file in files:
            reason = skip_reason(file.scenario, settings, control, faults=faults, timing=timing)
            if reason is None:
                runnable.append(file)
            else:
                finish(ScenarioResult(file.name, str(file.path), "skipped", reason=reason))
        await asyncio.gather(*(one(f) for f in runnable if not exclusive(f.scenario)))
        for file in runnable:
            if exclusive(file.scenario):
                await one(file)
    finally:
        await api.aclose()
    return [results[str(f.path)] for f in files]
