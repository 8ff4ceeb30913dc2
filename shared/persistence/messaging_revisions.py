"""The outbox and inbox as the services' revisions create them.

Every service that publishes or consumes keeps its own ``outbox`` and ``inbox``
(database per service), so each service's first revision creates both, from the
tables written out here once, so the copies cannot differ.

Like any revision, what a table here creates never changes once released: a later
change to these tables is a new revision in every service's ``migrations/versions``.
(The tables' models are in :mod:`shared.persistence.messaging_tables`.)
"""

from __future__ import annotations

from shared.persistence.revisions import NewTable

OUTBOX = NewTable(
    "outbox",
    """
    id              integer     key
    message_id      string(64)  unique
    type            string(100)
    exchange        string(100)
    routing_key     string(200)
    correlation_id  string(64)
    causation_id    string(64)?
    app_id          string(50)
    headers         json
    body            bytes
    created_at      time
    """,
    indexes={"ix_outbox_pending": "id"},
)
INBOX = NewTable(
    "inbox",
    """
    consumer      string(100)  key
    message_id    string(64)   key
    processed_at  time
    """,
)
MESSAGING = (OUTBOX, INBOX)
"""What a service's first revision creates before its own tables."""
