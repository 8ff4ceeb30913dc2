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
    # The default fills the rows stored before.  Columns are added and dropped in
    # place, never by copying the table (SQLite's batch mode), which would lose the
    # triggers that keep the counts by state.
    op.add_column("sagas", sa.Column("kind", sa.String(40), nullable=False, server_default="order"))
    op.create_index("ix_sagas_kind", "sagas", ["kind"])


def downgrade() -> None:
    op.drop_index("ix_sagas_kind", table_name="sagas")
    op.execute("ALTER TABLE sagas DROP COLUMN kind")
