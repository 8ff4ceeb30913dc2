"""``first_wins``: a cancel and a shipment of one order sent at once, and how the race
ended: exactly one was taken, the other refused (409) saying why, and the order ends
as the winner leaves it (``cancelled`` once the saga undid it, or ``shipped``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference
from oms.scenario.spec import OrderName, RequestName, Spec

if TYPE_CHECKING:
    from oms.scenario.client import Answer
    from oms.scenario.run import ScenarioRun

CANCEL_LOST: tuple[str, ...] = ("start a return",)
"""What the orders service says to a cancel that came after the shipment."""
SHIPMENT_LOST: tuple[str, ...] = ("a cancel was accepted", "it is cancelled")
"""What it says to a shipment that came after an accepted cancel: while the saga
undoes the order, or once it has (a slow shipment on a busy machine)."""


class FirstWinsExpectation(Spec):
    order: OrderName
    cancel: RequestName
    """The name of the ``cancel`` step's request."""
    shipment: RequestName
    """The name of the ``ship`` step's request."""


def _detail(answer: Answer) -> str:
    return str(answer.body.get("detail", "")) if isinstance(answer.body, dict) else ""


class ExpectFirstWins(ExpectationKind):
    first_wins: FirstWinsExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.first_wins
        cancel, shipment = run.answers.get(spec.cancel), run.answers.get(spec.shipment)
        if cancel is None or shipment is None:
            return Difference(f"requests {spec.cancel} and {spec.shipment}", "answers", "none")
        statuses = f"cancel {cancel.status}, shipment {shipment.status}"
        if cancel.status == 409 and 200 <= shipment.status < 300:
            winner, loser, why, ends = "shipment", cancel, CANCEL_LOST, "shipped"
        elif shipment.status == 409 and 200 <= cancel.status < 300:
            winner, loser, why, ends = "cancel", shipment, SHIPMENT_LOST, "cancelled"
        else:
            return Difference(f"race on {spec.order}", "one taken, the other 409", statuses)
        if not any(words in _detail(loser) for words in why):
            return Difference(
                f"why the {winner}'s rival lost",
                "containing " + " or ".join(map(repr, why)),
                repr(_detail(loser)),
            )
        order = await run.api.order(run.orders[spec.order])
        status = order["status"] if order else "missing"
        if status != ends:
            return run.saga_difference(
                f"order {spec.order} after the {winner} won", ends, status, spec.order
            )
        return None
