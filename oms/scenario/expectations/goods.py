"""``stock`` (a product's available stock) and ``money`` (what moved for an order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms.scenario.kinds import ExpectationKind
from oms.scenario.results import Difference
from oms.scenario.spec import OrderName, ProductName, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class StockExpectation(Spec):
    product: ProductName
    available: int


class MoneyExpectation(Spec):
    """Money moved for the order (``GET /payments/summary``)."""

    order: OrderName
    captured: int | None = None
    refunded: int | None = None
    net: int | None = None


class ExpectStock(ExpectationKind):
    stock: StockExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.stock
        product = await run.api.product(run.products[spec.product]["id"])
        seen = None if product is None else int(product["available"])
        if seen != spec.available:
            return Difference(f"stock of {spec.product} available", str(spec.available), str(seen))
        return None


class ExpectMoney(ExpectationKind):
    money: MoneyExpectation

    async def check(self, run: ScenarioRun) -> Difference | None:
        spec = self.money
        summary = await run.api.money(run.orders[spec.order])
        for key in ("captured", "refunded", "net"):
            wanted = getattr(spec, key)
            if wanted is not None and int(summary[key]) != wanted:
                seen = ", ".join(f"{k} {summary[k]}" for k in ("captured", "refunded", "net"))
                return run.saga_difference(
                    f"money of order {spec.order}: {key}", str(wanted), seen, spec.order
                )
        return None
