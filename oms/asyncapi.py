"""The AsyncAPI 3.0 document of OMS's messaging, generated from the code.

Nothing here is written by hand twice: the message payloads are the JSON schemas
of the catalogue's pydantic models (camelCase, as on the wire), the channels are
the topology's exchanges, the senders follow from each message's kind (the saga
sends every command, a service publishes its events on its own exchange), and
the receivers are the consumers whose queues the topology binds to the message's
routing key.  ``oms topology export`` writes it to ``docs/asyncapi.yaml``.

Layout of the document:

* one **channel** per exchange (address = the exchange name, topic routing); its
  messages are those published on it, each under its routing key;
* one **operation** per sender and per receiver of each message
  (``inventory.receive.inventory.reserve``), with the routing key (AMQP ``cc``)
  or the consumer's queue;
* **components**: every message (payload, envelope headers, correlation id) and
  every payload schema, nested ones included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from shared.messages import CATALOGUE, COMMANDS_EXCHANGE, Event, Message
from shared.messaging.envelope import (
    HEADER_CAUSATION,
    HEADER_DEAD_LETTER_REASON,
    HEADER_ORIGINAL_EXCHANGE,
    HEADER_ORIGINAL_QUEUE,
    HEADER_ORIGINAL_ROUTING_KEY,
    HEADER_SCHEMA_VERSION,
    SCHEMA_VERSION,
)
from shared.messaging.inprocess import topic_matches
from shared.messaging.topology import Topology, standard_topology

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
SCHEMAS = "#/components/schemas/"
ENVELOPE_TRAIT = "envelope"
ORCHESTRATOR = "saga"
"""The sender of every command."""

Document = dict[str, Any]


def message_key(type_name: str) -> str:
    """The component name of a message: its routing key in camelCase
    (``order.cancel_requested`` → ``orderCancelRequested``)."""
    head, *rest = re.split(r"[._]", type_name)
    return head + "".join(word.capitalize() for word in rest)


def sender_of(model: type[Message]) -> str:
    """Who publishes ``model``: the saga for commands, the owning service for events."""
    if issubclass(model, Event):
        return model.publisher
    return ORCHESTRATOR


def consumer_of(queue: str) -> str:
    """The component consuming a queue (``saga.events`` → ``saga``)."""
    return queue.split(".", 1)[0]


def receivers_of(model: type[Message], topology: Topology) -> list[tuple[str, str]]:
    """``(component, queue)`` for every consumer queue bound to ``model``'s routing key."""
    return [
        (consumer_of(queue.name), queue.name)
        for queue in topology.queues
        if any(
            b.exchange == model.exchange and topic_matches(b.routing_key, model.type_name)
            for b in queue.bindings
        )
    ]


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's per-property ``title`` (derived from the alias: "Orderid"),
    which says nothing the property name does not; a model's own title stays."""
    if isinstance(schema, dict):
        cleaned = {k: _strip_titles(v) for k, v in schema.items()}
        if isinstance(cleaned.get("properties"), dict):
            cleaned["properties"] = {
                name: {k: v for k, v in prop.items() if k != "title"}
                for name, prop in cleaned["properties"].items()
            }
        return cleaned
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema


def payload_schemas(catalogue: Mapping[str, type[Message]]) -> dict[str, Any]:
    """The JSON schema of every message body (and of the objects nested in them),
    by model name, as consumers validate them: camelCase, unknown fields refused."""
    _, definitions = models_json_schema(
        [(model, "validation") for model in catalogue.values()],
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = _strip_titles(definitions.get("$defs", {}))
    return dict(sorted(schemas.items()))


def _envelope_trait() -> Document:
    return {
        "summary": "The envelope every OMS message travels in.",
        "description": (
            "The body is the camelCase JSON payload. Identity and causality travel as "
            "AMQP properties (`x-amqp-properties`), the schema version, the causing "
            "message and the W3C trace context as headers. Delivery is at least once: "
            "consumers drop a `message_id` they have processed before."
        ),
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                HEADER_SCHEMA_VERSION: {
                    "type": "integer",
                    "const": SCHEMA_VERSION,
                    "description": "version of the payload schemas in this document",
                },
                HEADER_CAUSATION: {
                    "type": "string",
                    "description": "message_id of the message that caused this one",
                },
                "traceparent": {"type": "string", "description": "W3C trace context"},
                "tracestate": {"type": "string", "description": "W3C trace context"},
            },
            "required": [HEADER_SCHEMA_VERSION],
        },
        "x-amqp-properties": {
            "type": "object",
            "properties": {
                "message_id": {"type": "string", "format": "uuid"},
                "correlation_id": {
                    "type": "string",
                    "description": "the order id (= the saga id) for every order's "
                    "message; the product id for product.created; the HTTP request's "
                    "X-Correlation-ID for user.created",
                },
                "type": {"type": "string", "description": "the message type = its routing key"},
                "timestamp": {"type": "string", "format": "date-time", "description": "UTC"},
                "app_id": {"type": "string", "description": "the sending component"},
                "content_type": {"const": "application/json"},
                "delivery_mode": {"const": 2, "description": "persistent"},
            },
            "required": ["message_id", "correlation_id", "type", "timestamp", "app_id"],
        },
        "bindings": {"amqp": {"contentEncoding": "utf-8", "bindingVersion": AMQP_BINDING_VERSION}},
    }


def _message(model: type[Message], topology: Topology) -> Document:
    receivers = sorted({component for component, _ in receivers_of(model, topology)})
    to = ", ".join(receivers) if receivers else "any subscriber"
    message: Document = {
        "name": model.type_name,
        "title": model.__name__,
        "summary": f"{model.kind.capitalize()} from {sender_of(model)} to {to}.",
        "payload": {"$ref": SCHEMAS + model.__name__},
        "traits": [{"$ref": f"#/components/messageTraits/{ENVELOPE_TRAIT}"}],
        "bindings": {
            "amqp": {"messageType": model.type_name, "bindingVersion": AMQP_BINDING_VERSION}
        },
    }
    if "order_id" in model.model_fields:
        message["correlationId"] = {
            "description": "the order id: the saga id, and the AMQP correlation_id",
            "location": "$message.payload#/orderId",
        }
    return message


def _exchange_binding(name: str) -> Document:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {
                "name": name,
                "type": "topic",
                "durable": True,
                "autoDelete": False,
                "vhost": "/",
            },
            "bindingVersion": AMQP_BINDING_VERSION,
        }
    }


def _channels(catalogue: Mapping[str, type[Message]], topology: Topology) -> Document:
    channels: Document = {}
    for exchange in topology.exchanges:
        models = [m for m in catalogue.values() if m.exchange == exchange]
        publishers = sorted({sender_of(m) for m in models})
        carries = (
            "commands, each with the command name as routing key"
            if exchange == COMMANDS_EXCHANGE
            else f"the {' and '.join(publishers)} service's events, "
            "each with its type as routing key"
        )
        channels[exchange] = {
            "address": exchange,
            "title": f"{exchange} exchange",
            "description": (
                f"Durable topic exchange carrying {carries}: "
                + ", ".join(f"`{m.type_name}`" for m in models)
                + "."
            ),
            "messages": {
                message_key(m.type_name): {
                    "$ref": f"#/components/messages/{message_key(m.type_name)}"
                }
                for m in models
            },
            "bindings": _exchange_binding(exchange),
        }
    dead_letter_keys = ", ".join(f"`{q.name}`" for q in topology.queues if q.dead_letter)
    channels[topology.dead_letter_exchange] = {
        "address": topology.dead_letter_exchange,
        "title": "dead-letter exchange",
        "description": (
            "Receives what a consumer can never process (malformed, unknown type, failed "
            "validation, or failing past the delivery limit), routed by the consumer's "
            f"queue name ({dead_letter_keys}) to `<queue>.dlq`. The message is kept as it "
            f"was, with `{HEADER_DEAD_LETTER_REASON}`, `{HEADER_ORIGINAL_QUEUE}`, "
            f"`{HEADER_ORIGINAL_EXCHANGE}` and `{HEADER_ORIGINAL_ROUTING_KEY}` added."
        ),
        "messages": {},
        "bindings": _exchange_binding(topology.dead_letter_exchange),
    }
    return channels


def _carrying(model: type[Message]) -> Document:
    """An operation's channel and message: ``model`` on its exchange."""
    key = message_key(model.type_name)
    return {
        "channel": {"$ref": f"#/channels/{model.exchange}"},
        "messages": [{"$ref": f"#/channels/{model.exchange}/messages/{key}"}],
    }


def _operations(catalogue: Mapping[str, type[Message]], topology: Topology) -> Document:
    operations: Document = {}
    for model in catalogue.values():
        sender = sender_of(model)
        operations[f"{sender}.send.{model.type_name}"] = {
            "action": "send",
            **_carrying(model),
            "summary": f"{sender} publishes {model.type_name} (through its outbox).",
            "tags": [{"name": sender}],
            "bindings": {
                "amqp": {
                    "cc": [model.type_name],
                    "deliveryMode": 2,
                    # A command nobody consumes is an error; an event may have no subscriber.
                    "mandatory": model.kind == "command",
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
        for component, queue in receivers_of(model, topology):
            operations[f"{component}.receive.{model.type_name}"] = {
                "action": "receive",
                **_carrying(model),
                "summary": f"{component} consumes {model.type_name} from queue `{queue}`.",
                "description": (
                    f"Quorum queue `{queue}`, acked after the handler's transaction commits; "
                    f"dead-lettered to `{queue}.dlq` when it can never be processed."
                ),
                "tags": [{"name": component}],
                "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
                "x-queue": queue,
            }
    return operations


def build_asyncapi(
    catalogue: Mapping[str, type[Message]] = CATALOGUE,
    topology: Topology | None = None,
) -> Document:
    """The AsyncAPI 3.0 document of ``catalogue`` on ``topology`` (the standard one)."""
    topology = topology or standard_topology()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "OMS messaging",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": (
                "Commands and events between the order saga and the orders, inventory, "
                "payments and users services. Generated from the message models by "
                "`oms topology export`; do not edit by hand. Amounts are integers in "
                "minor units (1999 = 19.99), never floats."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "rabbitmq": {
                "host": "localhost:5672",
                "protocol": "amqp",
                "protocolVersion": "0-9-1",
                "description": "RabbitMQ (the embedded mode runs the same topology in-process)",
            }
        },
        "channels": _channels(catalogue, topology),
        "operations": _operations(catalogue, topology),
        "components": {
            "messages": {
                message_key(m.type_name): _message(m, topology) for m in catalogue.values()
            },
            "messageTraits": {ENVELOPE_TRAIT: _envelope_trait()},
            "schemas": payload_schemas(catalogue),
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes every repeated object out in full: no YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_yaml(document: Document) -> str:
    """The document as YAML, keys in the order they were built."""
    return yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)
