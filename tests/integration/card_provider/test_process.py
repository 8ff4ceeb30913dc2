"""``oms run card-provider`` as users run it: a process of its own that needs no
broker, whose charges outlive it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared.settings import PORTS
from tests.support.processes import Process, free_port_offset, process_env, wait_ready
from tests.support.stack import TEST_JWT_SECRET

pytestmark = pytest.mark.slow


def test_the_provider_runs_alone_without_a_broker_and_keeps_its_charges_across_restarts(
    tmp_path: Path,
) -> None:
    offset = free_port_offset([PORTS["card-provider"]])
    url = f"http://127.0.0.1:{PORTS['card-provider'] + offset}/api/v1"
    env = process_env(
        {
            # Real mode with a broker nobody listens on: the provider never asks it.
            "OMS_BROKER_URL": "amqp://guest:guest@127.0.0.1:1/",
            "OMS_CARD_PROVIDER_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'provider.db'}",
            "OMS_JWT_SECRET": TEST_JWT_SECRET,
            "OMS_PORT_OFFSET": str(offset),
            "OMS_DATA_DIR": str(tmp_path),
            "OMS_LOG_FORMAT": "json",
        }
    )
    provider = Process(["run", "card-provider"], env, tmp_path / "provider.log")
    try:
        provider.start()
        wait_ready([url.removesuffix("/api/v1")], provider, 180)
        charged = httpx.post(
            f"{url}/charges",
            json={"token": "pm_card_ok", "amount": 4200, "currency": "EUR"},
            headers={"Idempotency-Key": "charge:order-1"},
            timeout=10,
        )
        assert charged.status_code == 201, charged.text
        provider.stop()

        provider.start()
        wait_ready([url.removesuffix("/api/v1")], provider, 180)
        shown = httpx.get(f"{url}/charges/{charged.json()['id']}", timeout=10)
        again = httpx.post(
            f"{url}/charges",
            json={"token": "pm_card_ok", "amount": 4200, "currency": "EUR"},
            headers={"Idempotency-Key": "charge:order-1"},
            timeout=10,
        )
    finally:
        provider.stop()
    assert shown.json()["status"] == "captured"
    assert again.json()["id"] == charged.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert provider.proc is not None
    assert provider.proc.returncode == 0, provider.tail()
