"""``wait``: until the order's saga is in a state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from oms.scenario.kinds import StepKind
from oms.scenario.spec import WAIT_STATES, OrderName, Spec, known_state, state_matches

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class WaitSpec(Spec):
    """Wait until the order's saga is in ``state`` (``terminal``: any end state)."""

    order: OrderName
    state: str
    timeout_seconds: float | None = Field(default=None, gt=0)

    _known_state = field_validator("state")(known_state(WAIT_STATES))


class Wait(StepKind):
    wait: WaitSpec

    async def run(self, run: ScenarioRun) -> None:
        spec = self.wait
        within = run.remaining(spec.timeout_seconds)
        await run.saga_reaches(
            spec.order,
            lambda saga: state_matches(spec.state, saga["state"]),
            f"saga {spec.order} reaches {spec.state} within {within:.1f}s",
            spec.state,
            within=within,
            interval=0.1,
        )
