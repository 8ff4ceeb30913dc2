"""The systems ``oms bench saga`` sends its load to: OMS started for the run (its
participants and one or more saga processes), the bare loop's roles
(:mod:`oms.bench.baseline`), or a system already running (``--against``)."""

from __future__ import annotations

import contextlib
import functools
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from oms.bench import baseline as bare
from oms.bench.otlp import OtlpSink, otlp_sink
from oms.bench.processes import (
    Backends,
    Fleet,
    Infrastructure,
    component_env,
    fleet,
    free_port_offset,
)
from oms.bench.procstat import PidSource, pids_named
from oms.components import ON_BROKER, PARTICIPANTS
from oms.config import load_settings
from oms.seed import numbered_products
from shared.settings import CARD_PROVIDER, PORTS

DATABASES = (CARD_PROVIDER, *ON_BROKER)
"""A fresh database per component on the broker and for the card provider, so each
one's backends' CPU is told apart (the provider's counts in "all", not in OMS's own:
users run a provider too)."""
SAGA_SPACING = 1000
"""Saga process ``n`` answers HTTP at the run's port offset plus ``n`` times this."""
PRICE = 1_250
STOCK = 1_000_000_000
PRODUCTS = 20
"""Products an order's lines are drawn from: few enough to contend, as a shop's best sellers."""


@dataclass(frozen=True)
class Batch:
    """A batching asked of OMS's consumers for one run (``--batch SIZE:LANES:LINGER_MS``)."""

    size: int
    lanes: int = 1
    linger_ms: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Batch:
        """``SIZE[:LANES[:LINGER_MS]]``; ValueError if it is not."""
        size, lanes, linger, *rest = [*text.strip().split(":"), "", ""]
        if any(rest):
            raise ValueError(f"not SIZE[:LANES[:LINGER_MS]]: {text!r}")
        return cls(int(size), int(lanes or 1), float(linger or 0))


@dataclass(frozen=True)
class Target:
    """A running system the load is sent to."""

    name: str
    orders_url: str
    broker_url: str
    jwt_secret: str
    product_ids: list[str]
    processes: dict[str, PidSource]
    """Groups of processes whose CPU and memory are reported (empty for ``--against``)."""
    own: tuple[str, ...]
    """The groups that are the system's own code (not the broker or the database)."""
    backends: Backends | None = None
    """Refreshed while the load runs, so database backends opened meanwhile count."""
    fleet: Fleet | None = None
    traces: OtlpSink | None = None
    """Where the system's spans went, when it traces."""
    metrics_urls: dict[str, str] = field(default_factory=dict)
    """Each component's ``/metrics``, read for the sizes of its consumers' batches."""
    saga_url: str | None = None
    """The first saga process (its ops API)."""
    saga_database_url: str | None = None


@contextlib.asynccontextmanager
async def oms_system(
    infra: Infrastructure,
    saga_procs: int,
    scratch: Path,
    *,
    trace_ratio: float | None = None,
    batching: Batch | None = None,
    seed: Callable[[str], Awaitable[None]] | None = None,
    same_priority: bool = False,
) -> AsyncIterator[Target]:
    """OMS's participants and ``saga_procs`` saga processes, each ``oms run NAME``;
    with ``trace_ratio``, tracing at that ratio to an OTLP sink of the benchmark's own;
    with ``batching``, its consumers' batches that size on that many lanes; with
    ``seed``, the saga's database (its URL) handed to it before a saga process starts;
    with ``same_priority``, every consumer at priority 0 (else each process draws one)."""
    host = "127.0.0.1"
    extra_sagas = [PORTS["saga"] + n * SAGA_SPACING for n in range(1, saga_procs)]
    offset = free_port_offset(host, [*(PORTS[c] for c in DATABASES), *extra_sagas])
    secret = secrets.token_urlsafe(48)
    async with (
        infra.databases(DATABASES) as databases,
        infra.vhost() as vhost,
        fleet(scratch) as started,
        otlp_sink(host, enabled=trace_ratio is not None) as sink,
    ):
        broker_url = infra.broker_url(vhost)
        common: dict[str, str] = {
            "broker_url": broker_url,
            "jwt_secret": secret,
            "data_dir": str(scratch),
            **{
                f"{db.replace('-', '_')}_database_url": infra.database_url(name)
                for db, name in databases.items()
            },
        }
        if sink is not None:
            common.update(otlp_endpoint=sink.endpoint, trace_sample_ratio=str(trace_ratio))
        if same_priority:
            common.update(consumer_priority="0")
        if batching is not None:
            common.update(
                batch_size=str(batching.size),
                batch_lanes=str(batching.lanes),
                batch_linger_ms=str(batching.linger_ms),
            )

        def url(component: str, port_offset: int = offset) -> str:
            return f"http://{host}:{PORTS[component] + port_offset}"

        async def start(name: str, component: str, port_offset: int = offset) -> None:
            env = component_env(**common, port_offset=str(port_offset))
            await started.start(name, ["-m", "oms.cli", "run", component], env)

        if seed is not None:
            await seed(infra.database_url(databases["saga"]))
        await start(CARD_PROVIDER, CARD_PROVIDER)  # payments charges through it
        await started.until_ready({CARD_PROVIDER: url(CARD_PROVIDER)})
        for name in PARTICIPANTS:
            await start(name, name)
        await start("saga-0", "saga")
        await started.until_ready({name: url(name) for name in (*PARTICIPANTS, "saga")})
        # The first saga process migrated the saga schema; the others start after it.
        for n in range(1, saga_procs):
            await start(f"saga-{n}", "saga", offset + n * SAGA_SPACING)
        await started.until_ready(
            {f"saga-{n}": url("saga", offset + n * SAGA_SPACING) for n in range(1, saga_procs)}
        )
        product_ids = await products(url("inventory"), secret)
        backends = Backends(infra.postgres)
        try:
            traced = "" if trace_ratio is None else f", traced at {trace_ratio:g}"
            if batching is not None:
                traced += f", batch {batching.size}:{batching.lanes}:{batching.linger_ms:g}"
            if same_priority:
                traced += ", one priority"
            yield Target(
                name=f"OMS, {saga_procs} saga process{'es' if saga_procs > 1 else ''}{traced}",
                orders_url=url("orders"),
                broker_url=broker_url,
                jwt_secret=secret,
                product_ids=product_ids,
                processes={
                    **{name: pids(started, name) for name in (CARD_PROVIDER, *PARTICIPANTS)},
                    "saga": pids(started, "saga-"),
                    **{
                        f"postgres: {db}": functools.partial(backends.of, name)
                        for db, name in databases.items()
                    },
                    "rabbitmq": functools.partial(pids_named, "beam.smp"),
                },
                own=(*PARTICIPANTS, "saga"),
                backends=backends,
                fleet=started,
                traces=sink,
                metrics_urls={
                    **{name: f"{url(name)}/metrics" for name in PARTICIPANTS},
                    **{
                        f"saga-{n}": f"{url('saga', offset + n * SAGA_SPACING)}/metrics"
                        for n in range(saga_procs)
                    },
                },
                saga_url=url("saga"),
                saga_database_url=infra.database_url(databases["saga"]),
            )
        finally:
            await backends.close()


@contextlib.asynccontextmanager
async def baseline_system(infra: Infrastructure, scratch: Path) -> AsyncIterator[Target]:
    """The bare loop's four roles, each a process of its own, on a fresh vhost and database."""
    host = "127.0.0.1"
    port = PORTS["orders"] + free_port_offset(host, [PORTS["orders"]])
    async with (
        infra.databases(["baseline"]) as databases,
        infra.vhost("oms-bench-baseline") as vhost,
        fleet(scratch) as started,
    ):
        broker_url = infra.broker_url(vhost)
        database = databases["baseline"]
        dsn = infra.database_url(database).replace("postgresql+asyncpg", "postgresql")
        await bare.declare(broker_url)
        await bare.create_schema(dsn)
        for role in bare.ROLES:
            argv = ["-m", "oms.bench.baseline", role, "--broker", broker_url, "--database", dsn]
            await started.start(role, [*argv, "--host", host, "--port", str(port)], component_env())
        await started.until_ready({"orders": f"http://{host}:{port}"})
        backends = Backends(infra.postgres)
        try:
            yield Target(
                name="baseline: bare aio-pika + asyncpg",
                orders_url=f"http://{host}:{port}",
                broker_url=broker_url,
                jwt_secret="",
                product_ids=[str(uuid.uuid4()) for _ in range(PRODUCTS)],
                processes={
                    **{role: pids(started, role) for role in bare.ROLES},
                    "postgres": functools.partial(backends.of, database),
                    "rabbitmq": functools.partial(pids_named, "beam.smp"),
                },
                own=bare.ROLES,
                backends=backends,
                fleet=started,
            )
        finally:
            await backends.close()


@contextlib.asynccontextmanager
async def running_system(orders_url: str) -> AsyncIterator[Target]:
    """A system already running: its settings (``OMS_*``) say where the rest is."""
    settings = load_settings()
    if settings.broker_url is None:
        raise ValueError("OMS_BROKER_URL must name the running system's broker")
    product_ids = await products(settings.url_for("inventory"), settings.jwt_key)
    yield Target(
        name=f"OMS at {orders_url}",
        orders_url=orders_url.rstrip("/"),
        broker_url=settings.broker_url,
        jwt_secret=settings.jwt_key,
        product_ids=product_ids,
        processes={},
        own=(),
    )


def pids(started: Fleet, prefix: str) -> PidSource:
    """The processes whose name in ``started`` is or starts with ``prefix``."""
    return lambda: [p.pid for name, p in started.processes.items() if name.startswith(prefix)]


async def products(inventory_url: str, secret: str) -> list[str]:
    """The catalogue the orders are placed from, all at one price, stock for ever."""
    async with httpx.AsyncClient(timeout=60) as http:
        return await numbered_products(
            http, inventory_url, secret, label="bench", prices=[PRICE] * PRODUCTS, stock=STOCK
        )
