"""The idempotency keys orders were placed under (one per user and key)."""

from shared.persistence.revisions import NewTable, creating

revision = "0002"
down_revision = "0001"

# Spelled out rather than taken from the models, so this revision stays what it
# was when the models change.  The primary key makes a key usable once per user.
ORDER_IDEMPOTENCY_KEYS = NewTable(
    "order_idempotency_keys",
    """
    user_id          string(100)  key
    idempotency_key  string(200)  key
    order_id         string(36)   -> orders.id
    fingerprint      string(64)
    answer           json
    created_at       time
    """,
)

upgrade, downgrade = creating(ORDER_IDEMPOTENCY_KEYS)
