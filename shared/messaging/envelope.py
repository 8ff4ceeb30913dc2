"""The envelope every message travels in.

An :class:`Envelope` is transport-neutral: the AMQP transport maps its fields onto
message properties and headers, the in-process transport passes it as it is, and
the outbox stores it in columns.  The body stays bytes until a consumer decodes
it, so a malformed body reaches the consumer (and the dead-letter queue) the same
way on every transport.

What arrives from outside is a :class:`RawMessage`: properties and headers of any
type, or none.  :meth:`Envelope.from_raw` is the one place that trusts it, and it
is total: it returns an envelope or raises :class:`MalformedMessage` naming the
field, whatever the message holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Annotated, Any

from opentelemetry import propagate
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from shared.clock import utcnow
from shared.context import correlation_id_var, message_id_var
from shared.messages import Message, UnknownMessageType, model_for

SCHEMA_VERSION = 1
HEADER_CAUSATION = "x-causation-id"
HEADER_SCHEMA_VERSION = "x-schema-version"
HEADER_DEAD_LETTER_REASON = "x-oms-dead-letter-reason"
HEADER_ORIGINAL_QUEUE = "x-oms-original-queue"
HEADER_ORIGINAL_EXCHANGE = "x-oms-original-exchange"
HEADER_ORIGINAL_ROUTING_KEY = "x-oms-original-routing-key"
HEADER_UNUSABLE_ENVELOPE = "x-oms-unusable-envelope"
"""On a dead letter whose properties or headers make no envelope (it cannot be requeued)."""
MAX_BODY_BYTES = 1024 * 1024
"""The largest body a consumer accepts; the largest real message is a few kilobytes."""


class MalformedMessage(ValueError):
    """A message no consumer can use: properties or headers missing or of the wrong
    type, a body too large, not JSON, or not valid for its type's model."""


def dead_letter_headers(
    reason: str, *, queue: str, exchange: str, routing_key: str, unusable_envelope: bool = False
) -> dict[str, str]:
    """The headers a transport adds to a message it dead-letters: why, and where it
    was (``unusable_envelope``: it could not even be read as an envelope)."""
    headers = {
        HEADER_DEAD_LETTER_REASON: reason,
        HEADER_ORIGINAL_QUEUE: queue,
        HEADER_ORIGINAL_EXCHANGE: exchange,
        HEADER_ORIGINAL_ROUTING_KEY: routing_key,
    }
    if unusable_envelope:
        headers[HEADER_UNUSABLE_ENVELOPE] = "true"
    return headers


@dataclass(frozen=True)
class RawMessage:
    """A message as it came off the wire, before anything in it is trusted.

    Properties hold whatever the sender put there (``None`` when absent); headers
    are the AMQP table with every value type it allows."""

    body: Any
    headers: Any = field(default_factory=dict)
    message_id: Any = None
    type: Any = None
    correlation_id: Any = None
    app_id: Any = None
    timestamp: Any = None
    exchange: str = ""
    routing_key: str = ""
    user_id: Any = None
    """The AMQP ``user_id`` property: on RabbitMQ the broker refuses a publish whose
    ``user_id`` is not the connection's user, so on delivery it names the publisher."""

    def with_headers(
        self, extra: Mapping[str, Any], *, exchange: str, routing_key: str
    ) -> RawMessage:
        """A copy with ``extra`` headers, sent on to ``exchange`` with ``routing_key``."""
        own = dict(self.headers) if isinstance(self.headers, Mapping) else {}
        return replace(self, headers={**own, **extra}, exchange=exchange, routing_key=routing_key)


_NO_NUL = r"^[^\x00]+$"
"""No NUL: PostgreSQL's text columns (inbox, dead letters) cannot hold one."""
_Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_NUL)]


class _WireFields(BaseModel):
    """What a consumer accepts from the wire: ids that fit the columns storing them,
    no NUL, a body of bounded size."""

    model_config = ConfigDict(strict=True, extra="forbid")

    message_id: _Id
    type: Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_NO_NUL)]
    correlation_id: _Id | None = None
    causation_id: _Id | None = None
    app_id: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=_NO_NUL)] = (
        "unknown"
    )
    timestamp: AwareDatetime | None = None
    schema_version: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    user_id: _Id | None = None
    body: Annotated[bytes, Field(max_length=MAX_BODY_BYTES)]


_WIRE_NAMES = {
    "causation_id": f"header {HEADER_CAUSATION}",
    "schema_version": f"header {HEADER_SCHEMA_VERSION}",
}
"""Fields that travel as headers are named as the sender wrote them."""


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != b""


class Envelope(BaseModel):
    """One message on the wire: identity, causality, tracing, and the raw body."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    type: str
    correlation_id: str
    causation_id: str | None = None
    timestamp: datetime = Field(default_factory=utcnow)
    app_id: str = "oms"
    schema_version: int = SCHEMA_VERSION
    headers: dict[str, str] = Field(default_factory=dict)
    """W3C trace context (``traceparent``, ``tracestate``) and transport extras."""
    body: bytes = b"{}"
    exchange: str = ""
    routing_key: str = ""
    user_id: str | None = None
    """The broker user that published it, as the transport delivering it vouches
    (AMQP ``user_id``, validated by RabbitMQ); None on an envelope being sent, whose
    transport stamps its own user."""

    @classmethod
    def wrap(
        cls,
        message: Message,
        *,
        app_id: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        message_id: str | None = None,
    ) -> Envelope:
        """Wrap a catalogue message, taking ids from the current context by default."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        # Every field is made here, of its type: built without validating it again.
        return cls.model_construct(
            message_id=message_id or str(uuid.uuid4()),
            type=message.type_name,
            correlation_id=correlation_id or correlation_id_var.get() or str(uuid.uuid4()),
            causation_id=causation_id if causation_id is not None else message_id_var.get(),
            app_id=app_id,
            headers=carrier,
            body=json.dumps(message.dump(), separators=(",", ":")).encode(),
            exchange=message.exchange,
            routing_key=message.type_name,
        )

    @classmethod
    def from_raw(cls, raw: RawMessage) -> Envelope:
        """The envelope of a message from the wire, or :class:`MalformedMessage` naming
        each field that is missing, of the wrong type or too large.

        Headers other than the envelope's own are kept when they are text (trace
        context and transport extras) and ignored otherwise."""
        if not isinstance(raw.headers, Mapping):
            raise MalformedMessage(f"headers are not a table: {type(raw.headers).__name__}")
        headers = dict(raw.headers)
        candidates = {
            "message_id": raw.message_id,
            "type": raw.type,
            "correlation_id": raw.correlation_id,
            "causation_id": headers.pop(HEADER_CAUSATION, None),
            "app_id": raw.app_id,
            "timestamp": raw.timestamp,
            "schema_version": headers.pop(HEADER_SCHEMA_VERSION, None),
            "user_id": raw.user_id,
            "body": raw.body,
        }
        try:
            wire = _WireFields.model_validate({k: v for k, v in candidates.items() if _present(v)})
        except ValidationError as exc:
            problems = "; ".join(
                f"{_WIRE_NAMES.get(str(e['loc'][0]), str(e['loc'][0]))}: "
                + ("missing" if e["type"] == "missing" else f"{e['msg']} (got {_shown(e)})")
                for e in exc.errors()
            )
            raise MalformedMessage(f"unusable envelope: {problems}") from None
        fields: dict[str, Any] = {
            "message_id": wire.message_id,
            "type": wire.type,
            "correlation_id": wire.correlation_id or wire.message_id,
            "causation_id": wire.causation_id,
            "app_id": wire.app_id,
            "schema_version": wire.schema_version,
            "headers": {
                k: v
                for k, v in headers.items()
                if isinstance(k, str) and isinstance(v, str) and not k.startswith("x-death")
            },
            "body": wire.body,
            "exchange": raw.exchange,
            "routing_key": raw.routing_key,
            "user_id": wire.user_id,
        }
        if wire.timestamp is not None:
            fields["timestamp"] = wire.timestamp
        # Validated above, field by field: not validated a second time.
        return cls.model_construct(**fields)

    def to_raw(self) -> RawMessage:
        """The envelope as the wire carries it (the inverse of :meth:`from_raw`)."""
        headers: dict[str, Any] = {**self.headers, HEADER_SCHEMA_VERSION: self.schema_version}
        if self.causation_id:
            headers[HEADER_CAUSATION] = self.causation_id
        return RawMessage(
            body=self.body,
            headers=headers,
            message_id=self.message_id,
            type=self.type,
            correlation_id=self.correlation_id,
            app_id=self.app_id,
            timestamp=self.timestamp,
            exchange=self.exchange,
            routing_key=self.routing_key,
            user_id=self.user_id,
        )

    def decode(self) -> Message:
        """The validated message model, or :class:`MalformedMessage` / :class:`UnknownMessageType`."""
        model = model_for(self.type)
        try:
            data: Any = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedMessage(f"body is not JSON: {exc}") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<body>'}: {e['msg']}"
                for e in exc.errors()
            )
            raise MalformedMessage(f"{self.type} failed validation: {fields}") from None


def _shown(error: Any) -> str:
    """The offending value in a reason: its type, and the value when it is short."""
    value = error.get("input")
    if isinstance(value, (bytes, str)) and len(value) > 40:
        return f"{type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {value!r}"


__all__ = [
    "HEADER_CAUSATION",
    "HEADER_DEAD_LETTER_REASON",
    "HEADER_ORIGINAL_EXCHANGE",
    "HEADER_ORIGINAL_QUEUE",
    "HEADER_ORIGINAL_ROUTING_KEY",
    "HEADER_SCHEMA_VERSION",
    "HEADER_UNUSABLE_ENVELOPE",
    "MAX_BODY_BYTES",
    "Envelope",
    "MalformedMessage",
    "RawMessage",
    "UnknownMessageType",
]
