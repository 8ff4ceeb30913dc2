"""Both BFFs when their services are slow, failing or down (respx plays them).

BFF-Web's order page is the aggregate: the order is essential, every other part
optional.  BFF-Mobile's compact order needs the orders service alone, and its
start screen has two optional parts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bff_mobile.app import build_app as build_mobile
from bff_web.app import build_app as build_web
from tests.unit.bff.downstream.fakes import SlowService
from tests.unit.bff.fakes import (
    ORDER,
    PAYMENTS,
    PRODUCT,
    SAGA,
    USER,
    AppBuilder,
    FakeServices,
    StartBff,
    auth,
)

DETAILS = "/api/v1/orders/o1/details"
DEADLINE = 1.5
"""The request deadline these tests give a BFF (``bff_request_deadline_seconds``): far
below the slow services' 10 s, and long enough for the services that answer at once
on a worker loaded by three others (at 0.6 s a fresh app's first read of the orders
service once missed it in CI)."""
WEB_CHECKOUT = {
    "items": [{"productId": "p1", "quantity": 2}],
    "shippingAddress": {
        "line1": "1 Main St",
        "city": "Bern",
        "postalCode": "3000",
        "country": "CH",
    },
    "paymentMethodId": "pm_card_ok",
}
MOBILE_CHECKOUT = {
    "items": [{"productId": "p1", "quantity": 2}],
    "addressId": "a1",
    "paymentMethodId": "pm_card_ok",
}
LOGIN = {"email": "ada@example.com", "password": "pw"}

ORDER_READS = [
    pytest.param(build_web, DETAILS, id="web-order-page"),
    pytest.param(build_mobile, "/api/v1/orders/o1", id="mobile-order"),
]
"""A read of each BFF that cannot answer without the orders service."""


async def _timed_get(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.get(path, headers=auth())
    return response, time.monotonic() - started


async def _fastest_of(runs: int, client: httpx.AsyncClient, path: str) -> float:
    """The quickest of ``runs`` complete (200, nothing degraded) answers to ``path``.

    The machine running the tests is shared; the quickest run is the one least
    disturbed by others, and every run must be complete.
    """
    times = []
    for _ in range(runs):
        response, elapsed = await _timed_get(client, path)
        assert response.status_code == 200, response.text
        assert response.json()["degraded"] == []
        times.append(elapsed)
    return min(times)


async def test_order_page_merges_every_part_when_all_services_answer(
    start_bff: StartBff,
) -> None:
    web = await start_bff(build_web)

    response = await web.get(DETAILS, headers=auth())

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["degraded"] == []
    assert page["order"]["id"] == "o1"
    assert page["user"]["email"] == "ada@example.com"
    assert [p["id"] for p in page["products"]] == ["p1"]
    assert [p["id"] for p in page["payments"]] == ["pay1"]
    # Only the saga's transitions make the progress, not every message it saw.
    assert page["progress"]["state"] == "completed"
    assert [t["to"] for t in page["progress"]["transitions"]] == [
        "reserving_inventory",
        "completed",
    ]


@pytest.mark.parametrize(
    ("service", "part"),
    [("users", "user"), ("inventory", "products"), ("payments", "payments"), ("saga", "progress")],
)
async def test_slow_optional_service_leaves_its_part_null_and_named_within_the_deadline(
    start_bff: StartBff, services: FakeServices, service: str, part: str
) -> None:
    route = {
        "users": services.user,
        "inventory": services.product,
        "payments": services.payments,
        "saga": services.saga,
    }[service]
    route.mock(side_effect=SlowService(10.0))
    web = await start_bff(build_web, bff_request_deadline_seconds=DEADLINE)

    response, elapsed = await _timed_get(web, DETAILS)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["degraded"] == [part]
    assert page[part] is None
    assert page["order"]["id"] == "o1"
    scraped = (await web.get("/metrics")).text
    assert f'oms_bff_degraded_answers_total{{section="{part}"}} 1.0' in scraped
    assert all(
        page[p] is not None for p in ("user", "products", "payments", "progress") if p != part
    )
    assert elapsed < DEADLINE + 0.4  # the deadline, not the 10 s answer; slack for load


def blames_orders(response: httpx.Response, status: int) -> None:
    """``response`` is a problem with ``status`` that names the orders service."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["service"] == "orders"
    assert "orders" in problem["detail"]


def answers_503(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def refuses_connections(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


ORDER_SERVICE_DOWN = [answers_503, refuses_connections]


@pytest.mark.parametrize("down", ORDER_SERVICE_DOWN)
@pytest.mark.parametrize(("build", "path"), ORDER_READS)
async def test_order_service_down_is_a_502_naming_it(
    start_bff: StartBff,
    services: FakeServices,
    build: AppBuilder,
    path: str,
    down: Callable[[httpx.Request], httpx.Response],
) -> None:
    services.order.mock(side_effect=down)
    bff = await start_bff(build)

    response = await bff.get(path, headers=auth())

    blames_orders(response, 502)


@pytest.mark.parametrize(("build", "path"), ORDER_READS)
async def test_order_service_too_slow_is_a_504_naming_it_within_the_deadline(
    start_bff: StartBff, services: FakeServices, build: AppBuilder, path: str
) -> None:
    services.order.mock(side_effect=SlowService(10.0, json=ORDER))
    bff = await start_bff(build, bff_request_deadline_seconds=DEADLINE)

    response, elapsed = await _timed_get(bff, path)

    blames_orders(response, 504)
    assert elapsed < DEADLINE + 0.4  # the deadline, not the 10 s answer; slack for load


@pytest.mark.parametrize(("build", "path"), ORDER_READS)
async def test_open_circuit_fails_fast_without_calling_the_order_service(
    start_bff: StartBff, services: FakeServices, build: AppBuilder, path: str
) -> None:
    services.order.respond(503)
    bff = await start_bff(build)
    # Five failed attempts in a row open the circuit: three for the first
    # request (GETs are tried three times), two more for the second.
    for _ in range(2):
        assert (await bff.get(path, headers=auth())).status_code == 502
    calls = services.order.call_count
    assert calls == 5

    response, elapsed = await _timed_get(bff, path)

    assert response.status_code == 502
    assert services.order.call_count == calls
    assert "circuit open" in response.json()["detail"]
    assert int(response.headers["Retry-After"]) >= 1
    assert elapsed < 1.0  # no retries, no backoff: the call count above is the proof


async def test_open_circuit_on_an_optional_service_degrades_its_part_without_calling_it(
    start_bff: StartBff, services: FakeServices
) -> None:
    services.payments.respond(503)
    # What is measured is the circuit, not time: a deadline no loaded machine reaches.
    web = await start_bff(build_web, bff_request_deadline_seconds=10.0)
    for _ in range(2):
        assert (await web.get(DETAILS, headers=auth())).json()["degraded"] == ["payments"]
    calls = services.payments.call_count

    response = await web.get(DETAILS, headers=auth())

    assert response.status_code == 200
    assert response.json()["degraded"] == ["payments"]
    assert services.payments.call_count == calls


@pytest.mark.parametrize(("build", "path"), ORDER_READS)
async def test_get_failing_once_is_retried_and_answered(
    start_bff: StartBff, services: FakeServices, build: AppBuilder, path: str
) -> None:
    services.order.side_effect = [httpx.Response(503), httpx.Response(200, json=ORDER)]
    bff = await start_bff(build)

    response = await bff.get(path, headers=auth())

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body.get("order") or body)["id"] == "o1"  # the web page nests the order
    assert services.order.call_count == 2


@pytest.mark.parametrize(
    ("build", "route", "path", "body"),
    [
        pytest.param(
            build_web, "create_order", "/api/v1/checkout", WEB_CHECKOUT, id="web-checkout"
        ),
        pytest.param(build_web, "login", "/api/v1/auth/login", LOGIN, id="web-login"),
        pytest.param(
            build_mobile, "create_order", "/api/v1/checkout", MOBILE_CHECKOUT, id="mobile-checkout"
        ),
        pytest.param(build_mobile, "login", "/api/v1/auth/login", LOGIN, id="mobile-login"),
    ],
)
async def test_post_without_idempotency_key_is_sent_once_even_when_it_fails(
    start_bff: StartBff,
    services: FakeServices,
    build: AppBuilder,
    route: str,
    path: str,
    body: Any,
) -> None:
    getattr(services, route).respond(503)
    bff = await start_bff(build)

    response = await bff.post(path, json=body, headers=auth())

    assert response.status_code == 502
    assert response.json()["service"] == ("users" if route == "login" else "orders")
    assert getattr(services, route).call_count == 1


async def test_cancel_losing_a_kept_alive_connection_is_sent_again_and_answered(
    start_bff: StartBff, services: FakeServices
) -> None:
    services.cancel.side_effect = [
        httpx.ReadError("connection closed by the server"),
        httpx.Response(202, json={**ORDER, "status": "pending"}),
    ]
    bff = await start_bff(build_web)

    response = await bff.post("/api/v1/orders/o1/cancel", headers=auth())

    assert response.status_code == 202, response.text
    assert response.json()["id"] == "o1"
    assert services.cancel.call_count == 2


@pytest.mark.parametrize(
    ("build", "body"),
    [
        pytest.param(build_web, WEB_CHECKOUT, id="web"),
        pytest.param(build_mobile, MOBILE_CHECKOUT, id="mobile"),
    ],
)
async def test_checkout_with_idempotency_key_retries_the_order_under_one_derived_key(
    start_bff: StartBff, services: FakeServices, build: AppBuilder, body: Any
) -> None:
    services.create_order.side_effect = [
        httpx.Response(503),
        httpx.ConnectError("reset"),
        httpx.Response(201, json={**ORDER, "status": "pending"}),
    ]
    bff = await start_bff(build)

    response = await bff.post(
        "/api/v1/checkout", json=body, headers={**auth(), "Idempotency-Key": "k-1"}
    )

    assert response.status_code == 202, response.text
    assert response.json()["orderId"] == "o1"
    assert response.json()["totalAmount"] == 2500
    keys = {call.request.headers.get("Idempotency-Key") for call in services.create_order.calls}
    assert services.create_order.call_count == 3
    assert len(keys) == 1
    # The key sent on is the BFF's own, derived from the user's: stable, never theirs verbatim.
    assert keys != {"k-1"}
    assert None not in keys


async def test_order_page_fans_out_so_it_costs_the_slowest_part_not_the_sum(
    start_bff: StartBff, services: FakeServices
) -> None:
    delay = 0.2
    slow = {
        "orders": SlowService(delay, json=ORDER),
        "users": SlowService(delay, json=USER),
        "payments": SlowService(delay, json=PAYMENTS),
        "saga": SlowService(delay, json=SAGA),
    }
    services.order.mock(side_effect=slow["orders"])
    services.user.mock(side_effect=slow["users"])
    services.payments.mock(side_effect=slow["payments"])
    services.saga.mock(side_effect=slow["saga"])
    web = await start_bff(build_web)

    fastest = await _fastest_of(3, web, DETAILS)

    # One after the other the four calls take 800 ms.
    assert fastest < 0.3, f"four 200 ms calls took {fastest:.3f}s together"
    assert all(len(s.received) == 3 for s in slow.values())


async def test_mobile_start_screen_fans_out_so_it_costs_the_slowest_part_not_the_sum(
    start_bff: StartBff, services: FakeServices
) -> None:
    delay = 0.2
    services.orders_page.mock(side_effect=SlowService(delay, json={"items": [ORDER]}))
    services.products.mock(side_effect=SlowService(delay, json={"items": [PRODUCT]}))
    times = []
    for _ in range(3):
        # A fresh app each time: the featured list is cached after the first screen.
        mobile = await start_bff(build_mobile)
        response, elapsed = await _timed_get(mobile, "/api/v1/home")
        assert response.status_code == 200, response.text
        home = response.json()
        assert (len(home["recentOrders"]), len(home["featured"]), home["degraded"]) == (1, 1, [])
        times.append(elapsed)

    # One after the other the two calls take 400 ms.
    assert min(times) < 0.3, f"two 200 ms calls took {min(times):.3f}s together"


@pytest.mark.parametrize(
    ("route", "part"), [("orders_page", "recentOrders"), ("products", "featured")]
)
async def test_mobile_start_screen_degrades_a_slow_or_failing_part(
    start_bff: StartBff, services: FakeServices, route: str, part: str
) -> None:
    getattr(services, route).mock(side_effect=SlowService(10.0))
    mobile = await start_bff(build_mobile, bff_request_deadline_seconds=DEADLINE)

    slow, elapsed = await _timed_get(mobile, "/api/v1/home")
    getattr(services, route).mock(side_effect=None).respond(500)
    failing = await mobile.get("/api/v1/home", headers=auth())

    for response in (slow, failing):
        assert response.status_code == 200, response.text
        assert response.json()["degraded"] == [part]
        assert response.json()[part] is None
    assert elapsed < DEADLINE + 0.4  # the deadline, not the 10 s answer; slack for load


# --- checkout ?wait= -----------------------------------------------------------


async def _timed_checkout(client: httpx.AsyncClient, wait: float) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post(
        "/api/v1/checkout", params={"wait": wait}, json=WEB_CHECKOUT, headers=auth()
    )
    return response, time.monotonic() - started


async def test_checkout_wait_outlasts_a_slow_saga_poll_and_answers_the_final_status(
    start_bff: StartBff, services: FakeServices
) -> None:
    # The first poll outlives its budget; the saga has ended by the next one.
    services.saga.mock(side_effect=SlowService([5.0, 0.0], json=SAGA))
    web = await start_bff(build_web, bff_request_deadline_seconds=DEADLINE)

    response, elapsed = await _timed_checkout(web, wait=5)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"
    assert elapsed < 5


async def test_checkout_wait_through_a_failing_saga_and_its_open_circuit_lasts_the_wait(
    start_bff: StartBff, services: FakeServices
) -> None:
    services.saga.respond(500)  # five failed attempts open the saga's circuit
    web = await start_bff(build_web, bff_request_deadline_seconds=DEADLINE)
    wait = 2.0

    response, elapsed = await _timed_checkout(web, wait=wait)

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    assert elapsed >= wait - 0.05, f"gave up after {elapsed:.2f}s of a {wait}s wait"
    assert elapsed < wait + 3.0  # not much past the wait (slack for a loaded worker)
    # The open circuit is respected: no poll per pause while it is open.
    assert services.saga.call_count <= 6


async def test_checkout_wait_ends_as_soon_as_the_saga_ends(
    start_bff: StartBff, services: FakeServices
) -> None:
    running = {**SAGA, "state": "charging_payment"}
    services.saga.side_effect = [httpx.Response(200, json=running)] * 3 + [
        httpx.Response(200, json=SAGA)
    ]
    web = await start_bff(build_web)

    response, elapsed = await _timed_checkout(web, wait=10)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"
    assert services.saga.call_count == 4
    assert elapsed < 5
