"""``oms bench saga``: sagas per second, latency and CPU per saga, against the bare loop.

Every run starts its own system: the card provider, the orders, inventory and
payments services and one or more saga processes, each ``oms run NAME`` in a process of its own on
free ports, on a fresh RabbitMQ vhost and a fresh PostgreSQL database per
service (so the database backends' CPU is told apart per service), all dropped
at the end.  (``--against URL`` drives an already running system instead.)
Orders go straight to the orders service (``POST /api/v1/orders`` with a
customer token, at the catalogue's prices), and a queue of the benchmark's own,
bound to the ``orders`` exchange, hears each saga end (``order.confirmed`` or
``order.cancelled``): nothing polls the services.

* ``--concurrency C`` (closed loop): C sagas in flight; a saga is placed as one ends.
* ``--rate R`` (open loop): R orders per second whatever happens, for the latency
  at a given load.

Latency is from the ``POST`` that creates the order to its terminal event.  CPU
is read from ``/proc`` for every process involved (each component, RabbitMQ's
``beam.smp``, the PostgreSQL backends of each database) over the measured sagas
only (after a warm-up), and divided by the sagas completed.

In the same run, the **baseline** (:mod:`oms.bench.baseline`) does the same
messages, transactions and publisher confirms per saga with bare aio-pika and
asyncpg, one process per role, and the table prints OMS ÷ baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import secrets
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import aio_pika
import httpx
import typer
from aio_pika.abc import AbstractIncomingMessage
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
from oms.bench.procstat import CpuMeter, PidSource, pids_named, rss_of
from oms.bench.report import console, machine, now, percentiles, write_json
from oms.config import load_settings
from shared.auth import mint_token
from shared.settings import CARD_PROVIDER, PORTS

API = "/api/v1"
PARTICIPANTS = ("orders", "inventory", "payments")
DATABASES = (CARD_PROVIDER, *PARTICIPANTS, "saga")
"""The card provider's CPU counts in "all", not in OMS's own: users run a provider too."""
SAGA_SPACING = 1000
"""Saga process ``n`` answers HTTP at the run's port offset plus ``n`` times this."""
SAGA_TIMEOUT_SECONDS = 120.0
"""A saga not ended this long after its order was placed counts as lost."""
PRICE = 1_250
STOCK = 1_000_000_000
PRODUCTS = 20
"""Products an order's lines are drawn from: few enough to contend, as a shop's best sellers."""
QUICK_SAGAS, QUICK_WARMUP = 150, 20
FULL_SAGAS, FULL_WARMUP = 1_000, 50


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


@dataclass
class Measured:
    """What one load of sagas measured."""

    sagas: int = 0
    confirmed: int = 0
    cancelled: int = 0
    errors: int = 0
    lost: int = 0
    first_error: str | None = None
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


@dataclass(frozen=True)
class Load:
    profile: Path | None
    sagas: int
    warmup: int
    concurrency: int
    rate: float | None
    items: int


def saga(
    concurrency: Annotated[
        int, typer.Option(min=1, help="closed loop: sagas in flight at once")
    ] = 16,
    rate: Annotated[
        float | None,
        typer.Option(
            min=0.1, help="open loop: orders placed per second (instead of --concurrency)"
        ),
    ] = None,
    sagas: Annotated[
        int | None, typer.Option(min=1, help="sagas measured per run [default: 1000; quick 150]")
    ] = None,
    warmup: Annotated[
        int | None,
        typer.Option(min=0, help="sagas run first and not measured [default: 50; quick 20]"),
    ] = None,
    saga_procs: Annotated[
        str, typer.Option(help="saga processes per run, comma-separated: one run each")
    ] = "1",
    items: Annotated[int, typer.Option(min=1, max=10, help="order lines per order")] = 2,
    quick: Annotated[
        bool, typer.Option(help="a short run (150 sagas, 20 warm-up), done in under 2 minutes")
    ] = False,
    baseline: Annotated[
        bool, typer.Option(help="run the bare aio-pika + asyncpg loop in the same run")
    ] = True,
    against: Annotated[
        str | None,
        typer.Option(
            help="the orders service URL of a running system (OMS_BROKER_URL, OMS_JWT_SECRET "
            "and OMS_INVENTORY_URL describe the rest) instead of starting one"
        ),
    ] = None,
    amqp: Annotated[str, typer.Option(help="RabbitMQ, for fresh vhosts")] = Infrastructure.amqp,
    management: Annotated[
        str, typer.Option(help="RabbitMQ's management API, to create and delete the vhosts")
    ] = Infrastructure.management,
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL admin DSN, to create and drop the databases")
    ] = Infrastructure.postgres,
    output: Annotated[Path, typer.Option(help="where to write the JSON results")] = Path(
        "bench-results/saga.json"
    ),
    profile: Annotated[
        Path | None,
        typer.Option(
            help="record each process of every run with py-spy (a dev dependency) while the "
            "measured sagas run: collapsed stacks in DIR/<run>-<process>.txt"
        ),
    ] = None,
    trace_ratio: Annotated[
        str | None,
        typer.Option(
            help="trace sample ratios, comma-separated (1.0,0.0): one run each, the components "
            "exporting their spans over OTLP to a sink the benchmark runs [default: tracing off]"
        ),
    ] = None,
) -> None:
    """Saga throughput, latency and CPU per saga of every process, next to the bare loop."""
    try:
        procs = [int(p) for p in saga_procs.split(",") if p.strip()]
    except ValueError:
        raise typer.BadParameter(
            "a comma-separated list of numbers", param_hint="--saga-procs"
        ) from None
    if not procs or min(procs) < 1:
        raise typer.BadParameter("at least one number, each ≥ 1", param_hint="--saga-procs")
    try:
        ratios: list[float | None] = [float(r) for r in (trace_ratio or "").split(",") if r.strip()]
    except ValueError:
        raise typer.BadParameter(
            "a comma-separated list of ratios", param_hint="--trace-ratio"
        ) from None
    if any(r is not None and not 0 <= r <= 1 for r in ratios):
        raise typer.BadParameter("ratios between 0 and 1", param_hint="--trace-ratio")
    if quick:
        procs = procs[:1]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    load = Load(
        profile=profile,
        sagas=sagas if sagas is not None else (QUICK_SAGAS if quick else FULL_SAGAS),
        warmup=warmup if warmup is not None else (QUICK_WARMUP if quick else FULL_WARMUP),
        concurrency=concurrency,
        rate=rate,
        items=items,
    )
    infra = Infrastructure(amqp=amqp, management=management, postgres=postgres)
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as scratch:
        (Path(scratch) / "baseline").mkdir()
        result = asyncio.run(
            _bench(infra, load, procs, ratios or [None], baseline, against, Path(scratch))
        )
    _print(result)
    write_json(output, result)


async def _bench(
    infra: Infrastructure,
    load: Load,
    procs: list[int],
    ratios: list[float | None],
    with_baseline: bool,
    against: str | None,
    scratch: Path,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    base: dict[str, Any] | None = None
    if with_baseline:
        console.print("baseline: bare aio-pika + asyncpg, one process per role …")
        async with _baseline(infra, scratch / "baseline") as target:
            base = await _run(target, load, infra.postgres)
    if against is not None:
        async with _against(against) as target:
            runs.append(await _run(target, load, infra.postgres))
    else:
        for count in procs:
            for ratio in ratios:
                traced = "" if ratio is None else f", traces sampled at {ratio:g}"
                console.print(
                    f"OMS: orders, inventory, payments and {count} saga process(es){traced} …"
                )
                logs = scratch / (f"oms-{count}" + ("" if ratio is None else f"-trace-{ratio:g}"))
                logs.mkdir()
                async with _system(infra, count, logs, trace_ratio=ratio) as target:
                    measured = await _run(target, load, infra.postgres)
                    if target.traces is not None:  # warm-up included
                        measured["otlp_exports"] = target.traces.exports
                        measured["otlp_kb"] = round(target.traces.bytes / 1024, 1)
                runs.append({"saga_procs": count, "trace_ratio": ratio, **measured})
    for run in runs:
        if base is not None and base["sagas_per_second"] > 0:
            run["ratio"] = round(run["sagas_per_second"] / base["sagas_per_second"], 3)
    return {
        "benchmark": "saga",
        "mode": "closed loop" if load.rate is None else "open loop",
        "sagas": load.sagas,
        "warmup": load.warmup,
        "concurrency": load.concurrency if load.rate is None else None,
        "rate": load.rate,
        "items_per_order": load.items,
        "against": against,
        "started_at": now(),
        "machine": machine(),
        "baseline": base,
        "runs": runs,
        "ratio": runs[0].get("ratio") if runs else None,
    }


# --- the systems ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _system(
    infra: Infrastructure, saga_procs: int, scratch: Path, *, trace_ratio: float | None = None
) -> AsyncIterator[Target]:
    """OMS's participants and ``saga_procs`` saga processes, each ``oms run NAME``;
    with ``trace_ratio``, tracing at that ratio to an OTLP sink of the benchmark's own."""
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

        def url(component: str, port_offset: int = offset) -> str:
            return f"http://{host}:{PORTS[component] + port_offset}"

        async def start(name: str, component: str, port_offset: int = offset) -> None:
            env = component_env(**common, port_offset=str(port_offset))
            await started.start(name, ["-m", "oms.cli", "run", component], env)

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
        product_ids = await _products(url("inventory"), secret)
        backends = Backends(infra.postgres)
        try:
            traced = "" if trace_ratio is None else f", traced at {trace_ratio:g}"
            yield Target(
                name=f"OMS, {saga_procs} saga process{'es' if saga_procs > 1 else ''}{traced}",
                orders_url=url("orders"),
                broker_url=broker_url,
                jwt_secret=secret,
                product_ids=product_ids,
                processes={
                    **{name: _pids(started, name) for name in (CARD_PROVIDER, *PARTICIPANTS)},
                    "saga": _pids(started, "saga-"),
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
            )
        finally:
            await backends.close()


@contextlib.asynccontextmanager
async def _baseline(infra: Infrastructure, scratch: Path) -> AsyncIterator[Target]:
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
                    **{role: _pids(started, role) for role in bare.ROLES},
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
async def _against(orders_url: str) -> AsyncIterator[Target]:
    """A system already running: its settings (``OMS_*``) say where the rest is."""
    settings = load_settings()
    if settings.broker_url is None:
        raise typer.BadParameter(
            "OMS_BROKER_URL must name the system's broker", param_hint="--against"
        )
    product_ids = await _products(settings.url_for("inventory"), settings.jwt_key)
    yield Target(
        name=f"OMS at {orders_url}",
        orders_url=orders_url.rstrip("/"),
        broker_url=settings.broker_url,
        jwt_secret=settings.jwt_key,
        product_ids=product_ids,
        processes={},
        own=(),
    )


def _pids(started: Fleet, prefix: str) -> PidSource:
    """The processes whose name in ``started`` is or starts with ``prefix``."""
    return lambda: [p.pid for name, p in started.processes.items() if name.startswith(prefix)]


async def _products(inventory_url: str, secret: str) -> list[str]:
    """The catalogue the orders are placed from, all at one price, stock for ever."""
    ops = {"Authorization": f"Bearer {mint_token(secret, sub='oms-bench', roles=['ops'])}"}
    run = uuid.uuid4().hex[:8]
    created = []
    async with httpx.AsyncClient(base_url=f"{inventory_url}{API}", headers=ops, timeout=60) as http:
        for n in range(PRODUCTS):
            response = await http.post(
                "/products",
                json={
                    "sku": f"BENCH-{run}-{n}",
                    "name": f"Bench product {n}",
                    "price": PRICE,
                    "currency": "EUR",
                    "stock": STOCK,
                },
            )
            if response.status_code != 201:
                raise RuntimeError(f"creating a product: {response.status_code} {response.text}")
            created.append(response.json()["id"])
    return created


# --- the load -------------------------------------------------------------------------


class Ends:
    """Hears every saga end on a queue of the benchmark's own, bound to ``orders``."""

    def __init__(self, broker_url: str) -> None:
        self._broker_url = broker_url
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._early: dict[str, str] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def open(self) -> None:
        self._connection = await aio_pika.connect_robust(self._broker_url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=256)
        exchange = await channel.declare_exchange("orders", passive=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in ("order.confirmed", "order.cancelled"):
            await queue.bind(exchange, key)
        await queue.consume(self._heard, no_ack=True)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _heard(self, message: AbstractIncomingMessage) -> None:
        order_id = json.loads(message.body).get("orderId")
        outcome = "confirmed" if message.routing_key == "order.confirmed" else "cancelled"
        waiter = self._waiting.pop(order_id, None)
        if waiter is None:
            self._early[order_id] = outcome  # before its POST was answered
        elif not waiter.done():
            waiter.set_result(outcome)

    async def of(self, order_id: str) -> str:
        """The outcome of ``order_id``'s saga, once it ends."""
        if order_id in self._early:
            return self._early.pop(order_id)
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting[order_id] = waiter
        try:
            async with asyncio.timeout(SAGA_TIMEOUT_SECONDS):
                return await waiter
        finally:
            self._waiting.pop(order_id, None)


class Driver:
    """Places orders and times each saga to its end."""

    def __init__(
        self, target: Target, http: httpx.AsyncClient, ends: Ends, *, user: str, items: int
    ) -> None:
        self._target = target
        self._http = http
        self._ends = ends
        self._user = user
        self._items = min(items, len(target.product_ids))

    def body(self) -> dict[str, Any]:
        picked = random.sample(self._target.product_ids, self._items)
        return {
            "userId": self._user,
            "items": [{"productId": p, "quantity": 1, "unitPrice": PRICE} for p in picked],
            "currency": "EUR",
            "paymentMethodId": "pm_card_ok",
            "shippingAddress": {"line1": "1 Bench Street", "city": "Berlin", "country": "DE"},
        }

    async def one(self, measured: Measured) -> None:
        started = time.perf_counter()
        try:
            response = await self._http.post("/orders", json=self.body())
        except httpx.HTTPError as exc:
            measured.error(f"POST /orders: {exc!r}")
            return
        if response.status_code != 201:
            measured.error(f"POST /orders: {response.status_code} {response.text[:300]}")
            return
        try:
            outcome = await self._ends.of(response.json()["id"])
        except TimeoutError:
            measured.lost += 1
            return
        measured.latencies.append(time.perf_counter() - started)
        measured.sagas += 1
        if outcome == "confirmed":
            measured.confirmed += 1
        else:
            measured.cancelled += 1

    async def closed_loop(
        self, sagas: int, concurrency: int, advance: Callable[[], None]
    ) -> Measured:
        measured = Measured()
        numbers = iter(range(sagas))

        async def worker() -> None:
            for _ in numbers:  # one iterator for every worker: each saga is placed once
                await self.one(measured)
                advance()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(concurrency, sagas))))
        measured.elapsed = time.perf_counter() - started
        return measured

    async def open_loop(self, sagas: int, rate: float, advance: Callable[[], None]) -> Measured:
        measured = Measured()
        started = time.perf_counter()

        async def placed(n: int) -> None:
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            await self.one(measured)
            advance()

        await asyncio.gather(*(placed(n) for n in range(sagas)))
        measured.elapsed = time.perf_counter() - started
        return measured


async def _run(target: Target, load: Load, admin_dsn: str) -> dict[str, Any]:
    """Warm up, then measure ``load.sagas`` sagas with CPU and memory sampled throughout."""
    user = str(uuid.uuid4())
    headers = {}
    if target.jwt_secret:
        token = mint_token(target.jwt_secret, sub=user, roles=["customer"], ttl_seconds=86_400)
        headers["Authorization"] = f"Bearer {token}"
    columns = (
        TextColumn("{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    ends = Ends(target.broker_url)
    await ends.open()
    try:
        async with httpx.AsyncClient(
            base_url=f"{target.orders_url}{API}",
            headers=headers,
            limits=httpx.Limits(max_connections=max(load.concurrency, 100)),
            timeout=60,
        ) as http:
            driver = Driver(target, http, ends, user=user, items=load.items)
            with Progress(*columns, console=console, transient=True) as progress:
                warming = progress.add_task("warm-up", total=load.warmup)
                await _drive(driver, load, load.warmup, lambda: progress.advance(warming))
                await _refresh(target)
                rss_start = rss_of(target.processes)
                meter = CpuMeter(target.processes)
                meter.start()
                sampler = asyncio.create_task(_sample(target, meter))
                profilers = await _profilers(target, load.profile)
                running = progress.add_task("sagas", total=load.sagas)
                try:
                    measured = await _drive(
                        driver, load, load.sagas, lambda: progress.advance(running)
                    )
                finally:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
                    await _stop_profilers(profilers)
                await _refresh(target)
                cpu = meter.stop()
                rss_end = rss_of(target.processes)
    finally:
        await ends.close()
    if target.fleet is not None:
        target.fleet.check_alive()
    return _summary(target, measured, cpu, rss_start, rss_end)


async def _profilers(target: Target, into: Path | None) -> list[asyncio.subprocess.Process]:
    """py-spy attached to each of the run's processes, sampling without pausing them."""
    if into is None or target.fleet is None:
        return []
    spy = Path(sys.executable).with_name("py-spy")
    run = _short(target.name).replace(" ", "-")
    started = []
    for name, process in target.fleet.processes.items():
        started.append(
            await asyncio.create_subprocess_exec(
                str(spy),
                "record",
                "--pid",
                str(process.pid),
                "--rate",
                "250",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(into / f"{run}-{name}.txt"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        )
    return started


async def _stop_profilers(profilers: list[asyncio.subprocess.Process]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
    await asyncio.gather(*(p.wait() for p in profilers))


async def _drive(driver: Driver, load: Load, sagas: int, advance: Callable[[], None]) -> Measured:
    if sagas == 0:
        return Measured()
    if load.rate is not None:
        return await driver.open_loop(sagas, load.rate, advance)
    return await driver.closed_loop(sagas, load.concurrency, advance)


async def _refresh(target: Target) -> None:
    if target.backends is not None:
        await target.backends.refresh()


async def _sample(target: Target, meter: CpuMeter) -> None:
    """Sample every second, so processes that come and go are counted."""
    while True:
        await asyncio.sleep(1.0)
        await _refresh(target)
        meter.sample()


def _summary(
    target: Target,
    measured: Measured,
    cpu: dict[str, float],
    rss_start: dict[str, int],
    rss_end: dict[str, int],
) -> dict[str, Any]:
    done = max(measured.sagas, 1)
    per_saga = {name: round(seconds * 1000 / done, 3) for name, seconds in cpu.items()}
    own = [name for name in target.own if name in per_saga]
    return {
        "system": target.name,
        "sagas": measured.sagas,
        "confirmed": measured.confirmed,
        "cancelled": measured.cancelled,
        "errors": measured.errors,
        "lost": measured.lost,
        "first_error": measured.first_error,
        "elapsed_seconds": round(measured.elapsed, 3),
        "sagas_per_second": round(measured.sagas / measured.elapsed, 2) if measured.elapsed else 0,
        "latency_ms": percentiles(measured.latencies, 50, 95, 99),
        "cpu_ms_per_saga": per_saga,
        "cpu_ms_per_saga_own": round(sum(per_saga[n] for n in own), 3) if own else None,
        "cpu_ms_per_saga_all": round(sum(per_saga.values()), 3) if per_saga else None,
        "rss_mb": {
            name: {
                "start": round(rss_start.get(name, 0) / 2**20, 1),
                "end": round(rss_end.get(name, 0) / 2**20, 1),
            }
            for name in target.processes
        },
    }


# --- the report -----------------------------------------------------------------------


def _print(result: dict[str, Any]) -> None:
    base = result["baseline"]
    runs = result["runs"]
    rows = ([base] if base else []) + runs
    load = (
        f"{result['concurrency']} in flight"
        if result["rate"] is None
        else f"{result['rate']:g} orders/s offered"
    )
    summary = Table(
        title=f"Sagas end to end: {result['sagas']} measured per run, {load}", show_edge=False
    )
    columns = ("system", "sagas/s", "÷ baseline", "p50 ms", "p95 ms", "p99 ms", "CPU ms/saga")
    for column in columns:
        summary.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        latency = row["latency_ms"]
        ratio = row.get("ratio", 1.0 if row is base else None)
        summary.add_row(
            _short(row["system"]),
            f"{row['sagas_per_second']:.1f}",
            "" if ratio is None else f"{ratio:.2f}",
            f"{latency['p50']:.0f}",
            f"{latency['p95']:.0f}",
            f"{latency['p99']:.0f}",
            ""
            if row["cpu_ms_per_saga_all"] is None
            else (f"{row['cpu_ms_per_saga_all']:.1f} (own {row['cpu_ms_per_saga_own']:.1f})"),
        )
    console.print(summary)
    for row in rows:
        if row["cancelled"] or row["errors"] or row["lost"]:
            console.print(
                f"[yellow]{_short(row['system'])}: {row['confirmed']} confirmed, "
                f"{row['cancelled']} cancelled, {row['errors']} errors, {row['lost']} lost; "
                f"first error: {row['first_error']}[/yellow]"
            )

    names = list(dict.fromkeys(n for row in rows for n in row["cpu_ms_per_saga"]))
    if names:
        processes = Table(
            title="CPU ms per saga | RSS MB at start → end, per process", show_edge=False
        )
        processes.add_column("process")
        for row in rows:
            processes.add_column(_short(row["system"]), justify="right")
        for name in names:
            cells = []
            for row in rows:
                if name not in row["cpu_ms_per_saga"]:
                    cells.append("")
                    continue
                rss = row["rss_mb"][name]
                cells.append(
                    f"{row['cpu_ms_per_saga'][name]:.1f} | {rss['start']:.0f} → {rss['end']:.0f}"
                )
            processes.add_row(name, *cells)
        console.print(processes)
    for run in runs:
        if "otlp_exports" in run:
            console.print(
                f"{run['system']}: {run['otlp_exports']} span exports, "
                f"{run['otlp_kb']:.0f} kB (warm-up included)"
            )
        if "ratio" in run:
            console.print(
                f"{run['system']} ÷ baseline, sagas/s: [bold]{run['ratio']:.2f}[/bold]  "
                f"({run['sagas_per_second']:.1f} against {base['sagas_per_second']:.1f})"
            )


def _short(system: str) -> str:
    """A column-wide name: ``baseline``, ``OMS 2 saga``."""
    if system.startswith("baseline"):
        return "baseline"
    if system.startswith("OMS, "):
        traced = system.partition(", traced at ")[2]
        return f"OMS {system.split()[1]} saga" + (f" trace {traced}" if traced else "")
    return system
