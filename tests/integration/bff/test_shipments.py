"""The shipment on the BFFs' order pages: BFF-Web's order with its carrier, tracking
number and dates, BFF-Mobile's compact order a short form of it, and a cancel after
shipping refused through either BFF with the problem that says to start a return."""

from __future__ import annotations

import json
from typing import Any

from tests.support.infra import eventually
from tests.support.system import System, problem_of

API = "/api/v1"
CARRIER = "Deutsche Post DHL Group Express Worldwide Logistics"
TRACKING = "JD0146000062" * 5


async def _shipped_order(system: System) -> tuple[Any, str]:
    """A confirmed order of a new shopper, then shipped by a warehouse."""
    product = await system.add_product(price=1250, stock=5)
    shopper = await system.shopper()
    placed = await system.checkout(shopper, [(product["id"], 2)], wait=10)
    assert placed.json()["status"] == "confirmed", placed.text
    order_id = placed.json()["orderId"]
    shipped = await system.services["orders"].post(
        f"{API}/orders/{order_id}/shipment",
        json={"carrier": CARRIER, "trackingNumber": TRACKING},
        headers=system.stack.auth("warehouse-7", "fulfilment"),
    )
    assert shipped.status_code == 200, shipped.text
    return shopper, order_id


async def test_the_web_order_page_shows_the_shipment_and_a_cancel_says_start_a_return(
    system: System,
) -> None:
    shopper, order_id = await _shipped_order(system)

    details = await system.web.get(f"{API}/orders/{order_id}/details", headers=shopper.auth)
    listed = await system.web.get(f"{API}/orders", headers=shopper.auth)
    cancel = await system.web.post(f"{API}/orders/{order_id}/cancel", headers=shopper.auth)

    page = details.json()
    assert page["order"]["status"] == "shipped"
    shipment = page["order"]["shipment"]
    assert (shipment["carrier"], shipment["trackingNumber"]) == (CARRIER, TRACKING)
    assert shipment["shippedAt"].endswith("Z")
    assert shipment["deliveredAt"] is None
    assert [h["status"] for h in page["order"]["history"]] == ["pending", "confirmed", "shipped"]
    assert listed.json()["items"][0]["shipment"] == shipment
    assert "start a return" in problem_of(cancel, 409)["detail"]
    saga = await eventually(
        lambda: system.services["saga"].get(f"{API}/sagas/{order_id}", headers=system.stack.ops()),
        until=lambda r: any(h["text"].startswith("order.shipped") for h in r.json()["history"]),
        what="the saga to hear of the shipment",
    )
    assert saga.json()["state"] == "completed"
    assert f"order.shipped with {CARRIER} {TRACKING}" in [h["text"] for h in saga.json()["history"]]

    delivered = await system.services["orders"].post(
        f"{API}/orders/{order_id}/delivery", headers=system.stack.ops()
    )
    assert delivered.status_code == 200, delivered.text
    after = await system.web.get(f"{API}/orders/{order_id}/details", headers=shopper.auth)
    assert after.json()["order"]["status"] == "delivered"
    assert after.json()["order"]["shipment"]["deliveredAt"].endswith("Z")


async def test_the_mobile_compact_order_carries_a_short_shipment_within_its_row(
    system: System,
) -> None:
    shopper, order_id = await _shipped_order(system)

    one = await system.mobile.get(f"{API}/orders/{order_id}", headers=shopper.auth)
    row = (await system.mobile.get(f"{API}/orders", headers=shopper.auth)).json()["items"][0]
    cancel = await system.mobile.post(f"{API}/orders/{order_id}/cancel", headers=shopper.auth)

    assert one.status_code == 200, one.text
    compact = one.json()["shipment"]
    assert one.json()["status"] == "shipped"
    assert compact["carrier"].endswith("…")
    assert CARRIER.startswith(compact["carrier"][:-1])
    assert TRACKING.startswith(compact["trackingNumber"][:-1])
    assert len(compact["on"]) == len("2026-12-06")
    assert row["shipment"] == compact
    assert len(json.dumps(row, separators=(",", ":")).encode()) < 400
    assert "start a return" in problem_of(cancel, 409)["detail"]

    etag = one.headers["ETag"]
    delivered = await system.services["orders"].post(
        f"{API}/orders/{order_id}/delivery", headers=system.stack.auth("warehouse-7", "fulfilment")
    )
    assert delivered.status_code == 200, delivered.text
    polled = await eventually(
        lambda: system.mobile.get(
            f"{API}/orders/{order_id}", headers={**shopper.auth, "If-None-Match": etag}
        ),
        until=lambda r: r.status_code == 200,
        what="the compact order to change once delivered",
    )
    assert polled.json()["status"] == "delivered"
    assert polled.json()["shipment"]["on"] >= compact["on"]
