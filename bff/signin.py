"""Signing in through a BFF: the users service issues the token, the BFF hands it over.

Sign-ups and sign-ins are rate-limited per client address (password guessing,
sign-up floods); :func:`limit_sign_ins` takes one token of that budget.  The
calls to the users service carry :func:`as_bff`, so it leaves the per-address
limit to the BFF (the only one that knows the client's address) and still counts
failed logins per account.
"""

from __future__ import annotations

from fastapi import Request

from bff.app import Bff
from bff.caller import client_address
from bff.problems import answer_within, parse_answer
from bff.schemas import Credentials, Registered, Registration, Session
from shared.auth import BFF_ROLE, mint_token
from shared.web.app import API_PREFIX as API

BFF_TOKEN_SECONDS = 60
"""Lifetime of the token a BFF shows the users service: one call's worth, and then some."""


def as_bff(bff: Bff) -> dict[str, str]:
    """Headers saying a users-service call comes from this BFF (a token with the ``bff`` role)."""
    token = mint_token(
        bff.settings.jwt_key, sub=bff.name, roles=[BFF_ROLE], ttl_seconds=BFF_TOKEN_SECONDS
    )
    return {"Authorization": f"Bearer {token}"}


def limit_sign_ins(bff: Bff, request: Request) -> None:
    """Count a sign-up or sign-in from the caller's address; 429 once over the limit."""
    bff.auth_limiter.check(client_address(request), "sign-ups and sign-ins")


async def log_in(bff: Bff, credentials: Credentials) -> Session:
    """Exchange email and password for a session (not retried: a POST without a key)."""
    session = await bff.downstreams.users.post_json(
        f"{API}/users/login", credentials.model_dump(), headers=as_bff(bff)
    )
    return parse_answer(Session, session, "users")


async def sign_in(bff: Bff, request: Request, credentials: Credentials) -> Session:
    """A login route: rate limit, then :func:`log_in` within the write deadline."""
    limit_sign_ins(bff, request)
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        return await log_in(bff, credentials)


async def register(bff: Bff, request: Request, body: Registration) -> Registered:
    """A sign-up route: rate limit, then the users service creates the account, signed in."""
    limit_sign_ins(bff, request)
    async with answer_within(bff.settings.bff_write_deadline_seconds):
        # Not retried (no idempotency key): a second attempt would meet a 409.
        registered = await bff.downstreams.users.post_json(
            f"{API}/users/register",
            body.model_dump(by_alias=True, exclude_none=True),
            headers=as_bff(bff),
        )
    return parse_answer(Registered, registered, "users")
