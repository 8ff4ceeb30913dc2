"""How many sagas are in each state, without counting the sagas.

Triggers on ``sagas`` (migration 0002) append each change of a state's count to
``saga_state_count_changes`` in the transaction that makes it: inserts only, so
saga transactions never wait on each other for a counter.  A state's count is
its row in ``saga_state_counts`` plus its changes since; :func:`fold_changes`
(housekeeping, now and then) moves the changes into the counts, so a read sums a
few rows whatever the number of sagas.  A count read in one statement is
consistent: it sees the sagas as one snapshot does.
"""

from __future__ import annotations

from sqlalchemy import text

from shared.persistence.database import Database

_COUNTS = text(
    "SELECT status, sum(n) FROM ("
    " SELECT status, sagas AS n FROM saga_state_counts"
    " UNION ALL SELECT status, change AS n FROM saga_state_count_changes"
    ") counted GROUP BY status"
)
_FOLD_POSTGRES = text(
    # What is deleted is exactly what is added: a change committed meanwhile stays.
    "WITH moved AS (DELETE FROM saga_state_count_changes RETURNING status, change) "
    "INSERT INTO saga_state_counts (status, sagas) "
    "SELECT status, sum(change) FROM moved GROUP BY status "
    "ON CONFLICT (status) DO UPDATE SET sagas = saga_state_counts.sagas + excluded.sagas"
)
_LAST_SQLITE = text("SELECT max(id), count(*) FROM saga_state_count_changes")
_FOLD_SQLITE = text(
    "INSERT INTO saga_state_counts (status, sagas) "
    "SELECT status, sum(change) FROM saga_state_count_changes WHERE id <= :last GROUP BY status "
    "ON CONFLICT (status) DO UPDATE SET sagas = saga_state_counts.sagas + excluded.sagas"
)
_FOLDED_SQLITE = text("DELETE FROM saga_state_count_changes WHERE id <= :last")
_EMPTY = text("DELETE FROM saga_state_counts WHERE sagas = 0")


async def counts_by_state(db: Database) -> dict[str, int]:
    """Sagas by stored state (states with none left out)."""
    async with db.read_engine.connect() as connection:
        rows = (await connection.execute(_COUNTS)).all()
    return {str(status): int(n) for status, n in rows if n}


async def fold_changes(db: Database) -> int:
    """Move the count changes into the counts; how many states' counts were
    brought up to date (PostgreSQL) or changes folded (SQLite)."""
    async with db.engine.begin() as connection:
        if db.is_postgres:
            folded = (await connection.execute(_FOLD_POSTGRES)).rowcount
        else:
            # SQLite: the transaction holds the only write lock, so nothing is
            # appended between the sum and the delete.
            last, folded = (await connection.execute(_LAST_SQLITE)).one()
            if last is not None:
                await connection.execute(_FOLD_SQLITE, {"last": last})
                await connection.execute(_FOLDED_SQLITE, {"last": last})
        await connection.execute(_EMPTY)
    return int(folded or 0)
