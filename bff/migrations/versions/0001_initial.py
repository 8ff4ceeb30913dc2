"""BFF idempotency keys."""

from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

IDEMPOTENCY_KEYS = NewTable(
    "idempotency_keys",
    """
    scope        string(128)  key
    key          string(255)  key
    fingerprint  string(64)
    state        string(16)
    status_code  integer?
    body         json?
    created_at   time
    updated_at   time
    """,
)

upgrade, downgrade = creating(IDEMPOTENCY_KEYS)
