"""Accounts and addresses, with the outbox and inbox."""

from shared.persistence.messaging_revisions import MESSAGING
from shared.persistence.revisions import NewTable, creating

revision = "0001"
down_revision = None

# ``email_key`` is the case-folded email: two spellings of one address cannot both register.
USERS = NewTable(
    "users",
    """
    id             string(36)   key
    email          string(320)
    email_key      string(320)  unique
    name           string(200)?
    password_hash  string(255)
    created_at     time
    """,
)
USER_ADDRESSES = NewTable(
    "user_addresses",
    """
    id           string(36)   key
    user_id      string(36)   index  -> users.id
    line1        string(200)
    line2        string(200)?
    city         string(100)
    postal_code  string(20)
    country      string(2)
    created_at   time
    """,
)

upgrade, downgrade = creating(*MESSAGING, USERS, USER_ADDRESSES)
