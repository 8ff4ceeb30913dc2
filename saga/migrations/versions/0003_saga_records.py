"""A finished saga's history and inputs, compacted into one compressed row
(``saga_records``); how far housekeeping has got through the finished sagas
(``saga_housekeeping``); and the sagas retention removed (``saga_pruned``), so
an order whose saga was pruned is not taken for one that never had a saga."""

from shared.persistence.revisions import NewTable, creating

revision = "0003"
down_revision = "0002"

SAGA_RECORDS = NewTable(
    "saga_records",
    """
    saga_id  string(64)  key
    history  bytes
    inputs   bytes
    """,
)
SAGA_HOUSEKEEPING = NewTable(
    "saga_housekeeping",
    """
    job         string(40)  key
    reached     time
    reached_id  string(64)
    """,
)
SAGA_PRUNED = NewTable(
    "saga_pruned",
    """
    saga_id    string(64)  key
    pruned_at  time
    """,
)

upgrade, downgrade = creating(SAGA_RECORDS, SAGA_HOUSEKEEPING, SAGA_PRUNED)
