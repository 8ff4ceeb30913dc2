"""Which return a refund pays back (none for an order's cancellation)."""

from alembic import op

from shared.persistence.revisions import column

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("refunds", column("return_id string(64)?"))
    op.create_index("ix_refunds_return_id", "refunds", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_refunds_return_id", table_name="refunds")
    with op.batch_alter_table("refunds") as batch:
        batch.drop_column("return_id")
