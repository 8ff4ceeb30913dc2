"""Orders after payment: a warehouse ships an order and marks it delivered, and of
a customer's cancel and a shipment the first to reach the order wins."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from shared.messages import OrderDelivered, OrderShipped
from tests.integration.services.orders.conftest import Orders

PROBLEM = "application/problem+json"
PARCEL = {"carrier": "DHL Express", "trackingNumber": "JD0146000062"}


def warehouse(orders: Orders) -> dict[str, str]:
    return orders.stack.auth("warehouse-7", "fulfilment")


async def confirmed(orders: Orders, user: str = "alice") -> dict[str, Any]:
    order = await orders.place(user)
    await orders.confirm(order["id"])
    await orders.replies.wait(order["id"], count=2)  # order.created, order.confirmed
    return order


async def ship(
    orders: Orders, order_id: str, body: dict[str, str] = PARCEL, **auth: str
) -> httpx.Response:
    headers = auth or warehouse(orders)
    return await orders.client.post(
        f"/api/v1/orders/{order_id}/shipment", json=body, headers=headers
    )


async def test_a_warehouse_ships_a_confirmed_order_and_orders_announces_it(orders: Orders) -> None:
    order = await confirmed(orders)

    response = await ship(orders, order["id"])

    assert response.status_code == 200, response.text
    shipped = response.json()
    assert shipped["status"] == "shipped"
    assert [h["status"] for h in shipped["history"]] == ["pending", "confirmed", "shipped"]
    assert shipped["shipment"]["carrier"] == "DHL Express"
    assert shipped["shipment"]["trackingNumber"] == "JD0146000062"
    assert shipped["shipment"]["deliveredAt"] is None
    assert await orders.read(order["id"]) == shipped
    envelope = (await orders.replies.wait(order["id"], count=3))[2]
    event = envelope.decode()
    assert isinstance(event, OrderShipped)
    assert (event.carrier, event.tracking_number) == ("DHL Express", "JD0146000062")
    assert event.shipped_at.isoformat().startswith(shipped["shipment"]["shippedAt"][:19])
    assert envelope.correlation_id == order["id"]


async def test_shipping_again_the_same_way_changes_nothing_and_otherwise_is_a_conflict(
    orders: Orders,
) -> None:
    order = await confirmed(orders)
    first = await ship(orders, order["id"])

    again = await ship(orders, order["id"])
    other = await ship(orders, order["id"], {"carrier": "UPS", "trackingNumber": "1Z999"})

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert "shipped already with DHL Express JD0146000062" in other.json()["detail"]
    await orders.drain()
    assert [e.type for e in orders.replies.about(order["id"])] == [
        "order.created",
        "order.confirmed",
        "order.shipped",
    ]


async def test_only_a_confirmed_order_is_shipped(orders: Orders) -> None:
    pending = await orders.place("alice")
    cancelled = await orders.place("alice")
    await orders.cancel(cancelled["id"], reason="payment declined")
    await orders.replies.wait(cancelled["id"], count=2)

    answers = [await ship(orders, pending["id"]), await ship(orders, cancelled["id"])]

    assert [a.status_code for a in answers] == [409, 409]
    assert "it is pending" in answers[0].json()["detail"]
    assert "it is cancelled" in answers[1].json()["detail"]
    assert (await orders.row(pending["id"])).status == "pending"


async def test_only_a_warehouse_or_ops_ships_and_a_warehouse_reads_every_order(
    orders: Orders,
) -> None:
    order = await confirmed(orders)

    by_customer = await ship(orders, order["id"], **orders.stack.auth("alice"))
    read = await orders.client.get(f"/api/v1/orders/{order['id']}", headers=warehouse(orders))
    listed = await orders.client.get(
        "/api/v1/orders", params={"status": "confirmed"}, headers=warehouse(orders)
    )
    by_ops = await ship(orders, order["id"], **orders.stack.ops())

    assert by_customer.status_code == 403
    assert read.status_code == 200
    assert order["id"] in [o["id"] for o in listed.json()["items"]]
    assert by_ops.status_code == 200


async def test_a_bad_shipment_is_refused_naming_the_field(orders: Orders) -> None:
    order = await confirmed(orders)

    blank = await ship(orders, order["id"], {"carrier": "", "trackingNumber": "JD1"})
    odd = await ship(orders, order["id"], {"carrier": "DHL", "trackingNumber": "JD 1/2"})

    assert (blank.status_code, odd.status_code) == (422, 422)
    assert "carrier" in blank.text
    assert "trackingNumber" in odd.text
    assert (await orders.row(order["id"])).status == "confirmed"


async def test_a_shipped_order_is_delivered_once_and_announced(orders: Orders) -> None:
    order = await confirmed(orders)
    early = await orders.client.post(
        f"/api/v1/orders/{order['id']}/delivery", headers=warehouse(orders)
    )
    await ship(orders, order["id"])

    delivered = await orders.client.post(
        f"/api/v1/orders/{order['id']}/delivery", headers=warehouse(orders)
    )
    again = await orders.client.post(
        f"/api/v1/orders/{order['id']}/delivery", headers=warehouse(orders)
    )

    assert early.status_code == 409
    assert "only a shipped order is delivered" in early.json()["detail"]
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["status"] == "delivered"
    assert delivered.json()["shipment"]["deliveredAt"] is not None
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    await orders.drain()
    events = orders.replies.about(order["id"])
    assert [e.type for e in events] == [
        "order.created",
        "order.confirmed",
        "order.shipped",
        "order.delivered",
    ]
    assert isinstance(events[-1].decode(), OrderDelivered)


async def test_a_shipped_order_cannot_be_cancelled_start_a_return(orders: Orders) -> None:
    order = await confirmed(orders)
    await ship(orders, order["id"])

    response = await orders.client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=orders.stack.auth("alice")
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert "start a return" in response.json()["detail"]
    assert (await orders.row(order["id"])).cancel_requested_at is None
    await orders.drain()
    assert "order.cancel_requested" not in [e.type for e in orders.replies.about(order["id"])]


async def test_an_accepted_cancel_stops_the_shipment(orders: Orders) -> None:
    order = await confirmed(orders)
    cancel = await orders.client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=orders.stack.auth("alice")
    )

    response = await ship(orders, order["id"])

    assert cancel.status_code == 202
    assert response.status_code == 409
    assert "a cancel was accepted" in response.json()["detail"]
    assert (await orders.row(order["id"])).status == "confirmed"


async def test_a_cancel_racing_a_shipment_one_wins_and_the_other_is_told_why(
    orders: Orders,
) -> None:
    for _ in range(4):
        order = await confirmed(orders)
        cancel, shipment = await asyncio.gather(
            orders.client.post(
                f"/api/v1/orders/{order['id']}/cancel", headers=orders.stack.auth("alice")
            ),
            ship(orders, order["id"]),
        )

        assert sorted([cancel.status_code, shipment.status_code]) in ([200, 409], [202, 409])
        row = await orders.row(order["id"])
        if cancel.status_code == 202:
            assert "a cancel was accepted" in shipment.json()["detail"]
            assert (row.status, row.cancel_requested_at is not None) == ("confirmed", True)
        else:
            assert "start a return" in cancel.json()["detail"]
            assert (row.status, row.cancel_requested_at) == ("shipped", None)
        await orders.drain()
        announced = {e.type for e in orders.replies.about(order["id"])}
        assert len(announced & {"order.cancel_requested", "order.shipped"}) == 1


async def test_the_sagas_cancel_of_an_order_shipped_meanwhile_says_the_parcel_left(
    orders: Orders,
) -> None:
    order = await confirmed(orders)
    await ship(orders, order["id"])

    await orders.cancel(order["id"], reason="aborted by alice: stuck")
    await orders.drain()

    cancelled = await orders.read(order["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelReason"] == (
        "aborted by alice: stuck; it had been shipped (DHL Express JD0146000062) "
        "before the cancel reached it: recover the parcel"
    )
    assert orders.replies.about(order["id"])[-1].decode().reason == cancelled["cancelReason"]  # type: ignore[union-attr]
