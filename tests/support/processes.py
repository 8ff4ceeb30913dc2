"""Components as real operating-system processes (``oms up --only …`` /
``oms run saga``), for crash and scale tests against RabbitMQ and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Self, TypeVar

import httpx
import pytest

from tests.support.infra import RabbitVhost
from tests.support.stack import TEST_JWT_SECRET, TEST_PATIENCE, TEST_POOLS

ROOT = Path(__file__).resolve().parents[2]


class Process:
    def __init__(self, args: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.args = list(args)
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as handle:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "oms.cli", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no draining, as a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def wait_ready(urls: Sequence[str], process: Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        if process.proc is not None and process.proc.poll() is not None:
            raise AssertionError(f"{process.args} exited:\n{process.tail()}")
        try:
            if httpx.get(f"{pending[0]}/health/ready", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending[0]} not ready after {timeout}s:\n{process.tail()}")
        time.sleep(0.1)


def process_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update({f"OMS_{name.upper()}": str(value) for name, value in TEST_PATIENCE.items()})
    env.update(extra)
    return env


@contextmanager
def running(processes: Sequence[Process]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            process.stop()


PORT_BLOCKS = Path(tempfile.gettempdir()) / "oms-test-ports"
"""One lock file per block of ports a test process has taken (see :func:`free_port_offset`)."""
_taken: list[int] = []
"""The locked files' descriptors: held open, the blocks stay this process's until it exits."""


def free_port_offset(ports: Sequence[int], *, start: int = 20000, span: int = 7500) -> int:
    """An offset at which every port of ``ports`` is free on 127.0.0.1 and stays this
    test process's: a block is taken by locking a file named after it, so two test
    workers never start stacks on one block in the seconds between a probe and the
    child process's bind.  ``start + span`` plus a stack's ports stays under Linux's
    ephemeral range (32768 and up), where outgoing connections take their ports.
    Blocks are 60 ports apart: no two blocks share a port of a stack's (its ports and
    its extra saga processes' are less than 30 apart, or 1000 to 1019 or 2000 to
    2019, none a multiple of 60)."""
    PORT_BLOCKS.mkdir(exist_ok=True)
    blocks = span // 60
    first = os.getpid() % blocks
    for n in range(blocks):
        offset = start + (first + n) % blocks * 60
        descriptor = os.open(PORT_BLOCKS / str(offset), os.O_CREAT | os.O_RDWR)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            os.close(descriptor)
            continue
        _taken.append(descriptor)
        return offset
    raise AssertionError("no free block of ports")


class ProcessStack:
    """The system as operating-system processes on one RabbitMQ vhost and one
    PostgreSQL database: the card provider and the four services in one ``oms up``
    process (or any of them alone, ``oms run NAME``), and as many ``oms run saga``
    processes as a test starts, each on a port of its own."""

    SERVICES = ("card-provider", "orders", "inventory", "users", "payments")
    SAGA_PROCESSES = 3
    """How many saga processes a test may start (numbers 0 to 2)."""
    SAGA_SPACING = 1000
    """Saga process ``n`` runs at the stack's offset plus ``n`` times this."""
    START_SECONDS = 180
    """How long a process may take to start (imports, migrations) on a machine many
    test workers share."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        secret: str,
        logs: Path,
        component_urls: Mapping[str, str] | None = None,
    ) -> None:
        """``component_urls``: each component's own broker URL (its broker user);
        without them every component connects as ``broker_url``'s user."""
        from shared.settings import PORTS

        extra_sagas = [PORTS["saga"] + n * self.SAGA_SPACING for n in range(1, self.SAGA_PROCESSES)]
        self.offset = free_port_offset([*PORTS.values(), *extra_sagas])
        self.logs = logs
        self.base_env = process_env(
            {
                "OMS_BROKER_URL": broker_url,
                "OMS_DATABASE_URL": database_url,
                "OMS_JWT_SECRET": secret,
                "OMS_DATA_DIR": str(logs),
                "OMS_FAULTS_ENABLED": "true",
                "OMS_LOG_FORMAT": "json",
                "OMS_LOG_LEVEL": "WARNING",
                **{f"OMS_{name.upper()}": str(size) for name, size in TEST_POOLS.items()},
                **{
                    f"OMS_{name.upper()}_BROKER_URL": url
                    for name, url in (component_urls or {}).items()
                },
            }
        )
        self.processes: list[Process] = []

    def env(self, offset: int) -> dict[str, str]:
        return {**self.base_env, "OMS_PORT_OFFSET": str(offset)}

    def url(self, component: str, offset: int | None = None) -> str:
        from shared.settings import PORTS

        return f"http://127.0.0.1:{PORTS[component] + (self.offset if offset is None else offset)}"

    def start_services(self, names: Sequence[str] = SERVICES) -> Process:
        """``names`` (by default the provider and every service) in one process."""
        only = [arg for name in names for arg in ("--only", name)]
        process = Process(["up", *only], self.env(self.offset), self.logs / "services.log")
        self.processes.append(process.start())
        wait_ready([self.url(name) for name in names], process, self.START_SECONDS)
        return process

    def start_component(self, name: str) -> Process:
        """``oms run NAME``: one component in a process of its own, on the stack's port."""
        process = Process(["run", name], self.env(self.offset), self.logs / f"{name}.log")
        self.processes.append(process.start())
        wait_ready([self.url(name)], process, self.START_SECONDS)
        return process

    def restart(self, process: Process, url: str) -> None:
        """Start ``process`` again (once it stopped or was killed) and wait until it is ready."""
        if process.proc is not None:
            process.proc.wait(timeout=60)
        process.start()
        wait_ready([url], process, self.START_SECONDS)

    def start_saga(self, number: int = 0, *, priority: int | None = None) -> Process:
        """Saga process ``number``; number 0 answers on the stack's own saga port.
        Its consumers at ``priority`` (default: the one the process draws)."""
        if not 0 <= number < self.SAGA_PROCESSES:
            raise ValueError(f"saga process {number}: only 0 to {self.SAGA_PROCESSES - 1}")
        offset = self.offset + number * self.SAGA_SPACING
        log = self.logs / f"saga-{number}.log"
        env = self.env(offset)
        if priority is not None:
            env["OMS_CONSUMER_PRIORITY"] = str(priority)
        process = Process(["run", "saga"], env, log)
        self.processes.append(process.start())
        wait_ready([self.url("saga", offset)], process, self.START_SECONDS)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    @classmethod
    @contextmanager
    def on(cls, vhost: RabbitVhost, database_url: str, logs: Path) -> Iterator[Self]:
        """A stack on ``vhost`` and ``database_url``, each component its own broker user,
        signing with the tests' secret, its processes stopped when the block ends."""
        stack = cls(
            broker_url=vhost.url,
            database_url=database_url,
            secret=TEST_JWT_SECRET,
            logs=logs,
            component_urls=vhost.component_urls(),
        )
        try:
            yield stack
        finally:
            stack.stop()


Stack_ = TypeVar("Stack_", bound=ProcessStack)


def processes_fixture(kind: type[Stack_]) -> Callable[..., Iterator[Stack_]]:
    """A test module's ``processes`` fixture (``processes = processes_fixture(kind)``):
    a ``kind`` stack on the test's vhost and database (every schema already at head,
    so a process starting has no revision to run), stopped when the test ends."""

    @pytest.fixture
    def processes(
        rabbit_vhost: RabbitVhost, migrated_postgres_url: str, tmp_path: Path
    ) -> Iterator[Stack_]:
        with kind.on(rabbit_vhost, migrated_postgres_url, tmp_path) as stack:
            yield stack

    return processes
