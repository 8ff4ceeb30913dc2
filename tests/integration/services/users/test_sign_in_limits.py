"""The users service's own sign-in limits, on both stacks: failed logins per
account wherever they come from, and calls per client address (a BFF's excepted)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.users.app import build_app
from services.users.limits import SignInLimits
from shared.auth import BFF_ROLE, mint_token
from tests.support.clock import FakeClock
from tests.support.stack import Stack, serve
from tests.support.system import CHEAP_HASHER, PASSWORD, problem_of

LOGIN = "/api/v1/users/login"
REGISTER = "/api/v1/users/register"
FAILURES = 3
WINDOW = 600.0


@dataclass
class Limited:
    """A users service with small limits, reached as different client addresses."""

    stack: Stack
    clock: FakeClock
    client_from: Callable[[str], httpx.AsyncClient]

    async def register(self, email: str) -> None:
        body = {"email": email, "password": PASSWORD, "name": "Ada"}
        response = await self.client_from("127.0.0.1").post(REGISTER, json=body, headers=self.bff())
        assert response.status_code == 201, response.text

    async def login(
        self, address: str, email: str, password: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client_from(address).post(
            LOGIN, json={"email": email, "password": password}, headers=headers
        )

    def bff(self) -> dict[str, str]:
        token = mint_token(self.stack.settings.jwt_key, sub="bff-web", roles=[BFF_ROLE])
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def limited(stack: Stack) -> AsyncIterator[Limited]:
    settings = stack.settings.model_copy(
        update={
            "login_failure_limit": FAILURES,
            "login_failure_window_seconds": WINDOW,
            "users_auth_rate_limit": 5,
            "users_auth_rate_window_seconds": WINDOW,
        }
    )
    app = build_app(settings, stack.transport, hasher=CHEAP_HASHER)
    clock = FakeClock()
    app.state.sign_in_limits = SignInLimits(settings, clock=clock)
    async with serve(app), AsyncExitStack() as clients:
        opened: dict[str, httpx.AsyncClient] = {}

        def client_from(address: str) -> httpx.AsyncClient:
            if address not in opened:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                opened[address] = httpx.AsyncClient(transport=transport, base_url="http://test")
                clients.push_async_callback(opened[address].aclose)
            return opened[address]

        yield Limited(stack, clock, client_from)


def too_many(response: httpx.Response) -> dict[str, Any]:
    problem = problem_of(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
    assert problem["retryAfter"] == int(response.headers["Retry-After"])
    return problem


async def test_failed_logins_for_one_account_are_limited_from_any_address_or_header(
    limited: Limited,
) -> None:
    await limited.register("ada@example.com")
    # Each failure from another address, with another spelling of the email and
    # another forwarded address, and as a BFF (which the per-address limit trusts).
    attempts = [
        ("127.0.0.2", "ada@example.com", {"X-Forwarded-For": "203.0.113.1"}),
        ("127.0.0.3", " ADA@Example.com", {"X-Forwarded-For": "203.0.113.2"}),
        ("127.0.0.4", "Ada@EXAMPLE.COM", limited.bff()),
    ]
    for address, email, headers in attempts:
        problem_of(await limited.login(address, email, "wrong password", headers), 401)

    refused = too_many(await limited.login("127.0.0.5", "ada@example.com", "wrong", limited.bff()))

    assert "failed logins for this account" in refused["detail"]
    assert (await limited.login("127.0.0.6", "grace@example.com", "wrong")).status_code == 401


async def test_the_right_password_is_refused_until_an_attempt_refills(limited: Limited) -> None:
    await limited.register("ada@example.com")
    for _ in range(FAILURES):
        problem_of(await limited.login("127.0.0.2", "ada@example.com", "wrong password"), 401)

    # A right guess answered now would tell the guesser which guess was right.
    refused = await limited.login("127.0.0.3", "ada@example.com", PASSWORD, limited.bff())
    retry_after = int(too_many(refused)["retryAfter"])
    assert retry_after == WINDOW / FAILURES  # one attempt back per window / limit

    limited.clock.advance(retry_after - 1)
    too_many(await limited.login("127.0.0.3", "ada@example.com", PASSWORD, limited.bff()))
    limited.clock.advance(1)
    signed_in = await limited.login("127.0.0.3", "ada@example.com", PASSWORD, limited.bff())
    assert signed_in.status_code == 200, signed_in.text


async def test_successful_logins_do_not_count_as_failures(limited: Limited) -> None:
    await limited.register("ada@example.com")
    for _ in range(FAILURES + 2):
        signed_in = await limited.login("127.0.0.2", "ada@example.com", PASSWORD, limited.bff())
        assert signed_in.status_code == 200, signed_in.text
    for _ in range(FAILURES):
        problem_of(await limited.login("127.0.0.2", "ada@example.com", "wrong", limited.bff()), 401)
    too_many(await limited.login("127.0.0.2", "ada@example.com", "wrong", limited.bff()))


async def test_register_and_login_calls_are_limited_per_address_except_from_a_bff(
    limited: Limited,
) -> None:
    for n in range(3):
        body = {"email": f"user{n}@example.com", "password": PASSWORD}
        response = await limited.client_from("127.0.0.2").post(REGISTER, json=body)
        assert response.status_code == 201, response.text
    for n in range(2):  # spraying one password over accounts: each a first failure
        problem_of(await limited.login("127.0.0.2", f"other{n}@example.com", "Winter2024"), 401)

    spoofed = {"X-Forwarded-For": "203.0.113.9"}  # not a trusted proxy: ignored
    refused = too_many(
        await limited.login("127.0.0.2", "other9@example.com", "Winter2024", spoofed)
    )
    assert "from this address" in refused["detail"]
    too_many(
        await limited.client_from("127.0.0.2").post(
            REGISTER, json={"email": "x@example.com", "password": PASSWORD}
        )
    )

    # Another address has its own budget; a BFF's calls are counted by the BFF.
    assert (await limited.login("127.0.0.3", "user0@example.com", PASSWORD)).status_code == 200
    for _ in range(7):
        from_bff = await limited.login("127.0.0.2", "user1@example.com", PASSWORD, limited.bff())
        assert from_bff.status_code == 200, from_bff.text
