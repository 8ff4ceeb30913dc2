"""The AsyncAPI document: generated from the message models, committed up to date,
and a coherent AsyncAPI 3 description of every message on the wire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from oms.asyncapi import build_asyncapi, message_key, render_yaml
from oms.cli import app
from shared.messages import (
    CATALOGUE,
    InventoryInsufficient,
    Message,
    OrderCreated,
    OrderItem,
    PaymentFailed,
    ProductUpdated,
    Shortage,
    UserCreated,
)
from shared.messaging.topology import RETURN_EVENTS, SAGA_EVENTS

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMMITTED.read_text())
    return loaded


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        assert part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def payload_validator(document: dict[str, Any], type_name: str) -> jsonschema.Validator:
    message = document["components"]["messages"][message_key(type_name)]
    schema = {**message["payload"], "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render_yaml(build_asyncapi()), (
        "docs/asyncapi.yaml is stale: run `oms topology export`"
    )


def test_topology_export_writes_the_definitions_and_the_asyncapi_document(tmp_path: Path) -> None:
    definitions, asyncapi = tmp_path / "definitions.json", tmp_path / "docs" / "asyncapi.yaml"
    result = CliRunner().invoke(
        app, ["topology", "export", "--output", str(definitions), "--asyncapi", str(asyncapi)]
    )
    assert result.exit_code == 0, result.output
    assert definitions.exists()
    assert asyncapi.read_text() == COMMITTED.read_text()


def test_it_is_an_asyncapi_3_document_whose_references_all_resolve(
    document: dict[str, Any],
) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "OMS messaging"
    assert document["info"]["version"] == "1.0.0"
    assert document["defaultContentType"] == "application/json"
    assert document["servers"]["rabbitmq"]["protocol"] == "amqp"
    for ref in refs(document):
        resolve(document, ref)


def test_every_catalogue_message_is_described_on_its_exchange(document: dict[str, Any]) -> None:
    messages = document["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(CATALOGUE)
    for type_name, model in CATALOGUE.items():
        channel = document["channels"][model.exchange]
        assert channel["address"] == model.exchange
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        ref = channel["messages"][message_key(type_name)]["$ref"]
        assert resolve(document, ref)["name"] == type_name
    on_channels = sum(len(c["messages"]) for c in document["channels"].values())
    assert on_channels == len(CATALOGUE)


def test_payload_schemas_name_exactly_the_models_camel_case_fields(
    document: dict[str, Any],
) -> None:
    for type_name, model in CATALOGUE.items():
        message = document["components"]["messages"][message_key(type_name)]
        schema = resolve(document, message["payload"]["$ref"])
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        assert set(schema["properties"]) == set(fields), type_name
        required = {alias for alias, f in fields.items() if f.is_required()}
        assert set(schema.get("required", [])) == required, type_name
        assert schema["additionalProperties"] is False
        if "order_id" in model.model_fields:
            assert "orderId" in schema["required"], type_name
            assert message["correlationId"]["location"] == "$message.payload#/orderId"


EXAMPLES: list[Message] = [
    OrderCreated(
        order_id="o-1",
        user_id="u-1",
        items=[OrderItem(product_id="p-1", quantity=2, unit_price=1999)],
        total_amount=3998,
        currency="EUR",
        payment_method_id="pm_card_ok",
    ),
    InventoryInsufficient(
        order_id="o-1", shortages=[Shortage(product_id="p-1", requested=2, available=1)]
    ),
    PaymentFailed(order_id="o-1", amount=3998, reason="declined", code="card_declined"),
    UserCreated(user_id="u-1", email="ada@example.com", first_name="Ada", last_name="Lovelace"),
    ProductUpdated(
        product_id="p-1",
        sku="TEA-1",
        name="Tea pot",
        description="Cast iron",
        price=1999,
        currency="EUR",
        available=3,
    ),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type_name)
def test_real_message_bodies_validate_against_their_payload_schema(
    document: dict[str, Any], message: Message
) -> None:
    validator = payload_validator(document, message.type_name)
    body = message.dump()

    validator.validate(body)
    snake_case = message.model_dump(mode="json")
    assert not validator.is_valid(snake_case)
    assert not validator.is_valid({k: v for k, v in body.items() if k != next(iter(body))})


def test_float_amounts_and_lowercase_currencies_are_outside_the_schema(
    document: dict[str, Any],
) -> None:
    validator = payload_validator(document, "payment.charge")
    body = {
        "orderId": "o-1",
        "userId": "u-1",
        "amount": 1999,
        "currency": "EUR",
        "paymentMethodId": "pm_card_ok",
    }
    assert validator.is_valid(body)
    assert not validator.is_valid({**body, "amount": 19.99})
    assert not validator.is_valid({**body, "currency": "eur"})


def operations_of(document: dict[str, Any], type_name: str, action: str) -> list[str]:
    """The components doing ``action`` (send/receive) with the message ``type_name``."""
    key = message_key(type_name)
    return sorted(
        op["tags"][0]["name"]
        for op in document["operations"].values()
        if op["action"] == action and op["messages"][0]["$ref"].endswith(f"/messages/{key}")
    )


def test_the_inventory_publishes_its_product_and_inventory_events_on_products(
    document: dict[str, Any],
) -> None:
    products = document["channels"]["products"]
    assert {m["$ref"].rsplit("/", 1)[1] for m in products["messages"].values()} == {
        "productCreated",
        "productUpdated",
        "inventoryReserved",
        "inventoryInsufficient",
        "inventoryReleased",
        "inventoryRestocked",
    }
    assert "inventory" not in document["channels"]
    for type_name in ("product.created", "product.updated", "inventory.reserved"):
        assert operations_of(document, type_name, "send") == ["inventory"]


def test_operations_say_who_sends_and_who_receives_each_message(
    document: dict[str, Any],
) -> None:
    commands = {
        "inventory": ("inventory.",),
        "payments": ("payment.",),
        "orders": ("order.", "return."),
    }
    for type_name, model in CATALOGUE.items():
        senders = operations_of(document, type_name, "send")
        receivers = operations_of(document, type_name, "receive")
        if model.kind == "command":
            [owner] = [o for o, prefixes in commands.items() if type_name.startswith(prefixes)]
            assert (senders, receivers) == (["saga"], [owner]), type_name
        else:
            assert senders == [model.publisher], type_name
            saga_takes = type_name in (*SAGA_EVENTS, *RETURN_EVENTS)
            assert receivers == (["saga"] if saga_takes else []), type_name
    for operation in document["operations"].values():
        channel = resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            # An operation's messages belong to its channel (AsyncAPI 3).
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
            assert resolve(document, message["$ref"]) in channel["messages"].values()


def test_the_envelope_headers_and_properties_are_documented(document: dict[str, Any]) -> None:
    trait = document["components"]["messageTraits"]["envelope"]
    assert set(trait["headers"]["properties"]) >= {
        "x-causation-id",
        "x-schema-version",
        "traceparent",
    }
    assert set(trait["x-amqp-properties"]["required"]) == {
        "message_id",
        "correlation_id",
        "type",
        "timestamp",
        "app_id",
    }
    for message in document["components"]["messages"].values():
        assert message["traits"] == [{"$ref": "#/components/messageTraits/envelope"}]
        assert message["bindings"]["amqp"]["messageType"] == message["name"]
