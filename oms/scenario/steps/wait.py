"""``wait``: until the order's saga is in a state, or the order has a status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.results import StepFailed
from oms.scenario.spec import WAIT_STATES, Name, OrderStatus, Spec, known_state, state_matches

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class WaitSpec(Spec):
    """Wait until the order's saga is in ``state`` (``terminal``: any end state), or
    until the order itself has ``status`` (the orders service may move it before the
    saga hears of it)."""

    order: Name
    state: str | None = None
    status: OrderStatus | None = None
    timeout_seconds: float | None = Field(default=None, gt=0)

    _known_state = field_validator("state")(known_state(WAIT_STATES))

    @model_validator(mode="after")
    def _one_of_them(self) -> WaitSpec:
        if (self.state is None) == (self.status is None):
            raise ValueError("give a saga state or an order status, one of them")
        return self


class Wait(StepKind):
    wait: WaitSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return names.order(loc, self.wait.order)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.wait
        within = run.remaining(spec.timeout_seconds)
        if spec.state is None:
            order_id = run.orders[spec.order]
            reached, order = await run.poll(
                lambda: run.api.order(order_id),
                lambda o: o is not None and o["status"] == spec.status,
                within=within,
                interval=0.1,
            )
            if not reached:
                seen = "no order" if order is None else str(order["status"])
                what = f"order {spec.order} is {spec.status} within {within:.1f}s"
                raise StepFailed(run.saga_difference(what, str(spec.status), seen, spec.order))
            return
        state = spec.state
        await run.saga_reaches(
            spec.order,
            lambda saga: state_matches(state, saga["state"]),
            f"saga {spec.order} reaches {state} within {within:.1f}s",
            state,
            within=within,
            interval=0.1,
        )
