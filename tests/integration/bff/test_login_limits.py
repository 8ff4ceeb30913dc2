"""Sign-in limits through the BFFs, on both stacks: a forged ``X-Forwarded-For``
does not buy a fresh budget on a real uvicorn server, and failed logins are
counted per account across both BFFs."""

from __future__ import annotations

import httpx

from tests.support.stack import Stack, on_socket
from tests.support.system import PASSWORD, problem_of, running_system

LOGIN = "/api/v1/auth/login"


def _too_many(response: httpx.Response) -> None:
    problem_of(response, 429)
    assert int(response.headers["Retry-After"]) >= 1


async def test_rotating_x_forwarded_for_does_not_bypass_the_login_limit(stack: Stack) -> None:
    async with running_system(stack, bff_auth_rate_limit=3, bff_rate_window_seconds=600) as system:
        shopper = await system.shopper()  # from 127.0.0.1 too: the first of its three
        credentials = {"email": shopper.email, "password": PASSWORD}
        app = system.apps["bff-web"]
        async with (
            on_socket(app, app.state.settings) as url,
            httpx.AsyncClient(base_url=url) as web,
        ):
            for n in range(2):
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                signed_in = await web.post(LOGIN, json=credentials, headers=forged)
                assert signed_in.status_code == 200, signed_in.text

            _too_many(
                await web.post(LOGIN, json=credentials, headers={"X-Forwarded-For": "203.0.113.99"})
            )


async def test_forwarded_addresses_count_when_the_proxy_is_trusted(stack: Stack) -> None:
    async with running_system(
        stack,
        bff_auth_rate_limit=2,
        bff_rate_window_seconds=600,
        forwarded_allow_ips="127.0.0.1",
    ) as system:
        shopper = await system.shopper()
        credentials = {"email": shopper.email, "password": PASSWORD}
        app = system.apps["bff-web"]
        async with (
            on_socket(app, app.state.settings) as url,
            httpx.AsyncClient(base_url=url) as web,
        ):
            for client in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
                forwarded = {"X-Forwarded-For": client}
                signed_in = await web.post(LOGIN, json=credentials, headers=forwarded)
                assert signed_in.status_code == 200, signed_in.text

            _too_many(
                await web.post(LOGIN, json=credentials, headers={"X-Forwarded-For": "203.0.113.1"})
            )


async def test_failed_logins_are_limited_per_account_across_both_bffs(stack: Stack) -> None:
    async with running_system(stack, login_failure_limit=3) as system:
        shopper = await system.shopper()
        wrong = {"email": shopper.email.upper(), "password": "not the password"}
        for bff in (system.web, system.mobile, system.web):
            problem_of(await bff.post(LOGIN, json=wrong), 401)

        _too_many(await system.mobile.post(LOGIN, json=wrong))
        right = {"email": shopper.email, "password": PASSWORD}
        _too_many(await system.web.post(LOGIN, json=right))

        # Another account, from the same client, signs in as before.
        other = await system.shopper("grace")
        signed_in = await system.mobile.post(
            LOGIN, json={"email": other.email, "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
