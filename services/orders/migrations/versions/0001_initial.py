"""Orders, order items and status history, with the outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

from alembic import op

from services.orders.models import TABLES
from shared.persistence.migrations import create_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_tables(*TABLES)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table.name)
