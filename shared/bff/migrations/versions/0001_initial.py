"""BFF idempotency keys

Revision ID: 0001
Revises:
"""

from alembic import op

from shared.bff.idempotency import IDEMPOTENCY_KEYS

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    IDEMPOTENCY_KEYS.create(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    IDEMPOTENCY_KEYS.drop(op.get_bind(), checkfirst=True)
