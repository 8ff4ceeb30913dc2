"""The composition root every BFF shares: clients, idempotency store, app factory.

A BFF owns no domain data.  It has its downstream clients (created when the
app starts, closed when it stops), a small table of idempotency keys in its own
schema, and the usual app: health, readiness (its database, the broker and every
downstream's ``/health/live``), metrics, correlation ids and problem responses,
downstream failures included; past ``OMS_BFF_MAX_IN_FLIGHT`` requests at once it
sheds new ones (:mod:`bff.shedding`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol

import httpx
from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry, Counter
from starlette.middleware.gzip import GZipMiddleware

from bff.downstreams import Downstreams
from bff.idempotency import IdempotencyStore
from bff.problems import install_downstream_problems
from bff.shedding import LoadShedding
from shared.messaging.transport import Transport
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.settings import SERVICES, Settings
from shared.startup import StartupFailed
from shared.web.app import ReadyCheck, create_app
from shared.web.limits import BodyLimits
from shared.web.ratelimit import RateLimiter

MIGRATIONS = Path(__file__).parent / "migrations"


class Bff:
    """One BFF's shared machinery; ``downstreams`` exists while the app runs.

    A BFF subclasses it to add what only its routes need (a cache, say) and
    reaches it in routes through a dependency reading ``app.state.bff``.
    """

    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.db = Database.for_component(settings, name)
        # A write ends within its deadline: a claim three deadlines old has lost its
        # holder (a killed replica), and a retry takes it over.
        self.idempotency = IdempotencyStore(
            self.db, lease=timedelta(seconds=3 * settings.bff_write_deadline_seconds)
        )
        self.auth_limiter = RateLimiter(
            settings.bff_auth_rate_limit, settings.bff_rate_window_seconds
        )
        """Sign-ups and sign-ins per client address."""
        self.checkout_limiter = RateLimiter(
            settings.bff_checkout_rate_limit, settings.bff_rate_window_seconds
        )
        """Checkouts per user."""
        self._http_transports = dict(http_transports or {})
        self._downstreams: Downstreams | None = None
        self._degraded: Counter | None = None
        self._hedged: Counter | None = None

    def count_in(self, registry: CollectorRegistry) -> None:
        """Count degraded answers and hedged reads in ``registry`` (the app's ``/metrics``)."""
        self._degraded = Counter(
            "oms_bff_degraded_answers_total",
            "Answers given with a part left out (its service failed or was late), by part.",
            ["section"],
            registry=registry,
        )
        self._hedged = Counter(
            "oms_bff_hedged_calls_total",
            "Reads sent a second time because the first copy was slow, by service and by "
            "which copy answered first (won: the second).",
            ["service", "outcome"],
            registry=registry,
        )

    def count_degraded(self, sections: Iterable[str]) -> None:
        """An answer went out without ``sections`` (a service failed or was late)."""
        if self._degraded is not None:
            for section in sections:
                self._degraded.labels(section).inc()

    def count_hedge(self, service: str, outcome: str) -> None:
        """A read to ``service`` was hedged; ``outcome`` says which copy answered first."""
        if self._hedged is not None:
            self._hedged.labels(service, outcome).inc()

    @property
    def downstreams(self) -> Downstreams:
        if self._downstreams is None:
            raise RuntimeError(f"{self.name} is not running: its downstream clients are closed")
        return self._downstreams

    async def start(self) -> None:
        try:
            await upgrade(self.db, MIGRATIONS)
        except Exception as error:
            raise StartupFailed(self.name, "migrate its database", self.db.where, error) from error
        self._downstreams = Downstreams(
            self.settings, transports=self._http_transports, on_hedge=self.count_hedge
        )

    async def stop(self) -> None:
        if self._downstreams is not None:
            await self._downstreams.aclose()
            self._downstreams = None
        await self.db.dispose()

    def ready_checks(self, transport: Transport) -> dict[str, ReadyCheck]:
        checks: dict[str, ReadyCheck] = {"database": self.db.ping, "broker": transport.healthy}
        for service in SERVICES:
            checks[service] = self._downstream_check(service)
        return checks

    def _downstream_check(self, service: str) -> ReadyCheck:
        async def check() -> bool:
            if self._downstreams is None:
                return False
            return await self._downstreams.ready_checks()[service]()

        return check


def create_bff_app(
    bff: Bff,
    transport: Transport,
    *,
    title: str,
    description: str,
    routers: list[Any],
    gzip_minimum_size: int | None = None,
) -> FastAPI:
    """The FastAPI app of a BFF: :func:`shared.web.app.create_app` plus what BFFs share.

    ``gzip_minimum_size`` compresses answers at least that large for clients that
    accept gzip.  The message transport is only looked at by readiness: BFFs
    consume no messages.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await bff.start()
        try:
            yield
        finally:
            await bff.stop()

    app = create_app(
        title,
        description=description,
        lifespan=lifespan,
        ready_checks=bff.ready_checks(transport),
        routers=routers,
        body_limits=BodyLimits.from_settings(bff.settings),
    )
    install_downstream_problems(app)
    app.add_middleware(
        LoadShedding,
        limit=bff.settings.bff_max_in_flight,
        registry=app.state.metrics_registry,
    )
    if gzip_minimum_size is not None:
        app.add_middleware(GZipMiddleware, minimum_size=gzip_minimum_size)
    bff.count_in(app.state.metrics_registry)
    app.state.bff = bff
    app.state.settings = bff.settings
    app.state.jwt_key = bff.settings.jwt_key
    return app


class BffKind(Protocol):
    """A BFF's :class:`Bff` subclass, as its app builds it."""

    def __call__(
        self,
        settings: Settings,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Bff: ...


class BffAppFactory(Protocol):
    """What a BFF's ``app`` module offers as ``build_app`` (see :mod:`oms.components`)."""

    def __call__(
        self,
        settings: Settings,
        transport: Transport,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> FastAPI: ...


def bff_app_factory(
    kind: BffKind,
    *,
    title: str,
    description: str,
    routers: list[Any],
    gzip_minimum_size: int | None = None,
) -> BffAppFactory:
    """A BFF's ``build_app``: a ``kind`` and the app :func:`create_bff_app` makes of it;
    ``http_transports`` replaces the network for chosen services."""

    def build_app(
        settings: Settings,
        transport: Transport,
        *,
        http_transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> FastAPI:
        return create_bff_app(
            kind(settings, http_transports=http_transports),
            transport,
            title=title,
            description=description,
            routers=routers,
            gzip_minimum_size=gzip_minimum_size,
        )

    return build_app


# async: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-off
# per request that costs more than the lookup itself.
async def current_bff(request: Request) -> Bff:
    """The app's :class:`Bff`; a BFF's own dependency names its subclass
    (``Annotated[Web, Depends(current_bff)]``), the object ``bff_app_factory`` built."""
    bff: Bff = request.app.state.bff
    return bff


BffDep = Annotated[Bff, Depends(current_bff)]
