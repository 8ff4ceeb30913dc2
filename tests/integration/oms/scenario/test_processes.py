"""The library's crash and broker-cut scenarios, with components as processes on
RabbitMQ and PostgreSQL: the four services in one process, the saga in one, both
BFFs in one.  The runner crashes them through fault injection or a kill, and the
harness's control starts them again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from oms.scenario.schedule import needs, run_scenarios
from shared.messaging.amqp import AmqpTransport
from shared.settings import Settings
from tests.support.infra import RabbitVhost
from tests.support.processes import processes_fixture
from tests.support.scenarios import (
    PROCESS_STEP_TIMEOUT,
    ProcessControl,
    ScenarioProcesses,
    explain,
    library,
)
from tests.support.stack import TEST_JWT_SECRET

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq, pytest.mark.postgres]

NEEDS_PROCESSES = {"crash", "restart", "cut_broker"}


processes = processes_fixture(ScenarioProcesses)


@pytest.fixture
async def broker(rabbit_vhost: RabbitVhost) -> AsyncIterator[AmqpTransport]:
    transport = AmqpTransport(rabbit_vhost.url)
    await transport.connect()
    yield transport
    await transport.close()


@pytest.mark.timeout(900)
async def test_crash_and_broker_cut_scenarios_pass_with_components_as_processes(
    processes: ScenarioProcesses,
    broker: AmqpTransport,
    rabbit_vhost: RabbitVhost,
    postgres_url: str,
) -> None:
    await asyncio.to_thread(processes.start_all)
    settings = Settings(
        broker_url=rabbit_vhost.url,
        database_url=postgres_url,
        jwt_secret=TEST_JWT_SECRET,
        port_offset=processes.offset,
        faults_enabled=True,
        saga_step_timeout_seconds=PROCESS_STEP_TIMEOUT,
    )
    files = [f for f in library() if needs(f.scenario) & NEEDS_PROCESSES]
    assert {f.name for f in files} >= {
        "saga-crash-after-sending-a-command",
        "participant-crash-after-commit",
        "broker-connections-cut",
    }

    results = await run_scenarios(
        files,
        settings,
        control=ProcessControl(processes, broker, rabbit_vhost),
        parallel=4,
    )

    assert [r.outcome for r in results] == ["passed"] * len(files), explain(results)
    # The crash faults did crash their process: each was started a second time.
    logs = {p.log.name: p.log.read_text(errors="replace") for p in processes.processes}
    assert "fault.injected" in logs["saga-0.log"] + logs["services.log"]
