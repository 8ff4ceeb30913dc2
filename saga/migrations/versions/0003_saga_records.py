"""A finished saga's history and inputs, compacted into one compressed row
(``saga_records``); how far housekeeping has got through the finished sagas
(``saga_housekeeping``); and the sagas retention removed (``saga_pruned``), so
an order whose saga was pruned is not taken for one that never had a saga.

Revision ID: 0003
Revises: 0002
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
        "saga_records",
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("history", sa.LargeBinary(), nullable=False),
        sa.Column("inputs", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("saga_id"),
    )
    op.create_table(
        "saga_housekeeping",
        sa.Column("job", sa.String(40), nullable=False),
        sa.Column("reached", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reached_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("job"),
    )

    op.create_table(
        "saga_pruned",
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("saga_id"),
    )


def downgrade() -> None:
    op.drop_table("saga_pruned")
    op.drop_table("saga_housekeeping")
    op.drop_table("saga_records")
