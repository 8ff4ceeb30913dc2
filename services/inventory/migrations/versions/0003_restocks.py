"""The returns put back into stock, one row per return."""

from shared.persistence.revisions import NewTable, creating

revision = "0003"
down_revision = "0002"

RESTOCKS = NewTable(
    "restocks",
    """
    return_id   string(64)  key
    order_id    string(64)  index
    items       json
    created_at  time
    """,
)

upgrade, downgrade = creating(RESTOCKS)
