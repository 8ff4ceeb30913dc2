"""Returns of delivered orders and their lines."""

from shared.persistence.revisions import NewTable, creating

revision = "0005"
down_revision = "0004"

ORDER_RETURNS = NewTable(
    "order_returns",
    """
    id               string(36)   key
    order_id         string(36)   index  -> orders.id
    user_id          string(100)
    status           string(20)
    refunded_amount  bigint
    requested_by     string(100)
    created_at       time
    updated_at       time
    received_at      time?
    """,
)
ORDER_RETURN_LINES = NewTable(
    "order_return_lines",
    """
    return_id          string(36)   key  -> order_returns.id
    product_id         string(100)  key
    quantity           integer
    unit_price         bigint
    received_quantity  integer?
    """,
)

upgrade, downgrade = creating(ORDER_RETURNS, ORDER_RETURN_LINES)
