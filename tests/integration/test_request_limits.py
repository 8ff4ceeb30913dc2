"""What one request may hold and how long its head may take, at every component.

A body is bounded per route before it is read (413 problem+json), the request
line and headers at the server (431), and a connection that does not finish a
request's head in time is closed (slowloris), as is one left idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.settings import CHECKOUT_BYTES, SIGN_IN_BYTES, Settings
from shared.web.app import create_app
from shared.web.limits import BodyLimits
from tests.support.stack import on_socket
from tests.support.system import System, problem_of

API = "/api/v1"


def padded_json(size: int) -> bytes:
    """A JSON object of ``size`` bytes."""
    return json.dumps({"email": "a@example.com", "password": "x" * size}).encode()[:size]


async def chunks(body: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_sign_in_body_past_its_limit_is_refused_before_it_is_read(system: System) -> None:
    for client in (system.web, system.mobile):
        declared = await client.post(
            f"{API}/auth/login",
            content=padded_json(SIGN_IN_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
        problem = problem_of(declared, 413)
        assert problem["limit"] == SIGN_IN_BYTES
        # Sent without a length (chunked): counted as it is read, refused at the limit.
        streamed = await client.post(
            f"{API}/auth/login",
            content=chunks(padded_json(10 * SIGN_IN_BYTES)),
            headers={"Content-Type": "application/json"},
        )
        assert problem_of(streamed, 413)["limit"] == SIGN_IN_BYTES
    at_users = await system.services["users"].post(
        f"{API}/users/login",
        content=padded_json(SIGN_IN_BYTES + 1),
        headers={"Content-Type": "application/json"},
    )
    assert problem_of(at_users, 413)["limit"] == SIGN_IN_BYTES


async def test_a_checkout_may_be_larger_than_a_sign_in_and_no_larger_than_its_own_limit(
    system: System,
) -> None:
    auth = system.stack.auth("ada")
    larger_than_sign_in = json.dumps(
        {
            "items": [{"productId": f"p-{i:04}", "quantity": 1} for i in range(100)],
            "addressId": "a" * (2 * SIGN_IN_BYTES),
            "paymentMethodId": "pm_card_ok",
        }
    ).encode()
    assert len(larger_than_sign_in) > SIGN_IN_BYTES
    read = await system.mobile.post(
        f"{API}/checkout",
        content=larger_than_sign_in,
        headers={**auth, "Content-Type": "application/json"},
    )
    # Read and judged on its merits (an address id that long is no id).
    assert read.status_code == 422, read.text
    too_large = await system.web.post(
        f"{API}/checkout",
        content=padded_json(CHECKOUT_BYTES + 1),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert problem_of(too_large, 413)["limit"] == CHECKOUT_BYTES


async def test_every_route_taking_a_body_documents_its_limit_and_the_header_limit(
    system: System,
) -> None:
    document = system.apps["bff-web"].openapi()
    login = document["paths"][f"{API}/auth/login"]["post"]["responses"]
    checkout = document["paths"][f"{API}/checkout"]["post"]["responses"]
    assert str(SIGN_IN_BYTES) in login["413"]["description"]
    assert str(CHECKOUT_BYTES) in checkout["413"]["description"]
    assert "application/problem+json" in login["431"]["content"]
    assert "application/problem+json" in login["408"]["content"]


# --- at the server: a raw socket, as a hostile client sends -------------------------------


def small_app(settings: Settings) -> FastAPI:
    app = create_app("limits", body_limits=BodyLimits.from_settings(settings))

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    return app


@contextlib.asynccontextmanager
async def served(**settings: Any) -> AsyncIterator[tuple[str, int]]:
    config = Settings(**settings)
    async with on_socket(small_app(config), config) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


async def read_until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (or ``within`` passes)."""
    async with asyncio.timeout(within):
        return await reader.read()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def body_of(answer: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    return parsed


async def test_headers_past_the_limit_are_a_431_and_the_connection_is_closed() -> None:
    async with served(http_max_header_bytes=16 * 1024) as (host, port):
        # A 32 MB header, sent as fast as the server takes it, until it answers.
        reader, writer = await asyncio.open_connection(host, port)
        answered = asyncio.create_task(read_until_closed(reader, within=10))
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with contextlib.suppress(ConnectionError):
            while sent < 32 * 1024 * 1024 and not answered.done():
                writer.write(b"a" * 65536)
                await writer.drain()
                sent += 65536
                await asyncio.sleep(0)
        answer = await answered
        writer.close()
        assert status_of(answer) == 431
        assert b"content-type: application/problem+json" in answer.lower()
        assert body_of(answer)["status"] == 431
        assert sent < 32 * 1024 * 1024, "the server read the whole header"

        # Many headers, each small, together past the limit: the same.
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(300))
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
        answer = await read_until_closed(reader, within=10)
        writer.close()
        assert status_of(answer) == 431

        # Headers within the limit are served.
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
            fine = await http.get("/health/live", headers={"X-Fine": "v" * 10_000})
        assert fine.status_code == 200


async def test_slow_headers_and_idle_connections_are_closed_by_the_server() -> None:
    timeout = 1.0
    async with served(http_header_timeout_seconds=timeout, http_keep_alive_seconds=1) as (
        host,
        port,
    ):
        slow = [await asyncio.open_connection(host, port) for _ in range(20)]
        # Timed from before the idle connection opens: the server's clock for it
        # starts when it accepts, which can be before the connect call returns here.
        started = time.monotonic()
        idle = await asyncio.open_connection(host, port)

        async def dribble(writer: asyncio.StreamWriter) -> None:
            # One header byte at a time, never the blank line that ends the head.
            with contextlib.suppress(ConnectionError):
                writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                while not writer.is_closing():
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(0.2)

        dribbling = [asyncio.create_task(dribble(writer)) for _, writer in slow]
        try:
            answers = await asyncio.gather(
                *(read_until_closed(reader, within=15) for reader, _ in slow)
            )
            nothing = await read_until_closed(idle[0], within=15)
        finally:
            for task in dribbling:
                task.cancel()
            for _, writer in [*slow, idle]:
                writer.close()
        took = time.monotonic() - started
        assert {status_of(answer) for answer in answers} == {408}
        assert body_of(answers[0])["status"] == 408
        assert nothing == b""  # it sent nothing, it is told nothing
        assert took >= timeout
        assert took < 15

        # A client that sends its head in time is served, and may keep its connection.
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
            for _ in range(2):
                assert (await http.get("/health/live")).status_code == 200


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_past_the_limit_is_answered_before_it_is_sent(declared: bool) -> None:
    async with served(http_max_body_bytes=2048) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        length = b"Content-Length: 104857600\r\n" if declared else b"Transfer-Encoding: chunked\r\n"
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + length
            + b"\r\n"
        )
        if not declared:
            writer.write(b"1000\r\n" + b" " * 4096 + b"\r\n")  # one chunk past the limit
        await writer.drain()
        # 100 MB announced, none (or 4 kB) of it sent: the answer comes anyway.
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        assert status_of(head) == 413
        assert b"connection: close" in head.lower()
