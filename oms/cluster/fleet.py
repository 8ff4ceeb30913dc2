"""Two processes of every component behind HAProxy.

Each component answers at its usual port plus the layout's public offset, where
HAProxy balances it over its two replicas (``oms run NAME`` at the replica
offsets), checking each on ``/health/ready``.  Every replica reaches the others
through HAProxy, so a replica lost is a server taken out of rotation, not an
address a caller holds.  The configuration is :func:`haproxy_config`;
``haproxy/oms-cluster.cfg`` is the one of the default layout.

Replica 1 consumes at the highest priority (:func:`consumer_priority`): it takes
every queue's deliveries until its prefetch window is full, and replica 2 the
overflow, or everything once replica 1 is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from oms.cluster.layout import REPLICAS, Layout, reap, run, spawn
from shared.settings import PORTS

ROOT = Path(__file__).resolve().parents[2]
START_SECONDS = 300.0
CLUSTER_SECRET_FILE = "jwt-secret"


def haproxy_config(layout: Layout) -> str:
    """HAProxy in front of every component: round robin over its replicas, a replica
    out of rotation after two failed readiness checks a second apart, and a request
    that could not reach one sent to the other."""
    lines = [
        "# Two replicas of every OMS component on one machine (oms cluster up).",
        "global",
        "    maxconn 4096",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    retries 3",
        "    option redispatch",
        "    option forwardfor",
        "    option httpchk GET /health/ready",
        "    default-server inter 1s fall 2 rise 1",
    ]
    for component, port in PORTS.items():
        lines += [
            "",
            f"listen {component}",
            f"    bind 127.0.0.1:{port + layout.public_offset()}",
            "    balance roundrobin",
        ]
        for replica in range(1, REPLICAS + 1):
            lines.append(
                f"    server {component}-{replica} "
                f"127.0.0.1:{port + layout.replica_offset(replica)} check"
            )
    return "\n".join(lines) + "\n"


def component_env(layout: Layout, secret: str) -> dict[str, str]:
    """What every replica shares: the cluster's broker nodes and database hosts, and
    the other components at HAProxy's addresses."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OMS_") or key == "OMS_LOG_LEVEL"
    }
    env.update(
        {
            "OMS_BROKER_URL": layout.broker_url(),
            "OMS_DATABASE_URL": layout.database_url(),
            "OMS_JWT_SECRET": secret,
            "OMS_LOG_FORMAT": "json",
            "OMS_LOG_LEVEL": env.get("OMS_LOG_LEVEL", "WARNING"),
            "OMS_FORWARDED_ALLOW_IPS": "127.0.0.1",
            "PYTHONPATH": str(ROOT),
        }
    )
    for component in PORTS:
        env[f"OMS_{component.upper().replace('-', '_')}_URL"] = layout.public_url(component)
    return env


def secret(layout: Layout) -> str:
    path = layout.root / CLUSTER_SECRET_FILE
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def migrate(layout: Layout) -> None:
    env = component_env(layout, secret(layout))
    done = subprocess.run(
        [sys.executable, "-m", "oms.cli", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"oms migrate failed: {done.stderr[-2000:]}")


def replica_name(component: str, replica: int) -> str:
    return f"{component}-{replica}"


def consumer_priority(replica: int) -> int:
    """Replica 1 highest, each next one lower: the same after a restart."""
    return REPLICAS + 1 - replica


def start_replica(layout: Layout, component: str, replica: int) -> int:
    env = {
        **component_env(layout, secret(layout)),
        "OMS_PORT_OFFSET": str(layout.replica_offset(replica)),
        "OMS_DATA_DIR": str(layout.root / "data" / replica_name(component, replica)),
        "OMS_CONSUMER_PRIORITY": str(consumer_priority(replica)),
    }
    logs = layout.root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pid = spawn(
        [sys.executable, "-m", "oms.cli", "run", component],
        logs / f"{replica_name(component, replica)}.log",
        env=env,
        cwd=ROOT,
    )
    layout.pids[replica_name(component, replica)] = pid
    return pid


def replica_url(layout: Layout, component: str, replica: int) -> str:
    return f"http://127.0.0.1:{PORTS[component] + layout.replica_offset(replica)}"


def await_ready(
    urls: Mapping[str, str],
    timeout: float = START_SECONDS,
    logs: Path | None = None,
    pids: Mapping[str, int] | None = None,
) -> None:
    """Until every URL answers ``/health/ready`` with 200; on a timeout, or as soon as
    a waiting replica's process (from ``pids``) has ended, the error carries the end
    of each such replica's log (from ``logs``)."""
    waiting = dict(urls)
    processes = dict(pids or {})
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5) as client:
        while waiting:
            for name, url in list(waiting.items()):
                try:
                    if client.get(f"{url}/health/ready").status_code == 200:
                        del waiting[name]
                except httpx.HTTPError:
                    pass
            if not waiting:
                return
            reap()
            ended = [n for n in sorted(waiting) if n in processes and _gone(processes[n])]
            if ended:
                raise RuntimeError(
                    f"exited before it was ready: {', '.join(ended)}"
                    + "".join(_log_tail(logs, name) for name in ended)
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not ready after {timeout:.0f}s: {', '.join(sorted(waiting))}"
                    + "".join(_log_tail(logs, name) for name in sorted(waiting))
                )
            time.sleep(0.5)


def _log_tail(logs: Path | None, name: str, lines: int = 25) -> str:
    path = None if logs is None else logs / f"{name}.log"
    if path is None or not path.exists():
        return ""
    tail = path.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- {path} (last {len(tail)} lines) ---\n" + "\n".join(tail)


def start_haproxy(layout: Layout) -> int:
    config = layout.root / "haproxy.cfg"
    config.write_text(haproxy_config(layout))
    run(["haproxy", "-c", "-q", "-f", str(config)])
    pid = spawn(["haproxy", "-db", "-f", str(config)], layout.root / "haproxy.log")
    layout.pids["haproxy"] = pid
    return pid


def up(layout: Layout) -> None:
    """Start HAProxy and two replicas of every component (on migrated schemas)."""
    start_haproxy(layout)
    urls = {}
    for component in PORTS:
        for replica in range(1, REPLICAS + 1):
            start_replica(layout, component, replica)
            urls[replica_name(component, replica)] = replica_url(layout, component, replica)
        layout.save()
    await_ready(urls, logs=layout.root / "logs", pids=layout.pids)
    # HAProxy began checking the replicas before they listened and counts them down
    # until enough checks pass: ready is when each component answers through it.
    await_ready({component: layout.public_url(component) for component in PORTS})


def kill(layout: Layout, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
    """Send ``sig`` to process ``name`` of the layout and all it started."""
    pid = layout.pids.get(name)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int) -> bool:
    return not _alive(pid) or _zombie(pid)


def restart_dead(layout: Layout) -> list[str]:
    """Start again every replica whose process is gone; their names."""
    reap()
    urls = {}
    for component in PORTS:
        for replica in range(1, REPLICAS + 1):
            name = replica_name(component, replica)
            pid = layout.pids.get(name)
            if pid is None or _gone(pid):
                start_replica(layout, component, replica)
                urls[name] = replica_url(layout, component, replica)
    await_ready(urls, logs=layout.root / "logs", pids=layout.pids)
    return sorted(urls)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False
