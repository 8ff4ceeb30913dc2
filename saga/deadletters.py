"""Dead letters, collected from every consumer's dead-letter queue into the saga
service's database, where ops can read them and put them back on their way."""

from __future__ import annotations

from saga.models import DeadLetterRow
from shared.messaging.envelope import (
    HEADER_DEAD_LETTER_REASON,
    HEADER_ORIGINAL_EXCHANGE,
    HEADER_ORIGINAL_QUEUE,
    HEADER_ORIGINAL_ROUTING_KEY,
    Envelope,
)
from shared.messaging.topology import Topology
from shared.messaging.transport import Subscription, Transport
from shared.persistence.database import Database
from shared.persistence.messaging_tables import utcnow
from shared.persistence.outbox import OutboxRelay, outbox_row


class DeadLetters:
    def __init__(self, db: Database, relay: OutboxRelay) -> None:
        self.db = db
        self.relay = relay

    async def collect(self, envelope: Envelope) -> None:
        headers = dict(envelope.headers)
        async with self.db.sessions() as session, session.begin():
            session.add(
                DeadLetterRow(
                    queue=headers.get(HEADER_ORIGINAL_QUEUE, envelope.routing_key),
                    message_id=envelope.message_id,
                    type=envelope.type,
                    correlation_id=envelope.correlation_id,
                    reason=headers.get(HEADER_DEAD_LETTER_REASON, "rejected by the broker"),
                    exchange=headers.get(HEADER_ORIGINAL_EXCHANGE, ""),
                    routing_key=headers.get(HEADER_ORIGINAL_ROUTING_KEY, envelope.type),
                    headers=headers,
                    body=envelope.body,
                )
            )

    async def start(self, transport: Transport, topology: Topology) -> list[Subscription]:
        """Collect every consumer's dead-letter queue."""
        return [
            await transport.consume_envelopes(queue.dead_letter_queue, self.collect)
            for queue in topology.queues
            if queue.dead_letter
        ]

    async def requeue(self, letter_id: int) -> DeadLetterRow | None:
        """Publish the letter again to where it was first sent (through the outbox)."""
        async with self.db.sessions() as session, session.begin():
            letter = await session.get(DeadLetterRow, letter_id, with_for_update=True)
            if letter is None or letter.requeued_at is not None:
                return letter
            headers = {
                k: v
                for k, v in letter.headers.items()
                if not k.startswith("x-oms-") and not k.startswith("x-death")
            }
            session.add(
                outbox_row(
                    Envelope(
                        message_id=letter.message_id,
                        type=letter.type,
                        correlation_id=letter.correlation_id,
                        app_id="saga-ops",
                        headers=headers,
                        body=letter.body,
                        exchange=letter.exchange,
                        routing_key=letter.routing_key,
                    )
                )
            )
            letter.requeued_at = utcnow()
            session.add(letter)
        self.relay.notify()
        return letter
