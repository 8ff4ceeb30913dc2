"""Peers: the same saga on what a Python team would pick instead of OMS, run by
``oms bench saga --peer NAME`` in the same minutes as OMS and the bare loop.

A peer runs as a process of its own from the ``peers`` dependency group (never a
runtime dependency of OMS); this module starts it on a fresh database, meters its
CPU and its PostgreSQL backends' over the measured sagas, and reports it as the
other systems are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from typing import Any

from oms.bench.processes import Backends, Infrastructure
from oms.bench.procstat import CpuMeter, PidSource, rss_of
from oms.bench.report import percentiles

PEERS = {"dbos": "oms.bench.peers.dbos_saga"}
"""Peer name → the module run as its process."""
WARMED_UP = "warmed up"
"""What a peer prints once its warm-up is done (kept in step with the peers' modules)."""
INSTALL_HINT = "uv sync --group peers (or: uv run --group peers oms bench saga --peer …)"


class PeerUnavailable(RuntimeError):
    """The peer could not run here (its dependency group is not installed)."""


async def run_peer(
    name: str, infra: Infrastructure, *, sagas: int, warmup: int, concurrency: int, items: int
) -> dict[str, Any]:
    """Run peer ``name`` once on a fresh database; its figures as a run's row."""
    async with infra.databases([f"peer_{name}"]) as databases:
        database = databases[f"peer_{name}"]
        url = infra.database_url(database).replace("postgresql+asyncpg://", "postgresql://")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            PEERS[name],
            "--database",
            url,
            "--sagas",
            str(sagas),
            "--warmup",
            str(warmup),
            "--concurrency",
            str(concurrency),
            "--items",
            str(items),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        backends = Backends(infra.postgres)
        groups: dict[str, PidSource] = {
            name: lambda: [process.pid],
            "postgres": lambda: backends.of(database),
        }
        meter = CpuMeter(groups)
        try:
            line = await process.stdout.readline()
            if line.decode().strip() != WARMED_UP:
                error = (await process.stderr.read()).decode()[-2000:]
                if "No module named 'dbos'" in error:
                    raise PeerUnavailable(f"the {name} peer needs its dependencies: {INSTALL_HINT}")
                raise RuntimeError(f"the {name} peer failed: {line.decode()}{error}")
            await backends.refresh()
            rss_start = rss_end = rss_of(groups)
            meter.start()
            output = asyncio.create_task(process.stdout.read())
            while not output.done():
                await asyncio.wait({output}, timeout=1.0)
                await backends.refresh()
                meter.sample()
                now = rss_of(groups)
                if now.get(name):  # not once it has exited
                    rss_end = now
            cpu = meter.stop()
            await process.wait()
            measured = json.loads(output.result())
        finally:
            if process.returncode is None:
                process.kill()
                with contextlib.suppress(ProcessLookupError):
                    await process.wait()
            await backends.close()
    done = max(measured["sagas"], 1)
    per_saga = {group: round(seconds * 1000 / done, 3) for group, seconds in cpu.items()}
    elapsed = measured["elapsed"]
    return {
        "system": f"peer: {name}",
        "sagas": measured["sagas"],
        "confirmed": measured["sagas"],
        "cancelled": 0,
        "errors": 0,
        "lost": 0,
        "first_error": None,
        "elapsed_seconds": round(elapsed, 3),
        "sagas_per_second": round(measured["sagas"] / elapsed, 2) if elapsed else 0,
        "latency_ms": percentiles(measured["latencies"], 50, 95, 99),
        "cpu_ms_per_saga": per_saga,
        "cpu_ms_per_saga_own": per_saga[name],
        "cpu_ms_per_saga_all": round(sum(per_saga.values()), 3),
        "rss_mb": {
            group: {
                "start": round(rss_start.get(group, 0) / 2**20, 1),
                "end": round(rss_end.get(group, 0) / 2**20, 1),
            }
            for group in groups
        },
    }
