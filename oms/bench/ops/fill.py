"""Many sagas copied from the real ones of :mod:`oms.bench.ops.templates`, by SQL.

Each batch is one statement: ``generate_series`` makes the copies' ids, times and
customers, and data-modifying ``WITH`` clauses insert the sagas, then their
history, their inputs and, for the sagas still waiting within their deadline,
their deadline rows, from the template's rows with the ids, customers and times
replaced (same lengths, so a copy stores as many bytes as its template).

Finished copies (completed, cancelled) are stored as housekeeping leaves a saga
five minutes after it rests (:mod:`saga.records`): the row and one compressed
record, copied from the template's once it is compacted (so the record's entries
name the template's ids: a copy's history reads as its template's).  A year of
sagas is held that way by a running system; the failed, stuck and waiting
copies keep their history and inputs as rows.

The mix (:class:`Mix`): most sagas finished (completed, a tenth cancelled),
one in a thousand failed, a few stuck (waiting on their first command, the
deadline long passed and no deadline row left to fire it, as after a saga
process was stopped for good) and a few still waiting within their deadline.
Times spread over ``days``; a saga's customer is one of ``sagas / 20``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from oms.bench.ops.templates import TEMPLATE_USER, template_id

BATCH = 50_000
SCHEMA = "saga"
TABLES = ("sagas", "saga_history", "saga_inputs", "saga_deadlines", "saga_records")
COMPACTED = ("completed", "cancelled")
"""The copies stored compacted (their template compacted before the fill)."""


@dataclass(frozen=True)
class Mix:
    """How many sagas of each kind a fill makes."""

    completed: int
    cancelled: int
    failed: int
    stuck: int
    waiting: int

    @classmethod
    def of(cls, sagas: int) -> Mix:
        failed = max(1, sagas // 1000)
        stuck = max(1, sagas * 3 // 10_000)
        waiting = max(1, sagas // 20_000)
        cancelled = sagas // 10
        completed = sagas - failed - stuck - waiting - cancelled
        if completed < 1:
            raise ValueError("at least 5 sagas, one of each kind")
        return cls(completed, cancelled, failed, stuck, waiting)

    def parts(self) -> list[tuple[str, str, int]]:
        """(copy kind, template kind, count) in the order they are filled."""
        return [
            ("completed", "completed", self.completed),
            ("cancelled", "cancelled", self.cancelled),
            ("failed", "failed", self.failed),
            ("stuck", "waiting", self.stuck),
            ("waiting", "waiting", self.waiting),
        ]


# When each kind of copy was created, and its deadline (None: the template's, moved
# with the saga); :now and :days are bound per statement.
_CREATED = {
    "completed": "now_ - random() * days_",
    "cancelled": "now_ - random() * days_",
    "failed": "now_ - random() * days_",
    "stuck": "now_ - interval '1 hour' - random() * interval '3 days'",
    "waiting": "now_ - random() * interval '1 minute'",
}
_DEADLINE = {
    "stuck": "s.created + interval '30 seconds'",
    "waiting": "now_ + interval '1 day'",
}

_SAGAS = """
WITH params AS (SELECT $1::timestamptz AS now_, $2::float8 * interval '1 day' AS days_),
s AS (
    SELECT md5($3::text || ':' || g)::uuid::text AS id,
           {created} AS created,
           'user-' || lpad((floor(random() * $6::bigint))::bigint::text, 19, '0') AS user_id
    FROM generate_series($4::bigint, $5::bigint) g, params
),
t AS (SELECT * FROM sagas WHERE id = $7::text),
new_sagas AS (
    INSERT INTO sagas (id, status, state, version, definition_version, user_id,
                       created_at, updated_at, deadline_at)
    SELECT s.id, t.status,
           replace(replace(t.state::text, t.id, s.id), $8::text, s.user_id)::json,
           t.version, t.definition_version, s.user_id, s.created,
           s.created + (t.updated_at - t.created_at), {deadline}
    FROM s, t, params
    RETURNING id, user_id, created_at, deadline_at
)"""
_ROWS = (
    _SAGAS
    + """,
new_history AS (
    INSERT INTO saga_history (saga_id, at, kind, detail, message_id, definition_version)
    SELECT n.id, n.created_at + (h.at - t.created_at), h.kind,
           replace(replace(h.detail::text, t.id, n.id), $8::text, n.user_id)::json,
           CASE WHEN h.message_id IS NULL THEN NULL
                ELSE md5(n.id || ':' || h.id)::uuid::text END,
           h.definition_version
    FROM new_sagas n, t, saga_history h
    WHERE h.saga_id = t.id
),
new_inputs AS (
    INSERT INTO saga_inputs (saga_id, at, input, decision, definition_version)
    SELECT n.id, n.created_at + (i.at - t.created_at),
           replace(replace(i.input::text, t.id, n.id), $8::text, n.user_id)::json,
           i.decision, i.definition_version
    FROM new_sagas n, t, saga_inputs i
    WHERE i.saga_id = t.id
)
INSERT INTO saga_deadlines (saga_id, step, attempt, due_at)
SELECT n.id, d.step, d.attempt, n.deadline_at
FROM new_sagas n, t, saga_deadlines d
WHERE d.saga_id = t.id AND $9::boolean
"""
)
_RECORDS = (
    _SAGAS
    + """
INSERT INTO saga_records (saga_id, history, inputs)
SELECT n.id, r.history, r.inputs
FROM new_sagas n, t, saga_records r
WHERE r.saga_id = t.id AND $9::boolean IS NOT NULL
"""
)

_COMPACTED_UP_TO = """
INSERT INTO saga_housekeeping (job, reached, reached_id)
SELECT 'compact', updated_at, id FROM sagas WHERE status = ANY($1::text[])
ORDER BY updated_at DESC, id DESC LIMIT 1
ON CONFLICT (job) DO UPDATE SET reached = excluded.reached, reached_id = excluded.reached_id
"""


def fill_statement(kind: str) -> str:
    """The statement copying one batch of ``kind`` (see :data:`_ROWS`'s parameters):
    the finished kinds as their compacted record, the others as rows."""
    deadline = _DEADLINE.get(kind, "CASE WHEN t.deadline_at IS NULL THEN NULL ELSE now_ END")
    copies = _RECORDS if kind in COMPACTED else _ROWS
    return copies.format(created=_CREATED[kind], deadline=deadline)


async def fill(
    connection: asyncpg.Connection,
    mix: Mix,
    *,
    days: float,
    progress: Callable[[str], None],
    until: datetime | None = None,
) -> float:
    """Copy the templates into ``mix``'s sagas, created over the ``days`` before
    ``until`` (now when not given); the seconds it took."""
    started = time.monotonic()
    await connection.execute(f"SET search_path TO {SCHEMA}")
    # For the fill only (this connection): no wait for each batch's WAL flush, and
    # room to sort the indexes built at the end.
    await connection.execute("SET synchronous_commit TO off")
    await connection.execute("SET maintenance_work_mem TO '1GB'")
    now = until or await connection.fetchval("SELECT now()")
    total = sum(count for _, _, count in mix.parts())
    users = max(1, total // 20)
    done = 0
    # A bulk load: the secondary indexes are built once at the end, not row by row.
    indexes = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = $1 "
        "AND tablename = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conname = i.indexname)",
        SCHEMA,
        list(TABLES),
    )
    for index in indexes:
        await connection.execute(f'DROP INDEX "{index["indexname"]}"')
    for kind, template, count in mix.parts():
        statement = fill_statement(kind)
        # Stuck sagas keep no deadline row: nothing will fire them.
        keep_deadline = kind == "waiting"
        for low in range(1, count + 1, BATCH):
            high = min(count, low + BATCH - 1)
            await connection.execute(
                statement,
                now,
                days,
                kind,
                low,
                high,
                users,
                template_id(template),
                TEMPLATE_USER,
                keep_deadline,
            )
            done += high - low + 1
            progress(f"{done:,}/{total:,} sagas ({time.monotonic() - started:.0f} s)")
    progress(f"building {len(indexes)} indexes …")
    for index in indexes:
        await connection.execute(index["indexdef"])
    # Housekeeping has compacted every finished copy: it goes on after the newest.
    await connection.execute(_COMPACTED_UP_TO, list(COMPACTED))
    await connection.execute("VACUUM ANALYZE sagas")
    await connection.execute("ANALYZE saga_history")
    await connection.execute("ANALYZE saga_inputs")
    await connection.execute("ANALYZE saga_deadlines")
    await connection.execute("ANALYZE saga_records")
    await connection.execute("RESET synchronous_commit")
    await connection.execute("RESET maintenance_work_mem")
    return time.monotonic() - started
