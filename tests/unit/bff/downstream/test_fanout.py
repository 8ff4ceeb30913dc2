from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from bff.downstream import (
    DownstreamClient,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
    EssentialSectionFailed,
    Section,
    fan_out,
    request_deadline,
)
from tests.unit.bff.downstream.fakes import ClientFactory, SlowService


def order_section(orders: DownstreamClient) -> Section[Any]:
    """The essential section of every fan-out here: order ``o-1`` from ``orders``."""
    return Section(lambda: orders.get_json("/orders/o-1"), essential=True, service="orders")


async def order_and_optional(
    orders: DownstreamClient, name: str, optional: Section[Any], *, deadline: float
) -> tuple[Any, float]:
    """The order and one optional section fanned out within ``deadline``: the result
    and the seconds it took."""
    started = time.perf_counter()
    async with request_deadline(deadline):
        result = await fan_out({"order": order_section(orders), name: optional})
    return result, time.perf_counter() - started


async def test_slow_optional_section_is_degraded_and_the_answer_comes_within_the_deadline(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get("http://orders.test/orders/o-1").respond(200, json={"id": "o-1"})
    payments_service = SlowService(5.0)
    router.get("http://payments.test/payments").mock(side_effect=payments_service)
    orders, payments = make_client("orders"), make_client("payments", timeout=10.0)

    result, elapsed = await order_and_optional(
        orders,
        "payments",
        Section(
            lambda: payments.get_json("/payments", params={"orderId": "o-1"}),
            essential=False,
            service="payments",
        ),
        deadline=0.5,
    )

    assert result.values == {"order": {"id": "o-1"}, "payments": None}
    assert result.degraded == ["payments"]
    assert len(payments_service.received) == 1
    # Given up before the 0.5 s deadline (headroom to answer), not at the 5 s answer;
    # the slack is for a loaded machine.
    assert 0.3 < elapsed < 0.5 + 0.3


async def test_slow_optional_section_is_degraded_at_its_own_timeout(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get("http://orders.test/orders/o-1").respond(200, json={"id": "o-1"})
    router.get("http://saga.test/sagas/o-1").mock(side_effect=SlowService(5.0))
    orders, saga = make_client("orders"), make_client("saga", timeout=10.0)

    result, elapsed = await order_and_optional(
        orders,
        "progress",
        Section(lambda: saga.get_json("/sagas/o-1"), essential=False, service="saga", timeout=0.2),
        deadline=3.0,
    )

    assert result.degraded == ["progress"]
    assert result.values["progress"] is None
    assert elapsed < 1.0


async def test_failing_optional_sections_do_not_cancel_the_others_and_are_listed_in_order(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get("http://users.test/users/u-1").mock(side_effect=httpx.ConnectError("refused"))
    router.get("http://payments.test/payments").respond(503)
    slow_products = SlowService(0.15, json={"id": "p-1"})
    router.get("http://inventory.test/products/p-1").mock(side_effect=slow_products)
    users = make_client("users", attempts=1)
    payments = make_client("payments", attempts=1)
    inventory = make_client("inventory")

    result = await fan_out(
        {
            "user": Section(lambda: users.get_json("/users/u-1"), essential=False, service="users"),
            "product": Section(
                lambda: inventory.get_json("/products/p-1"), essential=False, service="inventory"
            ),
            "payments": Section(
                lambda: payments.get_json("/payments"), essential=False, service="payments"
            ),
        }
    )

    assert result.values == {"user": None, "product": {"id": "p-1"}, "payments": None}
    assert result.degraded == ["user", "payments"]


async def test_a_section_answering_none_is_not_degraded() -> None:
    async def nothing() -> None:
        return None

    result = await fan_out({"notes": Section(nothing, essential=False, service="orders")})

    assert result.values == {"notes": None}
    assert result.degraded == []


def _refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def _answer_503(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


@pytest.mark.parametrize("failure", [_refuse_connection, _answer_503], ids=["refused", "503"])
async def test_essential_section_down_fails_the_fan_out_with_502_naming_the_service(
    router: respx.MockRouter,
    make_client: ClientFactory,
    failure: Callable[[httpx.Request], httpx.Response],
) -> None:
    route = router.get("http://orders.test/orders/o-1").mock(side_effect=failure)
    router.get("http://inventory.test/products").respond(200, json=[])
    orders, inventory = make_client("orders", attempts=3), make_client("inventory")

    with pytest.raises(EssentialSectionFailed) as raised:
        async with request_deadline(2.0):
            await fan_out(
                {
                    "order": order_section(orders),
                    "products": Section(
                        lambda: inventory.get_json("/products"),
                        essential=False,
                        service="inventory",
                    ),
                }
            )

    assert raised.value.status == 502
    assert raised.value.service == "orders"
    assert raised.value.section == "order"
    assert isinstance(raised.value.cause, DownstreamUnavailable)
    assert "orders" in str(raised.value)
    assert route.call_count == 3  # retried before giving up


async def test_essential_section_too_slow_fails_the_fan_out_with_504_within_the_deadline(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get("http://orders.test/orders/o-1").mock(side_effect=SlowService(5.0))
    orders = make_client("orders", timeout=10.0)

    started = time.perf_counter()
    with pytest.raises(EssentialSectionFailed) as raised:
        async with request_deadline(0.4):
            await fan_out({"order": order_section(orders)})
    elapsed = time.perf_counter() - started

    assert raised.value.status == 504
    assert raised.value.service == "orders"
    assert isinstance(raised.value.cause, DownstreamTimeout)
    assert elapsed < 0.8  # the 0.4 s deadline, not the 5 s answer


async def test_essential_failure_does_not_wait_for_slow_optional_sections(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get("http://orders.test/orders/o-1").respond(503)
    router.get("http://saga.test/sagas/o-1").mock(side_effect=SlowService(5.0))
    orders, saga = make_client("orders", attempts=1), make_client("saga", timeout=10.0)

    started = time.perf_counter()
    with pytest.raises(EssentialSectionFailed):
        async with request_deadline(3.0):
            await fan_out(
                {
                    "order": order_section(orders),
                    "progress": Section(
                        lambda: saga.get_json("/sagas/o-1"), essential=False, service="saga"
                    ),
                }
            )

    assert time.perf_counter() - started < 1.0


async def test_essential_section_rejected_with_404_passes_the_rejection_on(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    problem = {"title": "Not Found", "status": 404, "detail": "no order o-9"}
    router.get("http://orders.test/orders/o-9").respond(404, json=problem)
    orders = make_client("orders")

    with pytest.raises(DownstreamRejected) as raised:
        await fan_out(
            {
                "order": Section(
                    lambda: orders.get_json("/orders/o-9"), essential=True, service="orders"
                )
            }
        )

    assert raised.value.status == 404
    assert raised.value.problem == problem


async def test_four_downstreams_of_200_ms_each_cost_about_the_slowest_not_the_sum(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    names = ["orders", "users", "inventory", "payments"]
    # One fake plays all four, so it sees how many of the calls are in flight at once.
    service = SlowService(0.2)
    for name in names:
        router.get(f"http://{name}.test/thing").mock(side_effect=service)
    clients = {name: make_client(name) for name in names}

    def section(name: str) -> Section[object]:
        return Section(lambda: clients[name].get_json("/thing"), essential=True, service=name)

    started = time.perf_counter()
    async with request_deadline(2.0):
        result = await fan_out({name: section(name) for name in names})
    elapsed = time.perf_counter() - started

    assert result.values == {name: {"path": "/thing"} for name in names}
    assert sorted(request.url.host for request in service.received) == sorted(
        f"{name}.test" for name in names
    )
    assert result.degraded == []
    assert service.peak_in_flight == 4
    assert elapsed < 0.6  # one after the other: 0.8 s


async def test_section_code_that_is_not_a_downstream_call_is_bounded_too() -> None:
    async def stuck() -> str:
        await asyncio.sleep(5.0)
        return "never"

    async def quick() -> str:
        return "done"

    started = time.perf_counter()
    async with request_deadline(0.3):
        result = await fan_out(
            {
                "quick": Section(quick, essential=True, service="orders"),
                "stuck": Section(stuck, essential=False, service="saga"),
            }
        )

    assert result.values == {"quick": "done", "stuck": None}
    assert result.degraded == ["stuck"]
    assert time.perf_counter() - started < 0.3 + 0.3  # the deadline, not the 5 s section
