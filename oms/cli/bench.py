"""``oms bench …``: the qualities of the design measured, as a table and a JSON file.

* ``oms bench saga``: sagas per second, latency and CPU per saga of every
  process, next to a bare aio-pika + asyncpg loop doing the same messages and
  transactions in the same run (:mod:`oms.bench.saga`, :mod:`oms.bench.baseline`);
* ``oms bench bff``: an aggregated page against the calls it makes (:mod:`oms.bench.bff`);
* ``oms bench handlers``: the participants' command handlers and the order placement,
  µs per message in one process without a broker (:mod:`oms.bench.handlers`);
* ``oms bench ops``: the ops reads with many stored sagas (:mod:`oms.bench.ops`).

This module holds the options; the packages run the load and print the tables.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from oms.bench.bff import bench as bench_bff
from oms.bench.bff import print_result as print_bff
from oms.bench.bff.latency import (
    bench_downstream_latency,
    parse_latency,
    parse_spike,
    print_downstream_latency,
)
from oms.bench.handlers import bench as bench_handlers
from oms.bench.handlers import print_result as print_handlers
from oms.bench.ops import bench as bench_ops
from oms.bench.ops import print_result as print_ops
from oms.bench.peers import INSTALL_HINT, PEERS, PeerUnavailable
from oms.bench.processes import Infrastructure
from oms.bench.report import write_json
from oms.bench.saga import Batch, Beside, Load, bench_beside, print_beside
from oms.bench.saga import bench as bench_saga
from oms.bench.saga import print_result as print_saga
from oms.bench.saga.beside import KINDS as BESIDE
from oms.config import load_settings
from shared.messaging.batching import MAX_LINGER_SECONDS

bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks: measured on this machine, printed and written as JSON."
)
QUICK_SAGAS, QUICK_WARMUP = 150, 20
FULL_SAGAS, FULL_WARMUP = 1_000, 50

Output = Annotated[Path, typer.Option(help="where to write the JSON results")]
AdminDsn = Annotated[
    str, typer.Option(help="PostgreSQL admin DSN, to create and drop the database")
]


@bench_app.command("saga")
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
    output: Output = Path("bench-results/saga.json"),
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
    batch: Annotated[
        str | None,
        typer.Option(
            help="OMS's consumer batching, SIZE[:LANES[:LINGER_MS]] comma-separated "
            "(1,16,1,16::2): one run each, in that order (OMS_BATCH_SIZE, OMS_BATCH_LANES, "
            "OMS_BATCH_LINGER_MS) [default: the components' defaults]"
        ),
    ] = None,
    same_priority: Annotated[
        bool,
        typer.Option(
            help="every consumer of OMS's at one priority (OMS_CONSUMER_PRIORITY=0): saga "
            "processes take deliveries in turn [default: each process draws its own]"
        ),
    ] = False,
    peer: Annotated[
        str | None,
        typer.Option(
            help="run the same saga on a peer in the same run: dbos (DBOS durable workflows "
            f"on PostgreSQL; needs {INSTALL_HINT})"
        ),
    ] = None,
    cluster: Annotated[
        Path | None,
        typer.Option(
            help="the directory of a running `oms cluster up`: each run is repeated on its "
            "three broker nodes and its primary with a synchronous standby, right after the "
            "single node's, and compared with it"
        ),
    ] = None,
    beside: Annotated[
        str | None,
        typer.Option(
            help="job, retention or both (comma-separated): one system, the checkouts at --rate "
            "measured without and with a bulk retry or retention beside them, A B A B"
        ),
    ] = None,
    job_rate: Annotated[float, typer.Option(min=0.1, help="--beside job: sagas a second")] = 50.0,
    job_sagas: Annotated[
        int, typer.Option(min=1, help="--beside job: failed sagas stored for it")
    ] = 15_000,
    day_sagas: Annotated[
        int, typer.Option(min=1, help="--beside retention: sagas of the day it prunes")
    ] = 200_000,
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
    batchings: list[Batch | None] = [None]
    if batch:
        try:
            batchings = [Batch.parse(b) for b in batch.split(",")]
        except ValueError:
            raise typer.BadParameter(
                "SIZE[:LANES[:LINGER_MS]], comma-separated", param_hint="--batch"
            ) from None
        if any(
            b is not None
            and (b.size < 1 or b.lanes < 1 or not 0 <= b.linger_ms <= MAX_LINGER_SECONDS * 1000)
            for b in batchings
        ):
            raise typer.BadParameter(
                "sizes and lanes ≥ 1, a linger of 0 to 2 ms", param_hint="--batch"
            )
    if peer is not None and peer not in PEERS:
        raise typer.BadParameter(f"one of {', '.join(PEERS)}", param_hint="--peer")
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
    if against is not None and load_settings().broker_url is None:
        raise typer.BadParameter(
            "OMS_BROKER_URL must name the system's broker", param_hint="--against"
        )
    infra = Infrastructure(amqp=amqp, management=management, postgres=postgres)
    replicated = None if cluster is None else cluster_infrastructure(cluster)
    if beside is not None:
        kinds = tuple(k.strip() for k in beside.split(",") if k.strip())
        if not kinds or set(kinds) - set(BESIDE):
            raise typer.BadParameter("job, retention or both", param_hint="--beside")
        if rate is None:
            raise typer.BadParameter("a steady rate of checkouts", param_hint="--rate")
        work = Beside(kinds, job_rate=job_rate, job_sagas=job_sagas, day_sagas=day_sagas)
        with tempfile.TemporaryDirectory(prefix="oms-bench-") as scratch:
            result = asyncio.run(bench_beside(infra, load, work, Path(scratch)))
        print_beside(result)
        write_json(output, result)
        return
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as scratch:
        (Path(scratch) / "baseline").mkdir()
        try:
            result = asyncio.run(
                bench_saga(
                    infra,
                    load,
                    procs,
                    ratios or [None],
                    baseline,
                    against,
                    Path(scratch),
                    peer,
                    batchings,
                    replicated,
                    same_priority=same_priority,
                )
            )
        except PeerUnavailable as error:
            raise typer.BadParameter(str(error), param_hint="--peer") from None
    print_saga(result)
    write_json(output, result)


def cluster_infrastructure(directory: Path) -> Infrastructure:
    """Where a bench makes its vhosts and databases on the cluster in ``directory``."""
    from oms.cluster.layout import NODES, STATE, Layout

    if not (directory / STATE).exists():
        raise typer.BadParameter(
            f"no cluster in {directory}: oms cluster up", param_hint="--cluster"
        )
    layout = Layout.load(directory)
    hosts = f"127.0.0.1:{layout.primary_port},127.0.0.1:{layout.standby_port}"
    return Infrastructure(
        amqp=",".join(f"amqp://guest:guest@127.0.0.1:{layout.amqp_port(n)}" for n in NODES),
        management=f"http://guest:guest@127.0.0.1:{layout.management_port(NODES[0])}",
        postgres=f"postgresql://postgres@{hosts}/postgres?target_session_attrs=read-write",
    )


@bench_app.command("bff")
def bff(
    requests: Annotated[
        int, typer.Option(min=1, help="requests per target (the page, and each service)")
    ] = 500,
    concurrency: Annotated[int, typer.Option(min=1, help="requests in flight at once")] = 8,
    output: Output = Path("bench-results/bff.json"),
    downstream_latency: Annotated[
        str | None,
        typer.Option(
            metavar="P50,P99",
            help="every service answers after a latency drawn per call with this median and "
            "99th percentile (ms); the page is measured next to its slowest call and to a "
            "client gathering the same calls itself",
        ),
    ] = None,
    spike: Annotated[
        str,
        typer.Option(
            metavar="SHARE,MS",
            help="with --downstream-latency: the share of calls delayed by MS in the second phase",
        ),
    ] = "0.01,500",
    hedging: Annotated[
        bool,
        typer.Option(help="with --downstream-latency: BFF-Web hedges and coalesces its reads"),
    ] = True,
) -> None:
    """Aggregated order page vs. its single downstream calls: latency, throughput, ratio."""
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="oms-bench-") as scratch:
        (Path(scratch) / "logs").mkdir()
        if downstream_latency is None:
            result = asyncio.run(bench_bff(settings, Path(scratch), requests, concurrency))
        else:
            try:
                latency, spiked = parse_latency(downstream_latency), parse_spike(spike)
            except ValueError as error:
                raise typer.BadParameter(str(error)) from None
            measured = bench_downstream_latency(
                settings,
                Path(scratch),
                latency=latency,
                spike=spiked,
                requests=requests,
                concurrency=concurrency,
                hedging=hedging,
            )
            result = asyncio.run(measured)
    (print_bff if downstream_latency is None else print_downstream_latency)(result)
    write_json(output, result)


@bench_app.command("handlers")
def handlers(
    database: Annotated[
        str, typer.Option(help="sqlite, postgres, or both (comma-separated)")
    ] = "sqlite,postgres",
    commands: Annotated[
        int, typer.Option(min=1, help="orders per run (each command this many times)")
    ] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="orders to warm up with, not counted")] = 30,
    postgres: AdminDsn = Infrastructure.postgres,
    output: Output = Path("bench-results/handlers.json"),
) -> None:
    """The participants' command handlers and ``POST /orders``: µs per message in one
    process, on SQLite and on a fresh PostgreSQL database, without a broker."""
    kinds = [k.strip() for k in database.split(",") if k.strip()]
    if not kinds or set(kinds) - {"sqlite", "postgres"}:
        raise typer.BadParameter("sqlite, postgres or both", param_hint="--database")
    result = asyncio.run(bench_handlers(kinds, commands, warmup, Infrastructure(postgres=postgres)))
    print_handlers(result)
    write_json(output, result)


@bench_app.command("ops")
def ops(
    sagas: Annotated[int, typer.Option(min=5, help="sagas stored before the reads")] = 1_000_000,
    days: Annotated[float, typer.Option(min=0.01, help="the sagas' ages spread over DAYS")] = 365,
    repeats: Annotated[int, typer.Option(min=1, help="times each read is measured")] = 30,
    warmup: Annotated[int, typer.Option(min=0, help="times each read is made first")] = 3,
    sample: Annotated[
        int, typer.Option(min=1, help="sagas compacted, then pruned, to time housekeeping")
    ] = 5_000,
    keep: Annotated[
        bool,
        typer.Option(help="keep the filled database (its name printed) instead of dropping it"),
    ] = False,
    reuse: Annotated[
        str | None,
        typer.Option(help="time the reads on this database, kept by an earlier run (no fill)"),
    ] = None,
    postgres: AdminDsn = Infrastructure.postgres,
    output: Output = Path("bench-results/ops.json"),
) -> None:
    """The ops reads (list, one saga, stuck, summary, metrics, the dashboard's first
    load) with SAGAS sagas stored, copied by SQL from real ones; bytes per saga."""
    infra = Infrastructure(postgres=postgres)
    result = asyncio.run(
        bench_ops(
            infra,
            sagas,
            days=days,
            repeats=repeats,
            warmup=warmup,
            keep=keep,
            sample=sample,
            reuse=reuse,
        )
    )
    print_ops(result)
    write_json(output, result)
