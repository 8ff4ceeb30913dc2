"""Per-request and per-message context carried in contextvars.

The correlation id (the order id for anything saga-related) and the id of the
message being handled are bound here once, at the edge (HTTP middleware or
message consumer), and read by logging, outgoing HTTP calls and outgoing
messages, so no function has to pass them along by hand.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
message_id_var: ContextVar[str | None] = ContextVar("message_id", default=None)

CORRELATION_HEADER = "X-Correlation-ID"


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def bind_context(*, correlation_id: str | None, message_id: str | None = None) -> None:
    """Bind ids for the current task: read by logs, outgoing calls and messages."""
    import structlog

    correlation_id_var.set(correlation_id)
    message_id_var.set(message_id)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id, message_id=message_id)
