"""``oms bench saga``: sagas per second, latency and CPU per saga, against the bare loop.

Every run starts its own system: the orders, inventory and payments services
and one or more saga processes, each ``oms run NAME`` in a process of its own on
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

The package: :mod:`~oms.bench.saga.systems` (what is measured),
:mod:`~oms.bench.saga.load` (the load and what it measures),
:mod:`~oms.bench.saga.report` (the tables); the options are in :mod:`oms.cli.bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from oms.bench.processes import Infrastructure
from oms.bench.report import console, machine, now
from oms.bench.saga.load import Load, measure
from oms.bench.saga.report import print_result
from oms.bench.saga.systems import baseline_system, oms_system, running_system

__all__ = ["Load", "bench", "print_result"]


async def bench(
    infra: Infrastructure,
    load: Load,
    procs: list[int],
    ratios: list[float | None],
    with_baseline: bool,
    against: str | None,
    scratch: Path,
) -> dict[str, Any]:
    """The baseline (when asked), then a run per saga process count and trace ratio
    (or one run against a running system); the results as JSON."""
    runs: list[dict[str, Any]] = []
    base: dict[str, Any] | None = None
    if with_baseline:
        console.print("baseline: bare aio-pika + asyncpg, one process per role …")
        async with baseline_system(infra, scratch / "baseline") as target:
            base = await measure(target, load)
    if against is not None:
        async with running_system(against) as target:
            runs.append(await measure(target, load))
    else:
        for count in procs:
            for ratio in ratios:
                traced = "" if ratio is None else f", traces sampled at {ratio:g}"
                console.print(
                    f"OMS: orders, inventory, payments and {count} saga process(es){traced} …"
                )
                logs = scratch / (f"oms-{count}" + ("" if ratio is None else f"-trace-{ratio:g}"))
                logs.mkdir()
                async with oms_system(infra, count, logs, trace_ratio=ratio) as target:
                    measured = await measure(target, load)
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
