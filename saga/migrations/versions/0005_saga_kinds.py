"""Which definition runs each saga: ``kind`` (``order`` for every saga stored before).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The default fills the rows stored before; the model declares none.
    with op.batch_alter_table("sagas") as batch:
        batch.add_column(sa.Column("kind", sa.String(40), nullable=False, server_default="order"))
    with op.batch_alter_table("sagas") as batch:
        batch.alter_column("kind", server_default=None)
    op.create_index("ix_sagas_kind", "sagas", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_sagas_kind", table_name="sagas")
    with op.batch_alter_table("sagas") as batch:
        batch.drop_column("kind")
