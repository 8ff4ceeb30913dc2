"""Sign-up and sign-in: the users service issues the token; rate-limited per client address."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from bff import Credentials, Registered, Registration, Session, problem_responses, sign_in
from bff import register as sign_up
from bff_mobile.context import MobileDep
from shared.web.limits import SIGN_IN
from shared.web.problems import SIGN_IN_FAILED

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429, 502, 504),
    openapi_extra=SIGN_IN,
)
async def register(body: Registration, request: Request, mobile: MobileDep) -> Registered:
    """Create an account, signed in: ``{userId, email, token}``."""
    return await sign_up(mobile, request, body)


@router.post(
    "/login",
    responses=problem_responses(401, 422, 429, 502, 504, descriptions=SIGN_IN_FAILED),
    openapi_extra=SIGN_IN,
)
async def login(body: Credentials, request: Request, mobile: MobileDep) -> Session:
    """Exchange email and password for a bearer token."""
    return await sign_in(mobile, request, body)
