"""The RabbitMQ transport, on aio-pika.

* one robust connection on the first broker node that answers (the URL may list
  a cluster's nodes, comma-separated: ``shared.messaging.nodes``); on a dropped
  connection aio-pika reconnects, to the next node, re-declares the topology and
  restarts the consumers by itself;
* a publishing channel with publisher confirms and ``mandatory``: a nack, a
  return (unroutable) or a lost channel is a :class:`PublishError`, never a
  silent loss;
* a channel per consumed queue with a bounded prefetch; every handler runs as
  its own task and settles its delivery itself (manual ack);
* consumers at a priority (``x-priority``): of a queue's consumers, the broker
  hands deliveries to the highest with room in its prefetch window, so where
  replicas differ in priority one takes the work until it is full and the next
  only the overflow: each keeps its batches as full as a lone consumer's;
* ``close()`` cancels the consumers first, waits for the handlers in flight to
  finish and settle, and only then closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from shared.logging import get_logger
from shared.messaging.envelope import Envelope, RawMessage, dead_letter_headers
from shared.messaging.nodes import connect_to_first_answering, first_url
from shared.messaging.topology import Topology
from shared.messaging.transport import (
    ConsumerProgress,
    Delivery,
    DeliveryProcessor,
    NotConnected,
    PublishError,
    Subscription,
    Transport,
)
from shared.telemetry import resumed

log = get_logger(__name__)

_PUBLISH_FAILURES = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    TimeoutError,
    RuntimeError,
)


def broker_user(url: str) -> str:
    """The user a broker URL connects as (the AMQP default, ``guest``, when it names none)."""
    user = urlsplit(first_url(url)).username
    return unquote(user) if user else "guest"


PROPERTIES = ("message_id", "correlation_id", "type", "timestamp", "app_id")
"""The AMQP properties a :class:`RawMessage` keeps under their own names."""


def to_amqp(envelope: Envelope, user: str) -> aio_pika.Message:
    """The envelope as an AMQP message published by ``user`` (the connection's user:
    RabbitMQ refuses any other ``user_id``)."""
    raw = replace(envelope.to_raw(), user_id=user)
    return raw_to_amqp(raw, content_type="application/json")


def raw_from_amqp(message: AbstractIncomingMessage) -> RawMessage:
    """A delivered message as it came: nothing in it trusted yet."""
    return RawMessage(
        body=message.body,
        headers=dict(message.headers or {}),
        exchange=message.exchange or "",
        routing_key=message.routing_key or "",
        user_id=message.user_id,
        **{name: getattr(message, name) for name in PROPERTIES},
    )


def _writable(value: Any) -> Any:
    """A header value as the client can write it back: a long string that was not
    UTF-8 is read as ``bytes``, which the client only writes as a byte array."""
    if isinstance(value, bytes):
        return bytearray(value)
    if isinstance(value, dict):
        return {k: _writable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_writable(v) for v in value]
    return value


def raw_to_amqp(raw: RawMessage, **extra: Any) -> aio_pika.Message:
    """A message as AMQP carries it (properties are strings on the wire), with
    ``extra`` properties (``content_type``, say)."""
    return aio_pika.Message(
        raw.body,
        user_id=raw.user_id,
        headers=_writable(raw.headers),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        **{name: getattr(raw, name) for name in PROPERTIES},
        **extra,
    )


HEADER_DELIVERY_COUNT = "x-delivery-count"
"""Set by a quorum queue on a redelivery: how often the message was delivered before."""


def delivery_attempt(message: AbstractIncomingMessage) -> int:
    """Which delivery of the message this is, as the broker counts: 1 on a first
    delivery (``redelivered`` false), whatever a publisher wrote in the header;
    on a redelivery the quorum queue's ``x-delivery-count`` plus one (at least 2)."""
    if not message.redelivered:
        return 1
    count = (message.headers or {}).get(HEADER_DELIVERY_COUNT)
    if isinstance(count, int) and not isinstance(count, bool) and count >= 1:
        return count + 1
    return 2


class _AmqpDelivery(Delivery):
    def __init__(
        self,
        transport: AmqpTransport,
        queue: str,
        message: AbstractIncomingMessage,
        progress: ConsumerProgress,
        unsettled: set[int],
    ):
        self._transport = transport
        self._message = message
        self._progress = progress
        self._unsettled = unsettled
        self.tag = message.delivery_tag or 0
        self.queue = queue
        self.settled = False
        self.attempt = delivery_attempt(message)
        unsettled.add(self.tag)
        progress.delivered()

    def raw(self) -> RawMessage:
        raw = raw_from_amqp(self._message)
        if not self._message.redelivered and isinstance(raw.headers, dict):
            raw.headers.pop(HEADER_DELIVERY_COUNT, None)  # the publisher's, not the broker's
        return raw

    def gone(self) -> None:
        """The delivery is settled, or back with the broker (its channel closed)."""
        if not self.settled:
            self.settled = True
            self._unsettled.discard(self.tag)
            self._progress.settled()

    async def ack(self) -> None:
        await self._message.ack()
        self.gone()

    async def ack_through(self, batch: Sequence[_AmqpDelivery]) -> None:
        """Ack ``batch``, of which this is the delivery with the highest tag: one
        ``ack`` with ``multiple`` when every unsettled delivery of the channel up to
        this one is in the batch (and all came on this channel), one each otherwise."""
        tags = {delivery.tag for delivery in batch}
        channel = self._message.channel
        if all(d._message.channel is channel for d in batch) and all(
            tag in tags for tag in self._unsettled if tag <= self.tag
        ):
            await self._message.ack(multiple=True)
            for delivery in batch:
                delivery.gone()
            return
        for delivery in batch:
            await delivery.ack()

    async def requeue(self) -> None:
        await self._message.nack(requeue=True)
        self.gone()

    async def dead_letter(self, reason: str, *, unusable_envelope: bool = False) -> None:
        """Republish to the dead-letter exchange with the reason, confirmed, then ack.

        A plain ``reject`` would dead-letter too, but could not say why: it is the
        fallback when the republish is refused (the broker dead-letters the message
        through the queue's own dead-letter exchange, with ``x-death`` saying so)."""
        raw = self._message
        # (Unusable: the client gives a message without an id one of its own, so the
        # header says it had none.)
        headers = {
            **_writable(raw.headers or {}),
            **dead_letter_headers(
                reason[:1000],
                queue=self.queue,
                exchange=raw.exchange or "",
                routing_key=raw.routing_key or "",
                unusable_envelope=unusable_envelope,
            ),
        }
        dead = aio_pika.Message(
            raw.body,
            headers=headers,
            content_type=raw.content_type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            **{name: getattr(raw, name) for name in PROPERTIES},
        )
        try:
            await self._transport._send(
                self._transport.dead_letter_exchange, self.queue, dead, mandatory=True
            )
        except Exception as exc:  # refused, or headers the client cannot write back
            log.error("message.dead_letter_refused", queue=self.queue, error=repr(exc))
            await raw.reject(requeue=False)
            self.gone()
            return
        await raw.ack()
        self.gone()


class AmqpTransport(Transport):
    def __init__(
        self,
        url: str,
        *,
        delivery_limit: int = 5,
        publish_timeout: float = 10.0,
        reconnect_interval: float = 1.0,
        consumer_priority: int | None = None,
    ):
        self._url = url
        self.consumer_priority = consumer_priority
        """The priority of this transport's consumers at the broker (``x-priority``;
        None: the broker's default, 0). A queue's deliveries go to its consumer of
        highest priority with room in its prefetch window, and only what overflows
        that window to the next."""
        self.user = broker_user(url)
        self._reconnect_interval = reconnect_interval
        self.delivery_limit = delivery_limit
        self.dead_letter_exchange = "dlx"
        self._publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._subscriptions: list[_AmqpSubscription] = []

    async def connect(self) -> None:
        self._connection = await connect_to_first_answering(
            self._url,
            client_properties={"connection_name": "oms"},
            reconnect_interval=self._reconnect_interval,
        )
        self._publish_channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise NotConnected("AMQP transport is not connected")
        return self._connection

    async def healthy(self) -> bool:
        """Connected right now: false from the moment the broker closes the connection
        (``is_closed`` of a robust connection stays false while it reconnects)."""
        connection = self._connection
        return connection is not None and not connection.is_closed and connection.connected.is_set()

    async def declare(self, topology: Topology) -> None:
        self.delivery_limit = topology.delivery_limit
        self.dead_letter_exchange = topology.dead_letter_exchange
        channel = await self.connection.channel()
        try:
            exchanges = {}
            for name in topology.all_exchanges():
                exchanges[name] = await channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True
                )
            for spec in topology.all_queues():
                queue = await channel.declare_queue(
                    spec.name, durable=True, arguments=topology.queue_arguments(spec)
                )
                for binding in spec.bindings:
                    await queue.bind(exchanges[binding.exchange], binding.routing_key)
        finally:
            await channel.close()

    async def _exchange(self, name: str) -> AbstractExchange:
        if self._publish_channel is None:
            raise NotConnected("AMQP transport is not connected")
        exchange = self._exchanges.get(name)
        if exchange is None:
            exchange = await self._publish_channel.declare_exchange(name, passive=True)
            self._exchanges[name] = exchange
        return exchange

    async def _send(
        self, exchange: str, routing_key: str, message: aio_pika.Message, *, mandatory: bool
    ) -> None:
        try:
            target = await self._exchange(exchange)
            await target.publish(
                message, routing_key, mandatory=mandatory, timeout=self._publish_timeout
            )
        except aio_pika.exceptions.PublishError as exc:
            raise PublishError(f"unroutable: {exchange!r} {routing_key!r}: {exc}") from exc
        except aio_pika.exceptions.DeliveryError as exc:
            raise PublishError(f"broker refused {exchange!r} {routing_key!r}: {exc}") from exc
        except _PUBLISH_FAILURES as exc:
            raise PublishError(f"publish to {exchange!r} not confirmed: {exc!r}") from exc

    async def publish(self, envelope: Envelope, *, mandatory: bool = True) -> None:
        # In the context the message was written in: aio-pika's instrumentation makes
        # the producer span its child and puts that span's context in the headers.
        with resumed(envelope.headers):
            await self._send(
                envelope.exchange,
                envelope.routing_key,
                to_amqp(envelope, self.user),
                mandatory=mandatory,
            )

    async def publish_raw(self, raw: RawMessage, *, mandatory: bool = True) -> None:
        await self._send(raw.exchange, raw.routing_key, raw_to_amqp(raw), mandatory=mandatory)

    async def _consume(self, queue: str, process: DeliveryProcessor, prefetch: int) -> Subscription:
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        # A passive declare (not get_queue) registers the queue with the robust
        # channel, so its consumer is restored after a reconnect.
        amqp_queue = await channel.declare_queue(queue, passive=True)
        in_flight: set[asyncio.Task[Any]] = set()
        progress = ConsumerProgress(queue)
        unsettled: set[int] = set()
        """Delivery tags of the channel handed out and not settled yet."""

        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                in_flight.add(task)
            delivery = _AmqpDelivery(self, queue, message, progress, unsettled)
            try:
                await process(delivery)
            except _PUBLISH_FAILURES as exc:
                # The channel went away while settling: the broker redelivers the
                # message and the handler's inbox makes the second run a no-op.
                log.warning("message.settle_failed", queue=queue, error=repr(exc))
                delivery.gone()
            except Exception as exc:
                # Left unsettled, it stays in flight: readiness reports the stall.
                log.error("message.unsettled", queue=queue, error=repr(exc))
            finally:
                if task is not None:
                    in_flight.discard(task)

        priority = self.consumer_priority
        tag = await amqp_queue.consume(
            on_message,
            no_ack=False,
            arguments=None if priority is None else {"x-priority": priority},
        )
        subscription = _AmqpSubscription(channel, amqp_queue, tag, in_flight, progress)
        self._subscriptions.append(subscription)
        return subscription

    async def _ack_all(self, deliveries: Sequence[Delivery]) -> None:
        batch = [d for d in deliveries if isinstance(d, _AmqpDelivery)]
        if len(batch) != len(deliveries) or not batch:
            await super()._ack_all(deliveries)
            return
        await max(batch, key=lambda d: d.tag).ack_through(batch)

    async def close(self, drain_timeout: float = 10.0) -> None:
        await asyncio.gather(*(s.cancel(drain_timeout) for s in self._subscriptions))
        self._subscriptions.clear()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
            self._publish_channel = None
            self._exchanges.clear()


class _AmqpSubscription(Subscription):
    def __init__(
        self,
        channel: AbstractChannel,
        queue: AbstractQueue,
        tag: str,
        in_flight: set[asyncio.Task[Any]],
        progress: ConsumerProgress,
    ) -> None:
        self.progress = progress
        self._channel = channel
        self._queue = queue
        self._tag = tag
        self._in_flight = in_flight
        self._cancelled = False

    async def cancel(self, drain_timeout: float = 10.0) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        with contextlib.suppress(*_PUBLISH_FAILURES):
            await self._queue.cancel(self._tag)
        if self._in_flight:
            # What does not finish in time is redelivered once the channel closes.
            await asyncio.wait(set(self._in_flight), timeout=drain_timeout)
        with contextlib.suppress(*_PUBLISH_FAILURES):
            await self._channel.close()


def create_transport(
    broker_url: str | None, *, delivery_limit: int = 5, consumer_priority: int | None = None
) -> Transport:
    """RabbitMQ when a URL is given (its consumers at ``consumer_priority``), the
    in-process transport otherwise."""
    if broker_url:
        return AmqpTransport(
            broker_url, delivery_limit=delivery_limit, consumer_priority=consumer_priority
        )
    from shared.messaging.inprocess import InProcessTransport

    return InProcessTransport(delivery_limit=delivery_limit)
