"""The message side of a service: typed handlers run once each, in a transaction.

For every delivery an :class:`Endpoint` opens a :class:`UnitOfWork`, calls the
handler registered for the message's type, and commits, the message id recorded
in the inbox with the commit; the transport acks only after that.  The handler's
outgoing messages go through the outbox in the same transaction: the inbox claim
and the outbox rows are one statement, just before the commit.  A delivery whose
id the inbox has already is a redelivery: its unit of work rolls back
(:class:`~shared.persistence.outbox.AlreadyHandled`) and it is acked with no
effect.  Its handler ran, so a handler must bear running again on what it did
before (each locks the rows it reads and finds its own earlier answer), as it
must for a delivery whose first run failed.

Batched (:mod:`shared.messaging.batching`), a batch of deliveries runs in one unit
of work: every message id claimed first, in one statement (a redelivery is
skipped before any handler runs: found at the commit, it would roll back its
neighbours' work, whose calls outside the database would then be made again),
each handler in the order the messages came, the outbox rows of all in one
statement, one commit.  A batch of one has no neighbours to roll back: it is
handled as a message alone is, its id claimed with its commit.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, KeysView, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from shared.logging import get_logger
from shared.messages import Message
from shared.messaging.batching import OFF, Batching, BatchRefused, one_of_batch
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Incoming, PoisonMessage, Subscription, Transport
from shared.persistence.database import Database
from shared.persistence.outage import through_outage
from shared.persistence.outbox import AlreadyHandled, OutboxRelay, UnitOfWork

log = get_logger(__name__)

M = TypeVar("M", bound=Message)
MessageHandler = Callable[[UnitOfWork, Any, Envelope], Awaitable[None]]
Middleware = Callable[[Incoming, Callable[[], Awaitable[None]]], Awaitable[None]]
"""Wraps the processing of one message (fault injection, timing)."""

sent_by_handler: ContextVar[tuple[Envelope, ...]] = ContextVar("sent_by_handler", default=())
"""What the last committed handler run in this context sent (read by middleware)."""


class Endpoint:
    def __init__(
        self,
        name: str,
        *,
        queue: str,
        db: Database,
        relay: OutboxRelay,
        app_id: str | None = None,
        outage_patience: float = 0.0,
    ) -> None:
        self.name = name
        self.queue = queue
        self.db = db
        self.relay = relay
        self.app_id = app_id or name
        self._handlers: dict[str, MessageHandler] = {}
        self.middleware: list[Middleware] = []
        self.batch_locks: Callable[[UnitOfWork, Sequence[Message]], Awaitable[None]] | None = None
        """Locks, before a batch's handlers run, every shared row they will lock, in
        one fixed order, so two consumers' overlapping batches cannot deadlock (each
        handler alone locks its own rows in that order too)."""
        self.one_by_one: list[Callable[[], bool]] = []
        """While any of these says so, batches are handled one message at a time
        (a fault rule armed: middleware wraps one message's processing)."""
        self.outage_patience = outage_patience
        """How long a transaction the database cut is run again before it fails
        (:func:`~shared.persistence.outage.through_outage`)."""

    def handles(self, model: type[M]) -> Callable[[MessageHandler], MessageHandler]:
        def register(fn: MessageHandler) -> MessageHandler:
            self._handlers[model.type_name] = fn
            return fn

        return register

    @property
    def handled(self) -> KeysView[str]:
        """The message names with a handler: a live view, handlers registered later show."""
        return self._handlers.keys()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, app_id=self.app_id, relay=self.relay)

    def _handler(self, incoming: Incoming) -> MessageHandler:
        handler = self._handlers.get(incoming.envelope.type)
        if handler is None:
            raise PoisonMessage(f"{self.name} has no handler for {incoming.envelope.type!r}")
        return handler

    async def handle_batch(self, batch: Sequence[Incoming]) -> None:
        """Handle every message of ``batch`` in one unit of work, or raise and change
        nothing (the batch is then handled one message at a time).  The batch's ids
        are claimed first: a redelivery among them is skipped before any handler
        runs."""
        if any(refuse() for refuse in self.one_by_one):
            raise BatchRefused("fault rules armed")
        if len(batch) == 1:  # no neighbours to roll back: it claims with its commit
            incoming = batch[0]
            with one_of_batch(incoming):
                await self._handle(incoming, self._handler(incoming))
            return
        handlers = [self._handler(incoming) for incoming in batch]
        async with self.uow() as uow:
            ids = [incoming.envelope.message_id for incoming in batch]
            claimed = await uow.claim_first(self.name, ids)
            if self.batch_locks is not None and len(claimed) > 1:
                fresh = [i.message for i in batch if i.envelope.message_id in claimed]
                await self.batch_locks(uow, fresh)
            for incoming, handler in zip(batch, handlers, strict=True):
                with one_of_batch(incoming):
                    if incoming.envelope.message_id not in claimed:
                        log.info("message.duplicate", type=incoming.envelope.type)
                        continue
                    claimed.discard(incoming.envelope.message_id)  # once, if it came twice
                    await handler(uow, incoming.message, incoming.envelope)

    async def _handle(self, incoming: Incoming, handler: MessageHandler) -> None:
        """Handle one message in its own unit of work, its id claimed with the commit."""
        try:
            async with self.uow() as uow:
                uow.claim(self.name, [incoming.envelope.message_id])
                await handler(uow, incoming.message, incoming.envelope)
        except AlreadyHandled:
            log.info("message.duplicate", type=incoming.envelope.type)
            return
        sent_by_handler.set(uow.sent)

    async def __call__(self, incoming: Incoming) -> None:
        call: Callable[[], Awaitable[None]] = functools.partial(
            self._handle, incoming, self._handler(incoming)
        )
        for middleware in reversed(self.middleware):
            call = _bind(middleware, incoming, call)
        await through_outage(call, patience=self.outage_patience, what=incoming.envelope.type)

    async def start(
        self, transport: Transport, *, prefetch: int = 32, batching: Batching = OFF
    ) -> Subscription:
        return await transport.consume(
            self.queue, self, prefetch=prefetch, batch=self.handle_batch, batching=batching
        )


def _bind(
    middleware: Middleware, incoming: Incoming, inner: Callable[[], Awaitable[None]]
) -> Callable[[], Awaitable[None]]:
    async def call() -> None:
        await middleware(incoming, inner)

    return call
