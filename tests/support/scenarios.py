"""Running QA scenario files in tests: the library against a system started by
the test, in-process (both stacks) or as operating-system processes.

The runner reaches an in-process system through ASGI transports and gets a
:class:`~oms.scenario.control.Control` from the harness: in-process it can
publish through the system's own transport (and, on RabbitMQ, cut the vhost's
connections); with processes it can also kill and restart them.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from oms.scenario.loader import ScenarioFile, load_directory, load_file
from oms.scenario.report import print_results
from oms.scenario.results import ScenarioResult
from oms.scenario.schedule import run_scenarios
from shared.messaging.envelope import Envelope
from shared.messaging.transport import Transport
from shared.settings import Settings
from tests.support.infra import RabbitVhost
from tests.support.processes import Process, ProcessStack, wait_ready
from tests.support.stack import Stack
from tests.support.system import System, running_system

LIBRARY = Path(__file__).resolve().parents[1] / "scenarios"
GOOD = """\
name: tiny
setup:
  products:
    kettle: {price: 1250, stock: 5}
  users:
    ada: {}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 2}}
expect:
  - order: {order: o1, status: confirmed}
"""
"""The smallest good scenario file, for tests that change one line of it."""
SILENT_PAYMENTS = """\
setup:
  saga: {step_timeout_seconds: 3, step_retries: 1}
  products: {kettle: {price: 1250, stock: 5}}
  users: {ada: {}}
  faults:
    - {message: payment.charge, mode: drop, times: 2}
steps:
  - checkout: {order: o1, user: ada, items: {kettle: 2}}
expect:
  - saga: {order: o1, state: cancelled}
"""
"""Payments drops the charge twice: the saga resends it once, then compensates."""
TIMING: dict[str, Any] = {
    "faults_enabled": True,
    "saga_step_timeout_seconds": 3.0,
    "saga_step_retries": 1,
    "saga_compensation_retries": 1,
    "saga_compensation_backoff_seconds": 0.2,
    "return_receipt_days": 8 / 86_400,
    "bff_request_deadline_seconds": Settings.model_fields["bff_request_deadline_seconds"].default,
}
"""The system the library is written for: faults on, short deadlines, one resend, a
return unreceived for 8 seconds expires, and the BFFs' read deadline as shipped (the
order page's scenarios wait on it)."""
READY_SECONDS = 180.0
"""How long a process may take to start: long, on a busy CI machine."""
PROCESS_STEP_TIMEOUT = 60.0
"""The step deadline of :class:`ScenarioProcesses` (its crash cases declare no timing)."""


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def library(names: Iterable[str] | None = None) -> list[ScenarioFile]:
    files = load_directory(LIBRARY)
    if names is None:
        return files
    wanted = set(names)
    return [f for f in files if f.name in wanted]


async def run_in_process(stack: Stack, names: Sequence[str]) -> list[ScenarioResult]:
    """The library's scenarios ``names`` (each of them must be in it) against every
    component in-process on ``stack``, with the library's timing, side by side."""
    files = library(names)
    assert sorted(f.name for f in files) == sorted(names)
    async with scenario_system(stack, **TIMING) as (settings, transports):
        return await run_scenarios(files, settings, transports=transports)


@asynccontextmanager
async def scenario_system(
    stack: Stack, **overrides: Any
) -> AsyncIterator[tuple[Settings, dict[str, httpx.AsyncBaseTransport]]]:
    """Every component in-process on ``stack`` with ``overrides``, as the scenario runner
    reaches it: the settings the system runs with and a transport to each component."""
    async with running_system(stack, **overrides) as system:
        yield system.stack.settings.model_copy(update=overrides), transports_of(system)


def transports_of(system: System) -> dict[str, httpx.AsyncBaseTransport]:
    return {
        name: httpx.ASGITransport(app=app, raise_app_exceptions=False)
        for name, app in system.apps.items()
    }


class InProcessControl:
    """Publishing through the system's transport; on RabbitMQ also cutting its connections."""

    def __init__(self, transport: Transport, vhost: RabbitVhost | None = None) -> None:
        self.transport = transport
        self.vhost = vhost

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"publish", "cut_broker"} if self.vhost else {"publish"})

    async def publish(self, envelope: Envelope) -> None:
        await self.transport.publish(envelope)

    async def cut_broker(self) -> None:
        assert self.vhost is not None
        await asyncio.to_thread(self.vhost.close_connections)

    async def crash(self, component: str) -> None:
        raise NotImplementedError("in-process components cannot crash alone")

    async def restart(self, component: str) -> None:
        raise NotImplementedError("in-process components cannot restart alone")


class ScenarioProcesses(ProcessStack):
    """The system as processes for scenarios: the card provider and the four services in one, the saga in
    one, both BFFs in one, with faults enabled."""

    BFFS = ("bff-web", "bff-mobile")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Deadlines longer than a restart takes: a crashed component comes back
        # before the saga gives up on it.
        self.base_env.update(
            {
                "OMS_FAULTS_ENABLED": "true",
                "OMS_SAGA_STEP_TIMEOUT_SECONDS": str(PROCESS_STEP_TIMEOUT),
            }
        )
        self.by_component: dict[str, Process] = {}

    def _start(self, args: list[str], log: str, components: Sequence[str], offset: int) -> None:
        process = Process(args, self.env(offset), self.logs / log)
        self.processes.append(process.start())
        wait_ready([self.url(name, offset) for name in components], process, READY_SECONDS)
        for name in components:
            self.by_component[name] = process

    def start_all(self) -> None:
        only = [arg for name in self.SERVICES for arg in ("--only", name)]
        self._start(["up", *only], "services.log", self.SERVICES, self.offset)
        self._start(["run", "saga"], "saga-0.log", ["saga"], self.offset)
        only = [arg for name in self.BFFS for arg in ("--only", name)]
        self._start(["up", *only], "bffs.log", self.BFFS, self.offset)

    def components_of(self, process: Process) -> list[str]:
        return [name for name, p in self.by_component.items() if p is process]


class ProcessControl(InProcessControl):
    """Kills and restarts the processes of a :class:`ScenarioProcesses`; publishes and
    cuts connections on its RabbitMQ vhost."""

    def __init__(self, processes: ScenarioProcesses, transport: Transport, vhost: RabbitVhost):
        super().__init__(transport, vhost)
        self.processes = processes

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"publish", "cut_broker", "crash", "restart"})

    async def crash(self, component: str) -> None:
        await asyncio.to_thread(self.processes.by_component[component].kill)

    async def restart(self, component: str) -> None:
        process = self.processes.by_component[component]

        def again() -> None:
            # A crash fault makes the process exit on its own: let it finish dying.
            if process.proc is not None:
                process.proc.wait(timeout=60)
            process.start()
            urls = [self.processes.url(name) for name in self.processes.components_of(process)]
            wait_ready(urls, process, READY_SECONDS)

        await asyncio.to_thread(again)


def scenario_file(path: Path, text: str) -> ScenarioFile:
    """``text`` written at ``path`` (its folder made if need be) and read back as the
    runner reads a scenario file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return load_file(path)


async def all_pass(
    files: Sequence[ScenarioFile], settings: Settings, **options: Any
) -> list[ScenarioResult]:
    """Run ``files`` (``options`` as :func:`run_scenarios` takes them): every one must
    pass, or the runner's table says why not."""
    results = await run_scenarios(files, settings, **options)
    assert [r.outcome for r in results] == ["passed"] * len(files), explain(results)
    return results


def explain(results: Sequence[ScenarioResult]) -> str:
    """The results as the runner's table, for an assertion message."""
    from rich.console import Console

    console = Console(width=200, file=io.StringIO())
    print_results(results, console)
    return str(console.file.getvalue())  # type: ignore[attr-defined]
