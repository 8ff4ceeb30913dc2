"""Payment methods, payments, refunds and per-order records, with the outbox and inbox."""

from shared.persistence.messaging_revisions import MESSAGING
from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

PAYMENT_METHODS = NewTable(
    "payment_methods",
    """
    id          string(36)   key
    user_id     string(64)   index
    token       string(128)
    brand       string(30)?
    last4       string(4)?
    created_at  time
    """,
    uniques={"uq_payment_methods_user_token": "user_id token"},
)
PAYMENT_ORDERS = NewTable(
    "payment_orders",
    """
    order_id             string(64)  key
    refund_requested_at  time?
    created_at           time
    """,
)
PAYMENTS = NewTable(
    "payments",
    """
    id                 string(36)   key
    order_id           string(64)   unique
    user_id            string(64)   index
    payment_method_id  string(128)
    amount             bigint
    currency           string(3)
    status             string(20)
    charge_ref         string(128)?
    code               string(50)?
    reason             string(500)?
    created_at         time
    updated_at         time
    """,
)
REFUNDS = NewTable(
    "refunds",
    """
    id          string(36)   key
    payment_id  string(36)   index  -> payments.id
    order_id    string(64)   index
    attempt     integer
    amount      bigint
    status      string(20)
    reference   string(128)?
    code        string(50)?
    reason      string(500)?
    created_at  time
    """,
    uniques={"uq_refunds_attempt": "payment_id attempt"},
)

upgrade, downgrade = creating(*MESSAGING, PAYMENT_METHODS, PAYMENT_ORDERS, PAYMENTS, REFUNDS)
