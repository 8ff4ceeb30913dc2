from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import respx

from bff.downstream import CoalescingCache, DownstreamClient, DownstreamUnavailable
from shared.clock import Clock
from tests.support.clock import FakeClock
from tests.support.infra import eventually
from tests.unit.bff.downstream.fakes import ClientFactory, SlowService

PRODUCTS = r"http://inventory\.test/products/[\w-]+"


def _product_cache(
    client: DownstreamClient, *, ttl: float = 30.0, clock: Clock = time.monotonic
) -> CoalescingCache[str, Any]:
    async def fetch(product_id: str) -> Any:
        return await client.get_json(f"/products/{product_id}")

    return CoalescingCache(fetch, ttl, clock=clock)


async def test_concurrent_gets_of_one_key_send_a_single_request(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService(0.05, json={"id": "p-1"})
    router.get(url__regex=PRODUCTS).mock(side_effect=service)
    cache = _product_cache(make_client())

    answers = await asyncio.gather(*(cache.get("p-1") for _ in range(20)))

    assert answers == [{"id": "p-1"}] * 20
    assert len(service.received) == 1


async def test_get_many_fetches_distinct_keys_concurrently(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService(0.1)
    router.get(url__regex=PRODUCTS).mock(side_effect=service)
    cache = _product_cache(make_client())
    keys = ["p-1", "p-2", "p-3", "p-4", "p-5", "p-1", "p-3"]

    started = time.perf_counter()
    values = await cache.get_many(keys)
    elapsed = time.perf_counter() - started

    assert values == {key: {"path": f"/products/{key}"} for key in keys}
    assert list(values) == ["p-1", "p-2", "p-3", "p-4", "p-5"]
    assert len(service.received) == 5
    assert service.peak_in_flight == 5  # all five in flight at once
    assert elapsed < 0.6  # sequential would be 0.5 s at least


async def test_cached_value_is_served_until_the_ttl_then_fetched_again(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(url__regex=PRODUCTS).mock(
        side_effect=[
            httpx.Response(200, json={"available": 5}),
            httpx.Response(200, json={"available": 4}),
        ]
    )
    clock = FakeClock()
    cache = _product_cache(make_client(), ttl=10.0, clock=clock)

    assert await cache.get("p-1") == {"available": 5}
    clock.advance(9.9)
    assert await cache.get("p-1") == {"available": 5}
    assert route.call_count == 1

    clock.advance(0.2)
    assert await cache.get("p-1") == {"available": 4}
    assert route.call_count == 2


async def test_failures_are_not_cached(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(url__regex=PRODUCTS).mock(
        side_effect=[httpx.Response(500), httpx.Response(200, json={"id": "p-1"})]
    )
    cache = _product_cache(make_client())

    with pytest.raises(DownstreamUnavailable):
        await cache.get("p-1")
    assert await cache.get("p-1") == {"id": "p-1"}
    assert route.call_count == 2


async def test_concurrent_callers_share_the_failure_of_the_one_fetch(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService(0.05, status=500)
    router.get(url__regex=PRODUCTS).mock(side_effect=service)
    cache = _product_cache(make_client())

    outcomes = await asyncio.gather(*(cache.get("p-1") for _ in range(5)), return_exceptions=True)

    assert all(isinstance(outcome, DownstreamUnavailable) for outcome in outcomes)
    assert len(service.received) == 1


async def test_a_caller_giving_up_does_not_cancel_the_fetch_others_wait_for(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    answer = asyncio.Event()
    service = SlowService(0, json={"id": "p-1"}, gate=answer)
    router.get(url__regex=PRODUCTS).mock(side_effect=service)
    cache = _product_cache(make_client())

    impatient = asyncio.create_task(cache.get("p-1"))
    patient = asyncio.create_task(cache.get("p-1"))
    await eventually(service.arrived, what="the fetch to reach the service")
    impatient.cancel()
    answer.set()

    assert await patient == {"id": "p-1"}
    assert impatient.cancelled()
    assert len(service.received) == 1


async def test_least_recently_used_entries_are_evicted_beyond_max_entries() -> None:
    fetched: list[int] = []

    async def square(key: int) -> int:
        fetched.append(key)
        return key * key

    cache: CoalescingCache[int, int] = CoalescingCache(square, 60.0, max_entries=2)
    await cache.get(1)
    await cache.get(2)
    await cache.get(1)  # 1 is now the most recently used
    await cache.get(3)  # evicts 2

    assert await cache.get(1) == 1
    assert await cache.get(2) == 4
    assert fetched == [1, 2, 3, 2]
    assert len(cache) == 2
