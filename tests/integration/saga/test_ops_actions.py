"""Ops acting on many sagas at once and finding the ones that need them, on both
stacks: the list's filters (state, stuck, order, user) with why a saga is stuck,
the counts, the diagram as data, bulk retry and abort (``POST /sagas/retry``,
``POST /sagas/abort``) through the API and ``oms saga``, and the dashboard doing
it all in a real browser."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from saga.bulk import MOST_AT_ONCE
from tests.integration.saga.test_e2e import (
    API,
    FAULTS,
    Checkout,
    cancel,
    inject,
    place,
    saga_of,
    saga_passes,
    saga_reaches,
)
from tests.integration.saga.test_ops import need_chromium, oms_saga, ops_dashboard, screenshots
from tests.support.infra import eventually
from tests.support.stack import Stack, on_socket
from tests.support.system import System, problem_of, running_system

STEP_TIMEOUT = 2.0
"""Short enough that a dropped command is resent (and its saga stuck) within the test."""
UNDO_ONWARDS = ("refunding_payment", "releasing_inventory", "cancelling_order", "cancelled")
"""Screenshots of the dashboard (git-ignored)."""


@pytest.fixture
async def ops_shop(stack: Stack) -> AsyncIterator[System]:
    """Every component with fault injection, short deadlines and room to resend."""
    async with running_system(
        stack, **FAULTS, saga_step_timeout_seconds=STEP_TIMEOUT, saga_step_retries=5
    ) as running:
        yield running


async def failed_saga(system: System) -> Checkout:
    """A confirmed order whose cancel failed: the gateway declined its refund twice."""
    placed = await place(system, price=1250, stock=5, quantity=2)
    await saga_reaches(system, placed.order_id, "completed")
    await inject(system, "payments", "payment.refund", "decline", times=2)
    await cancel(system, placed)
    await saga_reaches(system, placed.order_id, "failed")
    return placed


async def open_saga(page: Any, saga_id: str, attempts: int = 5) -> None:
    """Click a saga's row, as ops do, until the page has it open (its row marked
    ``open``). The list is redrawn on every update the stream brings, so on a busy
    machine a click can land on a row just replaced, or wait on one being replaced;
    a person clicks again, and so does this."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    row = f'tr.saga[data-id="{saga_id}"]'
    for attempt in range(1, attempts + 1):
        try:
            await page.locator(f"{row} td").nth(1).click(timeout=5_000)
            await page.locator(f"{row}.open").wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            if attempt == attempts:
                raise


async def stuck_saga(system: System) -> Checkout:
    """An order whose charge payments drops every time: the saga keeps resending it."""
    await inject(system, "payments", "payment.charge", "drop", times=20)
    placed = await place(system, price=800, stock=5, quantity=1)
    await eventually(
        lambda: saga_of(system, placed.order_id),
        until=lambda s: s.get("attempts", 0) >= 2,
        what="the charge to be resent",
    )
    return placed


async def listed(system: System, **params: Any) -> list[dict[str, Any]]:
    response = await system.services["saga"].get(
        f"{API}/sagas", params=params, headers=system.stack.ops()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def bulk(system: System, action: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await system.services["saga"].post(
        f"{API}/sagas/{action}", json=body, headers=system.stack.ops()
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_the_list_filters_by_order_user_and_stuck_and_says_why(ops_shop: System) -> None:
    system = ops_shop
    done = await place(system)
    await saga_reaches(system, done.order_id, "completed")
    stuck = await stuck_saga(system)

    [only] = await listed(system, stuck="true")
    assert only["id"] == stuck.order_id
    assert only["state"] == "charging_payment"
    assert (only["step"], only["attempts"]) == ("payment.charge", only["attempts"])
    assert only["attempts"] >= 2
    assert "payment.charge" in only["stuck"]
    assert f"sent {only['attempts']} times" in only["stuck"]

    assert [s["id"] for s in await listed(system, orderId=done.order_id)] == [done.order_id]
    assert [s["id"] for s in await listed(system, userId=stuck.shopper.user_id)] == [stuck.order_id]
    assert await listed(system, userId=stuck.shopper.user_id, state="completed") == []
    [completed] = await listed(system, state="completed")
    assert completed["stuck"] is None

    counts = await system.services["saga"].get(f"{API}/sagas/summary", headers=system.stack.ops())
    assert counts.status_code == 200, counts.text
    summary = counts.json()
    assert summary["byState"]["completed"] == 1
    assert summary["byState"]["charging_payment"] == 1
    assert (summary["inFlight"], summary["stuck"]) == (1, 1)
    minutes = summary["finishedPerMinute"]
    assert len(minutes) == 60
    assert sum(m["completed"] for m in minutes) == 1

    # Ops give up on the stuck one: aborted by filter, with who and why.
    result = await bulk(system, "abort", {"filter": {"stuck": True}, "reason": "payments down"})
    assert [(o["id"], o["ok"]) for o in result["outcomes"]] == [(stuck.order_id, True)]
    assert result["outcomes"][0]["state"] == "refunding_payment"
    saga = await saga_of(system, stuck.order_id)
    operator = [h for h in saga["history"] if h["kind"] == "operator"]
    assert [h["text"] for h in operator] == ["aborted by ops-user: payments down"]


async def test_bulk_retry_resumes_every_failed_saga_and_reports_each_outcome(
    ops_shop: System,
) -> None:
    system = ops_shop
    first, second = await failed_saga(system), await failed_saga(system)
    completed = await place(system)
    await saga_reaches(system, completed.order_id, "completed")
    cleared = await system.services["payments"].delete(f"{API}/_faults", headers=system.stack.ops())
    assert cleared.status_code == 204, cleared.text

    result = await bulk(system, "retry", {"filter": {"state": "failed"}, "reason": "repaired"})
    assert result["action"] == "retry"
    assert (result["requested"], result["succeeded"]) == (2, 2)
    assert {o["id"] for o in result["outcomes"] if o["ok"]} == {first.order_id, second.order_id}
    # Each outcome is read once the retry is stored: the undo may already have moved on.
    assert {o["state"] for o in result["outcomes"]} <= {*UNDO_ONWARDS}
    for placed in (first, second):
        saga = await saga_reaches(system, placed.order_id, "cancelled")
        operator = [h["detail"] for h in saga["history"] if h["kind"] == "operator"]
        assert operator == [{"action": "retry", "actor": "ops-user", "reason": "repaired"}]
        texts = [h["text"] for h in saga["history"]]
        assert "retried by ops-user: repaired" in texts
        assert "payment.refund sent, attempt 3 (25.00 EUR)" in texts
        assert "inventory.reserved: 2 items at 12.50" in texts

    # By ids: each saga answers for itself, none stops the others.
    unknown = "no-such-order"
    result = await bulk(
        system,
        "retry",
        {"ids": [completed.order_id, unknown, completed.order_id], "reason": "just checking"},
    )
    assert (result["requested"], result["succeeded"]) == (2, 0)
    outcomes = {o["id"]: o for o in result["outcomes"]}
    assert outcomes[completed.order_id]["state"] == "completed"
    assert "nothing to retry" in outcomes[completed.order_id]["error"]
    assert outcomes[unknown]["state"] is None
    assert "not found" in outcomes[unknown]["error"]


async def test_bulk_actions_refuse_what_they_cannot_do_safely(system: System) -> None:
    saga = system.services["saga"]
    ops = system.stack.ops()
    nothing = await saga.post(f"{API}/sagas/abort", json={"filter": {}, "reason": "x"}, headers=ops)
    assert "filter" in str(problem_of(nothing, 422))
    nulls = await saga.post(
        f"{API}/sagas/abort", json={"filter": {"state": None}, "reason": "x"}, headers=ops
    )
    problem_of(nulls, 422)
    both = await saga.post(
        f"{API}/sagas/retry",
        json={"ids": ["a"], "filter": {"stuck": True}, "reason": "x"},
        headers=ops,
    )
    problem_of(both, 422)
    no_reason = await saga.post(f"{API}/sagas/retry", json={"ids": ["a"]}, headers=ops)
    problem_of(no_reason, 422)
    too_many = [f"order-{n}" for n in range(MOST_AT_ONCE + 1)]
    over = await saga.post(f"{API}/sagas/retry", json={"ids": too_many, "reason": "x"}, headers=ops)
    problem_of(over, 422)
    customer = await saga.post(
        f"{API}/sagas/retry",
        json={"ids": ["a"], "reason": "x"},
        headers=system.stack.auth("someone"),
    )
    problem_of(customer, 403)
    not_a_saga = await saga.get(f"{API}/sagas/retry", headers=ops)
    assert problem_of(not_a_saga, 405)
    assert not_a_saga.headers["allow"] == "POST"

    diagram = await saga.get(f"{API}/sagas/diagram", headers=ops)
    assert diagram.status_code == 200, diagram.text
    graph = diagram.json()
    assert {"from": None, "to": "reserving_inventory", "inputs": ["order.created"]} in graph[
        "edges"
    ]
    kinds = {s["name"]: s["kind"] for s in graph["states"]}
    assert (kinds["charging_payment"], kinds["refunding_payment"], kinds["failed"]) == (
        "forward",
        "undo",
        "rest",
    )


async def test_ops_find_and_retry_failed_sagas_from_the_terminal(ops_shop: System) -> None:
    system = ops_shop
    first, second = await failed_saga(system), await failed_saga(system)
    cleared = await system.services["payments"].delete(f"{API}/_faults", headers=system.stack.ops())
    assert cleared.status_code == 204, cleared.text

    async with on_socket(system.apps["saga"]) as url:
        code, mine = await oms_saga(url, "list", "--user", first.shopper.user_id)
        assert code == 0, mine
        assert first.order_id in mine
        assert second.order_id not in mine

        code, one = await oms_saga(url, "list", "--order", second.order_id, "--state", "failed")
        assert code == 0, one
        assert second.order_id in one
        assert "refund declined" in one

        code, timeline = await oms_saga(url, "show", first.order_id)
        assert code == 0, timeline
        assert "payment.refund sent, attempt 2" in timeline
        assert "completed → refunding_payment" in timeline
        assert "ahead: refunding_payment → releasing_inventory" in timeline

        code, refused = await oms_saga(url, "retry", "--reason", "repaired")
        assert code == 2, refused

        code, retried = await oms_saga(
            url,
            "--as",
            "dana",
            "retry",
            "--state",
            "failed",
            "--reason",
            "gateway repaired",
            "--yes",
        )
        assert code == 0, retried
        for placed in (first, second):
            assert placed.order_id in retried
        assert "2 of 2 sagas: retry done" in retried

    for placed in (first, second):
        await saga_reaches(system, placed.order_id, "cancelled")
        saga = await saga_of(system, placed.order_id)
        assert "retried by dana: gateway repaired" in [h["text"] for h in saga["history"]]


@pytest.mark.browser
async def test_the_dashboard_follows_a_checkout_live_and_bulk_retries_failed_sagas(
    ops_shop: System, stack: Stack
) -> None:
    need_chromium()

    system = ops_shop
    shots = screenshots(f"dashboard-{stack.kind}")
    failed = [await failed_saga(system), await failed_saga(system)]
    ops_token = system.stack.token("alice", "ops")

    async with ops_dashboard(system.apps["saga"], ops_token) as page:
        for placed in failed:
            await page.locator(f'tr.saga[data-id="{placed.order_id}"]').wait_for()
        await page.locator("#counts button[data-count='failed']").wait_for()
        assert "failed: 2" in await page.locator("#counts").inner_text()

        # A checkout whose charge payments holds back: the saga appears live and
        # moves on once the charge is answered.
        await inject(system, "payments", "payment.charge", "drop", times=1)
        live = await place(system, price=990, stock=5, quantity=1)
        row = page.locator(f'tr.saga[data-id="{live.order_id}"]')
        await row.wait_for(timeout=10_000)
        await page.locator(
            f'tr.saga[data-id="{live.order_id}"][data-state="charging_payment"]'
        ).wait_for(timeout=10_000)
        await page.screenshot(path=str(shots / "1-charging.png"), full_page=True)
        await page.locator(f'tr.saga[data-id="{live.order_id}"][data-state="completed"]').wait_for(
            timeout=20_000
        )

        # Its timeline in words and its diagram, where it is now highlighted.
        await open_saga(page, live.order_id)
        timeline = page.locator("#timeline")
        await timeline.get_by_text("payment.charge sent, attempt 2").wait_for()
        await timeline.get_by_text("inventory.reserved: 1 item at 9.90").wait_for()
        current = page.locator("#diagram g.node.current")
        assert await current.get_attribute("data-state") == "completed"
        assert await page.locator("#diagram g.node.ahead").count() == 0
        taken = await page.locator("#diagram path.edge.taken").evaluate_all(
            "paths => paths.map(p => p.dataset.edge)"
        )
        assert taken == [
            "start>reserving_inventory",
            "reserving_inventory>charging_payment",
            "charging_payment>confirming_order",
            "confirming_order>completed",
        ]
        entry = timeline.locator("details").first
        await entry.locator("summary").click()
        assert live.order_id in await entry.locator("pre").inner_text()
        await page.screenshot(path=str(shots / "2-timeline-and-diagram.png"), full_page=True)

        # A failed saga's diagram: failed now, the undo still ahead. The saga API
        # turning its next two reads of a saga away (503) only delays it.
        turned_away = await system.services["saga"].post(
            f"{API}/_faults",
            json={
                "route": "/api/v1/sagas/{saga_id}",
                "method": "GET",
                "mode": "error",
                "times": 2,
            },
            headers=system.stack.ops(),
        )
        assert turned_away.status_code == 201, turned_away.text
        await open_saga(page, failed[0].order_id)
        await page.locator('#diagram g.node.current[data-state="failed"]').wait_for()
        await page.locator('#diagram g.node.ahead[data-state="refunding_payment"]').wait_for()

        # Ops repair the gateway, pick the failed ones and retry them with a reason.
        cleared = await system.services["payments"].delete(
            f"{API}/_faults", headers=system.stack.ops()
        )
        assert cleared.status_code == 204, cleared.text
        await page.select_option("#filter-state", "failed")
        await page.locator("tr.saga").first.wait_for()
        await eventually(
            lambda: page.locator("tr.saga").count(), until=lambda n: n == 2, what="two rows"
        )
        await page.check("#pick-all")
        await page.click("#retry-selected")
        await page.fill("#reason-input", "gateway repaired")
        await page.screenshot(path=str(shots / "3-reason.png"), full_page=True)
        await page.click("#reason-ok")
        outcomes = page.locator("#outcomes tr.outcome")
        await outcomes.nth(1).wait_for()
        assert await page.locator('#outcomes tr.outcome[data-ok="true"]').count() == 2
        assert "2 of 2 done" in await page.locator("#outcomes").inner_text()
        await page.screenshot(path=str(shots / "4-outcomes.png"), full_page=True)

        # They leave `failed` and the page follows them to cancelled.
        await page.select_option("#filter-state", "")
        for placed in failed:
            await page.locator(
                f'tr.saga[data-id="{placed.order_id}"][data-state="cancelled"]'
            ).wait_for(timeout=20_000)
        await open_saga(page, failed[1].order_id)
        await page.locator("#timeline").get_by_text("retried by alice: gateway repaired").wait_for()
        await page.screenshot(path=str(shots / "5-retried.png"), full_page=True)
        assert sorted(os.listdir(shots)) == [
            "1-charging.png",
            "2-timeline-and-diagram.png",
            "3-reason.png",
            "4-outcomes.png",
            "5-retried.png",
        ]
        for placed in failed:
            await saga_passes(system, placed.order_id, "cancelled")
