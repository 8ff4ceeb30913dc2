"""``audit: clean``: ``oms audit`` over the scenario's orders and products."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class ExpectAudit(ExpectationKind):
    """``oms audit`` over the scenario's orders and products: no invariant violated,
    no saga left in flight."""

    audit: Literal["clean"]

    async def check(self, run: ScenarioRun) -> Difference | None:
        from oms.audit import audit_some

        report = await audit_some(
            run.settings,
            sorted(set(run.orders.values())),
            [p["id"] for p in run.products.values()],
            transports=run.api.transports,
        )
        if report.violations:
            first = report.violations[0]
            return Difference(
                "oms audit",
                "clean",
                f"{len(report.violations)} violations; first: {first.problem}",
                first.order_id,
                run.api.ops_link(first.order_id),
            )
        if report.in_flight:
            return Difference(
                "oms audit",
                "every saga ended",
                f"{len(report.in_flight)} in flight",
                report.in_flight[0],
                run.api.ops_link(report.in_flight[0]),
            )
        return None
