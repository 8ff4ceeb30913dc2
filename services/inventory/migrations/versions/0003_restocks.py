"""The returns put back into stock, one row per return.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "restocks",
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("return_id"),
    )
    op.create_index("ix_restocks_order_id", "restocks", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_restocks_order_id", table_name="restocks")
    op.drop_table("restocks")
