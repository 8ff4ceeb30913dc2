"""The dashboard's list filtered by kind, in a real browser on both stacks: an order
saga and its return saga, and the kind select showing one or the other; a bulk
filter by kind selects only that kind's sagas."""

from __future__ import annotations

import pytest

from tests.integration.saga.test_ops import need_chromium, ops_dashboard, screenshots
from tests.integration.saga.test_returns import (
    API,
    ask_return,
    delivered,
    receive,
    return_saga_reaches,
    shop,
)
from tests.support.stack import TEST_JWT_SECRET, Stack
from tests.support.system import System

__all__ = ["shop"]


@pytest.mark.timeout(240)
async def test_the_list_shows_one_kind_of_saga_when_a_kind_is_chosen(
    shop: System, stack: Stack
) -> None:
    need_chromium()
    from shared.auth import mint_token

    order = await delivered(shop, price=1250, stock=5, quantity=2)
    asked = await ask_return(shop, order, 1)
    assert asked.status_code == 201, asked.text
    return_id = asked.json()["id"]
    await return_saga_reaches(shop, return_id, "awaiting_receipt")
    received = await receive(shop, return_id, order.product_id, 1)
    assert received.status_code == 200, received.text
    await return_saga_reaches(shop, return_id, "completed")

    # The bulk filter takes the kind too: a dry run of it selects the return saga only.
    dry = await shop.services["saga"].post(
        f"{API}/sagas/retry/dry-run",
        json={"filter": {"kind": "return"}},
        headers=stack.ops(),
    )
    assert dry.status_code == 200, dry.text
    assert (dry.json()["selects"], dry.json()["described"]) == (1, "every return saga")

    token = mint_token(TEST_JWT_SECRET, sub="ops-1", roles=["ops"], ttl_seconds=600)
    folder = screenshots("dashboard-kinds")
    async with ops_dashboard(shop.apps["saga"], token) as page:
        order_row = page.locator(f'tr.saga[data-id="{order.order_id}"]')
        return_row = page.locator(f'tr.saga[data-id="{return_id}"]')
        await order_row.wait_for(timeout=15_000)
        await return_row.wait_for(timeout=15_000)
        assert await return_row.get_attribute("data-kind") == "return"

        await page.select_option("#filter-kind", "return")
        await order_row.wait_for(state="detached", timeout=15_000)
        assert await page.locator("tr.saga").count() == 1
        assert await return_row.get_attribute("data-kind") == "return"
        await page.screenshot(path=str(folder / "returns-only.png"))

        await page.select_option("#filter-kind", "order")
        await return_row.wait_for(state="detached", timeout=15_000)
        await order_row.wait_for(timeout=15_000)
        assert await page.locator("tr.saga").count() == 1

        await page.select_option("#filter-kind", "")
        await return_row.wait_for(timeout=15_000)
        assert await page.locator("tr.saga").count() == 2
