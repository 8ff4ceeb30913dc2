"""BFF-Web's order page with a slow copy of one read: the hedge answers, the page
is whole and in time, and ``/metrics`` counts the hedge."""

from __future__ import annotations

import time

from bff_web.app import build_app as build_web
from tests.unit.bff.downstream.fakes import SlowService
from tests.unit.bff.fakes import PAYMENTS, FakeServices, StartBff, auth

DETAILS = "/api/v1/orders/o1/details"
MEASURED = 50
"""Reads each service answers before its p95 is known (the clients' default)."""


async def test_a_slow_copy_of_a_read_is_hedged_and_the_page_comes_whole_and_in_time(
    start_bff: StartBff, services: FakeServices
) -> None:
    web = await start_bff(build_web, bff_request_deadline_seconds=3.0)
    for _ in range(MEASURED):
        assert (await web.get(DETAILS, headers=auth())).status_code == 200
    # The next read of the payments waits 10 s; its copy answers at once.
    slow = SlowService([10.0, 0.0], json=PAYMENTS)
    services.payments.mock(side_effect=slow)

    started = time.perf_counter()
    response = await web.get(DETAILS, headers=auth())
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.text
    assert response.json()["degraded"] == []
    assert response.json()["payments"][0]["id"] == "pay1"
    assert elapsed < 1.0
    assert len(slow.received) == 2
    scraped = (await web.get("/metrics")).text
    assert 'oms_bff_hedged_calls_total{outcome="won",service="payments"} 1.0' in scraped
