"""Orders, order items and status history, with the outbox and inbox."""

from shared.persistence.messaging_revisions import MESSAGING
from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

ORDERS = NewTable(
    "orders",
    """
    id                 string(36)   key
    user_id            string(100)
    status             string(20)
    currency           string(3)
    total_amount       bigint
    payment_method_id  string(100)
    shipping_address   json?
    cancel_reason      string?
    created_at         time
    updated_at         time
    """,
    # Listing is newest first, per user or over all orders, with (created_at, id) as cursor.
    indexes={"ix_orders_user_newest": "user_id created_at id", "ix_orders_newest": "created_at id"},
)
ORDER_ITEMS = NewTable(
    "order_items",
    """
    order_id    string(36)   key  -> orders.id
    line_no     integer      key
    product_id  string(100)
    quantity    integer
    unit_price  bigint
    """,
)
ORDER_STATUS_HISTORY = NewTable(
    "order_status_history",
    """
    id        integer     key
    order_id  string(36)  index  -> orders.id
    status    string(20)
    reason    string?
    at        time
    """,
)

upgrade, downgrade = creating(*MESSAGING, ORDERS, ORDER_ITEMS, ORDER_STATUS_HISTORY)
