"""``oms cluster up`` / ``down``: three RabbitMQ nodes, a PostgreSQL primary and its
synchronous standby, and two processes of every component behind HAProxy, on this
machine (run as root: the servers run as their own users)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from oms.cli.common import console, failures_in_brief

cluster_app = typer.Typer(no_args_is_help=True, help="A local cluster: OMS past one machine.")

DIRECTORY = Path("/tmp/oms-cluster")
Directory = Annotated[Path, typer.Option("--dir", help="where the cluster keeps its data")]


@cluster_app.command("up")
def cluster_up(
    directory: Directory = DIRECTORY,
    base: Annotated[
        int, typer.Option(help="ports: AMQP base+1..3, management +11..13, PostgreSQL +31, +32")
    ] = 5700,
    component_offset: Annotated[
        int, typer.Option(help="HAProxy answers at each component's port plus this")
    ] = 20000,
) -> None:
    """Start the cluster and print where everything answers."""
    from oms.cluster import control, fleet
    from oms.cluster.layout import NODES
    from shared.settings import PORTS

    with failures_in_brief():
        layout = control.up(directory, base=base, component_offset=component_offset)
    console.print(f"OMS_BROKER_URL={layout.broker_url()}", markup=False, soft_wrap=True)
    console.print(f"OMS_DATABASE_URL={layout.database_url()}", markup=False, soft_wrap=True)
    console.print(f"OMS_JWT_SECRET: {directory / fleet.CLUSTER_SECRET_FILE}", markup=False)
    for node in NODES:
        console.print(
            f"{layout.node_name(node)}: amqp {layout.amqp_port(node)}, "
            f"management http://127.0.0.1:{layout.management_port(node)}",
            markup=False,
        )
    for component in PORTS:
        console.print(f"{component}: {layout.public_url(component)} (HAProxy)", markup=False)


@cluster_app.command("down")
def cluster_down(directory: Directory = DIRECTORY) -> None:
    """Stop every process of the cluster and remove its directory."""
    from oms.cluster import control

    with failures_in_brief():
        control.down(directory)
    console.print(f"cluster in {directory} is down", markup=False)


@cluster_app.command("haproxy-config")
def cluster_haproxy_config(directory: Directory = DIRECTORY) -> None:
    """Print the HAProxy configuration of the cluster (the default layout's is
    ``haproxy/oms-cluster.cfg``)."""
    from oms.cluster.fleet import haproxy_config
    from oms.cluster.layout import Layout

    typer.echo(haproxy_config(Layout(root=directory)), nl=False)
