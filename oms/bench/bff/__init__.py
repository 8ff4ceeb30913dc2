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

The package: :mod:`~oms.bench.bff.system` (started and seeded), :mod:`~oms.bench.bff.latency`
(``--downstream-latency``: the page where the services wait on I/O),
:mod:`~oms.bench.bff.measure`, :mod:`~oms.bench.bff.report`; the options are in
:mod:`oms.cli.bench`.
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

from oms.bench.bff.measure import measure, targets
from oms.bench.bff.report import print_result
from oms.bench.bff.system import BFF_COMPONENTS, bench_settings, mode_of, running, seed
from oms.bench.procstat import PidSource
from oms.bench.report import console, machine, now
from shared.settings import Settings

__all__ = ["bench", "print_result"]


async def bench(
    settings: Settings, scratch: Path, requests: int, concurrency: int
) -> dict[str, Any]:
    """Start the components, seed them, measure every target; the results as JSON."""
    settings = bench_settings(settings, scratch)
    mode = mode_of(settings)
    console.print(
        f"starting {', '.join(BFF_COMPONENTS)} ({mode}) on ports +{settings.port_offset} …"
    )
    async with running(settings, scratch / "logs") as started:
        seeded = await seed(settings)
        measured_targets = targets(seeded)
        processes: dict[str, PidSource] = {
            name: functools.partial(tuple, (started.pid(name),)) for name in started.processes
        }
        measured = await measure(
            settings, seeded.token, measured_targets, requests, concurrency, processes
        )
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
