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
