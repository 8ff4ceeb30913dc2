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
asyncpg, one process per role, and the table prints OMS ÷ baseline.  With
``--peer dbos`` the same saga runs on a peer too (:mod:`oms.bench.peers`), and
with ``--batch`` each OMS run is repeated per batching of its consumers (given
twice or more, they alternate: ``--batch 1,16,1,16``); the batch sizes each
consumer formed (mean, p99) and the context switches per saga of each OMS
process are reported beside the CPU.

With ``--beside job,retention`` the run is one system instead, the checkouts'
latency measured without and with a bulk job or retention beside them
(:mod:`~oms.bench.saga.beside`).

The package: :mod:`~oms.bench.saga.systems` (what is measured),
:mod:`~oms.bench.saga.load` (the load and what it measures),
:mod:`~oms.bench.saga.report` (the tables); the options are in :mod:`oms.cli.bench`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oms.bench.peers import run_peer
from oms.bench.processes import Infrastructure
from oms.bench.report import console, machine, now
from oms.bench.saga.beside import Beside, compare, print_beside, seeder
from oms.bench.saga.load import Load, measure
from oms.bench.saga.report import print_result
from oms.bench.saga.systems import Batch, baseline_system, oms_system, running_system

__all__ = ["Batch", "Beside", "Load", "bench", "bench_beside", "print_beside", "print_result"]


async def bench(
    infra: Infrastructure,
    load: Load,
    procs: list[int],
    ratios: list[float | None],
    with_baseline: bool,
    against: str | None,
    scratch: Path,
    peer: str | None = None,
    batchings: Sequence[Batch | None] = (None,),
    cluster: Infrastructure | None = None,
    *,
    same_priority: bool = False,
) -> dict[str, Any]:
    """The baseline (when asked), the peer (when asked), then a run per saga process
    count, trace ratio and batching, in that order (or one run against a running
    system); the results as JSON.  With ``same_priority`` every consumer of OMS's
    has one priority at the broker (replicas take deliveries in turn)."""
    runs: list[dict[str, Any]] = []
    base: dict[str, Any] | None = None
    peer_run: dict[str, Any] | None = None
    if with_baseline:
        console.print("baseline: bare aio-pika + asyncpg, one process per role …")
        async with baseline_system(infra, scratch / "baseline") as target:
            base = await measure(target, load)
    if peer is not None:
        console.print(f"peer: {peer}, the same saga in a process of its own …")
        peer_run = await run_peer(
            peer,
            infra,
            sagas=load.sagas,
            warmup=load.warmup,
            concurrency=load.concurrency,
            items=load.items,
        )
    if against is not None:
        async with running_system(against) as target:
            runs.append(await measure(target, load))
    else:
        for count in procs:
            for ratio in ratios:
                for batching in batchings:
                    single = await _oms_run(
                        infra, load, count, ratio, batching, scratch, same_priority
                    )
                    runs.append(single)
                    if cluster is not None:  # the same run on the cluster, right after
                        console.print("… and on the cluster (three broker nodes, a standby)")
                        runs.append(
                            on_cluster(
                                await _oms_run(
                                    cluster, load, count, ratio, batching, scratch, same_priority
                                ),
                                single,
                            )
                        )
    for run in [*runs, *([peer_run] if peer_run else [])]:
        if base is not None and base["sagas_per_second"] > 0:
            run["ratio"] = round(run["sagas_per_second"] / base["sagas_per_second"], 3)
    if peer_run is not None and peer_run["sagas_per_second"] > 0:
        for run in runs:
            run["ratio_to_peer"] = round(run["sagas_per_second"] / peer_run["sagas_per_second"], 3)
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
        "peer": peer_run,
        "runs": runs,
        "ratio": runs[0].get("ratio") if runs else None,
    }


def on_cluster(run: dict[str, Any], single: dict[str, Any]) -> dict[str, Any]:
    """A run on the cluster, with its throughput against the single node's run just
    before it: the cost of replication as a ratio."""
    run["where"] = "cluster"
    run["system"] = f"{run['system']}, cluster"
    single.setdefault("where", "single node")
    if single["sagas_per_second"] > 0:
        run["ratio_to_single"] = round(run["sagas_per_second"] / single["sagas_per_second"], 3)
    return run


async def _oms_run(
    infra: Infrastructure,
    load: Load,
    count: int,
    ratio: float | None,
    batching: Batch | None,
    scratch: Path,
    same_priority: bool = False,
) -> dict[str, Any]:
    traced = "" if ratio is None else f", traces sampled at {ratio:g}"
    if same_priority:
        traced += ", every consumer at one priority"
    batched = (
        ""
        if batching is None
        else f", batches of up to {batching.size} on {batching.lanes} lane(s), "
        f"lingering {batching.linger_ms:g} ms"
    )
    console.print(
        f"OMS: orders, inventory, payments and {count} saga process(es){traced}{batched} …"
    )
    name = f"oms-{count}" + ("" if ratio is None else f"-trace-{ratio:g}")
    logs = scratch / (
        name
        + (
            ""
            if batching is None
            else f"-batch-{batching.size}-{batching.lanes}-{batching.linger_ms:g}"
        )
    )
    while logs.exists():  # the same system twice, to alternate
        logs = logs.with_name(logs.name + "-again")
    logs.mkdir()
    async with oms_system(
        infra, count, logs, trace_ratio=ratio, batching=batching, same_priority=same_priority
    ) as target:
        measured = await measure(target, load)
        if target.traces is not None:  # warm-up included
            measured["otlp_exports"] = target.traces.exports
            measured["otlp_kb"] = round(target.traces.bytes / 1024, 1)
    return {
        "saga_procs": count,
        "trace_ratio": ratio,
        "same_priority": same_priority,
        "batch": None
        if batching is None
        else {"size": batching.size, "lanes": batching.lanes, "linger_ms": batching.linger_ms},
        **measured,
    }


async def bench_beside(
    infra: Infrastructure, load: Load, beside: Beside, scratch: Path
) -> dict[str, Any]:
    """One system (one saga process), its saga database filled for the work beside;
    the checkouts' latency without and with it, window by window."""
    logs = scratch / "beside"
    logs.mkdir()
    console.print("OMS: orders, inventory, payments and 1 saga process …")
    async with oms_system(infra, 1, logs, seed=seeder(beside)) as target:
        measured = await compare(target, load, beside)
        if target.fleet is not None:
            target.fleet.check_alive()
    return {
        "benchmark": "saga beside",
        "started_at": now(),
        "machine": machine(),
        "rate": load.rate,
        "sagas": load.sagas,
        "warmup": load.warmup,
        "items_per_order": load.items,
        "job_rate": beside.job_rate,
        "job_sagas": beside.job_sagas,
        "day_sagas": beside.day_sagas,
        "beside": measured,
    }
