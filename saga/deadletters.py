"""Dead letters, collected from every consumer's dead-letter queue into the saga
service's database, where ops can read them and put them back on their way.

The collector keeps whatever arrives: a dead letter is there precisely because
something in it was wrong, so nothing in it is trusted.  Ids that cannot be
stored are replaced by an id of the collector's own (the original is kept among
the headers), header values of any type are kept as text, and the body is kept as
bytes.  Storing is retried until the database takes it; the collector never
raises and never stops.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from saga.models import DeadLetterRow
from shared.clock import utcnow
from shared.logging import get_logger
from shared.messaging.envelope import (
    HEADER_DEAD_LETTER_REASON,
    HEADER_ORIGINAL_EXCHANGE,
    HEADER_ORIGINAL_QUEUE,
    HEADER_ORIGINAL_ROUTING_KEY,
    HEADER_UNUSABLE_ENVELOPE,
    MAX_BODY_BYTES,
    Envelope,
    MalformedMessage,
    RawMessage,
)
from shared.messaging.topology import Topology
from shared.messaging.transport import Subscription, Transport
from shared.persistence.database import Database
from shared.persistence.outbox import OutboxRelay, outbox_row

log = get_logger(__name__)

OWN_HEADER_PREFIX = "x-oms-"
"""Headers the transports and the collector add."""
STRIPPED_ON_REQUEUE = (OWN_HEADER_PREFIX, "x-death", "x-first-death", "x-last-death", "x-delivery")
"""Headers of the first journey, not sent again when a letter is requeued."""
HEADER_ASSIGNED_ID = "x-oms-assigned-message-id"
"""The message came without a usable ``message_id``: the one shown is the collector's."""
HEADER_ORIGINAL_MESSAGE_ID = "x-oms-original-message-id"
HEADER_BODY_TRUNCATED = "x-oms-body-truncated-from"
HEADER_APP_ID = "x-oms-app-id"
HEADER_TIMESTAMP = "x-oms-timestamp"
MAX_HEADER_TEXT = 2000
BARE_NOTE = "the database refused the message as it came: kept without its headers"


class NotRequeueable(Exception):
    """A dead letter that cannot be sent again: it has no usable envelope."""


def _text(value: Any, limit: int = MAX_HEADER_TEXT) -> str:
    """Any wire value as text a database stores: no NUL, no lone surrogate, bounded."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="backslashreplace")
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")[:limit]


def _usable_id(value: Any) -> str | None:
    """``value`` when a column stores it as it is: text, at most 64 characters, nothing
    :func:`_text` would have to escape (NUL, lone surrogates)."""
    if isinstance(value, str) and 0 < len(value) <= 64 and _text(value) == value:
        return value
    return None


def _own(headers: Mapping[str, Any], key: str) -> str | None:
    value = headers.get(key)
    return value if isinstance(value, str) else None


def _broker_reason(headers: Mapping[str, Any]) -> str:
    """Why the broker itself dead-lettered a message (a delivery limit, a reject)."""
    first = headers.get("x-first-death-reason")
    if isinstance(first, (str, bytes)):
        return f"dead-lettered by the broker: {_text(first, 200)}"
    return "dead-lettered by the broker"


def _first_death(headers: Mapping[str, Any]) -> tuple[str, str]:
    """Where the broker says a message it dead-lettered itself was first sent."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[-1], Mapping):
        first = deaths[-1]
        keys = first.get("routing-keys")
        key = keys[0] if isinstance(keys, list) and keys else ""
        exchange = first.get("exchange")
        return (exchange if isinstance(exchange, str) else "", key if isinstance(key, str) else "")
    return "", ""


def letter_row(raw: RawMessage, *, bare: bool = False) -> DeadLetterRow:
    """The row that keeps ``raw``, whatever it holds (pure, never raises).

    ``bare`` keeps every text field in ASCII and no headers: the last resort for a
    message the database refused to store as it came."""
    if bare:
        row = letter_row(raw)
        return DeadLetterRow(
            queue=ascii(row.queue)[1:-1][:200],
            message_id=ascii(row.message_id)[1:-1][:64],
            type=ascii(row.type)[1:-1][:100],
            correlation_id=ascii(row.correlation_id)[1:-1][:64],
            reason=ascii(row.reason)[1:-1],
            exchange=ascii(row.exchange)[1:-1][:100],
            routing_key=ascii(row.routing_key)[1:-1][:200],
            headers={HEADER_UNUSABLE_ENVELOPE: BARE_NOTE},
            body=row.body,
        )
    headers: Mapping[str, Any] = raw.headers if isinstance(raw.headers, Mapping) else {}
    kept: dict[str, str] = {_text(k, 200): _text(v) for k, v in headers.items()}
    if not isinstance(raw.headers, Mapping):
        kept[f"{OWN_HEADER_PREFIX}headers"] = _text(raw.headers)
    if _own(headers, HEADER_UNUSABLE_ENVELOPE) is None:
        # Not marked by the consumer (it was dead-lettered by the broker, or by hand):
        # the collector checks for itself, and says why when it is unusable.
        try:
            Envelope.from_raw(raw)
        except MalformedMessage as exc:
            kept[HEADER_UNUSABLE_ENVELOPE] = _text(str(exc))
        except Exception as exc:  # whatever else: still kept, still not requeueable
            kept[HEADER_UNUSABLE_ENVELOPE] = _text(repr(exc))

    message_id = _usable_id(raw.message_id)
    if message_id is None:
        message_id = str(uuid.uuid4())
        kept[HEADER_ASSIGNED_ID] = "true"
        if raw.message_id is not None:
            kept[HEADER_ORIGINAL_MESSAGE_ID] = _text(raw.message_id)
    for key, value in ((HEADER_APP_ID, raw.app_id), (HEADER_TIMESTAMP, raw.timestamp)):
        if value is not None:
            kept[key] = _text(value.isoformat() if hasattr(value, "isoformat") else value, 200)

    body = raw.body if isinstance(raw.body, bytes) else _text(raw.body, MAX_BODY_BYTES).encode()
    if len(body) > MAX_BODY_BYTES:
        kept[HEADER_BODY_TRUNCATED] = str(len(body))
        body = body[:MAX_BODY_BYTES]

    type_ = _text(raw.type, 100) if isinstance(raw.type, str) else ""
    death_exchange, death_key = _first_death(headers)
    return DeadLetterRow(
        queue=_text(_own(headers, HEADER_ORIGINAL_QUEUE) or raw.routing_key, 200),
        message_id=message_id,
        type=type_,
        correlation_id=_usable_id(raw.correlation_id) or message_id,
        reason=_text(_own(headers, HEADER_DEAD_LETTER_REASON) or _broker_reason(headers), 4000),
        exchange=_text(_own(headers, HEADER_ORIGINAL_EXCHANGE) or death_exchange, 100),
        routing_key=_text(_own(headers, HEADER_ORIGINAL_ROUTING_KEY) or death_key or type_, 200),
        headers=kept,
        body=body,
    )


def requeueable(letter: DeadLetterRow) -> bool:
    """Whether the letter holds an envelope that can be published again, and where to."""
    return HEADER_UNUSABLE_ENVELOPE not in letter.headers and bool(letter.type and letter.exchange)


class DeadLetters:
    def __init__(self, db: Database, relay: OutboxRelay, *, retry_max_seconds: float = 5.0):
        self.db = db
        self.relay = relay
        self._retry_max_seconds = retry_max_seconds

    async def collect(self, raw: RawMessage) -> None:
        """Keep ``raw``; a database that refuses is tried again until it takes it, from
        the third attempt on as a bare row (in case it was the content it refused)."""
        row = letter_row(raw)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.1, max=self._retry_max_seconds),
            before_sleep=lambda state: log.error(
                "dead_letter.store_failed",
                queue=row.queue,
                attempt=state.attempt_number,
                error=repr(state.outcome.exception() if state.outcome else None),
            ),
        ):
            bare = attempt.retry_state.attempt_number >= 3
            with attempt:
                async with self.db.sessions() as session, session.begin():
                    session.add(letter_row(raw, bare=bare))  # fresh: a failed session spoils one
        log.info("dead_letter.collected", queue=row.queue, reason=row.reason)

    async def start(self, transport: Transport, topology: Topology) -> list[Subscription]:
        """Collect every consumer's dead-letter queue."""
        return [
            await transport.consume_raw(queue.dead_letter_queue, self.collect)
            for queue in topology.queues
            if queue.dead_letter
        ]

    async def requeue(self, letter_id: int) -> DeadLetterRow | None:
        """Publish the letter again to where it was first sent (through the outbox);
        :class:`NotRequeueable` when it has no usable envelope."""
        async with self.db.sessions() as session, session.begin():
            letter = await session.get(DeadLetterRow, letter_id, with_for_update=True)
            if letter is None or letter.requeued_at is not None:
                return letter
            if not requeueable(letter):
                reason = letter.headers.get(HEADER_UNUSABLE_ENVELOPE, "")
                why = reason if reason not in ("", "true") else letter.reason
                if not letter.exchange:
                    why = "it does not say which exchange it was sent to"
                raise NotRequeueable(
                    f"dead letter {letter_id} has no usable envelope and cannot be requeued: {why}"
                )
            headers = {
                k: v for k, v in letter.headers.items() if not k.startswith(STRIPPED_ON_REQUEUE)
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
