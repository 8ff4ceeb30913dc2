"""``ship`` and ``deliver``: a warehouse marks the order shipped, then delivered,
on the orders service (``POST /orders/{id}/shipment`` and ``/delivery``, with a
token of the ``fulfilment`` role)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import Field

from oms.scenario.client import Request
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.spec import Name, OrderName, Spec
from oms.scenario.steps.requests import naming_request

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class ShipSpec(Spec):
    """A warehouse ships the order with ``carrier`` and ``tracking_number``."""

    order: OrderName
    carrier: str = Field(default="DHL", min_length=1, max_length=100)
    tracking_number: str = Field(default="QA0001", pattern=r"^[A-Za-z0-9._:@-]{1,100}$")
    request: Name | None = None
    """A name for this request, for ``http`` expectations and ``repeat``."""
    status: int | list[int] | None = 200
    """The HTTP status it must answer, or one of a list (in a race: ``[200, 409]``)."""


class DeliverSpec(Spec):
    """A warehouse marks the shipped order delivered."""

    order: OrderName
    request: Name | None = None
    status: int | None = 200


async def _as_warehouse(
    run: ScenarioRun,
    order: Name,
    action: str,
    body: object,
    name: Name,
    status: int | list[int] | None,
) -> None:
    request = Request(
        "orders",
        "POST",
        f"/orders/{quote(run.orders[order], safe='')}/{action}",
        body,
        None,
        dict(run.api.warehouse),
    )
    run.requests[name] = (request, run.owners[order])
    answer = await run.api.send(request)
    run.answers[name] = answer
    run.check_status(f"{action} of {order}", status, answer)


class Ship(StepKind):
    ship: ShipSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return naming_request(names, loc, self.ship, self.ship.request)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.ship
        body = {"carrier": spec.carrier, "trackingNumber": spec.tracking_number}
        name = spec.request or f"ship-{spec.order}"
        await _as_warehouse(run, spec.order, "shipment", body, name, spec.status)


class Deliver(StepKind):
    deliver: DeliverSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return naming_request(names, loc, self.deliver, self.deliver.request)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.deliver
        name = spec.request or f"deliver-{spec.order}"
        await _as_warehouse(run, spec.order, "delivery", None, name, spec.status)
