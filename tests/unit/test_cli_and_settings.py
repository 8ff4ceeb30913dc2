from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from oms.cli import app
from shared.auth import verify_token
from shared.settings import DEV_JWT_SECRET, Settings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_oms_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each case sees only the OMS_* variables it sets itself, none of the shell's."""
    for variable in [v for v in os.environ if v.startswith("OMS_")]:
        monkeypatch.delenv(variable)


def test_token_command_mints_a_token_the_services_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_JWT_SECRET", SECRET)
    result = CliRunner().invoke(app, ["token", "--sub", "alice", "--role", "ops"])
    assert result.exit_code == 0, result.output
    principal = verify_token(SECRET, result.output.strip())
    assert principal.sub == "alice"
    assert principal.is_ops


def test_real_mode_refuses_to_start_without_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/")
    with pytest.raises(ValidationError, match="OMS_JWT_SECRET"):
        Settings()


def test_embedded_mode_uses_the_development_secret_and_sqlite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMS_DATA_DIR", "/tmp/oms-data")
    settings = Settings()
    assert settings.embedded
    assert not settings.real_mode
    assert settings.jwt_key == DEV_JWT_SECRET
    assert (
        settings.database_url_for("inventory") == "sqlite+aiosqlite:////tmp/oms-data/inventory.db"
    )
    assert settings.url_for("bff-web") == "http://127.0.0.1:3010"


def test_a_service_database_url_overrides_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_JWT_SECRET", SECRET)
    monkeypatch.setenv("OMS_DATABASE_URL", "postgresql+asyncpg://db/oms")
    monkeypatch.setenv("OMS_ORDERS_DATABASE_URL", "postgresql+asyncpg://db/orders")
    settings = Settings()
    assert settings.real_mode
    assert settings.database_url_for("orders") == "postgresql+asyncpg://db/orders"
    assert settings.database_url_for("inventory") == "postgresql+asyncpg://db/oms"


def test_unknown_component_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["run", "warehouse"])
    assert result.exit_code == 2
    assert "unknown component" in result.output


# Port 1 refuses connections: a command that wrongly starts fails fast instead of
# running against (or declaring topology on) a real broker or database.
REAL_MODES = {
    "broker URL": {"OMS_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/"},
    "database URL": {"OMS_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/oms"},
    "one service's database URL": {
        "OMS_ORDERS_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/orders"
    },
}
WEAK_SECRETS = {
    "unset": None,
    "empty": "",
    "one character": "x",
    "31 bytes": "s" * 31,
    "the development default": DEV_JWT_SECRET,
}


@pytest.mark.parametrize("mode", REAL_MODES.values(), ids=REAL_MODES.keys())
@pytest.mark.parametrize("secret", WEAK_SECRETS.values(), ids=WEAK_SECRETS.keys())
def test_real_mode_refuses_a_weak_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, mode: dict[str, str], secret: str | None
) -> None:
    for variable, value in mode.items():
        monkeypatch.setenv(variable, value)
    if secret is not None:
        monkeypatch.setenv("OMS_JWT_SECRET", secret)
    with pytest.raises(ValidationError, match="OMS_JWT_SECRET"):
        Settings()


@pytest.mark.parametrize("mode", REAL_MODES.values(), ids=REAL_MODES.keys())
def test_real_mode_accepts_a_secret_of_32_bytes(
    monkeypatch: pytest.MonkeyPatch, mode: dict[str, str]
) -> None:
    for variable, value in mode.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("OMS_JWT_SECRET", "é" * 16)  # 16 characters, 32 bytes in UTF-8
    assert Settings().jwt_key == "é" * 16


@pytest.mark.parametrize("secret", ["", "x"], ids=["empty", "one character"])
def test_embedded_mode_keeps_the_development_default(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("OMS_JWT_SECRET", secret)
    settings = Settings()
    assert settings.embedded
    assert settings.jwt_key == (secret or DEV_JWT_SECRET)


@pytest.mark.parametrize(
    ("command", "mode", "secret"),
    [
        (["run", "orders"], REAL_MODES["broker URL"], ""),
        (["run", "orders"], REAL_MODES["database URL"], DEV_JWT_SECRET),
        (["run", "orders"], REAL_MODES["database URL"], None),
        (["up"], REAL_MODES["broker URL"], "x"),
    ],
    ids=["run, broker, empty", "run, database, dev default", "run, database, unset", "up, short"],
)
def test_oms_refuses_a_weak_secret_in_one_line_and_a_failing_exit(
    tmp_path: Path, command: list[str], mode: dict[str, str], secret: str | None
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_")}
    env.update(mode, OMS_DATA_DIR=str(tmp_path))
    if secret is not None:
        env["OMS_JWT_SECRET"] = secret
    result = subprocess.run(
        [sys.executable, "-m", "oms.cli", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # importing the CLI is slow on a busy machine
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "OMS_JWT_SECRET" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


POSTGRES_MAX_CONNECTIONS = 100
"""PostgreSQL's default ``max_connections``."""
POSTGRES_RESERVED = 3
"""Its default ``superuser_reserved_connections``."""


def test_default_pools_keep_the_system_and_two_extra_sagas_under_postgres_default_limit() -> None:
    settings = Settings()

    most = settings.database_connections(saga_processes=3)

    # 4 domain services * (8 + 0) + 3 saga processes * (10 + 0) + 2 BFFs * (4 + 0)
    # + the card provider (4 + 0)
    assert most == 4 * 8 + 3 * 10 + 2 * 4 + 4 == 74
    assert most <= POSTGRES_MAX_CONNECTIONS - POSTGRES_RESERVED - 20  # room for psql, migrate


def test_pool_sizes_are_settings_per_kind_of_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DB_POOL_SIZE", "2")
    monkeypatch.setenv("OMS_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("OMS_SAGA_DB_POOL_SIZE", "7")
    monkeypatch.setenv("OMS_BFF_DB_MAX_OVERFLOW", "1")
    settings = Settings()

    assert settings.pool_for("orders") == (2, 0)
    assert settings.pool_for("saga") == (7, 0)
    assert settings.pool_for("bff-web") == (4, 1)
    assert settings.pool_for("card-provider") == (4, 0)
    assert settings.database_connections() == 4 * 2 + 7 + 2 * 5 + 4


def test_a_pool_size_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DB_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="db_pool_size"):
        Settings()
