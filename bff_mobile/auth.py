"""Sign-in: the users service issues the token; rate-limited per client address."""

from __future__ import annotations

from fastapi import APIRouter, Request

from bff_mobile.context import MobileDep
from bff_mobile.schemas import Credentials, Session
from shared.bff import API, answer_within, client_address, parse_answer, problem_responses

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", responses=problem_responses(401, 422, 429, 502, 504))
async def login(body: Credentials, request: Request, mobile: MobileDep) -> Session:
    """Exchange email and password for a bearer token."""
    mobile.auth_limiter.check(client_address(request), "sign-ins")
    async with answer_within(mobile.settings.bff_write_deadline_seconds):
        session = await mobile.downstreams.users.post_json(f"{API}/users/login", body.model_dump())
    return parse_answer(Session, session, "users")
