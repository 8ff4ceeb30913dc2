"""``wait``: until the order's saga is in a state, or the order has a status."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from oms.scenario.kinds import StepKind
from oms.scenario.results import StepFailed
from oms.scenario.spec import (
    WAIT_STATES,
    OrderName,
    OrderStatus,
    Spec,
    known_message,
    known_state,
    state_matches,
)

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class WaitSpec(Spec):
    """Wait until the order's saga is in ``state`` (``terminal``: any end state) and,
    with ``seen``, has received at least so many of each message
    (``seen: {payment.refund_failed: 3}``: the third refusal taken); or until the
    order itself has ``status`` (the orders service may move it before the saga
    hears of it)."""

    order: OrderName
    state: str | None = None
    status: OrderStatus | None = None
    seen: dict[str, int] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(default=None, gt=0)

    _known_state = field_validator("state")(known_state(WAIT_STATES))

    @field_validator("seen")
    @classmethod
    def _known_messages(cls, seen: dict[str, int]) -> dict[str, int]:
        for message, count in seen.items():
            known_message(message)
            if count < 1:
                raise ValueError(f"{message}: at least 1, not {count}")
        return seen

    @model_validator(mode="after")
    def _one_of_them(self) -> WaitSpec:
        if (self.state is None) == (self.status is None):
            raise ValueError("give a saga state or an order status, one of them")
        if self.seen and self.state is None:
            raise ValueError("seen counts a saga's messages: give a saga state with it")
        return self

    def holds(self, saga: dict[str, Any]) -> bool:
        """Whether ``saga`` (as the saga API shows it) is where this waits for."""
        if self.state is None or not state_matches(self.state, saga["state"]):
            return False
        received = Counter(
            h["detail"].get("type") for h in saga.get("history", []) if h["kind"] == "message_in"
        )
        return all(received[message] >= count for message, count in self.seen.items())


class Wait(StepKind):
    wait: WaitSpec

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
                now = "no order" if order is None else str(order["status"])
                what = f"order {spec.order} is {spec.status} within {within:.1f}s"
                raise StepFailed(run.saga_difference(what, str(spec.status), now, spec.order))
            return
        seen = "".join(f", {n} {message}" for message, n in spec.seen.items())
        await run.saga_reaches(
            run.orders[spec.order],
            spec.holds,
            f"saga {spec.order} reaches {spec.state}{seen} within {within:.1f}s",
            spec.state,
            within=within,
            interval=0.1,
        )
