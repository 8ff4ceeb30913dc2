"""``/metrics``: every request counted under its route template, status class and method."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client.parser import text_string_to_metric_families

from shared.web.app import create_app
from shared.web.problems import NotFound

router = APIRouter(prefix="/things", tags=["things"])


@router.get("/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    if thing_id == "missing":
        raise NotFound("no such thing")
    return {"id": thing_id}


@router.get("/{thing_id}/crash")
async def crash(thing_id: str) -> dict[str, str]:
    raise RuntimeError("a bug")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(create_app("things", routers=[router])) as http:
        yield http


async def _samples(http: httpx.AsyncClient) -> Samples:
    page = await http.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }


def _requests(samples: Samples, handler: str, method: str, status: str) -> float:
    labels = frozenset({"handler": handler, "method": method, "status": status}.items())
    return samples.get(("http_requests_total", labels), 0.0)


async def test_requests_are_counted_by_route_template_method_and_status_class(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/api/v1/things/a", "/api/v1/things/b", "/api/v1/things/missing"):
        await client.get(path)
    await client.delete("/api/v1/things/a")

    samples = await _samples(client)

    template = "/api/v1/things/{thing_id}"
    assert _requests(samples, template, "GET", "2xx") == 2
    assert _requests(samples, template, "GET", "4xx") == 1
    assert _requests(samples, template, "DELETE", "4xx") == 1  # 405: the route, wrong method
    latency = (
        "http_request_duration_seconds_count",
        frozenset({"handler": template, "method": "GET"}.items()),
    )
    assert samples[latency] == 3
    assert samples[("http_request_duration_highr_seconds_count", frozenset())] == 4
    sizes = ("http_response_size_bytes_sum", frozenset({"handler": template}.items()))
    assert samples[sizes] > 0


async def test_a_request_that_crashes_is_counted_as_a_server_error(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/api/v1/things/a/crash")

    assert answer.status_code == 500
    samples = await _samples(client)
    assert _requests(samples, "/api/v1/things/{thing_id}/crash", "GET", "5xx") == 1


async def test_unknown_paths_share_one_series_and_health_and_metrics_are_not_counted(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/nowhere", "/nowhere/else", "/health/live", "/health/nowhere", "/metrics"):
        await client.get(path)

    samples = await _samples(client)

    assert _requests(samples, "none", "GET", "4xx") == 2
    handlers = {
        dict(labels).get("handler") for name, labels in samples if name == "http_requests_total"
    }
    assert handlers == {"none"}


async def test_each_app_in_a_process_counts_only_its_own_requests() -> None:
    async with (
        await _client(create_app("one", routers=[router])) as one,
        await _client(create_app("two", routers=[router])) as two,
    ):
        await one.get("/api/v1/things/a")
        await one.get("/api/v1/things/b")
        await two.get("/api/v1/things/c")

        counted = [
            _requests(await _samples(http), "/api/v1/things/{thing_id}", "GET", "2xx")
            for http in (one, two)
        ]

    assert counted == [2, 1]


async def test_the_metrics_page_carries_the_process_metrics(client: httpx.AsyncClient) -> None:
    samples = await _samples(client)

    assert any(name == "process_cpu_seconds_total" for name, _ in samples)
