"""Which return a refund pays back (none for an order's cancellation).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("refunds", sa.Column("return_id", sa.String(64), nullable=True))
    op.create_index("ix_refunds_return_id", "refunds", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_refunds_return_id", table_name="refunds")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("return_id")
