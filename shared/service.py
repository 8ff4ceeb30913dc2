"""The composition root shared by the domain services and the saga.

A :class:`Service` wires one component: its settings, its database (migrated on
start), its outbox relay, its message endpoint on its queue, and its FastAPI app
with health checks.  The transport is owned by whoever runs the component (the
``oms`` command or a test), because several components can share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import func
from sqlmodel import select

from shared.faults import Faults, faults_router
from shared.logging import get_logger
from shared.messaging.batching import Batching, BatchSizesCollector
from shared.messaging.endpoint import Endpoint
from shared.messaging.topology import standard_topology
from shared.messaging.transport import Subscription, Transport
from shared.metrics import ScrapedGauge
from shared.persistence.database import Database
from shared.persistence.messaging_tables import OutboxRow
from shared.persistence.migrations import upgrade
from shared.persistence.outbox import OutboxRelay, UnitOfWork
from shared.settings import Settings
from shared.startup import StartupFailed, quiet, redact_url
from shared.web.app import API_PREFIX, ReadyCheck, create_app
from shared.web.faults import RouteFaults, api_routes, install_route_faults
from shared.web.limits import BodyLimits
from shared.web.problems import DomainProblems, install_domain_problems

Hook = Callable[[], Awaitable[None]]
log = get_logger(__name__)


class Service:
    def __init__(
        self,
        name: str,
        settings: Settings,
        transport: Transport,
        *,
        migrations: Path | None = None,
        queue: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.transport = transport
        self.db = Database.for_component(settings, name)
        self.relay = OutboxRelay(self.db, transport, sweep_seconds=settings.outbox_sweep_seconds)
        self.migrations = migrations
        self.endpoint = (
            Endpoint(
                name,
                queue=queue,
                db=self.db,
                relay=self.relay,
                outage_patience=settings.db_outage_patience_seconds,
            )
            if queue
            else None
        )
        self.faults: Faults | None = None
        if settings.faults_enabled and self.endpoint is not None:
            # The handlers register later: the targets are read when they are asked for.
            self.faults = Faults(transport, targets=self.endpoint.handled)
            self.endpoint.middleware.append(self.faults)
            self.endpoint.one_by_one.append(self.faults.armed)
        self.route_faults: RouteFaults | None = None
        """Faults on the component's HTTP routes, when faults are enabled."""
        self.on_start: list[Hook] = []
        self.on_stop: list[Hook] = []
        self.subscriptions: list[Subscription] = []
        """Consumers to stop, in-flight handlers drained, before anything else stops."""
        self.ready_checks: dict[str, ReadyCheck] = {}
        """What ``/health/ready`` asks; each consumer adds ``consumer <queue>`` on start."""

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, app_id=self.name, relay=self.relay)

    def inserts(self) -> UnitOfWork:
        """A unit of work that only inserts rows and sends messages: on PostgreSQL one
        statement, committed as it runs."""
        return UnitOfWork(self.db, app_id=self.name, relay=self.relay, inserts_only=True)

    async def migrate(self) -> None:
        if self.migrations is not None:
            await upgrade(self.db, self.migrations)

    async def start(self) -> None:
        try:
            await self.migrate()
        except Exception as error:
            raise StartupFailed(self.name, "migrate its database", self.db.where, error) from error
        self.relay.start()
        for hook in self.on_start:
            await hook()
        if self.endpoint is not None:
            self.subscriptions.append(
                await self.endpoint.start(
                    self.transport,
                    prefetch=self.settings.prefetch,
                    batching=batching_for(self.settings),
                )
            )
        for subscription in self.subscriptions:
            self.ready_checks[f"consumer {subscription.queue}"] = self._progressing(subscription)

    def _progressing(self, subscription: Subscription) -> ReadyCheck:
        """Ready unless ``subscription`` has had work in flight, none of it settled,
        for longer than ``consumer_stall_seconds``."""
        limit = self.settings.consumer_stall_seconds

        async def check() -> bool:
            stalled = subscription.progress.stalled_for()
            if stalled <= limit:
                return True
            log.warning(
                "consumer.stalled",
                queue=subscription.queue,
                in_flight=subscription.progress.in_flight,
                seconds_without_progress=round(stalled, 1),
            )
            return False

        return check

    async def stop(self) -> None:
        # Handlers still running need the database and the relay: let them finish first.
        await asyncio.gather(*(s.cancel() for s in self.subscriptions))
        for subscription in self.subscriptions:
            self.ready_checks.pop(f"consumer {subscription.queue}", None)
        self.subscriptions.clear()
        for hook in reversed(self.on_stop):
            await hook()
        await self.relay.stop()
        await self.db.dispose()

    def app(self, *, routers: list[Any], description: str = "") -> FastAPI:
        @asynccontextmanager
        async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        self.ready_checks.update({"database": self.db.ping, "broker": self.transport.healthy})
        app = create_app(
            self.name,
            description=description,
            lifespan=lifespan,
            routers=routers,
            body_limits=BodyLimits.from_settings(self.settings),
        )
        routes = api_routes(app, API_PREFIX)
        app.include_router(
            faults_router(self.faults.targets if self.faults else (), routes), prefix=API_PREFIX
        )
        if self.settings.faults_enabled:
            self.route_faults = RouteFaults(routes)
            install_route_faults(app, self.route_faults)
        # The app asks this very mapping, which gains the consumers once they start.
        app.state.ready_checks = self.ready_checks
        app.state.service = self
        app.state.faults = self.faults
        app.state.route_faults = self.route_faults
        app.state.settings = self.settings
        app.state.jwt_key = self.settings.jwt_key
        backlog = ScrapedGauge(
            "oms_outbox_backlog",
            "Messages committed to the component's outbox and not yet published.",
            "service",
            self._outbox_backlog,
        )
        backlog.register(app.state.metrics_registry, app.state.metrics_refreshes)
        app.state.metrics_registry.register(
            BatchSizesCollector(
                lambda: [s.batch_sizes for s in self.subscriptions if s.batch_sizes is not None]
            )
        )
        return app

    async def _outbox_backlog(self) -> dict[str, float]:
        async with self.db.reads() as session:
            count = (await session.exec(select(func.count()).select_from(OutboxRow))).one()
        return {self.name: count or 0}


def batching_for(settings: Settings) -> Batching:
    """How the component's consumers form batches, as the settings say."""
    return Batching(
        size=settings.batch_size,
        linger=settings.batch_linger_ms / 1000,
        lanes=settings.batch_lanes,
    )


class ServiceApi(Protocol):
    """A domain service's ``api`` module: its routes and how they answer its domain errors."""

    __file__: str | None
    router: APIRouter
    PROBLEMS: DomainProblems


def domain_service_app(
    name: str,
    settings: Settings,
    transport: Transport,
    api: ServiceApi,
    description: str,
    handlers: Callable[[Endpoint], None] | None = None,
) -> FastAPI:
    """The app of the domain service ``name`` whose package holds the module ``api``:
    its migrations in the package's ``migrations``, ``api``'s routes answering its
    domain errors as ``api.PROBLEMS`` says, and, given ``handlers`` (which register
    its command handlers), its commands consumed from ``<name>.commands``."""
    assert api.__file__ is not None, f"{api!r} is a module of its own file"
    home = Path(api.__file__).parent
    service = Service(
        name,
        settings,
        transport,
        migrations=home / "migrations",
        queue=f"{name}.commands" if handlers is not None else None,
    )
    if handlers is not None:
        assert service.endpoint is not None
        handlers(service.endpoint)
    app = service.app(routers=[api.router], description=description)
    install_domain_problems(app, api.PROBLEMS)
    return app


# async: FastAPI runs a plain ``def`` dependency in its thread pool, a hand-off
# per request that costs more than the lookup itself.
async def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(_service)]


async def open_transport(settings: Settings) -> Transport:
    """Connect the configured transport and declare the standard topology."""
    from shared.messaging.amqp import create_transport

    transport = create_transport(
        settings.broker_url,
        delivery_limit=settings.delivery_limit,
        consumer_priority=settings.process_consumer_priority,
    )
    try:
        with quiet("aiormq.connection"):  # it logs the error it raises: told once, below
            await transport.connect()
        await transport.declare(
            standard_topology(settings.delivery_limit, quorum_replicas=settings.quorum_replicas)
        )
    except Exception as error:
        where = redact_url(settings.broker_url or "the in-process transport")
        raise StartupFailed("broker", "connect to", where, error) from error
    return transport


class Transports:
    """The transports of the components one process runs: each component on its own
    broker user when it has one (``OMS_<NAME>_BROKER_URL``), else on the shared
    transport; in embedded mode each on a view of the in-process transport as a
    user named after it, so consumers check publishers there too."""

    def __init__(self, settings: Settings, *, shared: Transport | None = None) -> None:
        """``shared``, when given, is the shared transport, opened and closed by the caller."""
        self.settings = settings
        self.shared = shared
        self._owns_shared = shared is None
        self.own: dict[str, Transport] = {}

    async def open(self, components: Sequence[str]) -> Transports:
        """Connect what ``components`` need (the shared one declares the topology; a
        component's own user may not, ``oms topology`` does)."""
        from shared.messaging.amqp import AmqpTransport
        from shared.messaging.inprocess import InProcessTransport

        settings = self.settings
        for name in components:
            url = settings.own_broker_url(name)
            if url is None:
                if self.shared is None:
                    self.shared = await open_transport(settings)
                if isinstance(self.shared, InProcessTransport):
                    self.own[name] = self.shared.as_user(name)
                continue
            transport = AmqpTransport(
                url,
                delivery_limit=settings.delivery_limit,
                consumer_priority=settings.process_consumer_priority,
            )
            try:
                with quiet("aiormq.connection"):
                    await transport.connect()
            except Exception as error:
                raise StartupFailed(name, "connect to", redact_url(url), error) from error
            self.own[name] = transport
        return self

    def for_component(self, name: str) -> Transport:
        transport = self.own.get(name) or self.shared
        if transport is None:
            raise KeyError(f"no transport opened for {name}")
        return transport

    async def close(self) -> None:
        """Close every connection; a component's consumers drain as each closes."""
        await asyncio.gather(*(t.close() for t in self.own.values()))
        if self.shared is not None and self._owns_shared:
            await self.shared.close()
