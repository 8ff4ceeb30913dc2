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
    quorum_replicas: int | None = None
    """Nodes each quorum queue is replicated on (``x-quorum-initial-group-size``);
    ``None`` leaves it to the broker (every node of a small cluster)."""

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
        if self.quorum_replicas is not None:
            args["x-quorum-initial-group-size"] = self.quorum_replicas
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
            self.exchanges,
            (*self.queues, *queues),
            self.delivery_limit,
            self.dead_letter_exchange,
            self.quorum_replicas,
        )


def _bindings(exchange: str, keys: Iterable[str]) -> tuple[Binding, ...]:
    return tuple(Binding(exchange, key) for key in keys)


SAGA_EVENTS = (
    "order.created",
    "order.cancel_requested",
    "order.confirmed",
    "order.cancelled",
    "order.shipped",
    "inventory.reserved",
    "inventory.insufficient",
    "inventory.released",
    "payment.completed",
    "payment.failed",
    "payment.refunded",
    "payment.refund_failed",
)
RETURN_EVENTS = (
    "return.requested",
    "return.received",
    "return.expired",
    "return.closed",
    "inventory.restocked",
    "payment.return_refunded",
    "payment.return_refund_failed",
)
"""What the return saga consumes, on the same queue as the order saga's events."""


def standard_topology(delivery_limit: int = 5, *, quorum_replicas: int | None = None) -> Topology:
    """Exchanges, queues and bindings of every component; on a cluster, each quorum
    queue replicated on ``quorum_replicas`` nodes."""
    saga_bindings = tuple(Binding(CATALOGUE[t].exchange, t) for t in (*SAGA_EVENTS, *RETURN_EVENTS))
    return Topology(
        exchanges=(*EVENT_EXCHANGES, COMMANDS_EXCHANGE),
        queues=(
            QueueSpec("saga.events", saga_bindings),
            QueueSpec("inventory.commands", _bindings(COMMANDS_EXCHANGE, ["inventory.*"])),
            QueueSpec("payments.commands", _bindings(COMMANDS_EXCHANGE, ["payment.*"])),
            QueueSpec("orders.commands", _bindings(COMMANDS_EXCHANGE, ["order.*", "return.*"])),
        ),
        delivery_limit=delivery_limit,
        quorum_replicas=quorum_replicas,
    )


@dataclass(frozen=True)
class Permissions:
    """A broker user's rights in the vhost: regular expressions over the names of
    the exchanges and queues it may configure (declare, delete), write to
    (publish) and read from (consume).  Passive declares need none."""

    configure: str
    write: str
    read: str


NOTHING = "^$"
BROKER_USERS: dict[str, Permissions] = {
    "orders": Permissions(NOTHING, write=r"^(orders|dlx)$", read=r"^orders\.commands$"),
    "inventory": Permissions(NOTHING, write=r"^(products|dlx)$", read=r"^inventory\.commands$"),
    "users": Permissions(NOTHING, write=r"^users$", read=NOTHING),
    "payments": Permissions(NOTHING, write=r"^(payments|dlx)$", read=r"^payments\.commands$"),
    "saga": Permissions(
        NOTHING,
        write=r"^(commands|dlx|orders|products|payments|users)$",
        read=r"^saga\.events$|\.dlq$",
    ),
}
"""One broker user per component that sends or receives messages (the BFFs do
neither), least privilege: a participant reads its command queue and writes its
own events (and ``dlx``, where its consumer dead-letters); the saga alone writes
commands and reads the replies, and the dead-letter queues it collects (it writes
the event exchanges only to put a dead letter back where it was first sent).  No
component configures anything: ``oms topology apply`` declares the topology.

A user is named after its component, optionally followed by ``.`` and a suffix
(``orders.staging``): consumers check the part before the dot against
``shared.messages.PUBLISHERS``, and its permissions hold in one vhost only."""


def component_of(user: str) -> str:
    """The component a broker user stands for: its name up to the first dot."""
    return user.split(".", 1)[0]


def export_definitions(topology: Topology, *, vhost: str = "/") -> dict[str, Any]:
    """A RabbitMQ definitions document (``rabbitmqctl import_definitions``): the
    topology, and the components' users with their permissions.  The users have no
    password (none can sign in) until ``oms topology apply`` gives each the one of
    its ``OMS_<COMPONENT>_BROKER_URL``: passwords never live in this file."""
    return {
        "rabbit_version": "3.10.0",
        "users": [
            {
                "name": name,
                "password_hash": "",
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
            for name in BROKER_USERS
        ],
        "permissions": [
            {
                "user": name,
                "vhost": vhost,
                "configure": rights.configure,
                "write": rights.write,
                "read": rights.read,
            }
            for name, rights in BROKER_USERS.items()
        ],
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
