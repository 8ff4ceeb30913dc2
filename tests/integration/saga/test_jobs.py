"""Bulk retries as jobs (saga.jobs) on SQLite and PostgreSQL: a job counts first,
runs at its rate, survives a restart of the saga process (resumed after the last
saga it did, none done twice) and stops when cancelled; every saga's outcome is
recorded, and its history names who asked and why."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, select
from structlog.testing import capture_logs
from typer.testing import CliRunner, Result

from oms.bench.ops.templates import play_templates, saga_component, template_id
from oms.cli.jobs import jobs as _jobs_command
from oms.cli.saga import saga_app
from saga.models import SagaJobOutcomeRow
from saga.records import compact_sagas
from saga.statecounts import counts_by_state
from saga.statements import HISTORY, INPUTS, SAGAS
from saga.stuck import AT_REST
from shared.auth import mint_token
from shared.persistence.database import Database
from tests.support.infra import eventually
from tests.support.stack import on_socket

_ = _jobs_command  # registers `oms saga jobs`

API = "/api/v1"


def _copy(row: Any, old: str, new: str) -> dict[str, Any]:
    values = dict(row._mapping)
    values.pop("id", None)
    for key, value in values.items():
        if isinstance(value, dict):
            values[key] = json.loads(json.dumps(value).replace(old, new))
    return values


async def failed_sagas(database_url: str, count: int, prefix: str = "failed") -> list[str]:
    """``count`` copies of the failed template saga (row, history, inputs)."""
    template = template_id("failed")
    db = Database(database_url, schema="saga")
    made = [f"{prefix}-{i:04d}".ljust(36, "x") for i in range(count)]
    try:
        async with db.engine.begin() as connection:
            saga = (await connection.execute(select(SAGAS).where(SAGAS.c.id == template))).one()
            history = (
                await connection.execute(select(HISTORY).where(HISTORY.c.saga_id == template))
            ).all()
            inputs = (
                await connection.execute(select(INPUTS).where(INPUTS.c.saga_id == template))
            ).all()
            for new in made:
                await connection.execute(insert(SAGAS), {**_copy(saga, template, new), "id": new})
                for table, rows in ((HISTORY, history), (INPUTS, inputs)):
                    await connection.execute(
                        insert(table),
                        [{**_copy(r, template, new), "saga_id": new} for r in rows],
                    )
    finally:
        await db.dispose()
    return made


def client_of(app: FastAPI, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def seeded(database_url: str) -> list[str]:
    async with saga_component(database_url) as (app, player, settings):
        await play_templates(app, player, mint_token(settings.jwt_key, sub="qa", roles=["ops"]))
    return [template_id("failed"), *await failed_sagas(database_url, 11)]


async def job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    answer = await client.get(f"{API}/saga-jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_job_counts_first_runs_survives_a_restart_and_does_each_saga_once(
    database_url: str, seeded: list[str]
) -> None:
    request = {
        "action": "retry",
        "filter": {"state": "failed"},
        "reason": "refunds open again",
        "rate": 4,
    }
    async with saga_component(database_url) as (app, _, settings):
        token = mint_token(settings.jwt_key, sub="ada", roles=["ops"])
        async with client_of(app, token) as client:
            plan = await client.post(
                f"{API}/sagas/retry/dry-run", json={"filter": request["filter"]}
            )
            assert plan.json()["selects"] == len(seeded)
            started = await client.post(f"{API}/saga-jobs", json=request)
            assert started.status_code == 201, started.text
            job_id = started.json()["id"]
            assert started.json()["selected"] == len(seeded)
            await eventually(
                lambda: job(client, job_id),
                until=lambda j: j["done"] >= 3,
                timeout=60,
                what="3 done",
            )
    # The saga process stopped mid-job; another one takes it up where it ended.
    async with (
        saga_component(database_url) as (app, _, settings),
        client_of(app, token) as client,
    ):
        stopped = await job(client, job_id)
        assert stopped["status"] == "running"
        assert stopped["done"] < len(seeded)
        finished = await eventually(
            lambda: job(client, job_id),
            until=lambda j: j["status"] == "done",
            timeout=120,
            what="the job done",
        )
        outcomes = (await client.get(f"{API}/saga-jobs/{job_id}/outcomes")).json()
        shown = (await client.get(f"{API}/sagas/{seeded[-1]}")).json()
    assert finished["done"] == finished["succeeded"] == len(seeded)
    assert sorted(o["sagaId"] for o in outcomes) == sorted(seeded)
    assert all(o["ok"] and o["state"] == "refunding_payment" for o in outcomes)
    operator = [h for h in shown["history"] if h["kind"] == "operator"]
    assert [(h["detail"]["actor"], h["detail"]["reason"]) for h in operator] == [
        ("ada", "refunds open again")
    ]


async def test_a_job_waits_while_the_sagas_in_flight_reach_its_limit(
    database_url: str, seeded: list[str]
) -> None:
    db = Database(database_url, schema="saga")
    try:
        counts = await counts_by_state(db)
    finally:
        await db.dispose()
    busy = sum(n for state, n in counts.items() if state not in AT_REST)
    room = 3  # retried sagas stay in flight here: no participant answers them
    request = {"action": "retry", "filter": {"state": "failed"}, "reason": "r", "rate": 50}
    with capture_logs() as logs:
        async with saga_component(database_url, saga_job_yield_in_flight=busy + room) as (
            app,
            _,
            settings,
        ):
            token = mint_token(settings.jwt_key, sub="ada", roles=["ops"])
            async with client_of(app, token) as client:
                started = await client.post(f"{API}/saga-jobs", json=request)
                assert started.status_code == 201, started.text
                job_id = started.json()["id"]
                await eventually(
                    lambda: asyncio.sleep(0, [e for e in logs if e["event"] == "saga.job_waits"]),
                    timeout=60,
                    what="the job waiting for room",
                )
                waiting = await job(client, job_id)
                assert (waiting["status"], waiting["done"]) == ("running", room)
                cancelled = await client.post(f"{API}/saga-jobs/{job_id}/cancel")
                assert cancelled.status_code == 200, cancelled.text
                await eventually(
                    lambda: job(client, job_id),
                    until=lambda j: j["status"] == "cancelled",
                    what="the waiting job cancelled",
                )
                assert (await job(client, job_id))["done"] == room


async def test_a_cancelled_job_stops_before_its_next_saga(
    database_url: str, seeded: list[str]
) -> None:
    async with saga_component(database_url) as (app, _, settings):
        token = mint_token(settings.jwt_key, sub="ada", roles=["ops"])
        async with client_of(app, token) as client:
            started = await client.post(
                f"{API}/saga-jobs",
                json={"action": "abort", "filter": {"state": "failed"}, "reason": "x", "rate": 2},
            )
            job_id = started.json()["id"]
            await eventually(
                lambda: job(client, job_id), until=lambda j: j["done"] >= 1, timeout=60, what="one"
            )
            cancelled = await client.post(f"{API}/saga-jobs/{job_id}/cancel")
            assert cancelled.status_code == 200
            assert cancelled.json()["status"] == "cancelled"
            at_cancel = cancelled.json()["done"]
            again = await client.post(f"{API}/saga-jobs/{job_id}/cancel")
            assert again.status_code == 409
            # The runner's task for the job ends once it sees the cancel; after that
            # nothing can do another of its sagas.
            [runner] = [t for t in asyncio.all_tasks() if t.get_name() == f"saga-job-{job_id}"]
            await asyncio.wait_for(runner, timeout=30)
            assert (await job(client, job_id))["status"] == "cancelled"
    db = Database(database_url, schema="saga")
    try:
        async with db.engine.connect() as connection:
            done = (
                await connection.execute(
                    select(SagaJobOutcomeRow.saga_id).where(SagaJobOutcomeRow.job_id == job_id)
                )
            ).all()
    finally:
        await db.dispose()
    assert at_cancel <= len(done) <= at_cancel + 1 < len(seeded)


async def test_a_job_selecting_nothing_is_refused(database_url: str) -> None:
    async with saga_component(database_url) as (app, _, settings):
        token = mint_token(settings.jwt_key, sub="ada", roles=["ops"])
        async with client_of(app, token) as client:
            refused = await client.post(
                f"{API}/saga-jobs",
                json={"action": "retry", "filter": {"state": "failed"}, "reason": "x"},
            )
            too_fast = await client.post(
                f"{API}/saga-jobs",
                json={"action": "retry", "filter": {"state": "failed"}, "reason": "x", "rate": 1e6},
            )
    assert refused.status_code == 409
    assert "selects no saga" in refused.json()["detail"]
    assert too_fast.status_code == 422


async def test_a_compacted_saga_shows_and_replays_as_before(database_url: str) -> None:
    async with saga_component(database_url) as (app, player, settings):
        token = mint_token(settings.jwt_key, sub="ada", roles=["ops"])
        await play_templates(app, player, token)
        saga_id = template_id("completed")
        async with client_of(app, token) as client:
            before = (await client.get(f"{API}/sagas/{saga_id}")).json()
            async with app.state.runtime.db.engine.begin() as connection:
                await compact_sagas(connection, [saga_id])
            async with app.state.runtime.db.engine.connect() as connection:
                rows = await connection.execute(select(HISTORY).where(HISTORY.c.saga_id == saga_id))
                assert rows.all() == []
            after = (await client.get(f"{API}/sagas/{saga_id}")).json()
            replayed = (await client.get(f"{API}/sagas/{saga_id}/replay")).json()
    assert after["history"] == before["history"]
    assert len(after["history"]) == 11
    assert replayed["ok"] is True
    assert replayed["inputs"] == 4


async def test_the_cli_offers_a_job_past_500_sagas_lists_it_and_cancels_it(
    database_url: str, seeded: list[str]
) -> None:
    await failed_sagas(database_url, 500, prefix="more")
    async with saga_component(database_url) as (app, _, settings), on_socket(app) as url:
        env = {
            "OMS_SAGA_URL": url,
            "OMS_JWT_SECRET": settings.jwt_secret.get_secret_value(),  # type: ignore[union-attr]
            "COLUMNS": "250",
        }

        async def oms_saga(*args: str) -> Result:
            return await asyncio.to_thread(CliRunner().invoke, saga_app, list(args), env=env)

        started = await oms_saga(
            "--as",
            "ada",
            "retry",
            "--state",
            "failed",
            "--reason",
            "refunds back",
            "--rate",
            "1",
            "--yes",
        )
        assert started.exit_code == 0, started.output
        assert f"retry {len(seeded) + 500:,} sagas" in started.output
        job_id = started.output.split("job ", 1)[1].split(" ", 1)[0]
        listed = await oms_saga("jobs")
        assert job_id in listed.output
        assert "refunds back" in listed.output
        cancelled = await oms_saga("jobs", "--cancel", job_id)
        assert cancelled.exit_code == 0, cancelled.output
        assert f"job {job_id} cancelled" in cancelled.output
