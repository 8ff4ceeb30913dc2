"""The outbox and inbox as the services' revisions create them.

Every service that publishes or consumes keeps its own ``outbox`` and ``inbox``
(database per service), so each service's first revision creates both.  The
operations are written out here once, so the copies cannot differ.

Like any revision, what a function here does never changes once released: a later
change to these tables is a new function here and a new revision calling it in
every service's ``migrations/versions``.  (The tables' models are in
:mod:`shared.persistence.messaging_tables`.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def create_outbox_and_inbox() -> None:
    """The first revision's ``outbox`` and ``inbox``."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("exchange", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("causation_id", sa.String(64), nullable=True),
        sa.Column("app_id", sa.String(50), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_pending", "outbox", ["id"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "message_id"),
    )


def drop_outbox_and_inbox() -> None:
    """Undo :func:`create_outbox_and_inbox`."""
    op.drop_table("inbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.drop_table("outbox")
