"""``oms topology …``: the RabbitMQ topology as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from oms.cli.common import console, failures_in_brief
from oms.config import load_settings
from shared.messaging.topology import export_definitions, standard_topology

topology_app = typer.Typer(no_args_is_help=True, help="The RabbitMQ topology.")

DEFINITIONS = Path("rabbitmq/definitions.json")
ASYNCAPI = Path("docs/asyncapi.yaml")


@topology_app.command("export")
def topology_export(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the RabbitMQ definitions file")
    ] = DEFINITIONS,
    asyncapi: Annotated[
        Path, typer.Option("--asyncapi", help="the AsyncAPI document of the messages")
    ] = ASYNCAPI,
    vhost: Annotated[str, typer.Option(help="the vhost the definitions target")] = "/",
    quorum_replicas: Annotated[
        int | None,
        typer.Option(
            help="nodes each quorum queue is replicated on (x-quorum-initial-group-size); "
            "by default 3 when OMS_BROKER_URL lists three nodes or more, else the broker's"
        ),
    ] = None,
) -> None:
    """Write the RabbitMQ definitions file (exchanges, queues, bindings, policies) and
    the AsyncAPI document generated from the message models."""
    from oms.asyncapi import build_asyncapi, render_yaml

    settings = load_settings()
    replicas = settings.quorum_replicas if quorum_replicas is None else quorum_replicas
    topology = standard_topology(settings.delivery_limit, quorum_replicas=replicas)
    document = export_definitions(topology, vhost=vhost)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"wrote {output}")
    asyncapi.parent.mkdir(parents=True, exist_ok=True)
    asyncapi.write_text(render_yaml(build_asyncapi(topology=topology)))
    console.print(f"wrote {asyncapi}")


@topology_app.command("apply")
def topology_apply(
    management_url: Annotated[
        str, typer.Option(help="RabbitMQ's management API (its administrator signs in)")
    ] = "http://127.0.0.1:15672",
) -> None:
    """Make the topology, a broker user per component and their least-privilege
    permissions on RabbitMQ, through its management API.

    The administrator and the vhost are those of OMS_BROKER_URL; each component's
    user and password those of its OMS_<COMPONENT>_BROKER_URL (never a file)."""
    import httpx

    from oms.topology import apply_topology, component_credentials, credentials_from, vhost_of

    settings = load_settings()
    with failures_in_brief():
        if not settings.broker_url:
            raise typer.BadParameter("OMS_BROKER_URL must name the administrator and the vhost")
        admin = credentials_from(settings.broker_url)
        vhost = vhost_of(settings.broker_url)
        users = component_credentials(settings)
        with httpx.Client(
            base_url=management_url, auth=(admin.user, admin.password), timeout=30
        ) as api:
            made = apply_topology(
                api,
                vhost=vhost,
                topology=standard_topology(
                    settings.delivery_limit, quorum_replicas=settings.quorum_replicas
                ),
                users=users,
            )
    for user in made:
        console.print(f"user {user}: permissions set on vhost {vhost}", markup=False)
