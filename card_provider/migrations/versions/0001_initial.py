"""The provider's charges and refunds, each under its idempotency key."""

from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

CHARGES = NewTable(
    "charges",
    """
    id               string(40)   key
    idempotency_key  string(200)  unique
    fingerprint      string(64)
    token            string(128)?
    amount           bigint
    currency         string(3)
    status           string(20)
    code             string(50)?
    reason           string(500)?
    created_at       time
    """,
)
REFUNDS = NewTable(
    "refunds",
    """
    id               string(40)   key
    idempotency_key  string(200)  unique
    fingerprint      string(64)
    charge_id        string(40)   index  -> charges.id
    amount           bigint
    status           string(20)
    code             string(50)?
    reason           string(500)?
    created_at       time
    """,
)

upgrade, downgrade = creating(CHARGES, REFUNDS)
