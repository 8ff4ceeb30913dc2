"""A PostgreSQL primary and its synchronous streaming standby on one machine.

Both run as the ``postgres`` user from their own data directories and ports,
beside the machine's own server.  The standby is a base backup of the primary
(``pg_basebackup -R``) streaming from it; only once it streams is it named in
``synchronous_standby_names`` (before that, every commit would wait for it), so
from then on a commit is acknowledged once the standby has it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import signal
import time
from pathlib import Path

import asyncpg

from oms.cluster.layout import DATABASE, Layout, as_user, owned_dir, run

USER = "postgres"
STANDBY_NAME = "standby"
MAX_CONNECTIONS = 400
"""Two processes of every component, at their default pools, and the tests' own."""


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return Path(found[-1])


def data_dir(layout: Layout, role: str) -> Path:
    return layout.root / "postgres" / role


def pg(layout: Layout, *argv: str, timeout: float = 120) -> str:
    program = str(bin_dir() / argv[0])
    return run(as_user(USER, [program, *argv[1:]]), timeout=timeout)


def _start(layout: Layout, role: str) -> None:
    where = data_dir(layout, role)
    pg(layout, "pg_ctl", "-D", str(where), "-l", str(where / "server.log"), "-w", "start")


def _dsn(port: int, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def up(layout: Layout) -> None:
    """Initialise and start the primary, then the standby from its base backup."""
    owned_dir(layout.root / "postgres", USER)
    primary = data_dir(layout, "primary")
    sockets = owned_dir(layout.root / "postgres" / "sockets", USER)
    pg(layout, "initdb", "-D", str(primary), "-U", "postgres", "-A", "trust", "--no-sync")
    with (primary / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {layout.primary_port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\n"
            f"max_connections = {MAX_CONNECTIONS}\n"
            "wal_level = replica\n"
            "hot_standby = on\n"
            "wal_keep_size = '256MB'\n"
        )
    _start(layout, "primary")
    conninfo = (
        f"host=127.0.0.1 port={layout.primary_port} user=postgres application_name={STANDBY_NAME}"
    )
    standby = data_dir(layout, "standby")
    pg(
        layout,
        "pg_basebackup",
        "-d",
        conninfo,
        "-D",
        str(standby),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
    )
    with (standby / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {layout.standby_port}\n")
    _start(layout, "standby")
    run_sql(_dsn(layout.primary_port), f"CREATE DATABASE {DATABASE}")
    _await_streaming(layout)
    run_sql(
        _dsn(layout.primary_port), f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'"
    )
    run_sql(_dsn(layout.primary_port), "SELECT pg_reload_conf()")


def run_sql(dsn: str, sql: str) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(go())


def _await_streaming(layout: Layout, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    sql = f"SELECT state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
    while True:
        rows = run_sql(_dsn(layout.primary_port), sql)
        if rows and rows[0]["state"] == "streaming":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby is not streaming after {timeout}s: {rows}")
        time.sleep(0.5)


def postmaster_pid(layout: Layout, role: str) -> int | None:
    pid_file = data_dir(layout, role) / "postmaster.pid"
    if not pid_file.exists():
        return None
    return int(pid_file.read_text().splitlines()[0])


def kill_primary(layout: Layout) -> None:
    """SIGKILL the primary's postmaster, as a machine lost."""
    pid = postmaster_pid(layout, "primary")
    if pid is None:
        raise RuntimeError("the primary is not running")
    os.kill(pid, signal.SIGKILL)


def promote_standby(layout: Layout) -> None:
    pg(layout, "pg_ctl", "-D", str(data_dir(layout, "standby")), "-w", "promote")


def down(layout: Layout) -> None:
    for role in ("standby", "primary"):
        where = data_dir(layout, role)
        if (where / "postmaster.pid").exists():
            try:
                pg(layout, "pg_ctl", "-D", str(where), "-m", "immediate", "-w", "stop", timeout=60)
            except RuntimeError:
                pid = postmaster_pid(layout, role)
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
        # A SIGKILLed postmaster leaves its backends: they exit once they notice.
