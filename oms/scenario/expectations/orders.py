"""``order`` (one order's status, reason, identity), ``outcomes`` (how many of a race's
orders end in each status) and ``orders`` (how many orders a user has)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pydantic import Field

from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference
from oms.scenario.spec import OrderName, OrderStatus, Spec, UserName

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class OrderExpectation(Spec):
    order: OrderName
    status: OrderStatus | None = None
    reason: str | None = None
    """Found in the order's cancel reason (case-insensitive)."""
    same_as: OrderName | None = None
    """The same order (id) as this other one."""


class OutcomesExpectation(Spec):
    """How many of these orders end in each status, whichever they are (a race)."""

    orders: list[OrderName] = Field(min_length=2)
    confirmed: int | None = Field(default=None, ge=0)
    cancelled: int | None = Field(default=None, ge=0)
    pending: int | None = Field(default=None, ge=0)


class OrderCountExpectation(Spec):
    user: UserName
    count: int = Field(ge=0)


class ExpectOrder(ExpectationKind):
    order: OrderExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.order
        order = await run.api.order(run.orders[spec.order])
        if order is None:
            return run.saga_difference(f"order {spec.order}", "an order", "none", spec.order)
        if spec.status is not None and order["status"] != spec.status:
            why = f" ({order['cancelReason']})" if order.get("cancelReason") else ""
            return run.saga_difference(
                f"order {spec.order} status", spec.status, order["status"] + why, spec.order
            )
        if spec.reason is not None:
            reason = order.get("cancelReason") or ""
            if spec.reason.casefold() not in reason.casefold():
                return run.saga_difference(
                    f"order {spec.order} reason",
                    f"containing {spec.reason!r}",
                    repr(reason),
                    spec.order,
                )
        if spec.same_as is not None and run.orders[spec.same_as] != order["id"]:
            return run.saga_difference(
                f"order {spec.order} is {spec.same_as}",
                run.orders[spec.same_as],
                order["id"],
                spec.order,
            )
        return None


class ExpectOutcomes(ExpectationKind):
    outcomes: OutcomesExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.outcomes
        found = await asyncio.gather(*(run.api.order(run.orders[o]) for o in spec.orders))
        statuses = [order["status"] if order else "missing" for order in found]
        for status in ("confirmed", "cancelled", "pending"):
            wanted = getattr(spec, status)
            if wanted is not None and statuses.count(status) != wanted:
                seen = ", ".join(f"{o} {s}" for o, s in zip(spec.orders, statuses, strict=True))
                return Difference(f"orders {', '.join(spec.orders)} {status}", str(wanted), seen)
        return None


class ExpectOrderCount(ExpectationKind):
    orders: OrderCountExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.orders
        user = run.users[spec.user]
        response = await run.api.request(
            "orders",
            "GET",
            "/orders",
            params={"userId": user.user_id, "limit": 100},
            headers=user.auth,
        )
        response.raise_for_status()
        count = len(response.json()["items"])
        if count != spec.count:
            return Difference(f"orders of {spec.user}", str(spec.count), str(count))
        return None
