"""``oms topology …``: the RabbitMQ topology as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from oms.cli.common import console
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
) -> None:
    """Write the RabbitMQ definitions file (exchanges, queues, bindings, policies) and
    the AsyncAPI document generated from the message models."""
    from oms.asyncapi import build_asyncapi, render_yaml

    settings = load_settings()
    topology = standard_topology(settings.delivery_limit)
    document = export_definitions(topology, vhost=vhost)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"wrote {output}")
    asyncapi.parent.mkdir(parents=True, exist_ok=True)
    asyncapi.write_text(render_yaml(build_asyncapi(topology=topology)))
    console.print(f"wrote {asyncapi}")
