"""The saga component: the runtime of every saga definition (``saga/kinds.py``), its ops
API and dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from saga.api import router as api_router
from saga.bulk import router as bulk_router
from saga.counts import router as counts_router
from saga.dashboard import router as dashboard_router
from saga.deadletters import DeadLetters
from saga.definition import OrderSaga
from saga.housekeeping import Housekeeping, Retention
from saga.jobs import JobRunner
from saga.jobs_api import router as jobs_router
from saga.kinds import kinds_for, order_config
from saga.letters_api import router as letters_router
from saga.metrics import SagaMetrics
from saga.pruned_api import router as pruned_router
from saga.runtime import QUEUE, SagaRuntime
from saga.stream import router as stream_router
from shared.faults import Faults
from shared.messaging.batching import BatchRefused
from shared.messaging.topology import RETURN_EVENTS, SAGA_EVENTS, standard_topology
from shared.messaging.transport import Incoming, Transport
from shared.persistence.outage import through_outage
from shared.service import Service, batching_for
from shared.settings import Settings

HERE = Path(__file__).parent


def definition_for(settings: Settings) -> OrderSaga:
    return OrderSaga(order_config(settings))


def build_app(
    settings: Settings, transport: Transport, *, definition: OrderSaga | None = None
) -> FastAPI:
    """The saga component; ``definition`` replaces the one the settings describe
    (a changed definition replaying stored sagas, in tests)."""
    service = Service("saga", settings, transport, migrations=HERE / "migrations")
    chosen = definition if definition is not None else definition_for(settings)
    runtime = SagaRuntime(
        service.db,
        service.relay,
        chosen,
        parked_ttl_seconds=settings.saga_parked_ttl_seconds,
        kinds=kinds_for(settings, chosen),
    )
    letters = DeadLetters(service.db, service.relay)
    retention = None
    if settings.saga_retention_days is not None:
        retention = Retention(
            settings.saga_retention_days,
            failed=settings.saga_retention_failed,
            archive=settings.saga_archive_dir,
        )
    housekeeping = Housekeeping(
        service.db, retention=retention, every=settings.saga_housekeeping_seconds
    )
    if settings.faults_enabled:
        # QA may stop the saga at any point of a saga: faults on the events it consumes.
        service.faults = Faults(transport, targets=(*SAGA_EVENTS, *RETURN_EVENTS))

    async def react(incoming: Incoming) -> None:
        if service.faults is None:
            await runtime.handle(incoming)
        else:
            await service.faults(incoming, lambda: runtime.handle(incoming))

    async def handle(incoming: Incoming) -> None:
        # A transaction the database cut is run again from the message, held meanwhile.
        await through_outage(
            lambda: react(incoming),
            patience=settings.db_outage_patience_seconds,
            what=incoming.envelope.type,
        )

    async def handle_batch(batch: Sequence[Incoming]) -> None:
        if service.faults is not None and service.faults.armed():
            raise BatchRefused("fault rules armed")  # each message through its faults
        await runtime.handle_batch(batch)

    jobs = JobRunner(runtime, yield_in_flight=settings.saga_job_yield_in_flight)

    async def start() -> None:
        runtime.start()
        housekeeping.start()
        jobs.start()
        service.subscriptions.append(
            await transport.consume(
                QUEUE,
                handle,
                prefetch=settings.prefetch,
                batch=handle_batch,
                batching=batching_for(settings),
            )
        )
        service.subscriptions.extend(
            await letters.start(transport, standard_topology(settings.delivery_limit))
        )

    service.on_start.append(start)
    service.on_stop.append(runtime.stop)
    service.on_stop.append(housekeeping.stop)
    service.on_stop.append(jobs.stop)

    app = service.app(
        routers=[
            stream_router,
            counts_router,
            bulk_router,
            api_router,
            letters_router,
            pruned_router,
            jobs_router,
        ],
        description="Order saga instances, their history and deadlines; ops actions.",
    )
    app.include_router(dashboard_router)
    runtime.observer = SagaMetrics(
        app.state.metrics_registry,
        app.state.metrics_refreshes,
        service.db,
        queues=(q.name for q in standard_topology(settings.delivery_limit).queues if q.dead_letter),
    )
    app.state.runtime = runtime
    app.state.dead_letters = letters
    return app
