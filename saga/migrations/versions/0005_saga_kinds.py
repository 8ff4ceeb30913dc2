"""Which definition runs each saga: ``kind`` (``order`` for every saga stored before)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    # The default fills the rows stored before.  Columns are added and dropped in
    # place, never by copying the table (SQLite's batch mode), which would lose the
    # triggers that keep the counts by state.
    op.add_column("sagas", sa.Column("kind", sa.String(40), nullable=False, server_default="order"))
    op.create_index("ix_sagas_kind", "sagas", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_sagas_kind", table_name="sagas")
    op.execute("ALTER TABLE sagas DROP COLUMN kind")
