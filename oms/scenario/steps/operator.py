"""``retry`` and ``abort``: an ops action on the order's saga."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

from oms.scenario.client import Answer
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.results import StepFailed
from oms.scenario.spec import Name, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class OperatorSpec(Spec):
    """An ops action on the order's saga (``POST /sagas/{id}/retry`` or ``/abort``)."""

    order: Name
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


class Retry(StepKind):
    retry: OperatorSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return names.order(loc, self.retry.order)

    async def run(self, run: ScenarioRun) -> None:
        await _operate(run, "retry", self.retry)


class Abort(StepKind):
    abort: OperatorSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return names.order(loc, self.abort.order)

    async def run(self, run: ScenarioRun) -> None:
        await _operate(run, "abort", self.abort)
