"""Load shedding: a bound on the requests a BFF works on at once.

Past ``OMS_BFF_MAX_IN_FLIGHT`` requests in flight, a new one answers 503
problem+json with ``Retry-After`` at once, instead of queueing behind the others:
the answers that are given stay fast, and a client (or a load balancer) tries
again later or elsewhere.  Health and metrics are never shed, so a busy BFF is
still seen alive and measured.
"""

from __future__ import annotations

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.context import CORRELATION_HEADER, new_correlation_id
from shared.web.problems import problem_response

RETRY_AFTER_SECONDS = 1
"""A shed request is worth retrying soon: work in flight finishes in about that."""

_NEVER_SHED = ("/health/", "/metrics")


class LoadShedding:
    """Answers 503 with ``Retry-After`` to a request arriving while ``limit`` are in flight."""

    def __init__(self, app: ASGIApp, *, limit: int, registry: CollectorRegistry) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self._in_flight = Gauge(
            "oms_bff_requests_in_flight", "Requests the BFF is working on.", registry=registry
        )
        self._shed = Counter(
            "oms_bff_shed_requests_total",
            "Requests answered 503 at once because the BFF had as many in flight as it takes.",
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_NEVER_SHED):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self._shed.inc()
            # Answered before the correlation middleware runs: it says the id itself.
            request = Request(scope)
            correlation_id = request.headers.get(CORRELATION_HEADER, "")[:128]
            response = problem_response(
                503,
                "Service Unavailable",
                f"busy: {self.limit} requests in flight; try again shortly",
                request,
                headers={
                    "Retry-After": str(RETRY_AFTER_SECONDS),
                    CORRELATION_HEADER: correlation_id.strip() or new_correlation_id(),
                },
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        self._in_flight.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._in_flight.dec()
