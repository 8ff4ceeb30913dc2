"""Saga instances, their history, inputs and deadlines, parked messages and dead
letters, with the outbox and inbox.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.persistence.messaging_revisions import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox()
    op.create_table(
        "sagas",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sagas_status", "sagas", ["status"])
    op.create_index("ix_sagas_user_id", "sagas", ["user_id"])
    op.create_index("ix_sagas_created_at", "sagas", ["created_at"])
    op.create_index("ix_sagas_updated_at", "sagas", ["updated_at"])
    op.create_index("ix_sagas_deadline_at", "sagas", ["deadline_at"])
    op.create_table(
        "saga_deadlines",
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("step", sa.String(60), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("saga_id"),
    )
    op.create_index("ix_saga_deadlines_due_at", "saga_deadlines", ["due_at"])
    op.create_table(
        "saga_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=True),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saga_history_saga_id", "saga_history", ["saga_id"])
    op.create_table(
        "saga_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saga_inputs_saga_id", "saga_inputs", ["saga_id"])
    op.create_table(
        "saga_parked",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saga_parked_saga_id", "saga_parked", ["saga_id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("exchange", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_letters_queue", "dead_letters", ["queue"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_queue", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_saga_parked_saga_id", table_name="saga_parked")
    op.drop_table("saga_parked")
    op.drop_index("ix_saga_inputs_saga_id", table_name="saga_inputs")
    op.drop_table("saga_inputs")
    op.drop_index("ix_saga_history_saga_id", table_name="saga_history")
    op.drop_table("saga_history")
    op.drop_index("ix_saga_deadlines_due_at", table_name="saga_deadlines")
    op.drop_table("saga_deadlines")
    op.drop_index("ix_sagas_deadline_at", table_name="sagas")
    op.drop_index("ix_sagas_updated_at", table_name="sagas")
    op.drop_index("ix_sagas_created_at", table_name="sagas")
    op.drop_index("ix_sagas_user_id", table_name="sagas")
    op.drop_index("ix_sagas_status", table_name="sagas")
    op.drop_table("sagas")
    drop_outbox_and_inbox()
