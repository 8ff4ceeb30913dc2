"""A user's name as first and last name, filled from the single ``name`` of existing rows.

An existing ``name`` is split at its first run of whitespace: the first word is the
first name, the rest the last name (``"Ada King Lovelace"`` → ``"Ada"``,
``"King Lovelace"``); a one-word name becomes a first name with no last name.
Joining the two with one space gives the old name back, but for runs of
whitespace inside it.  The downgrade joins them so into ``name`` again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

_users = sa.table(
    "users",
    sa.column("id", sa.String(36)),
    sa.column("name", sa.String(200)),
    sa.column("first_name", sa.String(200)),
    sa.column("last_name", sa.String(200)),
)


def _split(name: str) -> tuple[str | None, str | None]:
    """The rule above, written out here: a revision never calls code that may change."""
    parts = name.strip().split(maxsplit=1)
    if not parts:
        return None, None
    return parts[0], parts[1] if len(parts) > 1 else None


def upgrade() -> None:
    op.add_column("users", sa.Column("first_name", sa.String(200), nullable=True))
    op.add_column("users", sa.Column("last_name", sa.String(200), nullable=True))
    bind = op.get_bind()
    named = bind.execute(
        sa.select(_users.c.id, _users.c.name).where(_users.c.name.is_not(None))
    ).all()
    for user_id, name in named:
        first, last = _split(name)
        bind.execute(
            _users.update().where(_users.c.id == user_id).values(first_name=first, last_name=last)
        )
    # A plain DROP COLUMN (SQLite ≥ 3.35 has it): a batch copy of ``users`` would have
    # to drop the table that ``user_addresses`` references.
    op.drop_column("users", "name")


def downgrade() -> None:
    op.add_column("users", sa.Column("name", sa.String(200), nullable=True))
    bind = op.get_bind()
    named = bind.execute(
        sa.select(_users.c.id, _users.c.first_name, _users.c.last_name).where(
            sa.or_(_users.c.first_name.is_not(None), _users.c.last_name.is_not(None))
        )
    ).all()
    for user_id, first, last in named:
        name = " ".join(part for part in (first, last) if part)[:200]
        bind.execute(_users.update().where(_users.c.id == user_id).values(name=name or None))
    op.drop_column("users", "last_name")
    op.drop_column("users", "first_name")
