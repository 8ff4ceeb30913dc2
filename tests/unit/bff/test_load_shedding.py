"""A BFF works on at most ``OMS_BFF_MAX_IN_FLIGHT`` requests at once; the others
are shed at once (503 with ``Retry-After``), so the answers given stay fast."""

from __future__ import annotations

import asyncio
import time

import httpx

from bff_mobile.app import build_app as build_mobile
from tests.support.infra import eventually
from tests.unit.bff.downstream.fakes import SlowService
from tests.unit.bff.fakes import ORDER, FakeServices, StartBff, auth

LIMIT = 4


async def test_requests_past_the_bound_are_shed_at_once_and_the_rest_are_answered(
    start_bff: StartBff, services: FakeServices
) -> None:
    gate = asyncio.Event()
    held = SlowService(0, json=ORDER, gate=gate)
    services.order.mock(side_effect=held)
    mobile = await start_bff(build_mobile, bff_max_in_flight=LIMIT)

    working = [
        asyncio.create_task(mobile.get("/api/v1/orders/o1", headers=auth())) for _ in range(LIMIT)
    ]
    # The four identical reads may share one call to the orders service (coalescing):
    # what is bounded is the BFF's own requests in flight.
    await eventually(
        lambda: _in_flight(mobile), until=lambda n: n == LIMIT, what=f"{LIMIT} in flight"
    )
    reached = len(held.received)
    started = time.monotonic()
    shed = await asyncio.gather(
        *(mobile.get("/api/v1/orders/o1", headers=auth()) for _ in range(6))
    )
    shed_within = time.monotonic() - started
    reached_after_shedding = len(held.received)
    # Health and metrics are answered however busy the BFF is.
    live = await mobile.get("/health/live")
    metrics = await mobile.get("/metrics")
    gate.set()
    answered = await asyncio.gather(*working)

    assert [r.status_code for r in shed] == [503] * 6
    assert shed[0].headers["content-type"] == "application/problem+json"
    assert shed[0].headers["retry-after"] == "1"
    assert shed[0].headers["x-correlation-id"]
    assert "4 requests in flight" in shed[0].json()["detail"]
    assert shed_within < 1.0  # not queued behind the held ones
    assert live.status_code == 200
    assert "oms_bff_shed_requests_total 6.0" in metrics.text
    assert [r.status_code for r in answered] == [200] * LIMIT
    assert 1 <= reached <= LIMIT
    assert reached_after_shedding == reached  # the shed ones never reached the orders service
    # Once the work is done, the BFF takes requests again.
    again = await mobile.get("/api/v1/orders/o1", headers=auth())
    assert again.status_code == 200


async def _in_flight(bff: httpx.AsyncClient) -> float:
    metrics = (await bff.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("oms_bff_requests_in_flight "))
    return float(line.split()[1])
