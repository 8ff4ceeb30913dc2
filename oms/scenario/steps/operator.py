"""``retry`` and ``abort``: an ops action on the order's saga."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from oms.scenario.client import Answer
from oms.scenario.kinds import StepKind
from oms.scenario.results import StepFailed
from oms.scenario.spec import OrderName, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class OperatorSpec(Spec):
    """An ops action on the order's saga (``POST /sagas/{id}/retry`` or ``/abort``)."""

    order: OrderName
    reason: str = "asked by a QA scenario"
    status: int | None = 200


async def _operate(run: ScenarioRun, action: str, spec: OperatorSpec) -> None:
    response = await run.api.request(
        "saga",
        "POST",
        f"/sagas/{quote(run.orders[spec.order], safe='')}/{action}",
        json={"reason": spec.reason},
        headers=run.api.ops,
    )
    try:
        run.check_status(f"{action} saga {spec.order}", spec.status, Answer.of(response))
    except StepFailed as failed:
        what, expected, seen = (
            failed.difference.what,
            failed.difference.expected,
            failed.difference.seen,
        )
        raise StepFailed(run.saga_difference(what, expected, seen, spec.order)) from None


class _Operation(StepKind):
    """An ops action on the order's saga, the action named by the kind."""

    async def run(self, run: ScenarioRun) -> None:
        await _operate(run, self.kind(), self.body)


class Retry(_Operation):
    retry: OperatorSpec


class Abort(_Operation):
    abort: OperatorSpec
