"""An in-process transport with RabbitMQ's semantics where OMS relies on them.

Topic exchanges with ``*``/``#`` routing, one copy per bound queue, per-queue
consumers with a prefetch window, manual ack / requeue, redelivery counting,
dead-lettering (explicit with a reason, and by the queue's delivery limit), and
publish refusal by full or unroutable destinations.  It is what ``oms up`` runs
on by default and what the fast tests run on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

from shared.logging import get_logger
from shared.messaging.envelope import Envelope, RawMessage, dead_letter_headers
from shared.messaging.topology import QueueSpec, Topology
from shared.messaging.transport import (
    ConsumerProgress,
    Delivery,
    DeliveryProcessor,
    NotConnected,
    PublishError,
    Subscription,
    Transport,
)
from shared.telemetry import consumed, produced

log = get_logger(__name__)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


@dataclass
class _Stored:
    message: Envelope | RawMessage
    """An envelope as services publish it, or a hand-made message (:meth:`publish_raw`)."""
    attempt: int = 1

    def raw(self) -> RawMessage:
        if isinstance(self.message, Envelope):
            return self.message.to_raw()
        return self.message


@dataclass
class _Queue:
    spec: QueueSpec
    messages: deque[_Stored] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, item: _Stored, *, front: bool = False) -> None:
        if front:
            self.messages.appendleft(item)
        else:
            self.messages.append(item)
        self.ready.set()


class _InProcessDelivery(Delivery):
    def __init__(
        self,
        transport: InProcessTransport,
        queue: _Queue,
        stored: _Stored,
        progress: ConsumerProgress,
    ) -> None:
        self._transport = transport
        self._queue = queue
        self._stored = stored
        self._progress = progress
        self.queue = queue.spec.name
        self.attempt = stored.attempt
        self.settled = False
        progress.delivered()

    def _settle(self) -> None:
        self.settled = True
        self._progress.settled()

    def raw(self) -> RawMessage:
        return self._stored.raw()

    def envelope(self) -> Envelope:
        message = self._stored.message
        return message if isinstance(message, Envelope) else Envelope.from_raw(message)

    async def ack(self) -> None:
        self._settle()

    async def requeue(self) -> None:
        self._settle()
        self._transport._return(self._queue, self._stored)

    async def dead_letter(self, reason: str, *, unusable_envelope: bool = False) -> None:
        self._settle()
        self._transport._dead_letter(
            self._queue, self._stored.message, reason, unusable_envelope=unusable_envelope
        )


class InProcessTransport(Transport):
    """All queues live in this process's memory; nothing survives a restart.

    It publishes as ``user`` (the envelope's ``user_id``, as RabbitMQ validates it
    against the connection's user); :meth:`as_user` gives each component a view
    publishing and consuming as its own user on the same queues."""

    def __init__(self, *, delivery_limit: int = 5, user: str = "guest") -> None:
        self.delivery_limit = delivery_limit
        self.user = user
        self._bindings: dict[str, list[tuple[str, str]]] = {}
        self._queues: dict[str, _Queue] = {}
        self._dead_letter_exchange = "dlx"
        self._subscriptions: list[_InProcessSubscription] = []
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def healthy(self) -> bool:
        return self._connected

    async def declare(self, topology: Topology) -> None:
        self._dead_letter_exchange = topology.dead_letter_exchange
        self.delivery_limit = topology.delivery_limit
        for name in topology.all_exchanges():
            self._bindings.setdefault(name, [])
        for spec in topology.all_queues():
            self._queues.setdefault(spec.name, _Queue(spec))
            for binding in spec.bindings:
                entry = (binding.routing_key, spec.name)
                if entry not in self._bindings.setdefault(binding.exchange, []):
                    self._bindings[binding.exchange].append(entry)

    def _route(self, exchange: str, routing_key: str) -> list[_Queue]:
        if exchange not in self._bindings:
            raise PublishError(f"no exchange {exchange!r}")
        names = {
            q for pattern, q in self._bindings[exchange] if topic_matches(pattern, routing_key)
        }
        return [self._queues[n] for n in sorted(names)]

    def as_user(self, user: str) -> Transport:
        """This transport as broker user ``user`` sees it: the same queues, what it
        publishes stamped with ``user``; connecting and closing stay with this one."""
        return _AsUser(self, user)

    async def publish(self, envelope: Envelope, *, mandatory: bool = True) -> None:
        await self._publish_as(self.user, envelope, mandatory=mandatory)

    async def publish_raw(self, raw: RawMessage, *, mandatory: bool = True) -> None:
        await self._publish_raw_as(self.user, raw, mandatory=mandatory)

    async def _publish_as(self, user: str, envelope: Envelope, *, mandatory: bool) -> None:
        self._put(produced(envelope.model_copy(update={"user_id": user})), mandatory=mandatory)

    async def _publish_raw_as(self, user: str, raw: RawMessage, *, mandatory: bool) -> None:
        if raw.user_id is not None and raw.user_id != user:
            # As RabbitMQ answers a user_id that is not the connection's user.
            raise PublishError(
                f"user_id property set to {raw.user_id!r} but authenticated user was {user!r}"
            )
        self._put(raw, mandatory=mandatory)

    def _put(self, message: Envelope | RawMessage, *, mandatory: bool) -> None:
        if not self._connected:
            raise NotConnected("in-process transport is closed")
        targets = self._route(message.exchange, message.routing_key)
        if mandatory and not targets:
            raise PublishError(
                f"unroutable: no queue bound to {message.exchange!r} for {message.routing_key!r}"
            )
        full = [
            q.spec.name
            for q in targets
            if q.spec.max_length is not None and len(q.messages) >= q.spec.max_length
        ]
        if full:
            # As RabbitMQ's reject-publish overflow: the publisher is nacked.
            raise PublishError(f"publish refused: queue {full[0]!r} is full")
        for queue in targets:
            queue.put(_Stored(message))

    def _return(self, queue: _Queue, stored: _Stored) -> None:
        stored.attempt += 1
        if queue.spec.dead_letter and stored.attempt > self.delivery_limit + 1:
            self._dead_letter(queue, stored.message, "delivery_limit")
        else:
            queue.put(stored, front=True)

    def _dead_letter(
        self,
        queue: _Queue,
        message: Envelope | RawMessage,
        reason: str,
        *,
        unusable_envelope: bool = False,
    ) -> None:
        if not queue.spec.dead_letter:
            return
        extra = dead_letter_headers(
            reason,
            queue=queue.spec.name,
            exchange=message.exchange,
            routing_key=message.routing_key,
            unusable_envelope=unusable_envelope,
        )
        dead: Envelope | RawMessage
        if isinstance(message, Envelope):
            dead = message.model_copy(
                update={
                    "headers": {**message.headers, **extra},
                    "exchange": self._dead_letter_exchange,
                    "routing_key": queue.spec.name,
                }
            )
        else:
            dead = message.with_headers(
                extra, exchange=self._dead_letter_exchange, routing_key=queue.spec.name
            )
        for target in self._route(self._dead_letter_exchange, queue.spec.name):
            target.put(_Stored(dead))

    async def _consume(self, queue: str, process: DeliveryProcessor, prefetch: int) -> Subscription:
        if queue not in self._queues:
            raise NotConnected(f"no queue {queue!r}")
        in_flight: set[asyncio.Task[None]] = set()
        progress = ConsumerProgress(queue)
        task = asyncio.create_task(
            self._serve(self._queues[queue], process, prefetch, in_flight, progress)
        )
        subscription = _InProcessSubscription(task, in_flight, progress)
        self._subscriptions.append(subscription)
        return subscription

    async def _serve(
        self,
        queue: _Queue,
        process: DeliveryProcessor,
        prefetch: int,
        in_flight: set[asyncio.Task[None]],
        progress: ConsumerProgress,
    ) -> None:
        window = asyncio.Semaphore(prefetch)
        while True:
            await window.acquire()
            while not queue.messages:
                queue.ready.clear()
                await queue.ready.wait()
            stored = queue.messages.popleft()
            delivery = _InProcessDelivery(self, queue, stored, progress)
            task = asyncio.create_task(self._deliver(queue, delivery, process, window))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def _deliver(
        self,
        queue: _Queue,
        delivery: _InProcessDelivery,
        process: DeliveryProcessor,
        window: asyncio.Semaphore,
    ) -> None:
        message = delivery._stored.message
        try:
            with consumed(message.headers, message.exchange, message.message_id):
                await process(delivery)
        finally:
            if not delivery.settled:
                # Cancelled mid-handler (shutdown): as a broker would on a closed channel.
                await delivery.requeue()
            window.release()

    async def close(self, drain_timeout: float = 10.0) -> None:
        await asyncio.gather(*(s.cancel(drain_timeout) for s in self._subscriptions))
        self._subscriptions.clear()
        self._connected = False


class _InProcessSubscription(Subscription):
    def __init__(
        self,
        serving: asyncio.Task[None],
        in_flight: set[asyncio.Task[None]],
        progress: ConsumerProgress,
    ) -> None:
        self.progress = progress
        self._serving = serving
        self._in_flight = in_flight

    async def cancel(self, drain_timeout: float = 10.0) -> None:
        self._serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._serving
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=drain_timeout)
            for task in pending:  # back to the queue, as a broker would on a closed channel
                task.cancel()
            if pending:
                await asyncio.wait(pending)


class _AsUser(Transport):
    """An :class:`InProcessTransport` as one broker user: publishes carry ``user``,
    its consumers accept their own user's messages (see ``refuse_unless_allowed``)."""

    def __init__(self, shared: InProcessTransport, user: str) -> None:
        self._shared = shared
        self.user = user
        self.delivery_limit = shared.delivery_limit

    async def connect(self) -> None:
        """The shared transport connects."""

    async def close(self) -> None:
        """The shared transport closes."""

    async def healthy(self) -> bool:
        return await self._shared.healthy()

    async def declare(self, topology: Topology) -> None:
        await self._shared.declare(topology)

    async def publish(self, envelope: Envelope, *, mandatory: bool = True) -> None:
        await self._shared._publish_as(self.user, envelope, mandatory=mandatory)

    async def publish_raw(self, raw: RawMessage, *, mandatory: bool = True) -> None:
        await self._shared._publish_raw_as(self.user, raw, mandatory=mandatory)

    async def _consume(self, queue: str, process: DeliveryProcessor, prefetch: int) -> Subscription:
        return await self._shared._consume(queue, process, prefetch)
