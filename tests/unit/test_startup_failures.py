"""A component that cannot start says so in one or two lines naming what failed
and where (no password), and exits non-zero; ``oms --debug`` shows the traceback.

The real command in a real process, as an operator runs it.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import PORTS
from tests.support.processes import ROOT, free_port_offset, process_env

pytestmark = pytest.mark.slow  # a fresh interpreter per case

PASSWORD = "pw-that-must-not-show"
SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def oms(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oms.cli", *args],
        cwd=ROOT,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "OMS_DATA_DIR": str(tmp_path),
        "OMS_PORT_OFFSET": str(free_port_offset(list(PORTS.values()))),
        "OMS_LOG_FORMAT": "json",
    }


def database_at_closed_port() -> dict[str, str]:
    url = f"postgresql+asyncpg://oms:{PASSWORD}@127.0.0.1:{closed_port()}/oms"
    # A database URL alone is real mode too, which needs a real secret.
    return {"OMS_DATABASE_URL": url, "OMS_JWT_SECRET": SECRET}


def broker_at_closed_port() -> dict[str, str]:
    return {
        "OMS_BROKER_URL": f"amqp://guest:{PASSWORD}@127.0.0.1:{closed_port()}/",
        "OMS_JWT_SECRET": SECRET,
    }


def broker_nodes_at_closed_ports() -> dict[str, str]:
    """Three nodes, each URL with its own password: none may show."""
    nodes = (f"amqp://guest:{PASSWORD}{n}@127.0.0.1:{closed_port()}/" for n in ("", "-2nd", "-3rd"))
    return {"OMS_BROKER_URL": ",".join(nodes), "OMS_JWT_SECRET": SECRET}


@pytest.mark.parametrize(
    ("args", "failing", "named"),
    [
        pytest.param(["up"], database_at_closed_port, "database", id="up-database"),
        pytest.param(["migrate"], database_at_closed_port, "database", id="migrate-database"),
        pytest.param(["run", "saga"], database_at_closed_port, "saga", id="run-database"),
        pytest.param(["up"], broker_at_closed_port, "broker", id="up-broker"),
        pytest.param(["up"], broker_nodes_at_closed_ports, "broker", id="up-broker-nodes"),
    ],
)
def test_a_start_up_failure_is_one_or_two_lines_naming_what_and_where(
    env: dict[str, str], args: list[str], failing: object, named: str
) -> None:
    extra = failing()  # type: ignore[operator]
    url = next(iter(extra.values()))
    shown = re.sub(rf"{PASSWORD}[-a-z0-9]*", "***", url)

    result = oms(args, {**env, **extra})

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert shown in lines[0], result.stderr
    assert named in lines[0]
    assert "Connection refused" in lines[0] or "Connect call failed" in lines[0]
    assert PASSWORD not in result.stderr + result.stdout


def test_debug_shows_the_traceback(env: dict[str, str]) -> None:
    result = oms(["--debug", "migrate"], {**env, **database_at_closed_port()})

    assert result.returncode != 0
    assert "Traceback" in result.stderr or "ConnectionRefusedError" in result.stderr
    assert len(result.stderr.splitlines()) > 2
