"""Sign-in: the users service issues the token; rate-limited per client address."""

from __future__ import annotations

from fastapi import APIRouter, Request

from bff import Credentials, Session, problem_responses, sign_in
from bff_mobile.context import MobileDep
from shared.web.limits import SIGN_IN

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", responses=problem_responses(401, 422, 429, 502, 504), openapi_extra=SIGN_IN)
async def login(body: Credentials, request: Request, mobile: MobileDep) -> Session:
    """Exchange email and password for a bearer token."""
    return await sign_in(mobile, request, body)
