"""HTTP faults on a service's routes: ``latency``, ``error``, ``hang`` and ``reset``,
each for a share of calls and a count, and the rules ``/_faults`` refuses.

The users service stands for every service (it consumes no messages, so it also
proves route rules need none); ``hang`` and ``reset`` are also shown on a real
socket under uvicorn, as the components serve.  Faults act on HTTP alone, so the
embedded stack is enough.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.users.app import build_app as build_users
from tests.support.stack import Stack, on_socket, serve

pytestmark = pytest.mark.parametrize("stack", ["embedded"], indirect=True)

API = "/api/v1"
USER = "alice"


@pytest.fixture
async def users(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    settings = stack.settings.model_copy(update={"faults_enabled": True})
    async with serve(build_users(settings, stack.transport)) as client:
        yield client


async def add(client: httpx.AsyncClient, stack: Stack, **rule: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/_faults", json=rule, headers=stack.ops())
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def timed_read(client: httpx.AsyncClient, stack: Stack) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = await client.get(f"{API}/users/{USER}", headers=stack.auth(USER))
    return time.perf_counter() - started, response


async def test_a_latency_fault_delays_the_calls_it_counts_then_is_gone(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(users, stack, route="/api/v1/users/{user_id}", mode="latency", delayMs=300, times=2)

    first, second, third = [await timed_read(users, stack) for _ in range(3)]

    assert [r.status_code for _, r in (first, second, third)] == [404, 404, 404]  # not registered
    assert first[0] >= 0.3
    assert second[0] >= 0.3
    assert third[0] < 0.3
    rules = await users.get(f"{API}/_faults", headers=stack.ops())
    assert rules.json() == []


async def test_a_latency_fault_touches_only_its_route_and_method(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(
        users,
        stack,
        route="/api/v1/users/{user_id}/addresses",
        method="POST",
        mode="latency",
        delayMs=2000,
    )

    started = time.perf_counter()
    await timed_read(users, stack)
    listed = await users.get(f"{API}/users/{USER}/addresses", headers=stack.auth(USER))

    assert time.perf_counter() - started < 2.0
    assert listed.status_code == 404  # nobody registered: answered at once, all the same
    rules = await users.get(f"{API}/_faults", headers=stack.ops())
    assert [r["times"] for r in rules.json()] == [1]


async def test_an_error_fault_answers_its_status_as_a_problem_without_running_the_route(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(users, stack, route="/api/v1/users/register", mode="error", status=503)
    registration = {
        "email": "ada@example.com",
        "password": "correct horse battery",
        "firstName": "Ada",
        "lastName": "Lovelace",
    }

    failed = await users.post(f"{API}/users/register", json=registration)
    registered = await users.post(f"{API}/users/register", json=registration)

    assert failed.status_code == 503
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["detail"] == ("injected fault: HTTP 503 on POST /api/v1/users/register")
    assert registered.status_code == 201, registered.text  # the first one created nobody


async def test_a_ratio_applies_the_fault_to_that_share_of_the_calls(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(users, stack, route="*", mode="error", status=500, ratio=0.25, times=1_000)

    answers = [(await timed_read(users, stack))[1].status_code for _ in range(400)]

    failed = answers.count(500)
    # Binomial(400, 0.25): mean 100, standard deviation 8.7; these bounds are 5 of them.
    assert 56 <= failed <= 144, failed
    assert set(answers) == {404, 500}
    rules = await users.get(f"{API}/_faults", headers=stack.ops())
    assert rules.json()[0]["times"] == 1_000 - failed


async def test_every_route_leaves_the_fault_paths_and_health_alone(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(users, stack, route="*", mode="error", times=10)

    live = await users.get("/health/live")
    listed = await users.get(f"{API}/_faults", headers=stack.ops())
    _, read = await timed_read(users, stack)

    assert (live.status_code, listed.status_code, read.status_code) == (200, 200, 503)


async def test_a_hanging_route_answers_nothing_until_the_caller_gives_up(
    users: httpx.AsyncClient, stack: Stack
) -> None:
    await add(users, stack, route="*", mode="hang")

    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await timed_read(users, stack)
    gave_up = time.perf_counter() - started
    _, after = await timed_read(users, stack)

    assert gave_up >= 0.5
    assert after.status_code == 404  # the hang took one call, and let go of it


async def test_on_a_socket_a_hang_holds_until_the_client_times_out_and_a_reset_cuts_the_call(
    stack: Stack,
) -> None:
    settings = stack.settings.model_copy(update={"faults_enabled": True})
    app = build_users(settings, stack.transport)
    async with serve(app) as local, on_socket(app, settings) as url:
        await add(local, stack, route="*", mode="hang")
        await add(local, stack, route="*", mode="reset")
        async with httpx.AsyncClient(base_url=url, headers=stack.auth(USER)) as client:
            started = time.perf_counter()
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{API}/users/{USER}", timeout=0.5)
            hung = time.perf_counter() - started
            with pytest.raises(httpx.TransportError) as reset:
                await client.get(f"{API}/users/{USER}")
            after = await client.get(f"{API}/users/{USER}")

    assert hung >= 0.5
    # The connection went away under the call, with no answer: not a timeout.
    assert isinstance(reset.value, httpx.ReadError | httpx.RemoteProtocolError), reset.value
    assert after.status_code == 404


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"route": "/api/v1/nowhere", "mode": "error"}, "route"),
        ({"route": "*", "mode": "latency", "p50Ms": 20}, None),
        ({"route": "*", "mode": "latency", "p50Ms": 100, "p99Ms": 20}, None),
        ({"route": "*", "mode": "latency", "delayMs": 5, "p50Ms": 1, "p99Ms": 2}, None),
        ({"route": "*", "mode": "error", "delayMs": 5}, None),
        ({"route": "*", "mode": "error", "ratio": 0}, "ratio"),
        ({"route": "*", "mode": "error", "status": 200}, "status"),
        ({"route": "*", "mode": "explode"}, None),
        ({"message": "payment.charge", "mode": "drop"}, "message"),
    ],
    ids=[
        "unknown-route",
        "p50-alone",
        "p99-below-p50",
        "fixed-and-distribution",
        "latency-on-an-error",
        "no-share",
        "not-an-error-status",
        "unknown-mode",
        "message-to-a-service-consuming-none",
    ],
)
async def test_a_rule_that_cannot_apply_is_refused_with_422(
    users: httpx.AsyncClient, stack: Stack, rule: dict[str, Any], field: str | None
) -> None:
    response = await users.post(f"{API}/_faults", json=rule, headers=stack.ops())

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in response.json()["detail"]
    rules = await users.get(f"{API}/_faults", headers=stack.ops())
    assert rules.json() == []
