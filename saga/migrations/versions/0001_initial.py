"""Saga instances, their history, inputs and deadlines, parked messages and dead
letters, with the outbox and inbox."""

from shared.persistence.messaging_revisions import MESSAGING
from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

SAGAS = NewTable(
    "sagas",
    """
    id                  string(64)  key
    status              string(40)  index
    state               json
    version             integer
    definition_version  integer
    user_id             string(64)  index
    created_at          time        index
    updated_at          time        index
    deadline_at         time?       index
    """,
)
SAGA_DEADLINES = NewTable(
    "saga_deadlines",
    """
    saga_id  string(64)  key
    step     string(60)
    attempt  integer
    due_at   time        index
    """,
)
SAGA_HISTORY = NewTable(
    "saga_history",
    """
    id                  integer     key
    saga_id             string(64)  index
    at                  time
    kind                string(40)
    detail              json
    message_id          string(64)?
    definition_version  integer
    """,
)
SAGA_INPUTS = NewTable(
    "saga_inputs",
    """
    id                  integer     key
    saga_id             string(64)  index
    at                  time
    input               json
    decision            json
    definition_version  integer
    """,
)
SAGA_PARKED = NewTable(
    "saga_parked",
    """
    id           integer     key
    saga_id      string(64)  index
    message_id   string(64)
    input        json
    received_at  time
    """,
)
DEAD_LETTERS = NewTable(
    "dead_letters",
    """
    id              integer      key
    queue           string(200)  index
    message_id      string(64)
    type            string(100)
    correlation_id  string(64)
    reason          string
    exchange        string(100)
    routing_key     string(200)
    headers         json
    body            bytes
    received_at     time
    requeued_at     time?
    """,
)

upgrade, downgrade = creating(
    *MESSAGING, SAGAS, SAGA_DEADLINES, SAGA_HISTORY, SAGA_INPUTS, SAGA_PARKED, DEAD_LETTERS
)
