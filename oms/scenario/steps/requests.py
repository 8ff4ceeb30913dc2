"""``cancel`` (the owner asks through BFF-Web) and ``repeat`` (an earlier request
sent again, exactly as it was)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import quote

from oms.scenario.client import Request
from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.spec import Name, OrderName, RequestName, Spec

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


def naming_request(names: Names, loc: Loc, spec: Spec, request: Name | None) -> Iterator[Reference]:
    """The names ``spec`` (a step's body, at ``loc``) uses, and the name it gives its
    request, if any."""
    if request:
        names.requests.add(request)
    return names.used_by(spec, loc)


def as_owner(run: ScenarioRun, method: str, order: Name, action: str, name: Name) -> Request:
    """``method`` on BFF-Web's ``/orders/{id}/{action}`` as the owner of ``order``,
    remembered as ``name`` (for ``repeat`` and ``http`` expectations)."""
    owner = run.owners[order]
    request = Request(
        "bff-web",
        method,
        f"/orders/{quote(run.orders[order], safe='')}/{action}",
        None,
        None,
        dict(run.users[owner].auth),
    )
    run.requests[name] = (request, owner)
    return request


class CancelSpec(Spec):
    """The order's owner asks to cancel it through BFF-Web."""

    order: OrderName
    request: Name | None = None
    """A name for this request, for ``http`` expectations."""
    status: int | list[int] | None = 202
    """The HTTP status it must answer, or one of a list (in a race: ``[202, 409]``)."""


class RepeatSpec(Spec):
    """Send an earlier request again, exactly as it was sent."""

    request: RequestName
    """The request to repeat: a checkout's order name or a cancel's request name."""
    order: Name | None = None
    """A name for the order the repeated checkout answers (e.g. to compare ids)."""
    status: int | None = None


class Cancel(StepKind):
    cancel: CancelSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return naming_request(names, loc, self.cancel, self.cancel.request)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.cancel
        name = spec.request or f"cancel-{spec.order}"
        request = as_owner(run, "POST", spec.order, "cancel", name)
        answer = await run.api.send(request)
        run.answers[name] = answer
        run.check_status(f"cancel {spec.order}", spec.status, answer)


class Repeat(StepKind):
    repeat: RepeatSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        yield from super().references(names, loc)
        if self.repeat.order:
            names.orders.add(self.repeat.order)
            names.requests.add(self.repeat.order)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.repeat
        request, user = run.requests[spec.request]
        answer = await run.api.send(request)
        run.answers[spec.order or f"{spec.request}-repeated"] = answer
        run.check_status(f"repeat {spec.request}", spec.status, answer)
        if spec.order:
            run.note_order(spec.order, answer, user)
