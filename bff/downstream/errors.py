"""What can go wrong when calling a downstream service.

Errors::

    DownstreamError                  base; ``service`` names the downstream, ``status``
    │                                is what a gateway answers on its behalf
    ├── DownstreamUnavailable        connection failure or a 5xx answer (after retries) → 502
    ├── DownstreamTimeout            per-call timeout, bulkhead wait or request deadline
    │                                exhausted → 504
    ├── CircuitOpen                  the breaker is open: failed fast, nothing was sent → 502
    ├── DownstreamRejected           a 4xx answer; ``status`` and the parsed RFC 9457
    │                                ``problem`` are the downstream's, so they can be passed on
    └── EssentialSectionFailed       a fan-out section the answer cannot do without failed;
                                     ``cause`` is one of the above (or a TimeoutError) → 502/504

A BFF maps the whole tree to problem responses in one exception handler:
``status`` for the code and ``service`` for the detail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DownstreamError(Exception):
    """Base of every failure of a call to another service."""

    status: int = 502
    """The HTTP status a gateway answers with when this error reaches its caller."""

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.detail = detail


class DownstreamUnavailable(DownstreamError):
    """The service could not be reached, or answered with a 5xx.

    ``upstream_status`` is that 5xx, or ``None`` when no answer came at all
    (connection refused or reset, protocol error, an unreadable body).
    """

    def __init__(self, service: str, detail: str, *, upstream_status: int | None = None) -> None:
        super().__init__(service, detail)
        self.upstream_status = upstream_status


class DownstreamTimeout(DownstreamError):
    """No answer in time: the per-call timeout, the bulkhead wait, or the request deadline."""

    status = 504


class CircuitOpen(DownstreamError):
    """The circuit breaker for the service is open; the call was refused without sending.

    ``retry_after`` is how many seconds remain until the breaker lets a probe through.
    """

    def __init__(self, service: str, *, retry_after: float) -> None:
        super().__init__(service, f"circuit open, retry in {retry_after:.1f}s")
        self.retry_after = retry_after


class DownstreamRejected(DownstreamError):
    """The service answered 4xx: its verdict on the request, never retried.

    ``status`` is the downstream's own status and ``problem`` its RFC 9457 problem
    body when it sent one, so a BFF can pass a 404, 409 or 422 straight on.
    """

    def __init__(self, service: str, status: int, problem: Mapping[str, Any] | None) -> None:
        detail = problem.get("detail") if problem else None
        super().__init__(service, str(detail) if detail else f"HTTP {status}")
        self.status = status
        self.problem = problem


class EssentialSectionFailed(DownstreamError):
    """A fan-out section marked essential failed, so there is no answer to give.

    ``status`` is 504 when the section ran out of time and 502 otherwise.
    """

    def __init__(self, section: str, service: str, cause: BaseException) -> None:
        super().__init__(service, f"section {section!r} failed: {_describe(cause)}")
        self.section = section
        self.cause = cause
        self.status = 504 if isinstance(cause, DownstreamTimeout | TimeoutError) else 502


def _describe(error: BaseException) -> str:
    if isinstance(error, DownstreamError):
        return error.detail
    if isinstance(error, TimeoutError) and not str(error):
        return "timed out"  # asyncio's TimeoutError carries no message
    return str(error) or type(error).__name__
