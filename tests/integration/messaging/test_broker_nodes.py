"""A broker URL listing several nodes: the transport connects to the first that
answers and, when its node goes away, carries on on another without a restart
and without losing a message.

The "nodes" are two doors to the same RabbitMQ: a TCP relay that is torn down
mid-stream, and the broker itself.  (The three-node cluster's own faults are in
``tests/integration/cluster``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.messaging.amqp import AmqpTransport
from shared.messaging.envelope import RawMessage
from shared.messaging.nodes import NodeChoosingConnection
from shared.messaging.topology import Binding, QueueSpec, standard_topology
from shared.messaging.transport import PublishError
from tests.support.infra import RabbitVhost, eventually

pytestmark = pytest.mark.rabbitmq
QUEUE = QueueSpec("test.nodes", (Binding("orders", "test.nodes"),), dead_letter=False)


class Relay:
    """A TCP relay to ``target`` that can be torn down, taking its connections with it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()


def with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{auth}@{host.rsplit(':', 1)[0]}:{port}"))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_connects_to_the_first_node_that_answers(rabbit_vhost: RabbitVhost) -> None:
    down = with_port(rabbit_vhost.url, closed_port())
    transport = AmqpTransport(f"{down},{rabbit_vhost.url}")
    await transport.connect()
    try:
        connection = transport.connection
        assert isinstance(connection, NodeChoosingConnection)
        assert connection.node == rabbit_vhost.url.replace(":guest@", ":***@")
        assert await transport.healthy()
    finally:
        await transport.close()


async def test_a_lost_node_is_left_for_the_next_with_no_message_lost(
    rabbit_vhost: RabbitVhost,
) -> None:
    parts = urlsplit(rabbit_vhost.url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5672))
    near = with_port(rabbit_vhost.url, await relay.start())
    transport = AmqpTransport(f"{near},{rabbit_vhost.url}", reconnect_interval=0.2)
    await transport.connect()
    received: list[bytes] = []

    async def keep(raw: RawMessage) -> None:
        received.append(bytes(raw.body))

    try:
        await transport.declare(standard_topology().with_queues(QUEUE))
        await transport.consume_raw(QUEUE.name, keep, prefetch=10)
        assert relay.accepted == 1, "the first node was not the one connected to"

        async def send(n: int) -> None:
            raw = RawMessage(
                body=str(n).encode(), message_id=str(n), exchange="orders", routing_key=QUEUE.name
            )
            # A publish the lost node never confirmed is refused: the caller sends it again.
            for _ in range(200):
                try:
                    await transport.publish_raw(raw)
                    return
                except PublishError:
                    await asyncio.sleep(0.1)
            raise AssertionError(f"message {n} never confirmed")

        for n in range(50):
            await send(n)
        await eventually(lambda: _count(received), until=lambda c: c >= 50, what="first half")
        await relay.stop()
        second = rabbit_vhost.url.replace(":guest@", ":***@")

        async def node() -> str | None:
            connection = transport.connection
            return connection.node if isinstance(connection, NodeChoosingConnection) else None

        # The loss is seen by the move: the connection is then on the next node.
        await eventually(node, until=lambda at: at == second, timeout=60, what="the move")
        for n in range(50, 100):
            await send(n)
        await eventually(
            lambda: _count(received), until=lambda c: c >= 100, timeout=60, what="second half"
        )
        assert {int(body) for body in received} == set(range(100)), "a message was lost"
        assert isinstance(transport.connection, NodeChoosingConnection)
        assert transport.connection.node == rabbit_vhost.url.replace(":guest@", ":***@")
        assert await transport.healthy()
    finally:
        await transport.close()


async def _count(received: list[bytes]) -> int:
    return len({bytes(b) for b in received})
