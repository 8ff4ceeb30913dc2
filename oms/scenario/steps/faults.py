"""``fault`` (a rule for ``POST /_faults``) and ``clear_faults``: they change the
system for everyone, so a scenario holding one runs alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from oms.scenario.kinds import StepKind
from oms.scenario.results import Difference, StepFailed
from oms.scenario.spec import FaultSpec, HttpService, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class ClearFaultsSpec(Spec):
    service: HttpService
    """Any component taking faults: those on its messages and those on its routes."""


class Fault(StepKind):
    fault: FaultSpec
    changes_system: ClassVar[bool] = True

    async def run(self, run: ScenarioRun) -> None:
        await run.inject(self.fault)


class ClearFaults(StepKind):
    clear_faults: ClearFaultsSpec
    changes_system: ClassVar[bool] = True

    async def run(self, run: ScenarioRun) -> None:
        service = self.clear_faults.service
        response = await run.api.clear_faults(service)
        if response.status_code != 204:
            raise StepFailed(
                Difference(f"faults cleared on {service}", "204", f"{response.status_code}")
            )
