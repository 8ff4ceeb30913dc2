"""What ops see and do: ``oms saga …`` in a terminal, the live dashboard at ``/ops``
in a real browser, the state-change stream and the dead-letter views."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from oms.cli.saga import saga_app
from shared.auth import mint_token
from tests.support.infra import IN_CI, eventually
from tests.support.stack import TEST_JWT_SECRET, Stack, on_socket
from tests.support.system import Shopper, System, hand_made, running_system

if TYPE_CHECKING:
    from playwright.async_api import Page

API = "/api/v1"
CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = os.path.exists(CHROMIUM)


def need_chromium() -> None:
    """Skip a browser test without Chromium; under CI=true, fail it."""
    if not HAVE_CHROMIUM:
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is missing (CI=true: the browser test is mandatory)")
        pytest.skip(f"{CHROMIUM} is not installed")


ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def screenshots(name: str) -> Path:
    """The folder (made if need be) where a browser test keeps its screenshots."""
    folder = ARTIFACTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def enter_token(page: Page, token: str) -> None:
    """Type ``token`` and leave the field, as a person tabbing out would: the page
    loads once. A ``change`` dispatched by hand would leave the field focused, and
    the first click elsewhere would blur it, fire ``change`` again and reload the
    list under the test (a "load more" answered before that reload was wiped)."""
    await page.fill("#token", token)
    await page.locator("#token").blur()


@asynccontextmanager
async def ops_dashboard(app: FastAPI, token: str) -> AsyncIterator[Page]:
    """The saga ``app``'s ``/ops`` in headless Chromium at 1500 by 1000, the ops
    ``token`` entered."""
    from playwright.async_api import async_playwright

    async with on_socket(app) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1500, "height": 1000})
            await page.goto(f"{url}/ops")
            await enter_token(page, token)
            yield page
        finally:
            await browser.close()


SAGA_ORDER = ("reserving_inventory", "charging_payment", "confirming_order", "completed")


@pytest.fixture
async def ops_system(stack: Stack) -> AsyncIterator[System]:
    async with running_system(stack, faults_enabled=True) as running:
        yield running


async def saga_state(system: System, order_id: str) -> str:
    response = await system.services["saga"].get(
        f"{API}/sagas/{order_id}", headers=system.stack.ops()
    )
    return str(response.json().get("state")) if response.status_code == 200 else "missing"


async def stalled_checkout(system: System) -> tuple[Shopper, str]:
    """An order whose saga waits on a charge that payments will never answer."""
    product = await system.add_product(price=700, stock=3)
    shopper = await system.shopper("grace")
    dropped = await system.services["payments"].post(
        f"{API}/_faults",
        json={"message": "payment.charge", "mode": "drop", "times": 1},
        headers=system.stack.ops(),
    )
    assert dropped.status_code == 201, dropped.text
    response = await system.checkout(shopper, [(product["id"], 1)])
    assert response.status_code == 202, response.text
    order_id = str(response.json()["orderId"])
    await eventually(
        lambda: saga_state(system, order_id),
        until=lambda s: s == "charging_payment",
        what="the saga to wait for its charge",
    )
    return shopper, order_id


async def oms_saga(url: str, *args: str) -> tuple[int, str]:
    """``oms saga ARGS`` against the saga service at ``url``, off the event loop
    that serves it."""
    env = {"OMS_SAGA_URL": url, "OMS_JWT_SECRET": TEST_JWT_SECRET, "COLUMNS": "250"}
    result = await asyncio.to_thread(CliRunner().invoke, saga_app, list(args), env=env)
    return result.exit_code, result.output


async def test_ops_list_show_abort_and_replay_sagas_from_the_terminal(
    ops_system: System,
) -> None:
    system = ops_system
    product = await system.add_product(price=1200, stock=5)
    shopper = await system.shopper()
    done = await system.checkout(shopper, [(product["id"], 1)], wait=10)
    assert done.json()["status"] == "confirmed", done.text
    completed = done.json()["orderId"]
    grace, stalled = await stalled_checkout(system)

    async with on_socket(system.apps["saga"]) as url:
        code, listing = await oms_saga(url, "list")
        assert code == 0, listing
        assert completed in listing
        assert stalled in listing
        assert "charging_payment" in listing

        code, completed_only = await oms_saga(url, "list", "--state", "completed")
        assert code == 0
        assert completed in completed_only
        assert stalled not in completed_only

        code, aborted = await oms_saga(
            url, "--as", "grace-ops", "abort", stalled, "--reason", "customer phoned"
        )
        assert code == 0, aborted
        assert f"{stalled} → refunding_payment" in aborted
        assert await system.settled(grace, stalled) == "cancelled"

        code, history = await oms_saga(url, "show", stalled)
        assert code == 0, history
        assert "customer phoned" in history
        assert "aborted by grace-ops: customer phoned" in history  # who did it
        assert "inventory.release" in history

        code, replayed = await oms_saga(url, "replay", completed)
        assert code == 0, replayed
        assert "no divergence" in replayed

        code, unknown = await oms_saga(url, "show", str(uuid.uuid4()))
        assert code == 1
        assert "404" in unknown

    # Stock was given back by the abort's compensation.
    after = await system.services["inventory"].get(f"{API}/products/{product['id']}")
    assert after.json()["available"] == 4


async def test_the_stream_reports_a_sagas_states_in_saga_order_until_completed(
    system: System,
) -> None:
    product = await system.add_product(price=500, stock=2)
    shopper = await system.shopper()
    seen: list[dict[str, Any]] = []
    connected = asyncio.Event()

    async with on_socket(system.apps["saga"]) as url, httpx.AsyncClient(base_url=url) as http:

        async def listen() -> None:
            async with http.stream(
                "GET", f"{API}/sagas/stream", headers=system.stack.ops(), timeout=None
            ) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                connected.set()
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line.removeprefix("data: ")))

        listener = asyncio.create_task(listen())
        try:
            async with asyncio.timeout(10):
                await connected.wait()
            order = await system.checkout(shopper, [(product["id"], 1)], wait=10)
            order_id = order.json()["orderId"]

            async def states() -> list[str]:
                return [s["state"] for s in seen if s["id"] == order_id]

            found = await eventually(
                states,
                until=lambda found: "completed" in found,
                what="the stream to report the saga completed",
            )
        finally:
            listener.cancel()
        # The stream polls: a state held only briefly may be skipped, never reordered.
        distinct = [state for i, state in enumerate(found) if i == 0 or found[i - 1] != state]
        assert distinct[-1] == "completed"
        assert distinct == [state for state in SAGA_ORDER if state in distinct], found
        refused = await http.get(f"{API}/sagas/stream")
        assert refused.status_code == 401


async def test_the_stream_ends_when_its_token_expires(system: System) -> None:
    ttl = 2
    token = mint_token(TEST_JWT_SECRET, sub="ops-user", roles=["ops"], ttl_seconds=ttl)
    expires_at = time.time() + ttl
    events: list[str] = []
    async with on_socket(system.apps["saga"]) as url, httpx.AsyncClient(base_url=url) as http:
        # Long enough for a busy machine, far shorter than a stream that never ends.
        async with (
            asyncio.timeout(ttl + 20),
            http.stream(
                "GET", f"{API}/sagas/stream", params={"access_token": token}, timeout=None
            ) as response,
        ):
            assert response.status_code == 200
            events.extend([line async for line in response.aiter_lines() if line])
        ended_at = time.time()
        again = await http.get(f"{API}/sagas/stream", params={"access_token": token})
    assert ended_at >= int(expires_at) - 0.05  # the token's exp is whole seconds
    assert events[-2:] == [
        "event: expired",
        "data: the token expired; reconnect with a fresh one",
    ]
    assert again.status_code == 401


async def test_a_malformed_event_is_dead_lettered_shown_to_ops_and_can_be_requeued(
    system: System,
) -> None:
    order_id = str(uuid.uuid4())
    bad = hand_made("orders", "order.created", b'{"orderId": 42', correlation_id=order_id)
    await system.stack.for_component("orders").publish(bad)
    saga = system.services["saga"]

    async def letters() -> list[dict[str, Any]]:
        response = await saga.get(f"{API}/dead-letters", headers=system.stack.ops())
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()
        return [letter for letter in found if letter["messageId"] == bad.message_id]

    [letter] = await eventually(letters, what="the malformed event among the dead letters")
    assert letter["queue"] == "saga.events"
    assert "invalid" in letter["reason"].lower() or "json" in letter["reason"].lower()

    requeued = await saga.post(
        f"{API}/dead-letters/{letter['id']}/requeue", headers=system.stack.ops()
    )
    assert requeued.status_code == 200, requeued.text
    assert requeued.json()["id"] == letter["id"]
    assert requeued.json()["requeuedAt"] is not None
    # Still malformed: it comes straight back as a new letter, with its reason; the
    # requeued one is no longer listed.
    [again] = await eventually(
        letters,
        until=lambda found: any(f["id"] != letter["id"] for f in found),
        what="the requeued message dead-lettered again",
    )
    assert again["id"] != letter["id"]
    assert again["queue"] == "saga.events"
    assert again["reason"] == letter["reason"]
    forbidden = await saga.get(f"{API}/dead-letters", headers=system.stack.auth("someone"))
    assert forbidden.status_code == 403


async def test_the_dashboard_may_run_only_its_own_script_and_cannot_be_framed(
    system: System,
) -> None:
    response = await system.services["saga"].get("/ops")
    assert response.status_code == 200
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in response.headers["content-security-policy"].split("; ")
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert response.headers["x-frame-options"] == "DENY"
    # Exactly the page's own inline script and style are allowed, by their hash:
    # an injected one is not, and neither is an inline handler or style attribute.
    for kind in ("script", "style"):
        bodies = re.findall(rf"<{kind}>(.*?)</{kind}>", response.text, re.DOTALL)
        hashes = [
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'"
            for b in bodies
        ]
        assert bodies
        assert policy[f"{kind}-src"] == hashes
    assert not re.search(r"\s(style|on[a-z]+)=", response.text)


@pytest.mark.browser
async def test_the_dashboard_shows_sagas_live_and_their_history_in_a_real_browser(
    system: System,
) -> None:
    need_chromium()
    from playwright.async_api import async_playwright

    product = await system.add_product(price=900, stock=5)
    shopper = await system.shopper()
    first = await system.checkout(shopper, [(product["id"], 1)], wait=10)
    first_id = first.json()["orderId"]
    ops_token = system.stack.token("ops-user", "ops")

    async with on_socket(system.apps["saga"]) as url, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            # What the Content-Security-Policy blocked, as the browser reports it.
            refused: list[str] = []
            page.on(
                "console",
                lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
            )
            await page.goto(f"{url}/ops")
            await enter_token(page, ops_token)
            row = page.locator(f'tr.saga[data-id="{first_id}"]')
            await row.wait_for(timeout=10_000)
            assert "completed" in await row.inner_text()

            # A saga started now appears without a reload: the page follows the stream.
            second = await system.checkout(shopper, [(product["id"], 1)], wait=10)
            second_row = page.locator(f'tr.saga[data-id="{second.json()["orderId"]}"]')
            await second_row.wait_for(timeout=10_000)

            await row.click()
            detail = page.locator("#detail")
            timeline = detail.locator("#timeline")
            await timeline.get_by_text("inventory.reserve sent").wait_for(timeout=10_000)
            assert first_id in await detail.inner_text()
            await detail.locator("#diagram svg").wait_for(timeout=10_000)
            assert refused == []
        finally:
            await browser.close()
