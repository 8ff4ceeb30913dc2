"""``http_fault`` (a rule for a component's HTTP routes, ``POST /_faults``) and
``order_page`` (BFF-Web's aggregated order page, read as the order's owner and
checked for its status, the parts it left out and the time it took).

An ``http_fault`` changes the system for everyone, so a scenario holding one runs
alone; the runner clears the component's faults when the scenario ends.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field

from oms.scenario.kinds import Loc, Names, Reference, StepKind
from oms.scenario.results import Difference, StepFailed
from oms.scenario.spec import HttpService, Name, OrderName, Spec
from oms.scenario.steps.requests import as_owner, naming_request

if TYPE_CHECKING:
    from oms.scenario.run import ScenarioRun


class HttpFaultSpec(Spec):
    """A rule for the routes of ``service``: see ``shared/web/faults.py`` for the modes."""

    service: HttpService
    route: str = "*"
    """A path as the service's OpenAPI document spells it, or ``*`` for every one."""
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] | None = None
    mode: Literal["latency", "error", "hang", "reset"]
    ratio: float = Field(default=1.0, gt=0, le=1)
    times: int = Field(default=1, ge=1, le=1_000_000)
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    p50_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    status: int = Field(default=503, ge=400, le=599)

    def rule(self) -> dict[str, object]:
        """The body of ``POST /_faults``."""
        rule: dict[str, object] = {
            "route": self.route,
            "mode": self.mode,
            "ratio": self.ratio,
            "times": self.times,
        }
        if self.method is not None:
            rule["method"] = self.method
        if self.mode == "latency":
            if self.p50_ms is not None:
                rule |= {"p50Ms": self.p50_ms, "p99Ms": self.p99_ms}
            else:
                rule["delayMs"] = self.delay_ms
        if self.mode == "error":
            rule["status"] = self.status
        return rule


class OrderPageSpec(Spec):
    """``GET /orders/{id}/details`` through BFF-Web, as the order's owner."""

    order: OrderName
    request: Name | None = None
    """A name for this request, for ``http`` expectations and ``repeat``."""
    status: int | None = 200
    degraded: list[str] | None = None
    """The parts the page must leave out (null) and name in ``degraded``, in any order."""
    within_seconds: float | None = Field(default=None, gt=0)
    """The longest the page may take to answer."""


class HttpFault(StepKind):
    http_fault: HttpFaultSpec
    changes_system: ClassVar[bool] = True

    async def run(self, run: ScenarioRun) -> None:
        spec = self.http_fault
        run.faulted.add(spec.service)
        response = await run.api.inject(spec.service, spec.rule())
        if response.status_code != 201:
            raise StepFailed(
                Difference(
                    f"fault {spec.mode} on {spec.service} {spec.route} injected",
                    "201",
                    f"{response.status_code} {response.text[:300]}",
                )
            )


class OrderPage(StepKind):
    order_page: OrderPageSpec

    def references(self, names: Names, loc: Loc) -> Iterator[Reference]:
        return naming_request(names, loc, self.order_page, self.order_page.request)

    async def run(self, run: ScenarioRun) -> None:
        spec = self.order_page
        name = spec.request or f"page-{spec.order}"
        request = as_owner(run, "GET", spec.order, "details", name)
        started = time.monotonic()
        answer = await run.api.send(request)
        elapsed = time.monotonic() - started
        run.answers[name] = answer
        what = f"order page of {spec.order}"
        run.check_status(what, spec.status, answer)
        if spec.within_seconds is not None and elapsed > spec.within_seconds:
            raise StepFailed(
                Difference(
                    f"{what} answered in time", f"{spec.within_seconds:g}s", f"{elapsed:.2f}s"
                )
            )
        if spec.degraded is not None:
            page = answer.body if isinstance(answer.body, dict) else {}
            seen = sorted(page.get("degraded") or [])
            present = sorted(part for part in spec.degraded if page.get(part) is not None)
            if seen != sorted(spec.degraded) or present:
                raise StepFailed(
                    Difference(
                        f"{what} parts left out",
                        ", ".join(sorted(spec.degraded)) or "(none)",
                        (", ".join(seen) or "(none)")
                        + (f" (present all the same: {', '.join(present)})" if present else ""),
                    )
                )
