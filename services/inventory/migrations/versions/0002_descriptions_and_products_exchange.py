"""A product's optional description; the inventory's events move to the ``products``
exchange.

Events still waiting in the outbox were addressed to the ``inventory`` exchange,
which nothing binds to any more: they are readdressed to ``products`` so they
reach the saga after the upgrade (and back on a downgrade).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_outbox = sa.table("outbox", sa.column("exchange", sa.String(100)))


def _readdress(old: str, new: str) -> None:
    op.execute(_outbox.update().where(_outbox.c.exchange == old).values(exchange=new))


def upgrade() -> None:
    op.add_column("products", sa.Column("description", sa.String(2000), nullable=True))
    _readdress("inventory", "products")


def downgrade() -> None:
    _readdress("products", "inventory")
    # A plain DROP COLUMN (SQLite ≥ 3.35 has it), as no constraint names the column.
    op.drop_column("products", "description")
