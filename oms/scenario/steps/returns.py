"""``return``, ``receive`` and ``wait_return``: the customer asks to return lines of a
delivered order, the warehouse records what arrived, and the scenario waits for the
return's saga (whose id is the return's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import quote

from pydantic import Field, field_validator

from oms.scenario.client import Request
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.results import Difference, StepFailed
from oms.scenario.spec import (
    RETURN_TERMINAL_STATES,
    RETURN_WAIT_STATES,
    Name,
    OrderName,
    ProductName,
    ReturnName,
    Spec,
    known_state,
)

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun

_COMPONENT = {"web": "bff-web", "mobile": "bff-mobile", "orders": "orders"}


def return_id_of(run: ScenarioRun, name: str) -> str:
    """The id the return named ``name`` got; a failure when it was refused."""
    if name not in run.returns:
        raise StepFailed(Difference(f"return {name}", "a return the orders service took", "none"))
    return run.returns[name]


class ReturnSpec(Spec):
    """The order's owner asks to return ``items`` (product name → quantity) of it,
    through BFF-Web, BFF-Mobile or the orders service; the return is named ``name``
    (and so is the request, for ``http`` expectations)."""

    order: OrderName
    items: dict[ProductName, Annotated[int, Field(ge=1)]] = Field(min_length=1)
    name: Name
    via: Literal["web", "mobile", "orders"] = "web"
    status: int | list[int] | None = 201
    """The HTTP status it must answer (a refused return: ``409`` or ``422``)."""


class ReceiveSpec(Spec):
    """The warehouse (role ``fulfilment``) received the return's goods in these
    quantities (product name → quantity; a product left out: none of it)."""

    return_: ReturnName = Field(alias="return")
    items: dict[ProductName, Annotated[int, Field(ge=0)]] = Field(min_length=1)
    request: Name | None = None
    status: int | list[int] | None = 200


class WaitReturnSpec(Spec):
    """Wait until the return's saga is in ``state`` (``terminal``: completed,
    expired or failed)."""

    return_: ReturnName = Field(alias="return")
    state: str
    timeout_seconds: float | None = Field(default=None, gt=0)

    _known_state = field_validator("state")(known_state(RETURN_WAIT_STATES))

    def holds(self, state: str | None) -> bool:
        if self.state == "terminal":
            return state in RETURN_TERMINAL_STATES
        return state == self.state


class Return(StepKind):
    return_: ReturnSpec = Field(alias="return")

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        spec = self.return_
        yield from names.used_by(spec, loc)
        names.returns.add(spec.name)
        names.requests.add(spec.name)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.return_
        owner = run.owners[spec.order]
        items = [{"productId": run.products[p]["id"], "quantity": q} for p, q in spec.items.items()]
        request = Request(
            _COMPONENT[spec.via],
            "POST",
            f"/orders/{quote(run.orders[spec.order], safe='')}/returns",
            {"items": items},
            None,
            dict(run.users[owner].auth),
        )
        run.requests[spec.name] = (request, owner)
        answer = await run.api.send(request)
        run.answers[spec.name] = answer
        if 200 <= answer.status < 300 and isinstance(answer.body, dict) and "id" in answer.body:
            run.returns[spec.name] = str(answer.body["id"])
            run.return_orders[spec.name] = spec.order
        run.check_status(f"return {spec.name} of {spec.order}", spec.status, answer)


class Receive(StepKind):
    receive: ReceiveSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        if self.receive.request:
            names.requests.add(self.receive.request)
        return names.used_by(self.receive, loc)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.receive
        return_id = return_id_of(run, spec.return_)
        items = [{"productId": run.products[p]["id"], "quantity": q} for p, q in spec.items.items()]
        request = Request(
            "orders",
            "POST",
            f"/returns/{quote(return_id, safe='')}/receipt",
            {"items": items},
            None,
            dict(run.api.warehouse),
        )
        name = spec.request or f"receive-{spec.return_}"
        order = run.return_orders[spec.return_]
        run.requests[name] = (request, run.owners[order])
        answer = await run.api.send(request)
        run.answers[name] = answer
        run.check_status(f"receipt of {spec.return_}", spec.status, answer)


class WaitReturn(StepKind):
    wait_return: WaitReturnSpec

    async def run(self, run: ScenarioRun) -> None:
        spec = self.wait_return
        within = run.remaining(spec.timeout_seconds)
        await run.saga_reaches(
            return_id_of(run, spec.return_),
            lambda saga: spec.holds(saga["state"]),
            f"return saga {spec.return_} reaches {spec.state} within {within:.1f}s",
            spec.state,
            within=within,
            interval=0.1,
        )
