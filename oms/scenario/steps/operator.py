"""``retry`` and ``abort``: an ops action on an order's saga or a return's."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import Field, model_validator

from oms.scenario.client import Answer
from oms.scenario.kinds import StepKind
from oms.scenario.results import Difference, StepFailed
from oms.scenario.spec import OrderName, ReturnName, Spec
from oms.scenario.steps.returns import return_id_of

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class OperatorSpec(Spec):
    """An ops action (``POST /sagas/{id}/retry`` or ``/abort``) on the order's saga,
    or with ``return`` on the return's."""

    order: OrderName | None = None
    return_: ReturnName | None = Field(default=None, alias="return")
    reason: str = "asked by a QA scenario"
    status: int | None = 200

    @model_validator(mode="after")
    def _one_saga(self) -> OperatorSpec:
        if (self.order is None) == (self.return_ is None):
            raise ValueError("give an order or a return, one of them")
        return self


async def _operate(run: ScenarioRun, action: str, spec: OperatorSpec) -> None:
    if spec.return_ is not None:
        saga_id, what = return_id_of(run, spec.return_), f"return {spec.return_}"
    else:
        saga_id, what = run.orders[str(spec.order)], str(spec.order)
    response = await run.api.request(
        "saga",
        "POST",
        f"/sagas/{quote(saga_id, safe='')}/{action}",
        json={"reason": spec.reason},
        headers=run.api.ops,
    )
    try:
        run.check_status(f"{action} saga {what}", spec.status, Answer.of(response))
    except StepFailed as failed:
        seen = failed.difference
        link = run.api.ops_link(saga_id)
        raise StepFailed(Difference(seen.what, seen.expected, seen.seen, saga_id, link)) from None


class _Operation(StepKind):
    """An ops action on the order's saga, the action named by the kind."""

    async def run(self, run: ScenarioRun) -> None:
        await _operate(run, self.kind(), self.body)


class Retry(_Operation):
    retry: OperatorSpec


class Abort(_Operation):
    abort: OperatorSpec
