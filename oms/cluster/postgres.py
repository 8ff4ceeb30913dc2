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

from oms.cluster.layout import DATABASE, Layout, as_user, owned_dir, remove, run

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
    run_sql(_dsn(layout.primary_port), f"CREATE DATABASE {DATABASE}")
    _stand_by(layout, "standby")


def _stand_by(layout: Layout, role: str) -> None:
    """``role``'s data directory made as a base backup of the other server's, started
    streaming from it, and named its synchronous standby once it streams."""
    source_port = port_of(layout, other(role))
    conninfo = f"host=127.0.0.1 port={source_port} user=postgres application_name={STANDBY_NAME}"
    target = data_dir(layout, role)
    pg(
        layout,
        "pg_basebackup",
        "-d",
        conninfo,
        "-D",
        str(target),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
    )
    with (target / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {port_of(layout, role)}\n")
    (target / "postmaster.pid").unlink(missing_ok=True)
    _start(layout, role)
    _await_streaming(layout, source_port)
    dsn = _dsn(source_port)
    run_sql(dsn, f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
    run_sql(dsn, "SELECT pg_reload_conf()")


def run_sql(dsn: str, sql: str) -> list[asyncpg.Record]:
    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn)
        try:
            return list(await conn.fetch(sql))
        finally:
            await conn.close()

    return asyncio.run(go())


def _await_streaming(layout: Layout, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    sql = f"SELECT state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
    while True:
        rows = run_sql(_dsn(port), sql)
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


def port_of(layout: Layout, role: str) -> int:
    return layout.primary_port if role == "primary" else layout.standby_port


def other(role: str) -> str:
    return "standby" if role == "primary" else "primary"


def writable(layout: Layout) -> str | None:
    """Which data directory (``primary`` or ``standby``) takes writes now, if any."""
    for role in ("primary", "standby"):
        try:
            rows = run_sql(_dsn(port_of(layout, role)), "SELECT pg_is_in_recovery() AS standby")
        except (OSError, asyncpg.PostgresError):
            continue
        if not rows[0]["standby"]:
            return role
    return None


def kill_postmaster(layout: Layout, role: str) -> None:
    """SIGKILL the postmaster of ``role``, as a machine lost."""
    pid = postmaster_pid(layout, role)
    if pid is None:
        raise RuntimeError(f"the {role} is not running")
    os.kill(pid, signal.SIGKILL)


def promote(layout: Layout, role: str) -> None:
    pg(layout, "pg_ctl", "-D", str(data_dir(layout, role)), "-w", "promote")


def fail_over(layout: Layout) -> str:
    """Kill the server that takes writes and promote the other; the new primary's role."""
    old = writable(layout)
    if old is None:
        raise RuntimeError("no server takes writes")
    kill_postmaster(layout, old)
    promote(layout, other(old))
    return other(old)


def rebuild_standby(layout: Layout) -> None:
    """After a fail-over: the lost server's directory made again as a base backup of
    the new primary, streaming from it, and named its synchronous standby."""
    primary = writable(layout)
    if primary is None:
        raise RuntimeError("no server takes writes")
    lost = other(primary)
    pid = postmaster_pid(layout, lost)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _await_exit(pid)
    remove(data_dir(layout, lost))
    _stand_by(layout, lost)


def _await_exit(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


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


def streaming(layout: Layout) -> list[str]:
    """The standbys streaming from the server that takes writes (none without one)."""
    primary = writable(layout)
    if primary is None:
        return []
    rows = run_sql(
        _dsn(port_of(layout, primary)),
        "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
    )
    return [row["application_name"] for row in rows]
