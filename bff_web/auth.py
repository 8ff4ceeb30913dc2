"""Sign-up and sign-in: the users service issues the token, this BFF hands it over.

Both are rate-limited per client address (password guessing, sign-up floods).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from bff import (
    API,
    Credentials,
    Session,
    answer_within,
    as_bff,
    limit_sign_ins,
    parse_answer,
    problem_responses,
    sign_in,
)
from bff_web.context import WebDep
from bff_web.schemas import Registered, Registration
from shared.web.limits import SIGN_IN

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429, 502, 504),
    openapi_extra=SIGN_IN,
)
async def register(body: Registration, request: Request, web: WebDep) -> Registered:
    """Create an account, signed in: ``{userId, email, token}``."""
    limit_sign_ins(web, request)
    async with answer_within(web.settings.bff_write_deadline_seconds):
        # Not retried (no idempotency key): a second attempt would meet a 409.
        registered = await web.downstreams.users.post_json(
            f"{API}/users/register",
            body.model_dump(by_alias=True, exclude_none=True),
            headers=as_bff(web),
        )
    return parse_answer(Registered, registered, "users")


@router.post("/login", responses=problem_responses(401, 422, 429, 502, 504), openapi_extra=SIGN_IN)
async def login(body: Credentials, request: Request, web: WebDep) -> Session:
    """Exchange email and password for a bearer token."""
    return await sign_in(web, request, body)
