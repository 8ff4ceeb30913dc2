"""`oms topology export` writes definitions RabbitMQ accepts, matching what the
transports declare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oms.cli import app
from shared.messages import InventoryReleased, PaymentCompleted
from shared.messaging.amqp import AmqpTransport
from shared.messaging.envelope import Envelope
from shared.messaging.topology import BROKER_USERS, export_definitions, standard_topology
from shared.messaging.transport import Incoming, PublishError
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

    rabbit_vhost.adopt_users(BROKER_USERS)  # global users: deleted with the vhost
    response = rabbit_vhost.api("POST", "/api/definitions", json=document)
    assert response.status_code in (201, 204), response.text
    # The components' users come without a password: none can sign in until
    # `oms topology apply` gives each the one from the environment.
    assert {u["name"] for u in document["users"]} == set(BROKER_USERS)
    assert {u["password_hash"] for u in document["users"]} == {""}
    granted = rabbit_vhost.api("GET", "/api/vhosts/{vhost}/permissions").json()
    assert {p["user"]: p["write"] for p in granted if p["user"] in BROKER_USERS} == {
        name: rights.write for name, rights in BROKER_USERS.items()
    }

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


@pytest.mark.rabbitmq
async def test_oms_topology_apply_makes_a_least_privilege_user_per_component(
    rabbit_vhost: RabbitVhost,
) -> None:
    urls = {
        component: rabbit_vhost.url.replace(
            "guest:guest", f"{component}.{rabbit_vhost.name}:secret-of-{component}"
        )
        for component in BROKER_USERS
    }
    rabbit_vhost.adopt_users(f"{component}.{rabbit_vhost.name}" for component in BROKER_USERS)
    env = {
        "OMS_BROKER_URL": rabbit_vhost.url,
        "OMS_JWT_SECRET": "a-secret-long-enough-for-the-settings-check",
        **{f"OMS_{component.upper()}_BROKER_URL": url for component, url in urls.items()},
    }
    result = CliRunner().invoke(app, ["topology", "apply"], env=env)
    assert result.exit_code == 0, result.output
    assert f"user payments.{rabbit_vhost.name}: permissions set" in result.output

    inventory = AmqpTransport(urls["inventory"])
    await inventory.connect()
    try:
        reply = Envelope.wrap(
            InventoryReleased(order_id="o-1"), app_id="inventory", correlation_id="o-1"
        )
        await inventory.publish(reply)  # its own events: allowed
        stolen = Envelope.wrap(
            PaymentCompleted(order_id="o-1", payment_id="p", amount=1),
            app_id="inventory",
            correlation_id="o-1",
        )
        with pytest.raises(PublishError, match="ACCESS_REFUSED"):
            await inventory.publish(stolen)
    finally:
        await inventory.close()
    saga = AmqpTransport(urls["saga"])
    await saga.connect()
    try:
        with pytest.raises(Exception, match="ACCESS_REFUSED"):
            await saga.consume("payments.commands", _ignore)  # a participant's queue
    finally:
        await saga.close()


async def _ignore(incoming: Incoming) -> None:
    """Takes nothing: a consumer that must never start."""
