"""The envelope every message travels in.

An :class:`Envelope` is transport-neutral: the AMQP transport maps its fields onto
message properties and headers, the in-process transport passes it as it is, and
the outbox stores it in columns.  The body stays bytes until a consumer decodes
it, so a malformed body reaches the consumer (and the dead-letter queue) the same
way on every transport.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from opentelemetry import propagate
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.context import correlation_id_var, message_id_var
from shared.messages import Message, UnknownMessageType, model_for

SCHEMA_VERSION = 1
HEADER_CAUSATION = "x-causation-id"
HEADER_SCHEMA_VERSION = "x-schema-version"
HEADER_DEAD_LETTER_REASON = "x-oms-dead-letter-reason"
HEADER_ORIGINAL_QUEUE = "x-oms-original-queue"
HEADER_ORIGINAL_EXCHANGE = "x-oms-original-exchange"
HEADER_ORIGINAL_ROUTING_KEY = "x-oms-original-routing-key"


class MalformedMessage(ValueError):
    """A body that is not JSON, or does not validate against its type's model."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """One message on the wire: identity, causality, tracing, and the raw body."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    type: str
    correlation_id: str
    causation_id: str | None = None
    timestamp: datetime = Field(default_factory=_utcnow)
    app_id: str = "oms"
    schema_version: int = SCHEMA_VERSION
    headers: dict[str, str] = Field(default_factory=dict)
    """W3C trace context (``traceparent``, ``tracestate``) and transport extras."""
    body: bytes = b"{}"
    exchange: str = ""
    routing_key: str = ""

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
        return cls(
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


__all__ = [
    "HEADER_CAUSATION",
    "HEADER_DEAD_LETTER_REASON",
    "HEADER_ORIGINAL_EXCHANGE",
    "HEADER_ORIGINAL_QUEUE",
    "HEADER_ORIGINAL_ROUTING_KEY",
    "HEADER_SCHEMA_VERSION",
    "Envelope",
    "MalformedMessage",
    "UnknownMessageType",
]
