"""The transport interface and the consume policy both transports share.

Errors::

    TransportError
    ├── PublishError        the broker did not confirm a publish (nack, unroutable, closed)
    └── NotConnected        used before ``connect()`` or after ``close()``

A transport moves :class:`~shared.messaging.envelope.Envelope` objects (and, for
tools and tests, hand-made :class:`~shared.messaging.envelope.RawMessage` ones).
What to do with a delivery (decode, call the handler, ack, requeue, dead-letter
with a reason) is decided once, in :func:`handle_delivery`, so RabbitMQ and the
in-process transport cannot drift apart.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.context import bind_context
from shared.logging import get_logger
from shared.messages import PUBLISHERS, Message, UnknownMessageType
from shared.messaging.envelope import Envelope, MalformedMessage, RawMessage
from shared.messaging.topology import Topology, component_of
from shared.telemetry import current_trace

if TYPE_CHECKING:
    from shared.messaging.batching import BatchHandler, Batching, BatchSizes

log = get_logger(__name__)


class TransportError(Exception):
    """Base of transport errors."""


class PublishError(TransportError):
    """A publish the broker refused or could not confirm: the message is not sent."""


class NotConnected(TransportError):
    """The transport is not connected."""


class PoisonMessage(Exception):
    """Raised by a handler for a message no retry can help (no handler for its type,
    a reference to something that can never exist): dead-lettered at once with the
    exception's text as its reason.  Not the HTTP 422 of
    :class:`shared.web.problems.Unprocessable`: this one never reaches a caller."""


COMPONENTS = frozenset().union(*PUBLISHERS.values())
"""The components with a broker user: a consumer connected as one checks every
publisher strictly."""


REQUEUED_BY = "saga"
"""The component that puts dead letters back where they were first sent (ops'
requeue): any type may come from it a second time."""


def refuse_unless_allowed(envelope: Envelope, consumer: str) -> None:
    """Raise :class:`PoisonMessage` unless the envelope's publisher (its ``user_id``)
    may publish its type (:data:`~shared.messages.PUBLISHERS`), or is the saga
    putting a dead letter back (:data:`REQUEUED_BY`).

    ``consumer`` is the consuming component's broker user.  When the components
    share one broker user (``consumer`` stands for no component: ``OMS_BROKER_URL``
    alone), nothing tells them apart: only a message another user signed is
    refused.  A type outside the catalogue is left to the decoding that follows,
    which names it."""
    allowed = PUBLISHERS.get(envelope.type)
    user = envelope.user_id
    if allowed is None:
        return
    if user is not None and component_of(user) in (*allowed, REQUEUED_BY):
        return
    if component_of(consumer) not in COMPONENTS and user in (None, consumer):
        return
    publisher = repr(user) if user else "no user_id"
    raise PoisonMessage(
        f"{envelope.type} published by {publisher}: only {', '.join(sorted(allowed))} "
        "may publish it"
    )


@contextlib.contextmanager
def dead_letter_on(*errors: type[Exception]) -> Iterator[None]:
    """Turn ``errors`` raised inside the block (domain errors a retry cannot help: an
    order that does not exist) into :class:`PoisonMessage` with the error's text as
    the reason: the message edge of a use case, as a problem answer is the HTTP one."""
    try:
        yield
    except errors as error:
        raise PoisonMessage(str(error)) from error


@dataclass(frozen=True)
class Incoming:
    """A decoded message handed to a handler."""

    envelope: Envelope
    message: Message
    queue: str
    attempt: int
    """1 on first delivery, then counts redeliveries."""
    trace: Any = field(default=None, compare=False)
    """The trace context it was received in (its consumer span), to handle it in when
    it is handled apart from its delivery, in a batch."""


Handler = Callable[[Incoming], Awaitable[None]]
EnvelopeHandler = Callable[[Envelope], Awaitable[None]]
"""Sees envelopes with their bodies undecoded."""
RawHandler = Callable[[RawMessage], Awaitable[None]]
"""Sees messages as they came, trusted in nothing: for dead-letter queues."""
DeliveryProcessor = Callable[["Delivery"], Awaitable[None]]


class ConsumerProgress:
    """Whether a consumer is getting through its work: deliveries in flight (handed to
    it, not yet acked, requeued or dead-lettered) and when one was last settled.

    A consumer is stalled when deliveries have been in flight for a while and none
    was settled meanwhile; an idle consumer, or a busy one settling, is not."""

    def __init__(self, queue: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.queue = queue
        self.in_flight = 0
        self.last_settled_at: float | None = None
        self._clock = clock
        self._progress_at = clock()

    def delivered(self) -> None:
        if self.in_flight == 0:
            self._progress_at = self._clock()  # a busy spell starts: measure from here
        self.in_flight += 1

    def settled(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.last_settled_at = self._progress_at = self._clock()

    def stalled_for(self) -> float:
        """Seconds with deliveries in flight and none settled; 0 when there is no work."""
        return self._clock() - self._progress_at if self.in_flight else 0.0


class Delivery(abc.ABC):
    """One delivery of a message to a consumer, settled exactly once."""

    queue: str
    attempt: int

    @abc.abstractmethod
    def raw(self) -> RawMessage:
        """The message as it came, whatever it holds."""

    def envelope(self) -> Envelope:
        """The envelope, or :class:`MalformedMessage` when its properties are unusable."""
        return Envelope.from_raw(self.raw())

    @abc.abstractmethod
    async def ack(self) -> None: ...

    @abc.abstractmethod
    async def requeue(self) -> None: ...

    @abc.abstractmethod
    async def dead_letter(self, reason: str, *, unusable_envelope: bool = False) -> None:
        """Move to the queue's dead-letter queue with ``reason``, then settle;
        ``unusable_envelope`` marks a message whose envelope could not be read."""


class Subscription(abc.ABC):
    """One consumer of one queue, as :meth:`Transport.consume` started it."""

    progress: ConsumerProgress
    """Deliveries in flight and the last one settled (readiness reads it)."""
    batch_sizes: BatchSizes | None = None
    """The sizes of the batches it handled, when it forms batches."""

    @property
    def queue(self) -> str:
        return self.progress.queue

    @abc.abstractmethod
    async def cancel(self, drain_timeout: float = 10.0) -> None:
        """Stop taking deliveries and let the ones in flight finish and settle
        (at most ``drain_timeout`` seconds; the rest go back to the queue)."""


class Transport(abc.ABC):
    """A message transport: RabbitMQ or in-process."""

    delivery_limit: int = 5
    user: str = "guest"
    """The broker user it connects as: the ``user_id`` of what it publishes."""

    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def declare(self, topology: Topology) -> None:
        """Declare exchanges, queues and bindings; safe to repeat."""

    @abc.abstractmethod
    async def publish(self, envelope: Envelope, *, mandatory: bool = True) -> None:
        """Publish to ``envelope.exchange`` with ``envelope.routing_key`` and wait for the
        broker's confirm; raise :class:`PublishError` if it does not come."""

    @abc.abstractmethod
    async def _consume(self, queue: str, process: DeliveryProcessor, prefetch: int) -> Subscription:
        """Start handing deliveries of ``queue`` to ``process``."""

    async def consume(
        self,
        queue: str,
        handler: Handler,
        *,
        prefetch: int = 32,
        batch: BatchHandler | None = None,
        batching: Batching | None = None,
    ) -> Subscription:
        """Start delivering ``queue`` to ``handler`` (at most ``prefetch`` in flight)
        under the consume policy of :func:`handle_delivery`.

        Given ``batch`` and a ``batching`` that is on, deliveries are admitted one by
        one and then handled in batches (:mod:`shared.messaging.batching`): ``batch``
        handles a batch in one transaction, and ``handler`` each delivery of a batch
        that failed."""
        if batch is None or batching is None or not batching.on:

            async def process(delivery: Delivery) -> None:
                await handle_delivery(delivery, handler, self.delivery_limit, self.user)

            return await self._consume(queue, process, prefetch)

        from shared.messaging.batching import Batcher, BatchSizes

        limit = self.delivery_limit

        async def one(delivery: Delivery, incoming: Incoming) -> None:
            await handle_incoming(delivery, incoming, handler, limit)

        batcher = Batcher(batching, batch, one, self._ack_all, BatchSizes(queue))

        async def admitted(delivery: Delivery) -> None:
            incoming = await admit(delivery, self.user)
            if incoming is not None:
                await batcher.submit(delivery, incoming)

        subscription = await self._consume(queue, admitted, max(prefetch, batching.size))
        subscription.batch_sizes = batcher.sizes
        return subscription

    async def _ack_all(self, deliveries: Sequence[Delivery]) -> None:
        """Ack the deliveries of a batch, committed together (one by one here)."""
        for delivery in deliveries:
            await delivery.ack()

    async def consume_raw(
        self, queue: str, handler: RawHandler, *, prefetch: int = 32
    ) -> Subscription:
        """Deliver messages as they came, acked after ``handler`` returns; requeued if it
        raises (dead-letter queues, which have nowhere further to send a message)."""

        async def process(delivery: Delivery) -> None:
            try:
                await handler(delivery.raw())
            except Exception as exc:
                log.error("message.requeued", queue=delivery.queue, error=repr(exc))
                await delivery.requeue()
                return
            await delivery.ack()

        return await self._consume(queue, process, prefetch)

    async def consume_envelopes(
        self, queue: str, handler: EnvelopeHandler, *, prefetch: int = 32
    ) -> Subscription:
        """Deliver envelopes with their bodies undecoded, acked after ``handler`` returns,
        for queues that carry well-formed envelopes only; a message without a usable
        envelope is logged and dropped (:meth:`consume_raw` keeps everything)."""

        async def process(delivery: Delivery) -> None:
            try:
                envelope = delivery.envelope()
            except MalformedMessage as exc:
                log.error("message.dropped", queue=delivery.queue, reason=str(exc))
                await delivery.ack()
                return
            await handler(envelope)
            await delivery.ack()

        return await self._consume(queue, process, prefetch)

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop consuming, let in-flight handlers finish and settle, then disconnect."""

    @abc.abstractmethod
    async def healthy(self) -> bool:
        """Whether the transport can publish now (readiness)."""


async def handle_delivery(
    delivery: Delivery, handler: Handler, delivery_limit: int, consumer: str = "guest"
) -> None:
    """The consume policy: a message that can never be processed (its publisher not
    allowed to send its type, for one: :func:`refuse_unless_allowed` with the
    ``consumer``'s broker user) is dead-lettered at once; a handler failure is retried until ``delivery_limit`` and then dead-lettered
    with its last error; success is acked after the handler (and its transaction) ends.

    Turning a delivery into a message is total: whatever goes wrong there, the
    delivery is dead-lettered with the reason and the consumer goes on."""
    incoming = await admit(delivery, consumer)
    if incoming is not None:
        await handle_incoming(delivery, incoming, handler, delivery_limit)


async def admit(delivery: Delivery, consumer: str = "guest") -> Incoming | None:
    """The delivery as a message, or None once it is dead-lettered with the reason it
    cannot be one (unreadable, undecodable, or a publisher not allowed to send its
    type).  Each delivery is admitted on its own, batched or not."""
    try:
        envelope = delivery.envelope()
    except Exception as exc:  # MalformedMessage, or an unforeseen failure: never unsettled
        reason = str(exc) if isinstance(exc, MalformedMessage) else f"unreadable: {exc!r}"
        log.warning("message.rejected", queue=delivery.queue, reason=reason)
        await delivery.dead_letter(reason, unusable_envelope=True)
        return None
    try:
        bind_context(correlation_id=envelope.correlation_id, message_id=envelope.message_id)
        message = envelope.decode()
        refuse_unless_allowed(envelope, consumer)
    except Exception as exc:
        known = isinstance(exc, (MalformedMessage, UnknownMessageType, PoisonMessage))
        reason = str(exc) if known else f"undecodable body: {exc!r}"
        log.warning("message.rejected", queue=delivery.queue, type=envelope.type, reason=reason)
        await delivery.dead_letter(reason)
        return None
    return Incoming(envelope, message, delivery.queue, delivery.attempt, current_trace())


async def handle_incoming(
    delivery: Delivery, incoming: Incoming, handler: Handler, delivery_limit: int
) -> None:
    """Handle one admitted delivery and settle it (see :func:`handle_delivery`)."""
    envelope = incoming.envelope
    try:
        await handler(incoming)
    except PoisonMessage as exc:
        log.warning("message.rejected", queue=delivery.queue, type=envelope.type, reason=str(exc))
        await delivery.dead_letter(str(exc))
        return
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if delivery.attempt >= delivery_limit:
            log.error(
                "message.dead_lettered", type=envelope.type, attempt=delivery.attempt, reason=reason
            )
            await delivery.dead_letter(f"failed {delivery.attempt} times; last error: {reason}")
        else:
            log.warning(
                "message.retry", type=envelope.type, attempt=delivery.attempt, reason=reason
            )
            await delivery.requeue()
        return
    await delivery.ack()
