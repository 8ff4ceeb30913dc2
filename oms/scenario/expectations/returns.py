"""``return``: a return as the orders service shows it (its status, the amount
refunded, the quantities put back on the shelf) and, with ``state``, its saga's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from oms.scenario.history import arrows, commands_of, is_subsequence, states_of
from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference
from oms.scenario.spec import (
    RETURN_STATES,
    ProductName,
    ReturnName,
    ReturnStatusName,
    Spec,
    known_state,
)
from oms.scenario.steps.returns import return_id_of

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class ReturnExpectation(Spec):
    return_: ReturnName = Field(alias="return")
    status: ReturnStatusName | None = None
    refunded: Annotated[int, Field(ge=0)] | None = None
    """Minor units paid back for it."""
    restocked: dict[ProductName, Annotated[int, Field(ge=0)]] | None = None
    """Product name → the quantity received and put back (0: none of it); the saga
    sent ``inventory.restock`` when any is above 0, and never otherwise."""
    state: str | None = None
    """The return saga's state."""
    states: list[str] | None = None
    """States the return saga went through, in this order; others may come between."""
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)
    """How often the return saga sent each of these commands, exactly."""

    _known_state = field_validator("state")(known_state(RETURN_STATES))

    @field_validator("states")
    @classmethod
    def _known_states(cls, states: list[str] | None) -> list[str] | None:
        for state in states or []:
            known_state(RETURN_STATES)(state)
        return states


class ExpectReturn(ExpectationKind):
    return_: ReturnExpectation = Field(alias="return")

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.return_
        name = spec.return_
        return_id = return_id_of(run, name)
        link = run.api.ops_link(return_id)

        def differs(what: str, expected: object, seen: object) -> Difference:
            return Difference(f"return {name} {what}", str(expected), str(seen), return_id, link)

        found = await run.api.order_return(return_id)
        if found is None:
            return differs("", "a return", "none")
        if spec.status is not None and found["status"] != spec.status:
            return differs("status", spec.status, found["status"])
        if spec.refunded is not None and found["refundedAmount"] != spec.refunded:
            return differs("refunded amount", spec.refunded, found["refundedAmount"])
        saga = await run.api.saga(return_id)
        if spec.state is not None and (saga is None or saga["state"] != spec.state):
            return differs("saga state", spec.state, "no saga" if saga is None else saga["state"])
        sent = commands_of(saga) if saga is not None else []
        if spec.restocked is not None:
            received = {line["productId"]: line.get("receivedQuantity") for line in found["items"]}
            seen = {p: received.get(run.products[p]["id"]) or 0 for p in spec.restocked}
            if seen != spec.restocked:
                return differs("restocked quantities", spec.restocked, seen)
            if ("inventory.restock" in sent) != any(spec.restocked.values()):
                return differs("restock command sent", any(spec.restocked.values()), sent)
        if spec.states is not None:
            entered = states_of(saga) if saga is not None else []
            if not is_subsequence(spec.states, entered, str.__eq__):
                return differs("saga states", arrows(spec.states), arrows(entered))
        for command, count in spec.counts.items():
            if sent.count(command) != count:
                return differs(f"saga sends {command}", f"{count} times", arrows(sent))
        return None
