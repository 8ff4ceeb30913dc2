"""The load of ``oms bench saga``: orders placed in a closed or an open loop, each
saga timed from its ``POST`` to its terminal event (heard on a queue of the
benchmark's own), with the CPU and memory of every process sampled meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client.parser import text_string_to_metric_families
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from oms.bench.procstat import CpuMeter, rss_of, wakeups_of
from oms.bench.report import console, percentiles
from oms.bench.saga.report import short
from oms.bench.saga.systems import PRICE, Target
from shared.auth import mint_token
from shared.messaging.batching import BatchSizes, percentile_of
from shared.messaging.nodes import connect_to_first_answering
from shared.settings import CLIENT_KEEP_ALIVE_SECONDS
from shared.web.app import API_PREFIX

SAGA_TIMEOUT_SECONDS = 120.0
"""A saga not ended this long after its order was placed counts as lost."""


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


class Ends:
    """Hears every saga end on a queue of the benchmark's own, bound to ``orders``."""

    def __init__(self, broker_url: str) -> None:
        self._broker_url = broker_url
        self._waiting: dict[str, asyncio.Future[str]] = {}
        self._early: dict[str, str] = {}
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def open(self) -> None:
        # A cluster's nodes may be listed: the first that answers.
        self._connection = await connect_to_first_answering(self._broker_url)
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


async def measure(target: Target, load: Load) -> dict[str, Any]:
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
            base_url=f"{target.orders_url}{API_PREFIX}",
            headers=headers,
            limits=httpx.Limits(
                max_connections=max(load.concurrency, 100),
                keepalive_expiry=CLIENT_KEEP_ALIVE_SECONDS,
            ),
            timeout=60,
        ) as http:
            driver = Driver(target, http, ends, user=user, items=load.items)
            with Progress(*columns, console=console, transient=True) as progress:
                warming = progress.add_task("warm-up", total=load.warmup)
                await _drive(driver, load, load.warmup, lambda: progress.advance(warming))
                await _refresh(target)
                batches_before = await _batch_counts(target)
                woken = wakeups_of(target.processes, target.own)
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
                batches = _batch_sizes(batches_before, await _batch_counts(target))
                woken_end = wakeups_of(target.processes, target.own)
    finally:
        await ends.close()
    if target.fleet is not None:
        target.fleet.check_alive()
    done = max(measured.sagas, 1)
    return {
        **_summary(target, measured, cpu, rss_start, rss_end),
        "batch_sizes": batches,
        "context_switches_per_saga": {
            name: round((woken_end[name] - woken[name]) / done, 1) for name in woken
        },
    }


async def _batch_counts(target: Target) -> dict[str, Counter[int]]:
    """Per consumer queue, how many batches of each size its processes handled so far
    (``oms_consumer_batches``, summed over the processes consuming the queue)."""
    counts: dict[str, Counter[int]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for url in target.metrics_urls.values():
            response = await http.get(url)
            for family in text_string_to_metric_families(response.text):
                if family.name != "oms_consumer_batches":
                    continue
                for sample in family.samples:
                    queue, size = sample.labels["queue"], int(sample.labels["size"])
                    counts.setdefault(queue, Counter())[size] += int(sample.value)
    return counts


def _batch_sizes(
    before: dict[str, Counter[int]], after: dict[str, Counter[int]]
) -> dict[str, dict[str, float]]:
    """The batches of the measured sagas per queue: how many, their mean and p99 size."""
    sizes = {}
    for queue, counts in sorted(after.items()):
        measured = counts - before.get(queue, Counter())
        sizes[queue] = {
            "batches": sum(measured.values()),
            "mean": round(BatchSizes.of(measured).mean, 2),
            "p99": percentile_of(measured, 99),
        }
    return sizes


async def _profilers(target: Target, into: Path | None) -> list[asyncio.subprocess.Process]:
    """py-spy attached to each of the run's processes, sampling without pausing them."""
    if into is None or target.fleet is None:
        return []
    spy = Path(sys.executable).with_name("py-spy")
    run = short(target.name).replace(" ", "-")
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
