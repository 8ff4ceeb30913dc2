from __future__ import annotations

import os

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from oms.cli import app
from shared.auth import verify_token
from shared.settings import DEV_JWT_SECRET, Settings

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


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
    monkeypatch.setenv("OMS_ORDERS_DATABASE_URL", "postgresql+asyncpg://db/orders")
    settings = Settings()
    assert settings.embedded
    assert settings.jwt_key == DEV_JWT_SECRET
    assert (
        settings.database_url_for("inventory") == "sqlite+aiosqlite:////tmp/oms-data/inventory.db"
    )
    assert settings.database_url_for("orders") == "postgresql+asyncpg://db/orders"
    assert settings.url_for("bff-web") == "http://127.0.0.1:3010"


def test_unknown_component_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["run", "warehouse"])
    assert result.exit_code == 2
    assert "unknown component" in result.output


POSTGRES_MAX_CONNECTIONS = 100
"""PostgreSQL's default ``max_connections``."""
POSTGRES_RESERVED = 3
"""Its default ``superuser_reserved_connections``."""


def test_default_pools_keep_the_system_and_two_extra_sagas_under_postgres_default_limit() -> None:
    settings = Settings()

    most = settings.database_connections(saga_processes=3)

    # 4 domain services * (4 + 4) + 3 saga processes * (5 + 5) + 2 BFFs * (2 + 2)
    assert most == 4 * 8 + 3 * 10 + 2 * 4 == 70
    assert most <= POSTGRES_MAX_CONNECTIONS - POSTGRES_RESERVED - 20  # room for psql, migrate


def test_pool_sizes_are_settings_per_kind_of_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DB_POOL_SIZE", "2")
    monkeypatch.setenv("OMS_DB_MAX_OVERFLOW", "0")
    monkeypatch.setenv("OMS_SAGA_DB_POOL_SIZE", "7")
    monkeypatch.setenv("OMS_BFF_DB_MAX_OVERFLOW", "1")
    settings = Settings()

    assert settings.pool_for("orders") == (2, 0)
    assert settings.pool_for("saga") == (7, 5)
    assert settings.pool_for("bff-web") == (2, 1)
    assert settings.database_connections() == 4 * 2 + 12 + 2 * 3


def test_a_pool_size_below_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DB_POOL_SIZE", "0")
    with pytest.raises(ValidationError, match="db_pool_size"):
        Settings()
