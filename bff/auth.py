"""``/auth``: sign-up and sign-in; the users service issues the token, the BFF hands it over.

Both BFFs mount this router.  Both routes are rate-limited per client address
(password guessing, sign-up floods): see :mod:`bff.signin`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from bff.app import BffDep
from bff.schemas import Credentials, Registered, Registration, Session
from bff.signin import register as sign_up
from bff.signin import sign_in
from shared.web.limits import SIGN_IN
from shared.web.problems import SIGN_IN_FAILED, problem_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422, 429, 502, 504),
    openapi_extra=SIGN_IN,
)
async def register(body: Registration, request: Request, bff: BffDep) -> Registered:
    """Create an account, signed in: ``{userId, email, token}``."""
    return await sign_up(bff, request, body)


@router.post(
    "/login",
    responses=problem_responses(401, 422, 429, 502, 504, descriptions=SIGN_IN_FAILED),
    openapi_extra=SIGN_IN,
)
async def login(body: Credentials, request: Request, bff: BffDep) -> Session:
    """Exchange email and password for a bearer token."""
    return await sign_in(bff, request, body)
