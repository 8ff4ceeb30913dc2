"""FastAPI dependencies for the bearer token: who is calling, and may they."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import InvalidToken, Principal, verify_token
from shared.web.problems import Forbidden, NotFound, Unauthorized

_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("a bearer token is required")
    try:
        return verify_token(request.app.state.jwt_key, credentials.credentials)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def ops_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.is_ops:
        raise Forbidden("this path needs the ops role")
    return principal


OpsPrincipal = Annotated[Principal, Depends(ops_principal)]


async def fulfilment_principal(principal: CurrentPrincipal) -> Principal:
    if not principal.may_fulfil:
        raise Forbidden("this path needs the fulfilment or the ops role")
    return principal


FulfilmentPrincipal = Annotated[Principal, Depends(fulfilment_principal)]


def ensure_owner(principal: Principal, user_id: str, what: str = "resource") -> None:
    """A customer reaches only their own data; another user's looks absent (404)."""
    if not principal.may_see(user_id):
        raise NotFound(f"{what} not found")
