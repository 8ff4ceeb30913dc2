"""Three RabbitMQ nodes clustered on one machine: ``c1..c3@localhost``.

Each node has its own AMQP, management and distribution ports, its own data,
log and configuration directory, and runs as the ``rabbitmq`` user; they share an
Erlang cookie of their own (in the cluster's home directory, not the machine's),
so the machine's own node is never reachable from them, nor they from it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from oms.cluster.layout import NODES, VHOST, Layout, as_user, owned_dir, run, spawn
from shared.logging import get_logger

log = get_logger(__name__)
USER = "rabbitmq"
START_SECONDS = 180.0


def home(layout: Layout) -> Path:
    return layout.root / "rabbitmq" / "home"


def node_env(layout: Layout, node: str) -> dict[str, str]:
    where = layout.node_dir(node)
    return {
        "HOME": str(home(layout)),
        "RABBITMQ_NODENAME": layout.node_name(node),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(layout.amqp_port(node)),
        "RABBITMQ_DIST_PORT": str(layout.distribution_port(node)),
        "RABBITMQ_MNESIA_BASE": str(where / "mnesia"),
        "RABBITMQ_LOG_BASE": str(where / "log"),
        "RABBITMQ_PID_FILE": str(where / "rabbitmq.pid"),
        "RABBITMQ_CONFIG_FILE": str(where / "rabbitmq"),
        "RABBITMQ_CONF_ENV_FILE": str(where / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(where / "enabled_plugins"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }


def _prepare(layout: Layout, node: str, cookie: str) -> None:
    where = owned_dir(layout.node_dir(node), USER)
    for sub in ("mnesia", "log"):
        owned_dir(where / sub, USER)
    (where / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = 127.0.0.1:{layout.amqp_port(node)}\n"
        f"management.tcp.port = {layout.management_port(node)}\n"
        "management.tcp.ip = 127.0.0.1\n"
    )
    (where / "rabbitmq-env.conf").write_text("")
    (where / "enabled_plugins").write_text("[rabbitmq_management].\n")
    cookie_file = owned_dir(home(layout), USER) / ".erlang.cookie"
    if not cookie_file.exists():
        cookie_file.write_text(cookie)
    run(["chown", f"{USER}:{USER}", str(cookie_file)])
    cookie_file.chmod(0o400)


def ctl(layout: Layout, node: str, *args: str, timeout: float = 120) -> str:
    """``rabbitmqctl -n <node> …`` as the node's user, with the cluster's cookie."""
    # The CLI reads the cookie from its user's passwd home, not $HOME: name it.
    cookie = (home(layout) / ".erlang.cookie").read_text().strip()
    argv = ["rabbitmqctl", "--erlang-cookie", cookie, "-n", layout.node_name(node), *args]
    return run(as_user(USER, argv, {"HOME": str(home(layout))}), timeout=timeout)


def start_node(layout: Layout, node: str) -> int:
    """Start ``node`` (its data kept if it ran before); its process id."""
    env = node_env(layout, node)
    log = layout.node_dir(node) / "server.out"
    return spawn(as_user(USER, ["rabbitmq-server"], env), log)


def await_node(layout: Layout, node: str, timeout: float = START_SECONDS) -> None:
    """Until ``node`` has booted (``await_startup`` fails at once while the node is
    not yet known to epmd: polled until it is)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ctl(layout, node, "await_startup", "--timeout", str(int(timeout)), timeout=timeout)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
        time.sleep(1.0)


def await_nodes(layout: Layout, nodes: Sequence[str]) -> None:
    """:func:`await_node` for each of ``nodes`` at once: they boot side by side, and
    each ``rabbitmqctl`` call is a second or two of an Erlang VM's start."""
    with ThreadPoolExecutor(len(nodes) or 1) as pool:
        for waited in [pool.submit(await_node, layout, node) for node in nodes]:
            waited.result()


def up(layout: Layout) -> None:
    """Start the three nodes and cluster the second and third with the first."""
    cookie = secrets.token_hex(20)
    for node in NODES:
        _prepare(layout, node, cookie)
    for node in NODES:
        layout.pids[f"rabbitmq-{node}"] = start_node(layout, node)
    await_nodes(layout, NODES)
    first = layout.node_name(NODES[0])
    for node in NODES[1:]:
        ctl(layout, node, "stop_app")
        ctl(layout, node, "join_cluster", first)
        ctl(layout, node, "start_app")
    await_node(layout, NODES[0])
    api = management(layout, NODES[0])
    with api:
        api.put(f"/api/vhosts/{VHOST}").raise_for_status()
        api.put(
            f"/api/permissions/{VHOST}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()


def management(layout: Layout, node: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{layout.management_port(node)}",
        auth=("guest", "guest"),
        timeout=30,
    )


def running_nodes(layout: Layout, via: str) -> list[str]:
    with management(layout, via) as api:
        nodes = api.get("/api/nodes").raise_for_status().json()
    return [n["name"] for n in nodes if n.get("running")]


def leader_of(layout: Layout, queue: str, via: str) -> str:
    """The node (``c1`` …) leading quorum queue ``queue``."""
    with management(layout, via) as api:
        info = api.get(f"/api/queues/{VHOST}/{queue}").raise_for_status().json()
    name = str(info.get("leader") or info.get("node"))
    return next(node for node in NODES if layout.node_name(node) == name)


def members_of(layout: Layout, queue: str, via: str) -> list[str]:
    with management(layout, via) as api:
        info = api.get(f"/api/queues/{VHOST}/{queue}").raise_for_status().json()
    return list(info.get("members") or [])


def stop_node(layout: Layout, node: str) -> None:
    """Stop ``node`` for good (``rabbitmqctl stop``): the others carry on as a majority."""
    ctl(layout, node, "stop", timeout=120)
    layout.pids.pop(f"rabbitmq-{node}", None)


def restart_stopped(layout: Layout) -> list[str]:
    """Start again the nodes that are down (each rejoins the cluster it left); their names."""
    running = set(running_nodes(layout, next(n for n in NODES if f"rabbitmq-{n}" in layout.pids)))
    started = [node for node in NODES if layout.node_name(node) not in running]
    for node in started:
        layout.pids[f"rabbitmq-{node}"] = start_node(layout, node)
    await_nodes(layout, started)
    return started
