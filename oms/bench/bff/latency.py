"""``oms bench bff --downstream-latency P50,P99``: the order page where the services
wait on I/O.

The components run as ``oms bench bff`` runs them, with faults enabled; every
API route of the four services and the saga answers after a latency drawn per
call from a log-normal distribution with that median and 99th percentile (an
HTTP ``latency`` fault, :mod:`shared.web.faults`).  Two phases, in one run:

* **steady**: that latency alone;
* **spiked**: besides, a share of the calls (``--spike``, 1 % by default) waits
  500 ms instead.

In each phase, in turn a slice at a time:

* **page**: ``GET /orders/{id}/details`` through BFF-Web;
* **gather**: a client making the page's calls itself, all at once
  (``asyncio.gather`` with httpx: the order, the user, the payments and the
  saga, and the products it has not read in the last 2 s, as the BFF caches
  them).  The slowest of each request's calls is the **slowest call**: the
  page cannot be faster than that, so the page's p50/p99 minus the slowest
  call's is what the BFF itself costs.

The page's extra calls are the hedges the BFF counted (``oms_bff_hedged_calls_total``)
over the calls the services saw while the page ran (what the ``latency`` rules
counted down).  ``--no-hedging`` runs the BFF without hedged or coalesced reads:
the "before" of a comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

from oms.bench.bff.measure import ROUNDS, slices
from oms.bench.bff.system import (
    Seeded,
    bench_settings,
    mode_of,
    running,
    seed,
)
from oms.bench.procstat import CpuMeter, PidSource
from oms.bench.report import console, machine, now, percentiles
from oms.seed import expect_status
from shared.auth import mint_token
from shared.settings import SERVICES, Settings
from shared.web.app import API_PREFIX

PRODUCT_TTL_SECONDS = 2.0
"""How long the gather client keeps a product, as BFF-Web does."""
RULE_TIMES = 1_000_000
WARM_UP = 100
"""Pages (and gathers) before each phase counts: connections open, the BFF's p95 known."""


@dataclass(frozen=True)
class Spike:
    share: float
    delay_ms: int


@dataclass
class _Samples:
    latencies: list[float] = field(default_factory=list)
    slowest_calls: list[float] = field(default_factory=list)
    errors: int = 0
    degraded: int = 0
    cpu_seconds: float = 0.0
    calls: int = 0
    """Calls the services saw while these requests ran."""
    hedges: int = 0
    """Hedges the BFF sent while these requests ran."""

    def summary(self) -> dict[str, Any]:
        count = len(self.latencies) + self.errors
        row: dict[str, Any] = {
            "requests": count,
            "errors": self.errors,
            "degraded": self.degraded,
            **{f"{k}_ms": v for k, v in percentiles(self.latencies, 50, 99).items()},
            "cpu_ms_per_request": round(self.cpu_seconds * 1000 / count, 2) if count else 0.0,
        }
        if self.slowest_calls:
            slowest = percentiles(self.slowest_calls, 50, 99)
            row |= {"slowest_call_p50_ms": slowest["p50"], "slowest_call_p99_ms": slowest["p99"]}
        if self.calls:
            row |= {
                "calls": self.calls,
                "hedges": self.hedges,
                "extra_calls_pct": round(100 * self.hedges / (self.calls - self.hedges), 2),
            }
        return row


Send = Callable[[int, _Samples], Awaitable[None]]


def parse_latency(value: str) -> tuple[float, float]:
    """``"20,100"`` → (20.0, 100.0): the median and 99th percentile, in ms."""
    try:
        p50, p99 = (float(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"expected P50,P99 in ms (such as 20,100), got {value!r}") from None
    if not 0 < p50 <= p99:
        raise ValueError(f"expected 0 < P50 <= P99, got {value!r}")
    return p50, p99


def parse_spike(value: str) -> Spike:
    """``"0.01,500"`` → 1 % of the calls delayed by 500 ms."""
    try:
        share, delay = value.split(",")
        spike = Spike(float(share), int(delay))
    except ValueError:
        raise ValueError(f"expected SHARE,MS (such as 0.01,500), got {value!r}") from None
    if not 0 < spike.share <= 1 or spike.delay_ms < 0:
        raise ValueError(f"expected 0 < SHARE <= 1 and MS >= 0, got {value!r}")
    return spike


async def bench_downstream_latency(
    settings: Settings,
    scratch: Path,
    *,
    latency: tuple[float, float],
    spike: Spike,
    requests: int,
    concurrency: int,
    hedging: bool,
) -> dict[str, Any]:
    settings = bench_settings(settings, scratch)
    mode = mode_of(settings)
    env = {"OMS_FAULTS_ENABLED": "true"}
    if not hedging:
        env |= {"OMS_BFF_HEDGE_BUDGET": "0", "OMS_BFF_COALESCE_READS": "false"}
    console.print(
        f"starting the services, the saga and BFF-Web ({mode}, hedging "
        f"{'on' if hedging else 'off'}) on ports +{settings.port_offset} …"
    )
    async with running(settings, scratch / "logs", env) as started:
        seeded = await seed(settings)
        processes: dict[str, PidSource] = {
            name: functools.partial(tuple, (started.pid(name),)) for name in started.processes
        }
        async with _Clients(settings, seeded, concurrency) as clients:
            phases = {}
            for phase, rules in _phases(latency, spike).items():
                await clients.inject(rules)
                phases[phase] = await _measure(clients, requests, concurrency, processes)
                console.print(f"{phase}: measured")
    return {
        "benchmark": "bff-downstream-latency",
        "mode": mode,
        "hedging": hedging,
        "downstream_latency_ms": {"p50": latency[0], "p99": latency[1]},
        "spike": {"share": spike.share, "delay_ms": spike.delay_ms},
        "requests": requests,
        "concurrency": concurrency,
        "started_at": now(),
        "machine": machine(),
        "phases": phases,
    }


def _phases(latency: tuple[float, float], spike: Spike) -> dict[str, list[dict[str, Any]]]:
    usual = {
        "route": "*",
        "mode": "latency",
        "p50Ms": latency[0],
        "p99Ms": latency[1],
        "times": RULE_TIMES,
    }
    spiked = {
        "route": "*",
        "mode": "latency",
        "delayMs": spike.delay_ms,
        "ratio": spike.share,
        "times": RULE_TIMES,
    }
    # The spike first: rules are tried in the order they were added.
    return {"steady": [usual], "spiked": [spiked, usual]}


class _Clients:
    """The load generator's clients: BFF-Web, each service, and ops for the faults."""

    def __init__(self, settings: Settings, seeded: Seeded, concurrency: int) -> None:
        self.settings = settings
        self.seeded = seeded
        self._stack = contextlib.AsyncExitStack()
        ops = mint_token(settings.jwt_key, sub="oms-bench", roles=["ops"])
        self._ops = {"Authorization": f"Bearer {ops}"}
        self._auth = {"Authorization": f"Bearer {seeded.token}"}
        self._connections = concurrency * 8
        self.http: dict[str, httpx.AsyncClient] = {}
        self._products: dict[str, float] = {}

    async def __aenter__(self) -> _Clients:
        for name in (*SERVICES, "bff-web"):
            self.http[name] = await self._stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=f"{self.settings.url_for(name)}{API_PREFIX}",
                    headers=self._auth,
                    limits=httpx.Limits(max_connections=self._connections),
                    timeout=30,
                )
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def inject(self, rules: list[dict[str, Any]]) -> None:
        for service in SERVICES:
            http = self.http[service]
            cleared = await http.delete("/_faults", headers=self._ops)
            expect_status(cleared, 204)
            for rule in rules:
                expect_status(await http.post("/_faults", json=rule, headers=self._ops), 201)

    async def calls_left(self) -> int:
        """What the services' latency rules have left to count: fewer by every call."""
        left = 0
        for service in SERVICES:
            listed = await self.http[service].get("/_faults", headers=self._ops)
            expect_status(listed, 200)
            left += sum(rule["times"] for rule in listed.json() if "route" in rule)
        return left

    async def hedges(self) -> int:
        scraped = await self.http["bff-web"].get(f"{self.settings.url_for('bff-web')}/metrics")
        expect_status(scraped, 200)
        return int(
            sum(
                sample.value
                for family in text_string_to_metric_families(scraped.text)
                if family.name == "oms_bff_hedged_calls"
                for sample in family.samples
                if sample.name.endswith("_total")
            )
        )

    def order(self, n: int) -> str:
        return self.seeded.order_ids[n % len(self.seeded.order_ids)]

    async def page(self, n: int, samples: _Samples) -> None:
        started = time.perf_counter()
        try:
            response = await self.http["bff-web"].get(f"/orders/{self.order(n)}/details")
        except httpx.HTTPError:
            samples.errors += 1
            return
        samples.latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            samples.errors += 1
        elif response.json()["degraded"]:
            samples.degraded += 1

    async def gather(self, n: int, samples: _Samples) -> None:
        order = self.order(n)
        calls = [
            ("orders", f"/orders/{order}"),
            ("users", f"/users/{self.seeded.user_id}"),
            ("payments", f"/payments?orderId={order}"),
            ("saga", f"/sagas/{order}"),
        ]
        moment = time.monotonic()
        for product in self.seeded.product_ids:
            if self._products.get(product, 0.0) <= moment:
                self._products[product] = moment + PRODUCT_TTL_SECONDS
                calls.append(("inventory", f"/products/{product}"))

        async def timed(service: str, path: str) -> tuple[float, int]:
            begun = time.perf_counter()
            response = await self.http[service].get(path)
            return time.perf_counter() - begun, response.status_code

        started = time.perf_counter()
        try:
            answers = await asyncio.gather(*(timed(s, p) for s, p in calls))
        except httpx.HTTPError:
            samples.errors += 1
            return
        samples.latencies.append(time.perf_counter() - started)
        samples.slowest_calls.append(max(elapsed for elapsed, _ in answers))
        if any(status != 200 for _, status in answers):
            samples.errors += 1


async def _measure(
    clients: _Clients, requests: int, concurrency: int, processes: dict[str, PidSource]
) -> dict[str, dict[str, Any]]:
    targets: dict[str, Send] = {"page": clients.page, "gather": clients.gather}
    samples = {name: _Samples() for name in targets}
    for send in targets.values():
        await _load(send, WARM_UP, concurrency, _Samples(), start=0)
    sent = 0
    for size in slices(requests, ROUNDS):
        for name, send in targets.items():
            left, hedged = await clients.calls_left(), await clients.hedges()
            meter = CpuMeter(processes)
            meter.start()
            await _load(send, size, concurrency, samples[name], start=sent)
            samples[name].cpu_seconds += sum(meter.stop().values())
            if name == "page":
                samples[name].calls += left - await clients.calls_left()
                samples[name].hedges += await clients.hedges() - hedged
        sent += size
    return {name: s.summary() for name, s in samples.items()}


async def _load(send: Send, requests: int, concurrency: int, samples: _Samples, start: int) -> None:
    numbers = iter(range(start, start + requests))

    async def worker() -> None:
        for n in numbers:  # one iterator for every worker: each number is taken once
            await send(n, samples)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def print_downstream_latency(result: dict[str, Any]) -> None:
    latency = result["downstream_latency_ms"]
    spike = result["spike"]
    table = Table(
        title=f"BFF page with downstreams at p50 {latency['p50']:g} ms / p99 {latency['p99']:g} ms "
        f"({result['requests']} requests per row, {result['concurrency']} in flight, "
        f"hedging {'on' if result['hedging'] else 'off'}, {result['mode']})",
        show_edge=False,
    )
    for column in (
        "phase",
        "target",
        "p50 ms",
        "p99 ms",
        "slowest call p50",
        "slowest call p99",
        "CPU ms/req",
        "extra calls",
        "degraded",
        "errors",
    ):
        table.add_column(column, justify="left" if column in ("phase", "target") else "right")
    for phase, rows in result["phases"].items():
        gather = rows["gather"]
        for target, row in rows.items():
            table.add_row(
                phase,
                target,
                f"{row['p50_ms']:.1f}",
                f"{row['p99_ms']:.1f}",
                f"{gather['slowest_call_p50_ms']:.1f}" if target == "page" else "",
                f"{gather['slowest_call_p99_ms']:.1f}" if target == "page" else "",
                f"{row['cpu_ms_per_request']:.1f}",
                f"{row['extra_calls_pct']:.1f} %" if "extra_calls_pct" in row else "",
                str(row["degraded"]),
                str(row["errors"]),
            )
    console.print(table)
    steady, spiked = result["phases"]["steady"], result["phases"]["spiked"]
    for phase, rows in result["phases"].items():
        page, gather = rows["page"], rows["gather"]
        console.print(
            f"{phase}: page minus slowest call: p50 "
            f"{page['p50_ms'] - gather['slowest_call_p50_ms']:+.1f} ms, p99 "
            f"{page['p99_ms'] - gather['slowest_call_p99_ms']:+.1f} ms; page ÷ gather: p50 "
            f"{page['p50_ms'] / gather['p50_ms']:.2f}, p99 {page['p99_ms'] / gather['p99_ms']:.2f}"
        )
    console.print(
        f"with {spike['share']:.0%} of calls delayed by {spike['delay_ms']} ms: page p99 ÷ "
        f"steady page p99 {spiked['page']['p99_ms'] / steady['page']['p99_ms']:.2f}"
    )
