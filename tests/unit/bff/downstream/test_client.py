from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx
from opentelemetry.sdk.trace import TracerProvider

from bff.downstream import (
    DownstreamClient,
    DownstreamRejected,
    DownstreamTimeout,
    DownstreamUnavailable,
    Section,
    fan_out,
    request_deadline,
)
from shared.context import correlation_id_var
from tests.support.infra import eventually
from tests.unit.bff.downstream.fakes import ClientFactory, SlowService

URL = "http://inventory.test/products/1"


@pytest.fixture
def route(router: respx.MockRouter) -> respx.Route:
    """The product at ``URL``, answered at once."""
    return router.get(URL).respond(200, json={"id": "1"})


# --- retries -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_idempotent_call_failing_with_503_is_tried_the_configured_number_of_times(
    router: respx.MockRouter, make_client: ClientFactory, method: str
) -> None:
    route = router.route(method=method, url=URL).respond(503)
    client = make_client(attempts=3)

    with pytest.raises(DownstreamUnavailable) as raised:
        if method == "GET":
            await client.get_json("/products/1")
        elif method == "PUT":
            await client.put_json("/products/1", {"quantity": 1})
        else:
            await client.delete("/products/1")

    assert route.call_count == 3
    assert raised.value.upstream_status == 503
    assert raised.value.service == "inventory"
    assert raised.value.status == 502


async def test_get_failing_to_connect_is_retried_then_reported_unavailable(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    client = make_client(attempts=4)

    with pytest.raises(DownstreamUnavailable) as raised:
        await client.get_json("/products/1")

    assert route.call_count == 4
    assert raised.value.upstream_status is None


async def test_get_recovering_after_transient_failures_returns_the_answer(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).mock(
        side_effect=[
            httpx.Response(502),
            httpx.ConnectError("reset"),
            httpx.Response(200, json={"id": "1", "available": 3}),
        ]
    )
    client = make_client(attempts=3)

    assert await client.get_json("/products/1") == {"id": "1", "available": 3}
    assert route.call_count == 3


async def test_get_timing_out_is_retried(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService([5.0, 0.0], json={"id": "1"})
    router.get(URL).mock(side_effect=service)
    client = make_client(attempts=2, timeout=0.1)

    assert await client.get_json("/products/1") == {"id": "1"}
    assert len(service.received) == 2


async def test_post_without_idempotency_key_is_sent_exactly_once(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.post("http://orders.test/orders").respond(503)
    client = make_client("orders", attempts=5)

    with pytest.raises(DownstreamUnavailable):
        await client.post_json("/orders", {"items": []})

    assert route.call_count == 1


async def test_post_with_idempotency_key_is_retried_with_the_same_key(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.post("http://orders.test/orders").mock(
        side_effect=[
            httpx.Response(503),
            httpx.ConnectError("reset"),
            httpx.Response(202, json={"orderId": "o-1"}),
        ]
    )
    client = make_client("orders", attempts=3)

    answer = await client.post_json("/orders", {"items": []}, idempotency_key="key-42")

    assert answer == {"orderId": "o-1"}
    assert route.call_count == 3
    assert [call.request.headers["Idempotency-Key"] for call in route.calls] == ["key-42"] * 3


@pytest.mark.parametrize(
    "lost",
    [
        pytest.param(httpx.ReadError("connection closed"), id="read-error"),
        pytest.param(
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            id="remote-protocol-error",
        ),
        pytest.param(httpx.ConnectError("refused"), id="connect-error"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST-idempotent", "POST-with-key"])
async def test_idempotent_call_losing_its_connection_before_any_answer_is_sent_again(
    router: respx.MockRouter, make_client: ClientFactory, method: str, lost: httpx.HTTPError
) -> None:
    answer = httpx.Response(202, json={"id": "o-1", "status": "pending"})
    verb = "GET" if method == "GET" else "POST"
    route = router.route(method=verb, url="http://orders.test/orders/o-1/cancel").mock(
        side_effect=[lost, answer]
    )
    client = make_client("orders", attempts=3)

    if method == "GET":
        result = await client.get_json("/orders/o-1/cancel")
    elif method == "POST-idempotent":
        result = await client.post_json("/orders/o-1/cancel", None, idempotent=True)
    else:
        result = await client.post_json("/orders/o-1/cancel", None, idempotency_key="k")

    assert result == {"id": "o-1", "status": "pending"}
    assert route.call_count == 2


async def test_500_is_not_retried(router: respx.MockRouter, make_client: ClientFactory) -> None:
    route = router.get(URL).respond(500)
    client = make_client(attempts=3)

    with pytest.raises(DownstreamUnavailable) as raised:
        await client.get_json("/products/1")

    assert route.call_count == 1
    assert raised.value.upstream_status == 500


@pytest.mark.parametrize("status", [400, 404, 409, 422])
async def test_4xx_is_never_retried_and_carries_the_problem_body(
    router: respx.MockRouter, make_client: ClientFactory, status: int
) -> None:
    problem = {
        "type": "about:blank",
        "title": "Rejected",
        "status": status,
        "detail": "product 1 is not for sale",
    }
    route = router.get(URL).respond(
        status, json=problem, headers={"Content-Type": "application/problem+json"}
    )
    client = make_client(attempts=3)

    with pytest.raises(DownstreamRejected) as raised:
        await client.get_json("/products/1")

    assert route.call_count == 1
    assert raised.value.status == status
    assert raised.value.problem == problem
    assert raised.value.detail == "product 1 is not for sale"
    assert raised.value.service == "inventory"


async def test_4xx_without_a_problem_body_is_rejected_with_none(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.get(URL).respond(404, text="not here")
    client = make_client()

    with pytest.raises(DownstreamRejected) as raised:
        await client.get_json("/products/1")

    assert raised.value.problem is None
    assert raised.value.status == 404


async def _seconds_to_time_out(client: DownstreamClient, path: str, *, deadline: float) -> float:
    """How long reading ``path`` within ``deadline`` took to fail with a timeout."""
    started = time.perf_counter()
    with pytest.raises(DownstreamTimeout):
        async with request_deadline(deadline):
            await client.get_json(path)
    return time.perf_counter() - started


async def test_retries_stop_at_the_request_deadline(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = SlowService(5.0)
    router.get(URL).mock(side_effect=service)
    client = make_client(attempts=50, timeout=0.1)

    assert await _seconds_to_time_out(client, "/products/1", deadline=0.35) < 0.35 + 0.25
    # 0.1 s per attempt in a 0.35 s budget: three full attempts and a short last one
    # (on a loaded machine, the attempts and the backoff between them may take longer).
    assert 2 <= len(service.received) <= 5


async def test_empty_answer_decodes_to_none(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    router.delete(URL).respond(204)
    client = make_client()

    assert await client.delete("/products/1") is None


async def test_answer_that_is_not_json_is_reported_unavailable(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).respond(200, text="<html>proxy error</html>")
    client = make_client(attempts=3)

    with pytest.raises(DownstreamUnavailable):
        await client.get_json("/products/1")

    assert route.call_count == 1


# --- bulkhead ------------------------------------------------------------------


def slow_products(router: respx.MockRouter, seconds: float) -> SlowService:
    """Inventory's ``/products/{n}``, each answered after ``seconds``."""
    service = SlowService(seconds)
    router.get(url__regex=r"http://inventory\.test/products/\d+").mock(side_effect=service)
    return service


async def test_bulkhead_caps_calls_in_flight_to_one_downstream(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = slow_products(router, 0.05)
    client = make_client(max_concurrency=2)

    answers = await asyncio.gather(*(client.get_json(f"/products/{i}") for i in range(8)))

    assert [answer["path"] for answer in answers] == [f"/products/{i}" for i in range(8)]
    assert len(service.received) == 8
    assert service.peak_in_flight == 2


async def test_full_bulkhead_waits_at_most_the_remaining_budget_then_times_out(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    service = slow_products(router, 2.0)
    client = make_client(max_concurrency=1, attempts=1, timeout=5.0)
    hog = asyncio.create_task(client.get_json("/products/1"))
    await eventually(service.arrived, what="the first call to take the only slot")

    assert await _seconds_to_time_out(client, "/products/2", deadline=0.2) < 0.2 + 0.25
    assert [request.url.path for request in service.received] == ["/products/1"]
    hog.cancel()
    with pytest.raises(asyncio.CancelledError):
        await hog


# --- what travels with every call ----------------------------------------------


async def test_correlation_id_trace_context_and_authorization_are_forwarded(
    route: respx.Route, make_client: ClientFactory
) -> None:
    client = make_client()
    tracer = TracerProvider().get_tracer("test")
    token = correlation_id_var.set("corr-123")
    try:
        with tracer.start_as_current_span("bff request") as span:
            await client.get_json("/products/1", headers={"Authorization": "Bearer t0k3n"})
            trace_id = f"{span.get_span_context().trace_id:032x}"
    finally:
        correlation_id_var.reset(token)

    sent = route.calls.last.request.headers
    assert sent["X-Correlation-ID"] == "corr-123"
    assert sent["Authorization"] == "Bearer t0k3n"
    version, sent_trace_id, _parent_id, _flags = sent["traceparent"].split("-")
    assert version == "00"
    assert sent_trace_id == trace_id


async def test_a_cookie_set_in_one_answer_never_travels_with_a_later_call(
    router: respx.MockRouter, make_client: ClientFactory
) -> None:
    route = router.get(URL).respond(
        200, json={"id": "1"}, headers={"Set-Cookie": "session=alices; Path=/"}
    )
    client = make_client()

    await client.get_json("/products/1", headers={"Authorization": "Bearer alice"})
    await client.get_json("/products/1", headers={"Authorization": "Bearer bob"})

    assert route.call_count == 2
    assert "cookie" not in route.calls.last.request.headers


async def test_remaining_budget_header_is_within_the_request_deadline(
    route: respx.Route, make_client: ClientFactory
) -> None:
    client = make_client(timeout=5.0)

    async with request_deadline(0.8):
        await asyncio.sleep(0.1)
        await client.get_json("/products/1")

    budget_ms = int(route.calls.last.request.headers["X-Request-Timeout-Ms"])
    assert 0 < budget_ms <= 700


async def test_budget_header_is_the_call_timeout_without_a_request_deadline(
    route: respx.Route, make_client: ClientFactory
) -> None:
    client = make_client(timeout=1.5)

    await client.get_json("/products/1")

    assert route.calls.last.request.headers["X-Request-Timeout-Ms"] == "1500"


async def test_sections_of_a_fan_out_forward_a_budget_within_the_deadline(
    route: respx.Route, make_client: ClientFactory
) -> None:
    client = make_client(timeout=5.0)

    async with request_deadline(1.0):
        await fan_out(
            {
                "product": Section(
                    lambda: client.get_json("/products/1"),
                    essential=True,
                    service="inventory",
                    timeout=0.4,
                )
            }
        )

    assert 0 < int(route.calls.last.request.headers["X-Request-Timeout-Ms"]) <= 400
