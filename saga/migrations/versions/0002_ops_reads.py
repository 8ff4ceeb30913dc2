"""Ops reads that stay fast with many sagas: counts by state kept by triggers,
an index over the sagas not at rest, and the list's and the summary's orders as
indexes.

* ``saga_state_counts`` holds how many sagas were in each state when its rows
  were last brought up to date; ``saga_state_count_changes`` the changes since
  (+1 / -1 by state), appended by triggers on ``sagas`` in the transaction that
  changes a saga (insert-only: writers never wait on each other for a counter).
  A state's count is its row plus its changes; housekeeping folds the changes
  into the counts now and then.
* ``ix_sagas_not_at_rest``: the sagas not completed, cancelled or failed, newest
  first (the stuck filter and the in-flight counts read only these).
* ``ix_sagas_created_at`` becomes (created_at, id), the list's order, and the
  state and customer indexes are followed by it, so a list by state or by
  customer reads its page in order; ``ix_sagas_updated_at`` becomes
  (updated_at, status), the summary's finished-per-minute read from the index
  alone.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

AT_REST = "status NOT IN ('completed', 'cancelled', 'failed')"

_PG_FUNCTION = """
CREATE FUNCTION saga_count_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO saga_state_count_changes (status, change)
        SELECT status, count(*) FROM new_rows GROUP BY status;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO saga_state_count_changes (status, change)
        SELECT status, -count(*) FROM old_rows GROUP BY status;
    ELSE
        INSERT INTO saga_state_count_changes (status, change)
        SELECT status, sum(change) FROM (
            SELECT status, 1 AS change FROM new_rows
            UNION ALL SELECT status, -1 FROM old_rows
        ) moved GROUP BY status HAVING sum(change) <> 0;
    END IF;
    RETURN NULL;
END $$
"""
_PG_TRIGGERS = [
    "CREATE TRIGGER sagas_counted_insert AFTER INSERT ON sagas "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION saga_count_changes()",
    "CREATE TRIGGER sagas_counted_update AFTER UPDATE ON sagas "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION saga_count_changes()",
    "CREATE TRIGGER sagas_counted_delete AFTER DELETE ON sagas "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION saga_count_changes()",
]
_SQLITE_TRIGGERS = [
    "CREATE TRIGGER sagas_counted_insert AFTER INSERT ON sagas BEGIN "
    "INSERT INTO saga_state_count_changes (status, change) VALUES (NEW.status, 1); END",
    "CREATE TRIGGER sagas_counted_update AFTER UPDATE OF status ON sagas "
    "WHEN OLD.status <> NEW.status BEGIN "
    "INSERT INTO saga_state_count_changes (status, change) VALUES (OLD.status, -1); "
    "INSERT INTO saga_state_count_changes (status, change) VALUES (NEW.status, 1); END",
    "CREATE TRIGGER sagas_counted_delete AFTER DELETE ON sagas BEGIN "
    "INSERT INTO saga_state_count_changes (status, change) VALUES (OLD.status, -1); END",
]


_REORDERED = {
    "ix_sagas_created_at": ["created_at", "id"],
    "ix_sagas_updated_at": ["updated_at", "status"],
    "ix_sagas_status": ["status", "created_at", "id"],
    "ix_sagas_user_id": ["user_id", "created_at", "id"],
}
"""Each index, once single-column, now in the order its reads ask for."""


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "saga_state_counts",
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("sagas", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status"),
    )
    op.create_table(
        "saga_state_count_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
        sa.Column("change", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if postgres:
        # No saga changes between the count and the triggers' first change.
        op.execute("LOCK TABLE sagas IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO saga_state_counts (status, sagas) "
        "SELECT status, count(*) FROM sagas GROUP BY status"
    )
    if postgres:
        op.execute(_PG_FUNCTION)
    for trigger in _PG_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(trigger)
    op.create_index(
        "ix_sagas_not_at_rest",
        "sagas",
        ["created_at", "id"],
        postgresql_where=sa.text(AT_REST),
        sqlite_where=sa.text(AT_REST),
    )
    for name, columns in _REORDERED.items():
        op.drop_index(name, table_name="sagas")
        op.create_index(name, "sagas", columns)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, columns in _REORDERED.items():
        op.drop_index(name, table_name="sagas")
        op.create_index(name, "sagas", columns[:1])
    op.drop_index("ix_sagas_not_at_rest", table_name="sagas")
    for name in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER sagas_counted_{name}" + (" ON sagas" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION saga_count_changes()")
    op.drop_table("saga_state_count_changes")
    op.drop_table("saga_state_counts")
