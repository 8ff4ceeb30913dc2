"""``oms saga prune`` and ``oms saga show --archive`` against the saga's database,
and ``GET /pruned-sagas/{id}``, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from oms.cli.root import app as oms_app
from saga.app import build_app
from shared.auth import mint_token
from shared.messaging.inprocess import InProcessTransport
from shared.messaging.topology import standard_topology
from shared.persistence.database import Database
from shared.persistence.migrations import upgrade
from shared.settings import Settings
from tests.integration.saga.test_retention import MIGRATIONS, NOW, OLD, SAGAS, ids, store
from tests.support.stack import TEST_JWT_SECRET, serve


async def oms(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {
        "OMS_DATABASE_URL": database_url,
        "OMS_DATA_DIR": str(tmp_path / "data"),
        "OMS_JWT_SECRET": TEST_JWT_SECRET,
    }
    return await asyncio.to_thread(CliRunner().invoke, oms_app, list(args), env=env)


async def test_prune_says_what_would_go_then_archives_and_removes_it(
    database_url: str, tmp_path: Path
) -> None:
    db = Database(database_url, schema="saga")
    try:
        await upgrade(db, MIGRATIONS)
        await store(db, "old-completed", "completed", OLD)
        await store(db, "old-cancelled", "cancelled", OLD)
        await store(db, "old-failed", "failed", OLD)
        await store(db, "old-running", "charging_payment", OLD)
        await store(db, "new", "completed", NOW)

        dry = await oms(database_url, tmp_path, "saga", "prune", "--older-than", "30d", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert "would prune 2 sagas completed or cancelled" in dry.output
        assert len(await ids(db, SAGAS, "id")) == 5

        archive = tmp_path / "archive"
        done = await oms(
            database_url,
            tmp_path,
            "saga",
            "prune",
            "--older-than",
            "30d",
            "--archive",
            str(archive),
        )
        assert done.exit_code == 0, done.output
        assert "pruned 2 sagas" in done.output
        assert await ids(db, SAGAS, "id") == {"old-failed", "old-running", "new"}

        shown = await oms(
            database_url, tmp_path, "saga", "show", "--archive", str(archive), "old-cancelled"
        )
        assert shown.exit_code == 0, shown.output
        assert "old-cancelled cancelled" in shown.output
        as_json = await oms(
            database_url,
            tmp_path,
            "saga",
            "show",
            "--json",
            "--archive",
            str(archive),
            "old-completed",
        )
        assert json.loads(as_json.output)["id"] == "old-completed"
        missing = await oms(
            database_url, tmp_path, "saga", "show", "--archive", str(archive), "old-failed"
        )
        assert missing.exit_code == 1
        assert "not in the archive" in missing.output
    finally:
        await db.dispose()


@pytest.mark.parametrize("age", ["30", "-1d", "0d", "3w"])
async def test_prune_refuses_an_age_it_cannot_read(
    database_url: str, tmp_path: Path, age: str
) -> None:
    result = await oms(database_url, tmp_path, "saga", "prune", "--older-than", age)
    assert result.exit_code == 2
    assert "30d" in result.output


async def test_a_pruned_saga_is_told_apart_from_one_that_never_was(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path, jwt_secret=TEST_JWT_SECRET)
    transport = InProcessTransport()
    await transport.connect()
    await transport.declare(standard_topology())
    try:
        async with serve(build_app(settings, transport)) as client:
            db = Database(database_url, schema="saga")
            try:
                await store(db, "gone", "completed", OLD)
            finally:
                await db.dispose()
            pruned = await oms(database_url, tmp_path, "saga", "prune", "--older-than", "1d")
            assert "pruned 1 sagas" in pruned.output
            ops = {"Authorization": f"Bearer {settings_token(settings)}"}
            answer = await client.get("/api/v1/pruned-sagas/gone", headers=ops)
            assert answer.status_code == 200
            assert answer.json()["id"] == "gone"
            assert (await client.get("/api/v1/sagas/gone", headers=ops)).status_code == 404
            never = await client.get("/api/v1/pruned-sagas/never", headers=ops)
            assert never.status_code == 404
    finally:
        await transport.close()


def settings_token(settings: Settings) -> str:
    return mint_token(settings.jwt_key, sub="ops-user", roles=["ops"])
