"""`oms topology export` writes definitions RabbitMQ accepts, matching what the
transports declare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app
from shared.messaging.amqp import AmqpTransport
from shared.messaging.topology import export_definitions, standard_topology
from tests.support.infra import RabbitVhost

ROOT = Path(__file__).resolve().parents[3]


def test_committed_definitions_match_the_code() -> None:
    committed = json.loads((ROOT / "rabbitmq" / "definitions.json").read_text())
    assert committed == export_definitions(standard_topology()), (
        "rabbitmq/definitions.json is stale: run `oms topology export`"
    )


@pytest.mark.rabbitmq
async def test_exported_definitions_import_into_rabbitmq(
    rabbit_vhost: RabbitVhost, tmp_path: Path
) -> None:
    output = tmp_path / "definitions.json"
    asyncapi = tmp_path / "asyncapi.yaml"
    options = ["--output", str(output), "--vhost", rabbit_vhost.name, "--asyncapi", str(asyncapi)]
    result = CliRunner().invoke(app, ["topology", "export", *options])
    assert result.exit_code == 0, result.output
    document = json.loads(output.read_text())
    document.pop("vhosts")  # the vhost exists already; importing it again needs no rights

    response = rabbit_vhost.api("POST", "/api/definitions", json=document)
    assert response.status_code in (201, 204), response.text

    queues = {q["name"]: q for q in rabbit_vhost.api("GET", "/api/queues/{vhost}").json()}
    assert set(queues) >= {"saga.events", "inventory.commands", "saga.events.dlq"}
    assert queues["saga.events"]["arguments"]["x-queue-type"] == "quorum"
    assert queues["saga.events"]["arguments"]["x-dead-letter-exchange"] == "dlx"
    policies = rabbit_vhost.api("GET", "/api/policies/{vhost}").json()
    assert [p["name"] for p in policies] == ["oms-dead-letter-queues"]

    # What the components declare at start-up agrees with the imported topology:
    # a mismatch in any queue argument would fail with PRECONDITION_FAILED here.
    transport = AmqpTransport(rabbit_vhost.url)
    await transport.connect()
    try:
        await transport.declare(standard_topology())
    finally:
        await transport.close()
