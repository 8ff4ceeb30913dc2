"""``saga``: the order's saga's state, the commands it sent and the states it went through."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from oms.scenario.history import arrows, commands_of, is_subsequence, states_of
from oms.scenario.kinds import ExpectationKind
from oms.scenario.spec import SAGA_STATES, OrderName, Spec, known_state, state_matches
from shared.messages import CATALOGUE

if TYPE_CHECKING:
    from oms.scenario.results import Difference
    from oms.scenario.run import ScenarioRun


class SagaExpectation(Spec):
    order: OrderName
    state: str | None = None
    steps: list[str] | None = None
    """Commands the saga sent, in this order; others may come between (a resend)."""
    states: list[str] | None = None
    """States the saga went through, in this order; others may come between."""
    never: list[str] = Field(default_factory=list)
    """Commands the saga never sent."""
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """How often each of these commands was sent, exactly."""
    reason: str | None = None
    """Found in the saga's failure reason (case-insensitive)."""

    _known_state = field_validator("state")(known_state(SAGA_STATES))

    @field_validator("steps", "never")
    @classmethod
    def _commands(cls, commands: list[str] | None) -> list[str] | None:
        for command in commands or []:
            model = CATALOGUE.get(command)
            if model is None or model.kind != "command":
                raise ValueError(f"{command!r} is not a command the saga sends")
        return commands


class ExpectSaga(ExpectationKind):
    saga: SagaExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.saga
        name = spec.order
        saga = await run.api.saga(run.orders[name])
        if saga is None:
            return run.saga_difference(f"saga {name}", "a saga", "none", name)
        if spec.state is not None and not state_matches(spec.state, saga["state"]):
            return run.saga_difference(f"saga {name} state", spec.state, saga["state"], name)
        sent = commands_of(saga)
        if spec.steps is not None and not is_subsequence(spec.steps, sent, str.__eq__):
            return run.saga_difference(
                f"saga {name} steps (in this order, others may come between)",
                arrows(spec.steps),
                arrows(sent),
                name,
            )
        entered = states_of(saga)
        if spec.states is not None and not is_subsequence(spec.states, entered, state_matches):
            return run.saga_difference(
                f"saga {name} states (in this order, others may come between)",
                arrows(spec.states),
                arrows(entered),
                name,
            )
        for command in spec.never:
            if command in sent:
                return run.saga_difference(
                    f"saga {name} never sends {command}", "not sent", arrows(sent), name
                )
        for command, count in spec.counts.items():
            if sent.count(command) != count:
                return run.saga_difference(
                    f"saga {name} sends {command}",
                    f"{count} times",
                    f"{sent.count(command)} times ({arrows(sent)})",
                    name,
                )
        if spec.reason is not None:
            reason = saga.get("failureReason") or ""
            if spec.reason.casefold() not in reason.casefold():
                return run.saga_difference(
                    f"saga {name} reason", f"containing {spec.reason!r}", repr(reason), name
                )
        return None
