"""Who is calling a BFF, and the token to pass on to the services.

The BFF validates the bearer JWT itself (signature, expiry, pinned algorithm:
:func:`shared.web.auth.current_principal`) so a bad token never costs a
downstream call, then forwards the same token: each service applies its own
ownership rules to the same principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth import Principal
from shared.web.auth import CurrentPrincipal

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: their principal and the bearer token they sent."""

    principal: Principal
    token: str

    @property
    def user_id(self) -> str:
        return self.principal.sub

    @property
    def auth(self) -> dict[str, str]:
        """The ``Authorization`` header that forwards this caller's token."""
        return {"Authorization": f"Bearer {self.token}"}


async def current_caller(
    principal: CurrentPrincipal,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    # current_principal has refused a request without a valid bearer token already.
    assert credentials is not None
    return Caller(principal, credentials.credentials)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def client_address(request: Request) -> str:
    """The caller's network address (uvicorn resolves trusted proxy headers into it)."""
    return request.client.host if request.client else "unknown"
