"""saga tables, outbox and inbox

Revision ID: 0001
Revises:
"""

from saga.models import SAGA_TABLES
from shared.persistence.migrations import create_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_tables(*SAGA_TABLES)


def downgrade() -> None:
    raise RuntimeError("the first revision cannot be downgraded")
