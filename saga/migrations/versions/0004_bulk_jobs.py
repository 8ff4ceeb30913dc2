"""Bulk retries and aborts run as jobs: the job (what, by whom, why, at what rate,
how far) and each saga's outcome.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saga_jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("described", sa.String(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("selected", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("after_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("after_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saga_jobs_status", "saga_jobs", ["status"])
    op.create_table(
        "saga_job_outcomes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("saga_id", sa.String(64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(40), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_saga_job_outcomes_job_id", "saga_job_outcomes", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_saga_job_outcomes_job_id", table_name="saga_job_outcomes")
    op.drop_table("saga_job_outcomes")
    op.drop_index("ix_saga_jobs_status", table_name="saga_jobs")
    op.drop_table("saga_jobs")
