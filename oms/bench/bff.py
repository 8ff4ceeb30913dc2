"""``oms bench bff`` answers one question: does an aggregated page cost about its
slowest downstream call, or the sum of them?  It starts the four services, the
saga and BFF-Web the way ``oms up`` does (embedded, or RabbitMQ and PostgreSQL
when ``OMS_BROKER_URL`` and ``OMS_DATABASE_URL`` are set), in a process of their
own on free ports, seeds a shopper, products and confirmed orders through the
public APIs, then measures in the same run:

* ``GET /orders/{id}/details`` through BFF-Web (order, user, products, payments
  and saga progress fetched in parallel and merged), and
* each call that page makes, sent directly to its service.

and reports latency percentiles, throughput and the ratio of the aggregated
median to the slowest single call's median.  Each target runs alone at the
given concurrency, a slice at a time in turn with the others, so a drift in
the machine's background load touches every row alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from oms.bench.processes import Fleet, fleet, free_port_offset
from oms.bench.procstat import CpuMeter, PidSource
from oms.bench.report import console, machine, now, write_json
from oms.config import load_settings
from shared.auth import mint_token
from shared.settings import CARD_PROVIDER, PORTS, SERVICES, Settings

API = "/api/v1"
BFF_COMPONENTS = (CARD_PROVIDER, *SERVICES, "bff-web")
STARTED_HERE = (*SERVICES, CARD_PROVIDER.replace("-", "_"))
"""Their ``OMS_<NAME>_URL`` names: overrides pointing elsewhere are dropped."""
"""What ``oms bench bff`` runs: the four services, the saga and BFF-Web."""
SEED_ORDERS = 3
SEED_PRODUCTS = 3


@dataclass(frozen=True)
class Target:
    """One thing measured: a name, what it calls, and how to build the n-th request's path."""

    name: str
    component: str
    describe: str
    path: Callable[[int], str]


@dataclass(frozen=True)
class Measured:
    """Latency and throughput of ``requests`` requests to one target."""

    name: str
    component: str
    call: str
    requests: int
    errors: int
    degraded: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    throughput_rps: float
    cpu_ms_per_request: float
    """CPU of every serving process per request of this target."""


@dataclass(frozen=True)
class Seeded:
    user_id: str
    token: str
    order_ids: list[str]
    product_ids: list[str]


def bff(
    requests: Annotated[
        int, typer.Option(min=1, help="requests per target (the page, and each service)")
    ] = 500,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight at once")] = 8,
    output: Annotated[Path, typer.Option(help="where to write the JSON results")] = Path(
        "bench-results/bff.json"
    ),
) -> None:
    """Aggregated order page vs. its single downstream calls: latency, throughput, ratio."""
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as scratch:
        (Path(scratch) / "logs").mkdir()
        result = asyncio.run(_bench_bff(settings, Path(scratch), requests, concurrency))
    _print_bff(result)
    write_json(output, result)


async def _bench_bff(
    settings: Settings, scratch: Path, requests: int, concurrency: int
) -> dict[str, Any]:
    offset = free_port_offset(settings.host, (PORTS[c] for c in BFF_COMPONENTS))
    # The components this run starts, and nothing a URL override points elsewhere.
    settings = settings.model_copy(
        update={
            "port_offset": offset,
            "data_dir": scratch / "data",
            **{f"{name}_url": None for name in STARTED_HERE},
        }
    )
    mode = "embedded" if settings.embedded else "rabbitmq+postgresql"
    console.print(f"starting {', '.join(BFF_COMPONENTS)} ({mode}) on ports +{offset} …")
    async with _running(settings, scratch / "logs") as started:
        seeded = await _seed(settings)
        targets = _targets(seeded)
        processes: dict[str, PidSource] = {
            name: functools.partial(tuple, (started.pid(name),)) for name in started.processes
        }
        measured = await _measure(settings, seeded.token, targets, requests, concurrency, processes)
    aggregate, singles = measured[0], measured[1:]
    slowest = max(singles, key=lambda m: m.p50_ms)
    return {
        "benchmark": "bff",
        "mode": mode,
        "requests": requests,
        "concurrency": concurrency,
        "started_at": now(),
        "machine": machine(),
        "aggregate": asdict(aggregate),
        "downstreams": {m.name: asdict(m) for m in singles},
        "slowest_downstream": slowest.name,
        "sum_of_downstream_p50_ms": round(sum(m.p50_ms for m in singles), 3),
        "ratio_p50": round(aggregate.p50_ms / slowest.p50_ms, 3),
    }


# --- running the components -------------------------------------------------------


@contextlib.asynccontextmanager
async def _running(settings: Settings, logs: Path) -> AsyncIterator[Fleet]:
    """The components in processes of their own, ready to serve; stopped as Ctrl-C stops them.

    Embedded, they share one process (``oms up --only …``): the in-process
    broker reaches no further.  On RabbitMQ and PostgreSQL each runs alone
    (``oms run NAME``), as they are deployed.  Either way the load generator
    does not share an event loop with the servers it measures.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not (
            key.startswith("OMS_") and key.endswith("_URL") and key[4:-4].lower() in STARTED_HERE
        )
    }
    env.update(
        OMS_PORT_OFFSET=str(settings.port_offset),
        OMS_DATA_DIR=str(settings.data_dir),
        OMS_LOG_LEVEL="WARNING",
        OMS_LOG_FORMAT="json",
    )
    if settings.embedded:
        commands = {"all": ["up", *(arg for name in BFF_COMPONENTS for arg in ("--only", name))]}
    else:
        commands = {name: ["run", name] for name in BFF_COMPONENTS}
    async with fleet(logs) as started:
        for name, command in commands.items():
            await started.start(name, ["-m", "oms.cli", *command], env)
        await started.until_ready({name: settings.url_for(name) for name in BFF_COMPONENTS})
        yield started


# --- seeding ------------------------------------------------------------------------


async def _seed(settings: Settings) -> Seeded:
    """A shopper, products and confirmed orders, through the public APIs."""
    ops = {
        "Authorization": f"Bearer {mint_token(settings.jwt_key, sub='oms-bench', roles=['ops'])}"
    }
    run = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=60) as http:
        product_ids = []
        for n in range(SEED_PRODUCTS):
            created = await http.post(
                f"{settings.url_for('inventory')}{API}/products",
                json={
                    "sku": f"BENCH-{run}-{n}",
                    "name": f"Bench product {n}",
                    "price": 1000 + n,
                    "currency": "EUR",
                    "stock": 1_000,
                },
                headers=ops,
            )
            _expect(created, 201)
            product_ids.append(created.json()["id"])
        web = settings.url_for("bff-web")
        session = await http.post(
            f"{web}{API}/auth/register",
            json={"email": f"bench-{run}@example.com", "password": f"bench-{run}-password"},
        )
        _expect(session, 201)
        user_id, token = session.json()["userId"], session.json()["token"]
        order_ids = []
        for _ in range(SEED_ORDERS):
            placed = await http.post(
                f"{web}{API}/checkout",
                params={"wait": 30},
                json={
                    "items": [{"productId": p, "quantity": 1} for p in product_ids],
                    "shippingAddress": {
                        "line1": "1 Bench Street",
                        "city": "Berlin",
                        "postalCode": "10115",
                        "country": "DE",
                    },
                    "paymentMethodId": "pm_card_ok",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            _expect(placed, 200)
            if placed.json()["status"] != "confirmed":
                raise RuntimeError(f"a seeded order did not confirm: {placed.json()}")
            order_ids.append(placed.json()["orderId"])
    return Seeded(user_id, token, order_ids, product_ids)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: "
            f"expected {status}, got {response.status_code}: {response.text[:500]}"
        )


# --- measuring ----------------------------------------------------------------------


def _targets(seeded: Seeded) -> list[Target]:
    """The aggregated page first, then every call it makes, each straight to its service."""
    orders, products = seeded.order_ids, seeded.product_ids

    def order(n: int) -> str:
        return orders[n % len(orders)]

    return [
        Target(
            "aggregate",
            "bff-web",
            "GET /orders/{id}/details",
            lambda n: f"/orders/{order(n)}/details",
        ),
        Target("orders", "orders", "GET /orders/{id}", lambda n: f"/orders/{order(n)}"),
        Target("users", "users", "GET /users/{id}", lambda n: f"/users/{seeded.user_id}"),
        Target(
            "inventory",
            "inventory",
            "GET /products/{id}",
            lambda n: f"/products/{products[n % len(products)]}",
        ),
        Target(
            "payments",
            "payments",
            "GET /payments?orderId=",
            lambda n: f"/payments?orderId={order(n)}",
        ),
        Target("saga", "saga", "GET /sagas/{id}", lambda n: f"/sagas/{order(n)}"),
    ]


ROUNDS = 10
"""Each target is measured in this many slices, taken in turn with the others.

On a shared machine the background load drifts; taking every target a slice
at a time spreads that drift over all of them instead of favouring whichever
ran in a quiet minute.
"""


@dataclass
class _Samples:
    """What the requests to one target measured so far."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    degraded: int = 0
    elapsed: float = 0.0
    sent: int = 0
    cpu_seconds: float = 0.0
    """Of every serving process, while this target's requests ran."""


async def _measure(
    settings: Settings,
    token: str,
    targets: list[Target],
    requests: int,
    concurrency: int,
    processes: dict[str, PidSource],
) -> list[Measured]:
    """Each target's latencies and throughput, and the CPU the serving processes
    spent on it (every process's, while only that target's requests ran)."""
    columns = (
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    samples = {t.name: _Samples() for t in targets}
    async with contextlib.AsyncExitStack() as clients:
        http = {
            t.name: await clients.enter_async_context(
                httpx.AsyncClient(
                    base_url=f"{settings.url_for(t.component)}{API}",
                    headers={"Authorization": f"Bearer {token}"},
                    limits=httpx.Limits(max_connections=concurrency),
                    timeout=30,
                )
            )
            for t in targets
        }
        with Progress(*columns, console=console) as progress:
            tasks = {t.name: progress.add_task(t.name, total=requests) for t in targets}
            # Open the connections and fill the caches before anything counts.
            for target in targets:
                await _load(http[target.name], target, min(requests, 50), concurrency, _Samples())
            for size in _slices(requests, ROUNDS):
                for target in targets:
                    meter = CpuMeter(processes)
                    meter.start()
                    await _load(
                        http[target.name],
                        target,
                        size,
                        concurrency,
                        samples[target.name],
                        advance=functools.partial(progress.advance, tasks[target.name]),
                    )
                    samples[target.name].cpu_seconds += sum(meter.stop().values())
    return [_summarise(t, samples[t.name]) for t in targets]


def _slices(total: int, rounds: int) -> list[int]:
    """``total`` split into at most ``rounds`` near-equal positive parts."""
    rounds = min(rounds, total)
    return [total // rounds + (1 if n < total % rounds else 0) for n in range(rounds)]


async def _load(
    http: httpx.AsyncClient,
    target: Target,
    requests: int,
    concurrency: int,
    samples: _Samples,
    *,
    advance: Callable[[], None] = lambda: None,
) -> None:
    """Send ``requests`` requests from ``concurrency`` workers, timing each one into ``samples``."""
    numbers = iter(range(samples.sent, samples.sent + requests))

    async def worker() -> None:
        for n in numbers:  # one iterator for every worker: each number is taken once
            started = time.perf_counter()
            try:
                response = await http.get(target.path(n))
            except httpx.HTTPError:
                samples.errors += 1
            else:
                samples.latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    samples.errors += 1
                elif target.name == "aggregate" and response.json()["degraded"]:
                    samples.degraded += 1
            advance()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    samples.elapsed += time.perf_counter() - started
    samples.sent += requests


def _summarise(target: Target, samples: _Samples) -> Measured:
    latencies = samples.latencies
    if len(latencies) >= 2:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        p50, p99 = cuts[49], cuts[98]
    else:
        p50 = p99 = latencies[0] if latencies else 0.0
    return Measured(
        name=target.name,
        component=target.component,
        call=target.describe,
        requests=samples.sent,
        errors=samples.errors,
        degraded=samples.degraded,
        p50_ms=round(p50 * 1000, 3),
        p99_ms=round(p99 * 1000, 3),
        mean_ms=round(statistics.fmean(latencies) * 1000, 3) if latencies else 0.0,
        throughput_rps=round(samples.sent / samples.elapsed, 1) if samples.elapsed > 0 else 0.0,
        cpu_ms_per_request=round(samples.cpu_seconds * 1000 / samples.sent, 2)
        if samples.sent
        else 0.0,
    )


# --- reporting ----------------------------------------------------------------------


def _print_bff(result: dict[str, Any]) -> None:
    table = Table(
        title=f"BFF fan-out: {result['requests']} requests per row, "
        f"concurrency {result['concurrency']}, {result['mode']}",
        show_edge=False,
    )
    columns = ("target", "call", "p50 ms", "p99 ms", "req/s", "CPU ms/req", "errors", "degraded")
    for column in columns:
        table.add_column(column, justify="left" if column in ("target", "call") else "right")
    rows = [result["aggregate"], *result["downstreams"].values()]
    for row in rows:
        table.add_row(
            row["name"],
            f"{row['component']}: {row['call']}",
            f"{row['p50_ms']:.1f}",
            f"{row['p99_ms']:.1f}",
            f"{row['throughput_rps']:.0f}",
            f"{row['cpu_ms_per_request']:.1f}",
            str(row["errors"]),
            str(row["degraded"]) if row["name"] == "aggregate" else "",
        )
    console.print(table)
    console.print(
        f"aggregated p50 ÷ slowest single call p50 ({result['slowest_downstream']}): "
        f"[bold]{result['ratio_p50']:.2f}[/bold]  "
        f"(sum of the single calls' p50: {result['sum_of_downstream_p50_ms']:.1f} ms)"
    )
    console.print(
        f"CPU per aggregated page, every serving process: "
        f"[bold]{result['aggregate']['cpu_ms_per_request']:.1f} ms[/bold]"
    )
