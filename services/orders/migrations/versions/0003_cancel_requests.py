"""When a cancel was first accepted for an order, and who asked."""

from alembic import op

from shared.persistence.revisions import column

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("orders", column("cancel_requested_at time?"))
    op.add_column("orders", column("cancel_requested_by string(100)?"))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("cancel_requested_by")
        batch.drop_column("cancel_requested_at")
