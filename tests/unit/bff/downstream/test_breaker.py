from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from bff.downstream import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    DownstreamClient,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
)
from tests.support.clock import FakeClock
from tests.support.infra import eventually
from tests.unit.bff.downstream.fakes import ClientFactory, SlowService

URL = "http://payments.test/payments/p-1"


@pytest.fixture
def clock() -> FakeClock:
    """The breaker's clock, moved by hand."""
    return FakeClock()


async def tripped(make_client: ClientFactory, clock: FakeClock) -> DownstreamClient:
    """A payments client whose breaker two failed calls opened; it half-opens 10 s later."""
    client = make_client(
        "payments", clock=clock, attempts=1, failure_threshold=2, reset_timeout=10.0
    )
    for _ in range(2):
        with pytest.raises(DownstreamUnavailable):
            await client.get_json("/payments/p-1")
    return client


async def test_open_breaker_fails_fast_without_calling_the_service(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).respond(503)
    client = make_client("payments", clock=FakeClock(), attempts=1, failure_threshold=2)
    for _ in range(2):
        with pytest.raises(DownstreamUnavailable):
            await client.get_json("/payments/p-1")
    assert route.call_count == 2

    with pytest.raises(CircuitOpen) as raised:
        await client.get_json("/payments/p-1")

    assert route.call_count == 2  # nothing was sent
    assert raised.value.service == "payments"
    assert raised.value.retry_after == pytest.approx(client.config.reset_timeout)


async def test_retries_count_towards_the_breaker_and_stop_once_it_opens(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).respond(503)
    client = make_client("payments", clock=FakeClock(), attempts=5, failure_threshold=3)

    with pytest.raises(CircuitOpen):
        await client.get_json("/payments/p-1")

    assert route.call_count == 3


async def test_half_open_probe_that_succeeds_closes_the_breaker(
    router: respx.MockRouter, make_client: ClientFactory, clock: FakeClock
) -> None:
    route = router.get(URL).mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(200, json={})]
        + [httpx.Response(200, json={"id": "p-1"})] * 5
    )
    client = await tripped(make_client, clock)
    clock.advance(9.9)
    with pytest.raises(CircuitOpen):
        await client.get_json("/payments/p-1")
    assert route.call_count == 2

    clock.advance(0.2)
    await client.get_json("/payments/p-1")  # the probe

    assert client.breaker.state is BreakerState.CLOSED
    answers = [await client.get_json("/payments/p-1") for _ in range(3)]
    assert answers == [{"id": "p-1"}] * 3
    assert route.call_count == 6


async def test_half_open_probe_that_fails_reopens_the_breaker(
    router: respx.MockRouter, make_client: ClientFactory, clock: FakeClock
) -> None:
    route = router.get(URL).respond(503)
    client = await tripped(make_client, clock)
    clock.advance(10.0)

    with pytest.raises(DownstreamUnavailable):
        await client.get_json("/payments/p-1")  # the probe
    with pytest.raises(CircuitOpen) as raised:
        await client.get_json("/payments/p-1")

    assert route.call_count == 3
    assert raised.value.retry_after == pytest.approx(10.0)


async def test_half_open_lets_exactly_one_probe_through(
    router: respx.MockRouter, make_client: ClientFactory, clock: FakeClock
) -> None:
    route = router.get(URL).respond(503)
    client = await tripped(make_client, clock)
    answer = asyncio.Event()
    slow = SlowService(0, json={"id": "p-1"}, gate=answer)
    route.mock(side_effect=slow)
    clock.advance(10.0)

    probe = asyncio.create_task(client.get_json("/payments/p-1"))
    await eventually(slow.arrived, what="the probe to reach the service")
    with pytest.raises(CircuitOpen):
        await client.get_json("/payments/p-2")  # not the same read: not shared
    answer.set()

    assert await probe == {"id": "p-1"}
    assert len(slow.received) == 1


async def test_4xx_answers_never_open_the_breaker(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).respond(404, json={"detail": "no such payment"})
    client = make_client("payments", clock=FakeClock(), attempts=1, failure_threshold=2)

    for _ in range(5):
        with pytest.raises(DownstreamRejected):
            await client.get_json("/payments/p-1")

    assert route.call_count == 5
    assert client.breaker.state is BreakerState.CLOSED


async def test_timeouts_count_as_failures(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService(5.0)
    router.get(URL).mock(side_effect=service)
    client = make_client(
        "payments", clock=FakeClock(), attempts=1, failure_threshold=2, timeout=0.05
    )
    for _ in range(2):
        with pytest.raises(DownstreamTimeout):
            await client.get_json("/payments/p-1")

    with pytest.raises(CircuitOpen):
        await client.get_json("/payments/p-1")
    assert len(service.received) == 2


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=FakeClock())
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()

    assert breaker.allow()
    breaker.record_failure()
    assert not breaker.allow()


def test_a_probe_cancelled_without_a_verdict_frees_the_slot_for_another() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5.0, clock=clock)
    breaker.record_failure()
    clock.advance(5.0)

    assert breaker.allow()  # the probe
    assert not breaker.allow()
    breaker.release()
    assert breaker.allow()
