"""A failed write's idempotency claim is given back even when the failure was the
database's own: a retry then runs at once instead of waiting out the lease."""

from __future__ import annotations

from pathlib import Path

import pytest

from bff.app import MIGRATIONS
from bff.idempotency import IdempotencyStore, StoredAnswer
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade


async def test_a_claim_is_given_back_once_the_database_takes_writes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bff.db'}", schema="bff_web")
    await upgrade(db, MIGRATIONS)
    store = IdempotencyStore(db)
    release = store.release
    refusals = 2

    async def release_after_an_outage(scope: str, key: str) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            raise ConnectionRefusedError("the primary is gone")
        await release(scope, key)

    monkeypatch.setattr(store, "release", release_after_an_outage)

    async def lost_primary() -> StoredAnswer:
        raise ConnectionResetError("the primary went away mid-request")

    try:
        with pytest.raises(ConnectionResetError):
            await store.run("user-1", "key-1", {"items": 1}, lost_primary)

        async def placed() -> StoredAnswer:
            return StoredAnswer(status=201, body={"orderId": "o-1"})

        # Not 409 "still in progress" for a minute: the claim was given back.
        answer, replayed = await store.run("user-1", "key-1", {"items": 1}, placed)
        assert (answer.status, replayed, refusals) == (201, False, 0)
    finally:
        await db.dispose()
