"""Products and reservations, with the outbox and inbox."""

from shared.persistence.messaging_revisions import MESSAGING
from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

PRODUCTS = NewTable(
    "products",
    """
    id          string(36)   key
    sku         string(64)   unique
    name        string(200)
    price       bigint
    currency    string(3)
    on_hand     bigint
    reserved    bigint
    created_at  time
    updated_at  time
    """,
    # The database itself refuses negative or over-reserved stock.
    checks={
        "ck_products_reserved_not_negative": "reserved >= 0",
        "ck_products_reserved_within_on_hand": "reserved <= on_hand",
    },
)
RESERVATIONS = NewTable(
    "reservations",
    """
    order_id    string      key
    status      string(20)
    items       json
    shortages   json
    created_at  time
    updated_at  time
    """,
)

upgrade, downgrade = creating(*MESSAGING, PRODUCTS, RESERVATIONS)
