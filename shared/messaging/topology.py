"""The broker topology, as data.

Declared idempotently at start-up by every transport and exported as a RabbitMQ
definitions file (``oms topology export``).  Every consumer queue is a quorum
queue dead-lettering to ``dlx`` under its own name as routing key, where a
``<queue>.dlq`` queue collects what it could not process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shared.messages import CATALOGUE, COMMANDS_EXCHANGE, DEAD_LETTER_EXCHANGE, EVENT_EXCHANGES


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class QueueSpec:
    name: str
    bindings: tuple[Binding, ...] = ()
    dead_letter: bool = True
    """Whether failures go to ``<name>.dlq``; a dead-letter queue itself has none."""
    max_length: int | None = None
    """With a limit, a full queue refuses publishes (the publisher sees a nack)."""

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"


@dataclass(frozen=True)
class Topology:
    exchanges: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    delivery_limit: int = 5
    dead_letter_exchange: str = DEAD_LETTER_EXCHANGE

    def all_queues(self) -> list[QueueSpec]:
        """Consumer queues followed by the dead-letter queue of each."""
        dlqs = [
            QueueSpec(
                q.dead_letter_queue,
                (Binding(self.dead_letter_exchange, q.name),),
                dead_letter=False,
            )
            for q in self.queues
            if q.dead_letter
        ]
        return [*self.queues, *dlqs]

    def all_exchanges(self) -> list[str]:
        return [*self.exchanges, self.dead_letter_exchange]

    def queue_arguments(self, queue: QueueSpec) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": "quorum"}
        if queue.dead_letter:
            args["x-dead-letter-exchange"] = self.dead_letter_exchange
            args["x-dead-letter-routing-key"] = queue.name
            # The consumer dead-letters with a reason one delivery earlier; the
            # broker's limit is the safety net for a handler that kills its process.
            args["x-delivery-limit"] = self.delivery_limit
        if queue.max_length is not None:
            args["x-max-length"] = queue.max_length
            args["x-overflow"] = "reject-publish"
        return args

    def with_queues(self, *queues: QueueSpec) -> Topology:
        return Topology(
            self.exchanges, (*self.queues, *queues), self.delivery_limit, self.dead_letter_exchange
        )


def _bindings(exchange: str, keys: Iterable[str]) -> tuple[Binding, ...]:
    return tuple(Binding(exchange, key) for key in keys)


SAGA_EVENTS = (
    "order.created",
    "order.cancel_requested",
    "order.confirmed",
    "order.cancelled",
    "inventory.reserved",
    "inventory.insufficient",
    "inventory.released",
    "payment.completed",
    "payment.failed",
    "payment.refunded",
    "payment.refund_failed",
)


def standard_topology(delivery_limit: int = 5) -> Topology:
    """Exchanges, queues and bindings of every component."""
    saga_bindings = tuple(Binding(CATALOGUE[t].exchange, t) for t in SAGA_EVENTS)
    return Topology(
        exchanges=(*EVENT_EXCHANGES, COMMANDS_EXCHANGE),
        queues=(
            QueueSpec("saga.events", saga_bindings),
            QueueSpec("inventory.commands", _bindings(COMMANDS_EXCHANGE, ["inventory.*"])),
            QueueSpec("payments.commands", _bindings(COMMANDS_EXCHANGE, ["payment.*"])),
            QueueSpec("orders.commands", _bindings(COMMANDS_EXCHANGE, ["order.*"])),
        ),
        delivery_limit=delivery_limit,
    )


def export_definitions(topology: Topology, *, vhost: str = "/") -> dict[str, Any]:
    """A RabbitMQ definitions document (``rabbitmqctl import_definitions``)."""
    return {
        "rabbit_version": "3.10.0",
        "vhosts": [{"name": vhost}],
        "exchanges": [
            {
                "name": name,
                "vhost": vhost,
                "type": "topic",
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": {},
            }
            for name in topology.all_exchanges()
        ],
        "queues": [
            {
                "name": q.name,
                "vhost": vhost,
                "durable": True,
                "auto_delete": False,
                "arguments": topology.queue_arguments(q),
            }
            for q in topology.all_queues()
        ],
        "bindings": [
            {
                "source": b.exchange,
                "vhost": vhost,
                "destination": q.name,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": {},
            }
            for q in topology.all_queues()
            for b in q.bindings
        ],
        "policies": [
            {
                "vhost": vhost,
                "name": "oms-dead-letter-queues",
                "pattern": r"\.dlq$",
                "apply-to": "queues",
                "priority": 0,
                "definition": {"max-length": 100_000, "overflow": "reject-publish"},
            }
        ],
    }
