"""Hedged reads and coalesced reads of :class:`DownstreamClient`.

A hedge wins and the first copy is cancelled; the first copy wins and the hedge
is cancelled; writes never hedge; the budget of extra calls holds; no hedge
before the downstream's p95 is known.  Identical concurrent reads go out once,
and only when they are the same read for the same caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bff.downstream import DownstreamClient, DownstreamConfig
from bff.downstream.hedging import HedgeBudget, LatencyWindow

FAST = 0.005


class Copies:
    """A service whose n-th request takes ``delays[n]`` (the last repeating) and
    answers which request it was; it records the requests cancelled under it."""

    def __init__(self, delays: Sequence[float]) -> None:
        self.delays = list(delays)
        self.received: list[httpx.Request] = []
        self.cancelled: list[int] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        number = len(self.received)
        self.received.append(request)
        try:
            await asyncio.sleep(self.delays[min(number, len(self.delays) - 1)])
        except asyncio.CancelledError:
            self.cancelled.append(number)
            raise
        return httpx.Response(200, json={"copy": number, "path": request.url.path})

    def slow_from_now(self, *delays: float) -> None:
        """The next requests take ``delays`` in turn (the last repeating)."""
        self.delays = [*([0.0] * len(self.received)), *delays]


Make = Callable[..., tuple[DownstreamClient, list[tuple[str, str]]]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    clients: list[DownstreamClient] = []

    def build(service: Copies, **config: Any) -> tuple[DownstreamClient, list[tuple[str, str]]]:
        hedges: list[tuple[str, str]] = []
        settings = {"hedge_min_samples": 20, "hedge_budget": 1.0, "attempts": 1, **config}
        client = DownstreamClient(
            "inventory",
            DownstreamConfig(base_url="http://inventory.test", **settings),
            transport=httpx.MockTransport(service),
            on_hedge=lambda name, outcome: hedges.append((name, outcome)),
        )
        clients.append(client)
        return client, hedges

    yield build
    for client in clients:
        await client.aclose()


async def warm_up(client: DownstreamClient, reads: int = 20) -> None:
    for n in range(reads):
        await client.get_json(f"/products/warm-{n}")


async def test_a_read_slower_than_the_p95_is_hedged_and_the_hedge_wins(make: Make) -> None:
    service = Copies([FAST])
    client, hedges = make(service)
    await warm_up(client)
    service.slow_from_now(5.0, FAST)

    started = time.perf_counter()
    answer = await client.get_json("/products/p1")
    elapsed = time.perf_counter() - started

    assert answer == {"copy": 21, "path": "/products/p1"}  # the second copy's answer
    assert elapsed < 2.0
    assert hedges == [("inventory", "won")]
    await asyncio.sleep(0)  # let the cancelled copy's handler see its cancellation
    assert service.cancelled == [20]


async def test_a_hedge_is_marked_on_the_span_of_the_request_it_serves(make: Make) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    service = Copies([FAST])
    client, _ = make(service)
    await warm_up(client)
    service.slow_from_now(5.0, FAST)

    with provider.get_tracer("test").start_as_current_span("GET /orders/{id}/details"):
        await client.get_json("/products/p1")

    (span,) = exporter.get_finished_spans()
    events = {event.name: dict(event.attributes or {}) for event in span.events}
    assert events["downstream.hedge"]["service"] == "inventory"
    assert events["downstream.hedge.decided"] == {"service": "inventory", "outcome": "won"}


async def test_when_the_first_copy_answers_first_the_hedge_is_cancelled(make: Make) -> None:
    service = Copies([FAST])
    client, hedges = make(service)
    await warm_up(client)
    service.slow_from_now(0.3, 5.0)

    answer = await client.get_json("/products/p1")

    assert answer["copy"] == 20
    assert hedges == [("inventory", "lost")]
    await asyncio.sleep(0)
    assert service.cancelled == [21]


async def test_a_rejection_is_an_answer_and_a_failed_copy_leaves_it_to_the_other(
    make: Make,
) -> None:
    calls: list[int] = []

    async def failing_then_fine(request: httpx.Request) -> httpx.Response:
        calls.append(len(calls))
        if len(calls) == 21:  # the first copy of the hedged read: slow, then a 503
            await asyncio.sleep(0.1)
            return httpx.Response(503)
        if len(calls) == 22:
            await asyncio.sleep(0.3)
        return httpx.Response(200, json={"copy": len(calls) - 1})

    client, hedges = make(failing_then_fine)  # type: ignore[arg-type]
    await warm_up(client)

    answer = await client.get_json("/products/p1")

    assert answer == {"copy": 21}
    assert hedges == [("inventory", "won")]


async def test_writes_are_never_hedged(make: Make) -> None:
    service = Copies([FAST])
    client, hedges = make(service, attempts=3)
    await warm_up(client)
    service.slow_from_now(0.3)

    await client.post_json("/products", {"sku": "a"})
    await client.post_json("/orders/o1/cancel", {}, idempotent=True)
    await client.post_json("/orders", {}, idempotency_key="k1")
    await client.put_json("/products/p1/stock", {"quantity": 1})
    await client.delete("/products/p1")

    assert len(service.received) == 20 + 5
    assert hedges == []


async def test_no_read_is_hedged_before_enough_reads_were_measured(make: Make) -> None:
    service = Copies([FAST])
    client, hedges = make(service, hedge_min_samples=50)
    await warm_up(client, reads=49)
    service.slow_from_now(0.3)

    await client.get_json("/products/p1")

    assert hedges == []
    assert len(service.received) == 50


async def test_hedges_stay_within_the_budget_of_extra_calls(make: Make) -> None:
    seen: list[str] = []

    async def first_copies_slow(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        first = path not in seen
        seen.append(path)
        if first and not path.startswith("/products/warm"):
            await asyncio.sleep(0.2)
        return httpx.Response(200, json={})

    client, hedges = make(first_copies_slow, hedge_budget=0.05)
    await warm_up(client)
    reads = 60  # and their hedges, all within the bulkhead's 64 calls at once

    answers = await asyncio.gather(*(client.get_json(f"/products/p{n}") for n in range(reads)))

    extra = len(seen) - 20 - reads
    assert extra == len(hedges)
    assert set(hedges) == {("inventory", "won")}
    # 5 % of the 80 reads, and the few saved up (3 at most).
    assert 1 <= extra <= 0.05 * (20 + reads) + 3
    assert len(answers) == reads


def test_the_budget_earns_a_share_of_a_hedge_per_read_and_saves_a_few_at_most() -> None:
    budget = HedgeBudget(0.1, burst=2)
    assert budget.spend()  # one to start with
    assert not budget.spend()
    for _ in range(100):
        budget.earn()
    assert [budget.spend() for _ in range(3)] == [True, True, False]
    assert not HedgeBudget(0).spend()


def test_the_latency_window_knows_its_quantile_once_it_has_enough_reads() -> None:
    window = LatencyWindow(0.95, min_samples=20, refresh=1)
    for n in range(19):
        window.record(n / 1000)
    assert window.value() is None
    for n in range(19, 100):
        window.record(n / 1000)
    assert window.value() == pytest.approx(0.094)


# --- coalescing -------------------------------------------------------------------------


async def test_identical_concurrent_reads_of_one_caller_go_out_once(make: Make) -> None:
    service = Copies([0.1])
    client, _ = make(service)
    auth = {"Authorization": "Bearer alice"}

    answers = await asyncio.gather(
        *(client.get_json("/products/p1", params={"a": 1}, headers=auth) for _ in range(10))
    )

    assert len(service.received) == 1
    assert all(a == {"copy": 0, "path": "/products/p1"} for a in answers)
    answers[0]["copy"] = "changed by one caller"
    assert answers[1]["copy"] == 0  # each caller has its own copy


async def test_reads_for_other_callers_or_other_queries_are_not_shared(make: Make) -> None:
    service = Copies([0.1])
    client, _ = make(service)

    await asyncio.gather(
        client.get_json("/payments", params={"orderId": "o1"}, headers={"Authorization": "A"}),
        client.get_json("/payments", params={"orderId": "o1"}, headers={"Authorization": "B"}),
        client.get_json("/payments", params={"orderId": "o2"}, headers={"Authorization": "A"}),
        client.get_json("/payments", params={"orderId": "o1"}),
    )

    assert len(service.received) == 4
    assert {r.headers.get("Authorization") for r in service.received} == {"A", "B", None}


async def test_a_caller_giving_up_leaves_the_shared_read_to_the_others(make: Make) -> None:
    service = Copies([0.2])
    client, _ = make(service)

    impatient = asyncio.create_task(client.get_json("/products/p1"))
    patient = asyncio.create_task(client.get_json("/products/p1"))
    await asyncio.sleep(0.05)
    impatient.cancel()

    assert await patient == {"copy": 0, "path": "/products/p1"}
    assert impatient.cancelled()
    assert (len(service.received), service.cancelled) == (1, [])


async def test_no_hedge_queues_behind_a_full_bulkhead(make: Make) -> None:
    service = Copies([FAST])
    client, hedges = make(service, max_concurrency=2)
    await warm_up(client)
    service.slow_from_now(0.3)

    await asyncio.gather(client.get_json("/products/p1"), client.get_json("/products/p2"))

    assert hedges == []
    assert len(service.received) == 22


async def test_reads_one_after_the_other_are_each_sent(make: Make) -> None:
    service = Copies([FAST])
    client, _ = make(service)

    first = await client.get_json("/products/p1")
    second = await client.get_json("/products/p1")

    assert (first["copy"], second["copy"]) == (0, 1)
