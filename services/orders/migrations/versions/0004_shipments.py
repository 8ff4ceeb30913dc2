"""How an order left the warehouse and when it arrived: one shipment an order.

The order statuses ``shipped`` and ``delivered`` follow ``confirmed``; the status
column holds them as it is, and the orders that exist keep theirs (a confirmed
order is one waiting for its warehouse), so no row is rewritten.
"""

from shared.persistence.revisions import NewTable, creating

revision = "0004"
down_revision = "0003"

ORDER_SHIPMENTS = NewTable(
    "order_shipments",
    """
    order_id         string(36)   key  -> orders.id
    carrier          string(100)
    tracking_number  string(100)
    shipped_at       time
    shipped_by       string(100)
    delivered_at     time?
    delivered_by     string(100)?
    """,
)

upgrade, downgrade = creating(ORDER_SHIPMENTS)
