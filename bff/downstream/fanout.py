"""Fetch the parts of an aggregated answer concurrently, degrading the optional ones.

An aggregated page costs about its slowest part, not the sum of them::

    result = await fan_out({
        "order": Section(lambda: orders.get_json(f"/orders/{id}"), essential=True, service="orders"),
        "payments": Section(lambda: payments.get_json("/payments", params={"orderId": id}),
                            essential=False, service="payments", timeout=0.5),
    })
    result.values["payments"]   # None if payments failed or was slow
    result.degraded             # ["payments"] in that case

Every section runs as its own task under the current request deadline, minus a
little ``headroom`` kept back so the caller still has time to merge and answer.
Inside a section that narrowed deadline is the current one, so downstream calls
cap their timeouts and budget header to it.

* An optional section that fails, or runs out of time, yields ``None`` and is
  named in ``degraded``; the others carry on.
* An essential section that fails raises :class:`EssentialSectionFailed` (status
  504 if it ran out of time, 502 otherwise) and the remaining sections are
  cancelled: there is no answer to wait for any more.
* An essential section *rejected* with a 4xx re-raises the
  :class:`DownstreamRejected` untouched, so a 404 for the order stays a 404.
* Any other exception from an essential section (a bug in the section's own
  code) propagates unchanged rather than being disguised as a downstream failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Generic, TypeVar

from bff.downstream.deadline import CANCEL_GRACE, Deadline, bind_deadline, current_deadline
from bff.downstream.errors import DownstreamError, DownstreamRejected, EssentialSectionFailed
from shared.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

DEFAULT_HEADROOM = 0.05
"""Seconds of the request deadline kept back from the sections for merging and answering.

Larger than :data:`CANCEL_GRACE`, so even a section cut off by its hard cancel
ends before the request deadline.
"""


@dataclass(frozen=True, slots=True)
class Section(Generic[T]):
    """One part of an aggregated answer: how to fetch it and how much it matters.

    ``call`` is invoked once, inside the section's task.  ``timeout`` bounds this
    section on top of the request deadline.
    """

    call: Callable[[], Awaitable[T]]
    _: KW_ONLY
    essential: bool
    service: str
    timeout: float | None = None


@dataclass(slots=True)
class FanOutResult:
    """Each section's value by name (``None`` when degraded), and the degraded names in order."""

    values: dict[str, Any] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)


async def fan_out(
    sections: Mapping[str, Section[Any]], *, headroom: float = DEFAULT_HEADROOM
) -> FanOutResult:
    """Run every section concurrently and collect the values; see the module docstring."""
    outer = current_deadline()
    values: dict[str, Any] = {}
    try:
        async with asyncio.TaskGroup() as group:
            for name, section in sections.items():
                budget = _section_deadline(section, outer, headroom)
                group.create_task(_run(name, section, budget, values), name=f"fan-out:{name}")
    except ExceptionGroup as failures:
        # Failing one task cancels the rest, so there is normally exactly one;
        # when two fail in the same instant, the first recorded one answers.
        first = failures.exceptions[0]
        raise first from first.__cause__
    degraded = [name for name in sections if name not in values]
    return FanOutResult(values={name: values.get(name) for name in sections}, degraded=degraded)


def _section_deadline(
    section: Section[Any], outer: Deadline | None, headroom: float
) -> Deadline | None:
    if outer is not None:
        return outer.narrowed(section.timeout, reserve=headroom)
    if section.timeout is not None:
        return Deadline(section.timeout)
    return None


def _hard_limit(budget: Deadline | None) -> float | None:
    return budget.remaining() + CANCEL_GRACE if budget is not None else None


async def _run(
    name: str, section: Section[Any], budget: Deadline | None, values: dict[str, Any]
) -> None:
    """Run one section and store its value; degrading an optional one means storing nothing."""
    try:
        with bind_deadline(budget):
            # Downstream calls honour the bound deadline by themselves; this also
            # bounds whatever else the section awaits.
            async with asyncio.timeout(_hard_limit(budget)):
                values[name] = await section.call()
    except DownstreamRejected as error:
        if section.essential:
            raise
        _log_degraded(name, section, error)
    except (DownstreamError, TimeoutError) as error:
        if section.essential:
            raise EssentialSectionFailed(name, section.service, error) from error
        _log_degraded(name, section, error)
    except Exception:
        if section.essential:
            raise
        # An optional part is not worth failing the page for, but a bug must show.
        log.exception("fan-out section crashed", section=name, service=section.service)


def _log_degraded(name: str, section: Section[Any], error: BaseException) -> None:
    log.warning(
        "fan-out section degraded",
        section=name,
        service=section.service,
        error=str(error) or type(error).__name__,
    )
