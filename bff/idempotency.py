"""``Idempotency-Key`` for BFF writes: a retried request gets the first one's answer.

A client that did not hear back from a checkout sends it again with the same
key.  The first request to claim the key runs; its answer is stored durably
(a small table in the BFF's own schema: infrastructure, not domain data), and:

* the same key with the same body answers the stored answer again;
* the same key with a different body is a client bug → 422;
* the same key while the first request still runs → 409 (try again shortly).

Keys are scoped to the caller (two users may pick the same key).  A request that
fails gives its claim back so the client can retry; a claim whose holder died
(a crashed process) is taken over after ``lease``.  Answers are kept for ``ttl``.

The downstream write is made idempotent too: :func:`downstream_key` derives a
stable key for it, so a retried checkout never creates a second order even when
the first attempt's answer was lost between the service and the BFF.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.clock import utcnow
from shared.persistence.columns import UtcDateTime
from shared.persistence.database import Database
from shared.persistence.outage import through_outage
from shared.web.idempotency import IDEMPOTENCY_HEADER, fingerprint
from shared.web.problems import Conflict, Unprocessable

metadata = MetaData()
"""The BFF tables; kept apart from ``SQLModel.metadata``, which holds the services' tables."""

IDEMPOTENCY_KEYS = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(128), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("body", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

_IN_PROGRESS = "in_progress"
_DONE = "done"
_NAMESPACE = uuid.UUID("9b0f3c52-8d65-4b1e-a3f7-2c1d6e0b5a47")


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """What a request answered: its status code and JSON body."""

    status: int
    body: Any


RELEASE_PATIENCE_SECONDS = 15.0
"""How long a failed request's claim is given back through a database outage."""


def downstream_key(scope: str, key: str) -> str:
    """The idempotency key a BFF sends on for the caller's ``(scope, key)``: stable, opaque."""
    return str(uuid.uuid5(_NAMESPACE, f"{scope}\x00{key}"))


class IdempotencyStore:
    """Claims, stored answers and their expiry, in the ``idempotency_keys`` table."""

    def __init__(
        self,
        db: Database,
        *,
        ttl: timedelta = timedelta(hours=24),
        lease: timedelta = timedelta(seconds=60),
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.lease = lease
        self._now = now
        self._purged_at: datetime | None = None

    async def run(
        self,
        scope: str,
        key: str | None,
        body: Any,
        handle: Callable[[], Awaitable[StoredAnswer]],
    ) -> tuple[StoredAnswer, bool]:
        """Answer a write once per key: ``(answer, replayed)``.

        Without a key ``handle`` simply runs.  With one, the stored answer of an
        earlier request with the same key and body is returned instead
        (``replayed`` true); see the module docstring for the other cases.
        """
        if key is None:
            return await handle(), False
        stored = await self.begin(scope, key, fingerprint(body))
        if stored is not None:
            return stored, True
        try:
            answer = await handle()
        except BaseException:
            # The failure may be the database's own (a primary lost, its standby not
            # yet promoted): the claim is given back once it takes writes again, so a
            # retry need not wait out the lease.
            await through_outage(
                lambda: self.release(scope, key),
                patience=RELEASE_PATIENCE_SECONDS,
                what="idempotency release",
            )
            raise
        await self.complete(scope, key, answer)
        return answer, False

    async def begin(self, scope: str, key: str, digest: str) -> StoredAnswer | None:
        """Claim ``key`` (``None``: go ahead) or return the answer stored for it.

        Raises :class:`Unprocessable` when the key was used with another body and
        :class:`Conflict` while another request holds it.
        """
        now = self._now()
        await self._purge_now_and_then(now)
        for _ in range(2):  # a second round only if the row vanished in between
            if await self._insert_claim(scope, key, digest, now):
                return None
            async with self.db.engine.begin() as conn:
                row = (
                    await conn.execute(
                        select(IDEMPOTENCY_KEYS).where(
                            IDEMPOTENCY_KEYS.c.scope == scope, IDEMPOTENCY_KEYS.c.key == key
                        )
                    )
                ).one_or_none()
                if row is None:
                    continue  # released by its holder just now: try to claim it again
                if self._abandoned(row.state, row.created_at, row.updated_at, now):
                    # Expired, or its holder died mid-request: claim it anew.
                    if await self._take_over(conn, scope, key, digest, row, now):
                        return None
                    break
            if row.fingerprint != digest:
                raise Unprocessable(
                    f"{IDEMPOTENCY_HEADER}: this key was used for a different request body",
                    field=IDEMPOTENCY_HEADER,
                )
            if row.state == _DONE:
                return StoredAnswer(status=int(row.status_code), body=row.body)
            break
        raise Conflict(
            f"{IDEMPOTENCY_HEADER}: a request with this key is still in progress; retry shortly",
            field=IDEMPOTENCY_HEADER,
        )

    async def complete(self, scope: str, key: str, answer: StoredAnswer) -> None:
        """Store the answer of the request holding ``key``."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(IDEMPOTENCY_KEYS)
                .where(IDEMPOTENCY_KEYS.c.scope == scope, IDEMPOTENCY_KEYS.c.key == key)
                .values(
                    state=_DONE,
                    status_code=answer.status,
                    body=answer.body,
                    updated_at=self._now(),
                )
            )

    async def release(self, scope: str, key: str) -> None:
        """Give up the claim on ``key`` after a failed request, so a retry runs it again."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                delete(IDEMPOTENCY_KEYS).where(
                    IDEMPOTENCY_KEYS.c.scope == scope,
                    IDEMPOTENCY_KEYS.c.key == key,
                    IDEMPOTENCY_KEYS.c.state == _IN_PROGRESS,
                )
            )

    async def purge(self) -> int:
        """Delete answers older than ``ttl``; returns how many went."""
        cutoff = self._now() - self.ttl
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                delete(IDEMPOTENCY_KEYS).where(IDEMPOTENCY_KEYS.c.created_at < cutoff)
            )
        return int(result.rowcount)

    def _abandoned(self, state: str, created: datetime, updated: datetime, now: datetime) -> bool:
        if state == _DONE:
            return now - created >= self.ttl
        return now - updated >= self.lease

    async def _insert_claim(self, scope: str, key: str, digest: str, now: datetime) -> bool:
        try:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    insert(IDEMPOTENCY_KEYS).values(scope=scope, key=key, **_claim(digest, now))
                )
        except IntegrityError:
            return False  # the key is known
        return True

    async def _take_over(
        self, conn: AsyncConnection, scope: str, key: str, digest: str, row: Row[Any], now: datetime
    ) -> bool:
        # Compare-and-set on the row as read, so two takers cannot both win.
        result = await conn.execute(
            update(IDEMPOTENCY_KEYS)
            .where(
                IDEMPOTENCY_KEYS.c.scope == scope,
                IDEMPOTENCY_KEYS.c.key == key,
                IDEMPOTENCY_KEYS.c.state == row.state,
                IDEMPOTENCY_KEYS.c.updated_at == row.updated_at,
            )
            .values(**_claim(digest, now))
        )
        return bool(result.rowcount == 1)

    async def _purge_now_and_then(self, now: datetime) -> None:
        # Expired rows are ignored on read anyway; deleting them every few minutes
        # just keeps the table small.
        if self._purged_at is not None and now - self._purged_at < timedelta(minutes=10):
            return
        self._purged_at = now
        await self.purge()


def _claim(digest: str, now: datetime) -> dict[str, Any]:
    """A key's columns once claimed at ``now`` by the request of fingerprint
    ``digest``: in progress, no answer yet."""
    return {
        "fingerprint": digest,
        "state": _IN_PROGRESS,
        "status_code": None,
        "body": None,
        "created_at": now,
        "updated_at": now,
    }
