"""The measuring of ``oms bench bff``: the aggregated page and each call it makes,
a slice at a time in turn, timed, with the CPU of every serving process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oms.bench.bff.system import Seeded
from oms.bench.procstat import CpuMeter, PidSource
from oms.bench.report import console
from shared.settings import Settings
from shared.web.app import API_PREFIX


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


def targets(seeded: Seeded) -> list[Target]:
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


async def measure(
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
                    base_url=f"{settings.url_for(t.component)}{API_PREFIX}",
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
            for size in slices(requests, ROUNDS):
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


def slices(total: int, rounds: int) -> list[int]:
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
