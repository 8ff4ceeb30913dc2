"""What a benchmark runs on: components as processes on free ports, and a fresh
RabbitMQ vhost and fresh PostgreSQL databases that are dropped at the end.

Every component runs as ``python -m oms.cli run NAME`` (or ``up --only …`` when
embedded), so the load generator never shares an event loop or a CPU account
with what it measures.  A process is stopped as Ctrl-C stops it (SIGINT), and
killed if it does not stop in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import httpx

STARTUP_SECONDS = 300.0
"""How long the components may take to start (migrations included)."""
STOP_SECONDS = 30.0


# --- ports --------------------------------------------------------------------------


PORT_RANGE = (8_000, 23_000)
"""Where a benchmark's components listen: below Linux's ephemeral ports (32768 on),
which an outgoing connection can take between the probe and the component's bind,
and below 23000, where the test suite's own stacks take blocks of ports while the
benchmark's smoke test runs beside them (one took a port the benchmark had probed,
and the benchmark's requests met that stack's inventory)."""


PORT_LOCKS = Path(tempfile.gettempdir()) / "oms-bench-ports"
"""A lock file per port a benchmark has taken (see :func:`free_port_offset`)."""
_held: list[int] = []
"""The locked files' descriptors: held open, the ports stay this process's until it exits."""


def free_port_offset(host: str, ports: Iterable[int]) -> int:
    """An offset under which every one of ``ports`` is free on ``host`` right now,
    lies in :data:`PORT_RANGE` and stays this process's: each port is taken by
    locking a file named after it, so two benchmarks starting at once (a smoke test
    on each of two test workers) never both pick a port in the seconds between the
    probe and the component's bind."""
    wanted = list(ports)
    low, high = PORT_RANGE
    candidates = list(range(low - min(wanted), high - max(wanted), 100))
    random.shuffle(candidates)  # two benches at once should not pick the same one
    PORT_LOCKS.mkdir(exist_ok=True)
    for offset in candidates:
        locked = _lock_ports([port + offset for port in wanted])
        if locked is None:
            continue
        if all(port_free(host, port + offset) for port in wanted):
            _held.extend(locked)
            return offset
        for descriptor in locked:
            os.close(descriptor)
    raise RuntimeError("no free ports for the components")


def _lock_ports(ports: Iterable[int]) -> list[int] | None:
    """The descriptors of the ports' lock files, each locked; None (and none kept)
    when another process holds any of them."""
    locked: list[int] = []
    for port in ports:
        descriptor = os.open(PORT_LOCKS / str(port), os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            for held in locked:
                os.close(held)
            return None
        locked.append(descriptor)
    return locked


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# --- a fresh vhost and fresh databases -----------------------------------------------


@dataclass(frozen=True)
class Infrastructure:
    """Where fresh vhosts and databases are made: a RabbitMQ broker with its
    management API, and a PostgreSQL server reached with an admin DSN."""

    amqp: str = "amqp://guest:guest@127.0.0.1:5672"
    management: str = "http://guest:guest@127.0.0.1:15672"
    postgres: str = "postgresql://postgres@127.0.0.1:5432/postgres"

    def broker_url(self, vhost: str) -> str:
        """``vhost`` on every node ``amqp`` names (comma-separated for a cluster)."""
        return ",".join(
            f"{node.strip().rstrip('/')}/{quote(vhost, safe='')}" for node in self.amqp.split(",")
        )

    def database_url(self, database: str) -> str:
        """The SQLAlchemy (asyncpg) URL of ``database`` on the admin DSN's server."""
        parts = urlsplit(self.postgres)
        return urlunsplit(
            ("postgresql+asyncpg", parts.netloc, f"/{database}", parts.query, parts.fragment)
        )

    def _management(self) -> httpx.AsyncClient:
        parts = urlsplit(self.management)
        auth = (parts.username or "guest", parts.password or "guest")
        base = urlunsplit((parts.scheme, parts.hostname or "", "", "", ""))
        if parts.port:
            base = f"{base}:{parts.port}"
        return httpx.AsyncClient(base_url=base, auth=auth, timeout=30)

    @contextlib.asynccontextmanager
    async def vhost(self, prefix: str = "oms-bench") -> AsyncIterator[str]:
        """A new vhost (its name yielded) with every permission for the broker's user;
        deleted with everything in it at the end."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        user = urlsplit(self.amqp.split(",")[0]).username or "guest"
        async with self._management() as api:
            (await api.put(f"/api/vhosts/{quote(name, safe='')}")).raise_for_status()
            (
                await api.put(
                    f"/api/permissions/{quote(name, safe='')}/{quote(user, safe='')}",
                    json={"configure": ".*", "write": ".*", "read": ".*"},
                )
            ).raise_for_status()
            try:
                yield name
            finally:
                await api.delete(f"/api/vhosts/{quote(name, safe='')}")

    @contextlib.asynccontextmanager
    async def databases(self, names: Sequence[str]) -> AsyncIterator[dict[str, str]]:
        """A new database per name (yielded as name → database), dropped at the end."""
        run = uuid.uuid4().hex[:8]
        made = {name: f"oms_bench_{run}_{name.replace('-', '_')}" for name in names}
        admin = await asyncpg.connect(self.postgres)
        try:
            for database in made.values():
                await admin.execute(f'CREATE DATABASE "{database}"')
            yield made
        finally:
            for database in made.values():
                with contextlib.suppress(asyncpg.PostgresError):
                    await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()


class Backends:
    """The PostgreSQL server processes serving given databases, refreshed on demand
    (a pool opens and closes connections while the load runs)."""

    def __init__(self, admin_dsn: str) -> None:
        self._dsn = admin_dsn
        self._conn: asyncpg.Connection | None = None
        self._pids: dict[str, list[int]] = {}

    async def refresh(self) -> None:
        if self._conn is None:
            self._conn = await asyncpg.connect(self._dsn)
        rows = await self._conn.fetch(
            "SELECT datname, pid FROM pg_stat_activity WHERE backend_type = 'client backend'"
        )
        pids: dict[str, list[int]] = {}
        for row in rows:
            if row["datname"] is not None:
                pids.setdefault(row["datname"], []).append(int(row["pid"]))
        self._pids = pids

    def of(self, database: str) -> list[int]:
        return list(self._pids.get(database, ()))

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


# --- processes ----------------------------------------------------------------------


@dataclass
class Fleet:
    """Processes started by a benchmark, by name; stopped together at the end."""

    logs: Path
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)

    async def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """Start ``argv`` (after ``python``) as process ``name``, its output in ``logs/NAME.log``."""
        with (self.logs / f"{name}.log").open("wb") as sink:
            self.processes[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                *argv,
                env=dict(env),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    async def until_ready(self, urls: Mapping[str, str]) -> None:
        """Wait until ``GET {url}/health/ready`` answers 200 for every name → url."""
        give_up_at = time.monotonic() + STARTUP_SECONDS
        waiting = dict(urls)
        async with httpx.AsyncClient(timeout=5) as http:
            while waiting:
                for name, process in self.processes.items():
                    if process.returncode is not None:
                        raise RuntimeError(f"{name} exited at start-up:\n{self.tail(name)}")
                if time.monotonic() > give_up_at:
                    logs = "\n".join(
                        f"--- {name}:\n{self.tail(name)}"
                        for name in waiting
                        if name in self.processes
                    )
                    raise RuntimeError(
                        f"not ready after {STARTUP_SECONDS:g}s: {', '.join(waiting)}\n{logs}"
                    )
                for name, url in list(waiting.items()):
                    with contextlib.suppress(httpx.TransportError):
                        ready = await http.get(f"{url}/health/ready")
                        if ready.status_code == 200:
                            del waiting[name]
                if waiting:
                    await asyncio.sleep(0.2)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.returncode is not None:
                raise RuntimeError(f"{name} exited during the run:\n{self.tail(name)}")

    async def stop(self) -> None:
        await asyncio.gather(*(_stop(p) for p in self.processes.values()))

    def tail(self, name: str, lines: int = 30) -> str:
        log = self.logs / f"{name}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def fleet(logs: Path) -> AsyncIterator[Fleet]:
    started = Fleet(logs)
    try:
        yield started
    finally:
        await started.stop()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does: every component stops cleanly
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def component_env(**oms: str) -> dict[str, str]:
    """This process's environment without any ``OMS_`` variable, plus ``oms`` as
    ``OMS_<KEY>`` (quiet JSON logs unless given)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OMS_")}
    env.update(OMS_LOG_LEVEL="WARNING", OMS_LOG_FORMAT="json")
    env.update({f"OMS_{key.upper()}": value for key, value in oms.items()})
    return env
