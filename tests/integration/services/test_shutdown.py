"""SIGTERM to ``oms up`` with checkouts waiting for their sagas: the BFFs stop
first and every caller gets its answer (200, 202) or a 503, never a 502, and
the process is gone within ``OMS_SHUTDOWN_GRACE_SECONDS``.

The real command in a real process, on both stacks.  A 20 s delay injected
into ``payment.charge`` keeps every saga (and so every ``?wait``) in flight when
the signal comes: they answer 503 when the BFFs' share of the grace is up.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shared.auth import mint_token
from shared.settings import PORTS
from tests.support.infra import RabbitVhost, eventually
from tests.support.processes import Process, free_port_offset, process_env, wait_ready
from tests.support.system import ADDRESS, PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]  # a whole system starts and stops

API = "/api/v1"
SECRET = "a-test-secret-that-is-long-enough-for-hs256"
GRACE = 8.0
CHECKOUTS = 20
WAIT = 30
"""The longest ``?wait`` there is: every checkout still waits when the signal comes."""
TEARDOWN = 3.0
"""Seconds an interpreter may take to exit after its last component stopped."""


@pytest.fixture(
    params=["embedded", pytest.param("real", marks=[pytest.mark.rabbitmq, pytest.mark.postgres])]
)
def stack_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = {
        "OMS_DATA_DIR": str(tmp_path / "data"),
        "OMS_PORT_OFFSET": str(free_port_offset(list(PORTS.values()))),
        "OMS_JWT_SECRET": SECRET,
        "OMS_FAULTS_ENABLED": "true",
        "OMS_SHUTDOWN_GRACE_SECONDS": str(GRACE),
        "OMS_LOG_FORMAT": "json",
        "OMS_LOG_LEVEL": "WARNING",
    }
    if request.param == "real":
        vhost: RabbitVhost = request.getfixturevalue("rabbit_vhost")
        env["OMS_BROKER_URL"] = vhost.url
        env["OMS_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    return env


def url(env: dict[str, str], component: str) -> str:
    return f"http://127.0.0.1:{PORTS[component] + int(env['OMS_PORT_OFFSET'])}"


async def test_sigterm_stops_the_bffs_first_so_waiting_checkouts_never_get_a_502(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    ops = {"Authorization": f"Bearer {mint_token(SECRET, sub='ops', roles=['ops'])}"}
    up = Process(["up"], process_env(stack_env), tmp_path / "up.log").start()
    try:
        wait_ready([url(stack_env, name) for name in PORTS], up, timeout=180)
        async with httpx.AsyncClient(timeout=WAIT + 30) as http:
            product = await http.post(
                f"{url(stack_env, 'inventory')}{API}/products",
                json={
                    "sku": f"SKU-{uuid.uuid4().hex[:8]}",
                    "name": "Cup",
                    "price": 500,
                    "currency": "EUR",
                    "stock": 100,
                },
                headers=ops,
            )
            assert product.status_code == 201, product.text
            session = await http.post(
                f"{url(stack_env, 'bff-web')}{API}/auth/register",
                json={
                    "email": f"s-{uuid.uuid4().hex[:8]}@example.com",
                    "password": PASSWORD,
                    "name": "Sam",
                },
            )
            assert session.status_code == 201, session.text
            shopper = {"Authorization": f"Bearer {session.json()['token']}"}
            fault = await http.post(
                f"{url(stack_env, 'payments')}{API}/_faults",
                json={
                    "message": "payment.charge",
                    "mode": "delay",
                    "times": CHECKOUTS,
                    "delayMs": 20_000,
                },
                headers=ops,
            )
            assert fault.status_code == 201, fault.text

            async def checkout() -> tuple[httpx.Response, float]:
                answer = await http.post(
                    f"{url(stack_env, 'bff-web')}{API}/checkout",
                    params={"wait": WAIT},
                    json={
                        "items": [{"productId": product.json()["id"], "quantity": 1}],
                        "shippingAddress": ADDRESS,
                        "paymentMethodId": "pm_card_ok",
                    },
                    headers=shopper,
                )
                return answer, time.monotonic()

            checkouts = [asyncio.create_task(checkout()) for _ in range(CHECKOUTS)]

            async def in_flight() -> list[str]:
                page = await http.get(
                    f"{url(stack_env, 'saga')}{API}/sagas",
                    params={"limit": 100},
                    headers=ops,
                )
                return [saga["state"] for saga in page.json()["items"]]

            await eventually(
                in_flight,
                until=lambda states: states.count("charging_payment") == CHECKOUTS,
                timeout=90,
                what="every checkout's saga to wait on its charge",
                interval=0.5,  # each look is a query on the saga's database: not too many
            )
            assert up.proc is not None
            up.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            answers = await asyncio.gather(*checkouts, return_exceptions=True)
        up.proc.wait(timeout=GRACE + 30)
        stopped_after = time.monotonic() - signalled
    finally:
        up.kill()

    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, f"{failures[:3]}\n{up.tail()}"
    # What answered before the signal is no answer to it: on a loaded machine a
    # placement may take longer than the BFF waits for it (504), its saga running on.
    statuses = sorted(a.status_code for a, at in answers if at > signalled)
    assert statuses, up.tail()
    assert set(statuses) <= {200, 202, 503}, f"{statuses}\n{up.tail()}"
    early = {a.status_code for a, at in answers if at <= signalled}
    assert early <= {504}, f"{early}\n{up.tail()}"
    assert stopped_after < GRACE + TEARDOWN, f"stopped after {stopped_after:.1f}s\n{up.tail()}"
    assert up.proc.returncode == 0, up.tail()
